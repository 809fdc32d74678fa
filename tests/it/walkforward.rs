//! `chloe walkforward`: end to end on shipped and synthetic data, report schema,
//! thread-count determinism, input errors.

use std::{fs::File, path::Path};

use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::{chloe, datasets, tempdir};

const REPORTS: [&str; 4] = [
    "folds.parquet",
    "oos_returns.parquet",
    "predictions.parquet",
    "regimes.parquet",
];

fn write_job(dir: &Path, data: &str, extra: &str) -> String {
    let job = format!(
        "[job]\nname = \"wf\"\nseed = 5\noutput = \"out\"\n\n[data]\n{data}\n\n\
         [walkforward]\nin_sample_days = 126\nout_of_sample_days = 42\nbootstrap_resamples = 100\n{extra}\n"
    );
    std::fs::write(dir.join("job.toml"), job).unwrap();
    "job.toml".into()
}

fn synth(dir: &Path, assets: usize, days: usize) {
    let r = chloe(
        dir,
        &[
            "data",
            "synth",
            "--assets",
            &assets.to_string(),
            "--days",
            &days.to_string(),
            "--seed",
            "3",
            "-o",
            "synth.parquet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn schema(path: &Path) -> arrow::datatypes::SchemaRef {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .schema()
        .clone()
}

fn rows(path: &Path) -> i64 {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows()
}

#[test]
fn shipped_data_end_to_end() {
    let dir = tempdir();
    let data = format!(
        "path = \"{}\"\nsymbols = [\"AAPL\", \"MSFT\", \"JPM\", \"XOM\", \"JNJ\", \"WMT\"]\nstart = \"2012-01-01\"\nend = \"2016-12-31\"",
        datasets()
            .join("us_equities_daily_skfolio.parquet")
            .display()
    );
    let job = write_job(dir.path(), &data, "");
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("folds"), "{}", r.stdout);
    let out = dir.path().join("out");
    for f in REPORTS.iter().chain(&["summary.json"]) {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let folds = schema(&out.join("folds.parquet"));
    let names: Vec<&str> = folds.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "fold",
            "train_start",
            "train_end",
            "test_start",
            "test_end",
            "sharpe",
            "sortino",
            "max_drawdown",
            "total_return",
            "win_rate",
            "edge_precision",
            "n_trades",
            "turnover",
            "brier"
        ]
    );
    assert_eq!(
        folds.field_with_name("test_start").unwrap().data_type(),
        &utc
    );
    let preds = schema(&out.join("predictions.parquet"));
    let names: Vec<&str> = preds.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "timestamp",
            "symbol",
            "fold",
            "regime",
            "edge_probability",
            "edge_strength",
            "label"
        ]
    );
    let regimes = schema(&out.join("regimes.parquet"));
    assert!(regimes.field_with_name("p_VOLATILE").is_ok());
    let n_folds = rows(&out.join("folds.parquet"));
    assert!(n_folds >= 15, "{n_folds} folds");
    assert_eq!(rows(&out.join("oos_returns.parquet")), 42 * n_folds);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let agg = &s["walkforward"]["aggregate"];
    assert_eq!(agg["n_folds"].as_i64(), Some(n_folds));
    for key in [
        "avg_sharpe",
        "sharpe_std",
        "worst_drawdown",
        "consistency",
        "rolling_performance",
        "psr",
        "dsr",
    ] {
        assert!(agg[key].is_number(), "{key}: {agg}");
    }
    assert_eq!(agg["sharpe_ci"].as_array().map(Vec::len), Some(2));
    assert!(
        !s["walkforward"]["feature_importance"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Nothing but the output folder is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn reports_do_not_depend_on_thread_count() {
    let dir = tempdir();
    synth(dir.path(), 8, 700);
    let job = write_job(
        dir.path(),
        "path = \"synth.parquet\"",
        "model = \"trees\"\nn_trees = 5",
    );
    let a = chloe(
        dir.path(),
        &["--threads", "1", "walkforward", &job, "--out", "t1"],
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    let b = chloe(
        dir.path(),
        &["--threads", "2", "walkforward", &job, "--out", "t2"],
    );
    assert_eq!(b.code, 0, "{}", b.stderr);
    for f in REPORTS {
        let x = std::fs::read(dir.path().join("t1").join(f)).unwrap();
        let y = std::fs::read(dir.path().join("t2").join(f)).unwrap();
        assert!(x == y, "{f} differs between 1 and 2 threads");
    }
}

#[test]
fn too_little_data_is_exit_2_with_the_bars_needed() {
    let dir = tempdir();
    synth(dir.path(), 3, 200);
    let job = write_job(dir.path(), "path = \"synth.parquet\"", "");
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("needs at least 229 bars"), "{}", r.stderr);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn bad_walkforward_keys_are_exit_2() {
    let dir = tempdir();
    let job = write_job(dir.path(), "path = \"synth.parquet\"", "in_sample = 100");
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("in_sample"), "{}", r.stderr);
    let job = write_job(
        dir.path(),
        "path = \"synth.parquet\"",
        "label_scope = \"sector\"",
    );
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("walkforward.label_scope"), "{}", r.stderr);
}

/// Rewrites `synth.parquet` as a signals file: weight `w` on every (bar, symbol).
fn signals_from_synth(dir: &Path, w: f64) {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, RecordBatch};
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join("synth.parquet")).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let mut batches = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let n = b.num_rows();
        let cols: Vec<ArrayRef> = vec![
            b.column_by_name("timestamp").unwrap().clone(),
            b.column_by_name("symbol").unwrap().clone(),
            Arc::new(Float64Array::from(vec![w; n])),
        ];
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            b.schema().field_with_name("timestamp").unwrap().clone(),
            b.schema().field_with_name("symbol").unwrap().clone(),
            arrow::datatypes::Field::new("weight", DataType::Float64, false),
        ]));
        batches.push(RecordBatch::try_new(schema, cols).unwrap());
    }
    let file = File::create(dir.join("signals.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn a_signals_file_of_equal_weights_replays_like_daily_equal_weight() {
    // Two code paths to the same book: the user's file (1/3 on each of three
    // symbols at every bar) and the built-in equal_weight rebalanced every bar.
    let dir = tempdir();
    synth(dir.path(), 3, 420);
    signals_from_synth(dir.path(), 1.0 / 3.0);
    let job = write_job(
        dir.path(),
        "path = \"synth.parquet\"",
        "\n[strategy]\nkind = \"signals\"\nsignals = \"signals.parquet\"\n\
         compare = [\"equal_weight\", \"buy_and_hold\"]\nrebalance_days = 1\n",
    );
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    let st = s["walkforward"]["strategies"].as_array().unwrap();
    assert_eq!(st[0]["name"], "signals");
    assert_eq!(st[1]["name"], "equal_weight");
    for k in [
        "sharpe",
        "max_drawdown",
        "total_return",
        "turnover",
        "costs",
    ] {
        let (a, b) = (st[0][k].as_f64().unwrap(), st[1][k].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{k}: {a} vs {b}");
    }
    // Daily rebalancing trades more than buying once.
    assert!(st[2]["turnover"].as_f64().unwrap() < st[0]["turnover"].as_f64().unwrap());
    // A signals file naming a symbol the panel does not have: exit 2, naming the key.
    std::fs::copy(
        dir.path().join("signals.parquet"),
        dir.path().join("keep.parquet"),
    )
    .unwrap();
    let job = write_job(
        dir.path(),
        "path = \"synth.parquet\"\nsymbols = [\"S0000\", \"S0001\"]",
        "\n[strategy]\nkind = \"signals\"\nsignals = \"signals.parquet\"\n",
    );
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("strategy.signals") && r.stderr.contains("S0002"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_execution_keys_are_exit_2_naming_the_key() {
    let dir = tempdir();
    for (extra, key) in [
        (
            "[execution]\nimpact_form = \"linear\"",
            "execution.impact_form",
        ),
        (
            "[execution]\nmax_participation = 0",
            "execution.max_participation",
        ),
        ("[execution]\nslices = 3", "slices"),
        (
            "[[execution.venues]]\nname = \"lit\"\nfee_bps = -1\nliquidity_share = 0.5",
            "execution.venues[0].fee_bps",
        ),
        (
            "[[execution.venues]]\nname = \"lit\"\nfee_bps = 1\nliquidity_share = 0.6\n\
             [[execution.venues]]\nname = \"dark\"\nfee_bps = 1\nliquidity_share = 0.6",
            "execution.venues",
        ),
    ] {
        let job = write_job(dir.path(), "path = \"synth.parquet\"", extra);
        let r = chloe(dir.path(), &["walkforward", &job]);
        assert_eq!(r.code, 2, "{extra}: {}", r.stderr);
        assert!(r.stderr.contains(key), "{extra}: {}", r.stderr);
        assert!(!dir.path().join("out").exists());
    }
}

#[test]
fn trades_carry_every_execution_cost_of_the_summary() {
    let dir = tempdir();
    synth(dir.path(), 6, 600);
    let job = write_job(
        dir.path(),
        "path = \"synth.parquet\"",
        "[strategy]\nkind = \"equal_weight\"\nrebalance_days = 5\n\
         [execution]\nmax_participation = 0.05\nslice_threshold = 0.002\n\
         [[execution.venues]]\nname = \"dark\"\nfee_bps = 1\nliquidity_share = 0.02\n\
         [[execution.venues]]\nname = \"lit\"\nfee_bps = 3\nliquidity_share = 0.9\n\
         [portfolio]\ncapital = 1e9",
    );
    let r = chloe(dir.path(), &["walkforward", &job]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("out");
    let file = File::open(out.join("trades.parquet")).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let (mut costs, mut venues, mut slices) = (0.0, std::collections::BTreeSet::new(), 0i64);
    for batch in reader {
        let b = batch.unwrap();
        let col = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap()
                .clone()
        };
        let (f, i, s) = (col("fees"), col("impact_cost"), col("spread_cost"));
        for k in 0..b.num_rows() {
            costs += f.value(k) + i.value(k) + s.value(k);
        }
        let v = b
            .column_by_name("venue")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone();
        venues.extend((0..b.num_rows()).map(|k| v.value(k).to_string()));
        let sl = b
            .column_by_name("slice")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .clone();
        slices = slices.max((0..b.num_rows()).map(|k| sl.value(k)).max().unwrap_or(0));
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let c = &s["walkforward"]["costs"];
    let total = c["total"].as_f64().unwrap();
    assert!(
        total > 0.0 && (costs - total).abs() <= 1e-9 * total,
        "{costs} vs {c}"
    );
    let parts = ["fees", "impact", "spread"].map(|k| c[k].as_f64().unwrap());
    assert!(
        (parts.iter().sum::<f64>() - total).abs() <= 1e-9 * total,
        "{c}"
    );
    assert_eq!(
        s["walkforward"]["strategies"][0]["costs"].as_f64(),
        Some(total)
    );
    // Orders were sliced and split across both venues.
    assert!(slices > 0 && c["sliced_orders"].as_u64() > Some(0), "{c}");
    assert_eq!(venues.into_iter().collect::<Vec<_>>(), ["dark", "lit"]);
}
