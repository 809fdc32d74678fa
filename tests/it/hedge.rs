//! `[portfolio] mode` and `[hedge]` end to end: the hedge's trades, betas and
//! costs in the reports, and bad settings named with exit code 2.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::{chloe, datasets, tempdir};

/// A walk-forward on six large caps, hedged with SP500; `extra` is appended.
fn job(dir: &Path, extra: &str) -> String {
    let text = format!(
        "[job]\nname = \"hedged\"\nseed = 3\noutput = \"out\"\n\n\
         [data]\npath = \"{}\"\nsymbols = [\"AAPL\", \"MSFT\", \"JPM\", \"XOM\", \"JNJ\", \"WMT\"]\n\
         start = \"2012-01-01\"\nend = \"2016-12-31\"\n\n\
         [walkforward]\nin_sample_days = 126\nout_of_sample_days = 42\nbootstrap_resamples = 50\n\n\
         [sizing]\nmin_edge = 0.3\n\n{extra}\n",
        datasets()
            .join("us_equities_daily_skfolio.parquet")
            .display()
    );
    std::fs::write(dir.join("job.toml"), text).unwrap();
    "job.toml".into()
}

fn hedge_section(threshold: f64) -> String {
    format!(
        "[hedge]\ncorrelation_threshold = {threshold}\nwindow = 40\n\n\
         [[hedge.instruments]]\npath = \"{}\"\nsymbol = \"SP500\"\n",
        datasets().join("us_benchmarks_daily.parquet").display()
    )
}

fn read(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn f64s(batches: &[RecordBatch], name: &str) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap();
            c.as_primitive::<Float64Type>().values().to_vec()
        })
        .collect()
}

fn strs(batches: &[RecordBatch], name: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap();
            let s = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
            let s = s.as_string::<i32>();
            (0..s.len())
                .map(|k| s.value(k).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_hedged_run_reports_hedge_trades_and_betas() {
    let d = tempdir();
    let threshold = 0.5;
    let j = job(d.path(), &hedge_section(threshold));
    let r = chloe(d.path(), &["run", &j]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = d.path().join("out");
    let h = read(&out.join("hedges.parquet"));
    let (before, after, corr, w) = (
        f64s(&h, "beta_before"),
        f64s(&h, "beta_after"),
        f64s(&h, "correlation"),
        f64s(&h, "hedge_weight"),
    );
    assert!(!w.is_empty());
    assert!(strs(&h, "instrument").iter().all(|s| s == "SP500"));
    let mut hedged = 0;
    for k in 0..w.len() {
        if corr[k] > threshold {
            // Hedged: beta after = 0.7 x beta before, closer to 0.
            assert!(w[k] != 0.0 || before[k] == 0.0, "row {k}");
            assert!(after[k].abs() <= before[k].abs() + 1e-15, "row {k}");
            assert!((after[k] - 0.7 * before[k]).abs() < 1e-9, "row {k}");
            assert!((w[k] + 0.3 * before[k]).abs() < 1e-12, "row {k}");
            hedged += usize::from(w[k] != 0.0);
        } else {
            assert_eq!(w[k], 0.0, "no hedge under the threshold, row {k}");
            assert_eq!(after[k], before[k]);
        }
    }
    assert!(hedged > 0, "the book was never hedged");
    // Hedge trades: symbol SP500, reason hedge, their fees are the summary's hedge costs.
    let t = read(&out.join("trades.parquet"));
    let (sym, reason, fees) = (strs(&t, "symbol"), strs(&t, "reason"), f64s(&t, "fees"));
    let (impact, spread) = (f64s(&t, "impact_cost"), f64s(&t, "spread_cost"));
    // Hedge orders pay the venue fee and half the spread; an index has no volume, so no impact.
    let hedge_fees: f64 = (0..sym.len())
        .filter(|&k| reason[k] == "hedge")
        .inspect(|&k| assert_eq!(sym[k], "SP500"))
        .inspect(|&k| assert_eq!(impact[k], 0.0))
        .map(|k| fees[k] + spread[k])
        .sum();
    let n_hedge = reason.iter().filter(|r| *r == "hedge").count();
    assert!(n_hedge > 0);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let hs = &s["walkforward"]["hedge"][0];
    assert_eq!(hs["symbol"], "SP500");
    assert_eq!(hs["n_trades"], n_hedge);
    assert!((hs["costs"].as_f64().unwrap() - hedge_fees).abs() < 1e-6);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!((hs["mean_beta_before"].as_f64().unwrap() - mean(&before)).abs() < 1e-12);
    assert!(
        hs["mean_beta_after"].as_f64().unwrap().abs()
            < hs["mean_beta_before"].as_f64().unwrap().abs()
    );
    assert_eq!(s["walkforward"]["portfolio"]["mode"], "risk_parity");
    let rc = s["deployment_book"]["risk_contributions"]
        .as_object()
        .unwrap();
    let weights = s["deployment_book"]["weights"].as_object().unwrap();
    assert_eq!(
        rc.keys().collect::<Vec<_>>(),
        weights.keys().collect::<Vec<_>>()
    );
    if !rc.is_empty() {
        let total: f64 = rc.values().map(|v| v.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }
}

#[test]
fn portfolio_modes_change_the_book_not_the_selection() {
    let d = tempdir();
    let held = |mode: &str| {
        // A flat fee only: the execution simulator's band and slicing depend
        // on order sizes, which the mode changes, and would change the selection.
        let j = job(
            d.path(),
            &format!(
                "[portfolio]\nmode = \"{mode}\"\n\n[execution]\nimpact_coefficient = 0.0\n\
                 default_spread = 0.0\nno_trade_band = false\n"
            ),
        );
        let r = chloe(d.path(), &["run", &j, "--out", mode]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
        let t = read(&d.path().join(mode).join("decisions.parquet"));
        let after = f64s(&t, "size_after");
        let stamp: Vec<i64> = t
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name("timestamp").unwrap();
                c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .values()
                    .to_vec()
            })
            .collect();
        (stamp, after)
    };
    let (ts_k, kelly) = held("kelly");
    let (ts_e, equal) = held("equal");
    // Same decisions (the engine selects), different sizes where more than one is held.
    assert_eq!(ts_k, ts_e);
    assert_eq!(kelly.len(), equal.len());
    let mut k = 0;
    let mut differs = false;
    while k < ts_e.len() {
        let end = (k..ts_e.len())
            .find(|&m| ts_e[m] != ts_e[k])
            .unwrap_or(ts_e.len());
        let held: Vec<f64> = equal[k..end].iter().copied().filter(|&w| w > 0.0).collect();
        // Equal mode: every held weight of a bar is the same (none hit the 0.10 cap here
        // or they are all capped).
        if let Some(first) = held.first() {
            assert!(held.iter().all(|w| (w - first).abs() < 1e-12), "{held:?}");
        }
        differs |= kelly[k..end]
            .iter()
            .zip(&equal[k..end])
            .any(|(a, b)| (a - b).abs() > 1e-9);
        k = end;
    }
    assert!(differs, "equal weights never differ from the Kelly sizes");
}

#[test]
fn bad_hedge_and_portfolio_settings_are_exit_2_naming_the_key() {
    let d = tempdir();
    let sp = datasets().join("us_benchmarks_daily.parquet");
    for (extra, key) in [
        (
            hedge_section(0.7).replace("[hedge]\n", "[hedge]\nhedge_ratio = -1\n"),
            "hedge.hedge_ratio",
        ),
        (hedge_section(1.5), "hedge.correlation_threshold"),
        ("[hedge]\nwindow = 63\n".to_string(), "hedge.instruments"),
        (
            format!(
                "[hedge]\n[[hedge.instruments]]\npath = \"{}\"\nsymbol = \"NOPE\"\n",
                sp.display()
            ),
            "NOPE",
        ),
        (
            "[portfolio]\nmode = \"max_sharpe\"\n".to_string(),
            "portfolio.mode",
        ),
        (
            "[portfolio]\ncovariance_days = 1\n".to_string(),
            "portfolio.covariance_days",
        ),
    ] {
        let j = job(d.path(), &extra);
        let r = chloe(d.path(), &["run", &j]);
        assert_eq!(r.code, 2, "{extra}: {}", r.stderr);
        assert!(r.stderr.contains(key), "{extra}: {}", r.stderr);
        assert!(!d.path().join("out").exists());
    }
}
