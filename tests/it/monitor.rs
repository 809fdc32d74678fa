//! The risk monitor end to end on a crafted market whose alerts are known by
//! hand: a CRITICAL drawdown on the crash day, a correlation WARNING on the
//! day the book switches to a correlated pair; routing commands, a failing and
//! a hanging command, `chloe report`, determinism across threads.

use std::{fs::File, path::Path, sync::Arc, time::Instant};

use arrow::{
    array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray},
    datatypes::{DataType, Field, Schema, TimeUnit},
};
use parquet::arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder};

use crate::util::{chloe, tempdir};

const BARS: usize = 400;
/// Bar of the crash: A falls 40%, the A/C book (50/50) loses 20%.
const CRASH: usize = 300;
/// First bar of the A/B book (correlation 1/sqrt(2) over any 8-bar window).
const SWITCH: usize = 340;
const DAY: i64 = 86_400_000_000;

/// Weekday timestamps from Monday 2020-01-06.
fn calendar() -> Vec<i64> {
    let monday = 1_578_268_800_000_000i64;
    let mut out = Vec::new();
    let mut d = 0i64;
    while out.len() < BARS {
        if d % 7 < 5 {
            out.push(monday + d * DAY);
        }
        d += 1;
    }
    out
}

fn write(path: &Path, fields: Vec<Field>, cols: Vec<ArrayRef>) {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ts_field() -> Field {
    Field::new(
        "timestamp",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// Prices of A = x, B = x + z, C = -x (x alternates +-1% every bar, z every
/// two bars), A falls 40% on the crash bar; and the signals: A and C at 50%
/// before the switch, A and B at 50% from it.
fn write_inputs(dir: &Path) {
    let ts = calendar();
    let (mut t_col, mut s_col, mut c_col) = (Vec::new(), Vec::new(), Vec::new());
    let mut close = [100.0f64; 3];
    for (t, &stamp) in ts.iter().enumerate() {
        let x = if t % 2 == 0 { 0.01 } else { -0.01 };
        let z = if (t / 2) % 2 == 0 { 0.01 } else { -0.01 };
        if t > 0 {
            let crash = if t == CRASH { -0.4 } else { 0.0 };
            close[0] *= 1.0 + if t == CRASH { crash } else { x };
            close[1] *= 1.0 + x + z;
            close[2] *= 1.0 - x;
        }
        for (i, sym) in ["A", "B", "C"].iter().enumerate() {
            t_col.push(stamp);
            s_col.push(*sym);
            c_col.push(close[i]);
        }
    }
    write(
        &dir.join("prices.parquet"),
        vec![
            ts_field(),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("close", DataType::Float64, false),
        ],
        vec![
            Arc::new(TimestampMicrosecondArray::from(t_col.clone()).with_timezone("UTC")),
            Arc::new(StringArray::from(s_col.clone())),
            Arc::new(Float64Array::from(c_col)),
        ],
    );
    let w: Vec<f64> = (0..t_col.len())
        .map(|r| {
            let (t, i) = (r / 3, r % 3);
            match (i, t >= SWITCH) {
                (0, _) | (1, true) | (2, false) => 0.5,
                _ => 0.0,
            }
        })
        .collect();
    write(
        &dir.join("signals.parquet"),
        vec![
            ts_field(),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("weight", DataType::Float64, false),
        ],
        vec![
            Arc::new(TimestampMicrosecondArray::from(t_col).with_timezone("UTC")),
            Arc::new(StringArray::from(s_col)),
            Arc::new(Float64Array::from(w)),
        ],
    );
}

fn write_job(dir: &Path, monitor_extra: &str) -> String {
    let job = format!(
        "[job]\nname = \"mon\"\nseed = 1\noutput = \"out\"\n\n[data]\npath = \"prices.parquet\"\n\n\
         [walkforward]\nin_sample_days = 126\nout_of_sample_days = 42\nbootstrap_resamples = 50\n\n\
         [sizing]\ncost_bps = 0\n\n\
         [execution]\nimpact_coefficient = 0.0\ndefault_spread = 0.0\nno_trade_band = false\n\n\
         [strategy]\nkind = \"signals\"\nsignals = \"signals.parquet\"\ncompare = [\"buy_and_hold\"]\n\n\
         [monitor]\ngross_exposure = {{ warning = 1.5, critical = 2.0 }}\n\
         single_name = {{ warning = 0.6, critical = 0.8 }}\n\
         regime = {{ warning = [], critical = [] }}\ncorrelation = {{ window = 8 }}\n{monitor_extra}\n"
    );
    std::fs::write(dir.join("job.toml"), job).unwrap();
    "job.toml".into()
}

struct AlertRow {
    day: i64,
    severity: String,
    rule: String,
    value: f64,
}

fn alerts(path: &Path) -> Vec<AlertRow> {
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in r {
        let b = b.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let ts = col("timestamp");
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        let sev = col("severity");
        let sev = sev.as_any().downcast_ref::<StringArray>().unwrap();
        let rule = col("rule");
        let rule = rule.as_any().downcast_ref::<StringArray>().unwrap();
        let val = col("value");
        let val = val.as_any().downcast_ref::<Float64Array>().unwrap();
        for k in 0..b.num_rows() {
            out.push(AlertRow {
                day: ts.value(k),
                severity: sev.value(k).to_string(),
                rule: rule.value(k).to_string(),
                value: val.value(k),
            });
        }
    }
    out
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn crafted_market_raises_known_alerts_and_routes_them_as_json() {
    let d = tempdir();
    write_inputs(d.path());
    let job = write_job(
        d.path(),
        "on_warning = \"cat >> warnings.jsonl\"\non_critical = \"cat >> criticals.jsonl\"\n",
    );
    let r = chloe(d.path(), &["run", &job]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ts = calendar();
    let a = alerts(&d.path().join("out/alerts.parquet"));
    let got: Vec<(String, &str, &str)> = a
        .iter()
        .map(|a| (iso(a.day), a.severity.as_str(), a.rule.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (iso(ts[CRASH]), "CRITICAL", "drawdown"),
            (iso(ts[SWITCH]), "WARNING", "correlation"),
        ],
        "{}",
        r.stderr
    );
    // A/C book: flat before the crash, then half of A's 40% fall (C moves +-1%).
    assert!((a[0].value - 0.2).abs() < 0.006, "{}", a[0].value);
    assert!(
        (a[1].value - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9,
        "{}",
        a[1].value
    );
    // One stderr line per alert.
    assert!(
        r.stderr.contains("CRITICAL") && r.stderr.contains("drawdown"),
        "{}",
        r.stderr
    );
    // The commands got exactly those alerts, one JSON object each.
    let lines = |f: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.path().join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let crit = lines("criticals.jsonl");
    let warn = lines("warnings.jsonl");
    assert_eq!((crit.len(), warn.len()), (1, 1));
    assert_eq!(crit[0]["rule"], "drawdown");
    assert_eq!(crit[0]["severity"], "CRITICAL");
    assert_eq!(crit[0]["timestamp"], iso(ts[CRASH]).as_str());
    assert_eq!(crit[0]["limit"], 0.15);
    assert_eq!(crit[0]["job"], "mon");
    assert_eq!(warn[0]["rule"], "correlation");
    assert_eq!(warn[0]["timestamp"], iso(ts[SWITCH]).as_str());
    assert_eq!(warn[0]["limit"], 0.7);
    // Counts in summary.json; the gate can fail on them.
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/summary.json")).unwrap()).unwrap();
    assert_eq!(s["monitor"]["alerts"]["CRITICAL"], 1);
    assert_eq!(s["monitor"]["alerts"]["WARNING"], 1);
    assert!(
        s["monitor"]["rules"].get("on_critical").is_none(),
        "commands stay out of reports"
    );
    let r = chloe(d.path(), &["gate", "out", "--max-critical-alerts", "0"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("max_critical_alerts"), "{}", r.stdout);
}

#[test]
fn failing_and_hanging_commands_do_not_fail_the_run() {
    let d = tempdir();
    write_inputs(d.path());
    let job = write_job(
        d.path(),
        "on_warning = \"sleep 30\"\non_critical = \"exit 7\"\ncommand_timeout_s = 1\n",
    );
    let started = Instant::now();
    let r = chloe(d.path(), &["run", &job]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(started.elapsed().as_secs() < 25, "{:?}", started.elapsed());
    assert!(r.stderr.contains("exit status 7"), "{}", r.stderr);
    assert!(r.stderr.contains("killed"), "{}", r.stderr);
    assert!(d.path().join("out/report.html").is_file());
}

#[test]
fn report_rebuilds_the_same_page_and_alerts_do_not_depend_on_threads() {
    let d = tempdir();
    write_inputs(d.path());
    let job = write_job(d.path(), "");
    let r = chloe(d.path(), &["--threads", "1", "run", &job, "--out", "t1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = chloe(d.path(), &["--threads", "2", "run", &job, "--out", "t2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in [
        "alerts.parquet",
        "monitor.parquet",
        "correlation.parquet",
        "strategies.parquet",
        "report.html",
    ] {
        let a = std::fs::read(d.path().join("t1").join(f)).unwrap();
        let b = std::fs::read(d.path().join("t2").join(f)).unwrap();
        assert!(a == b, "{f} differs between 1 and 2 threads");
    }
    // A run folder copied elsewhere (a CI artifact) rebuilds the same bytes.
    let page = std::fs::read(d.path().join("t1/report.html")).unwrap();
    let copy = d.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(d.path().join("t1")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "report.html" {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let r = chloe(d.path(), &["report", "copy"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(copy.join("report.html")).unwrap() == page);
    let html = String::from_utf8(page).unwrap();
    for needle in ["GATE", "<svg", "drawdown", "correlation", "not in this run"] {
        assert!(html.contains(needle), "{needle} missing from the page");
    }
    // Self-contained: nothing is loaded from elsewhere (the SVG namespace is not a load).
    assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("@import"));
    // Not an output folder: exit 2 naming it.
    let r = chloe(d.path(), &["report", "prices.parquet"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    std::fs::create_dir(d.path().join("empty")).unwrap();
    let r = chloe(d.path(), &["report", "empty"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("summary.json"), "{}", r.stderr);
}

#[test]
fn bad_monitor_settings_are_named() {
    let d = tempdir();
    write_inputs(d.path());
    let job = write_job(d.path(), "drawdown = { warning = 0.3, critical = 0.2 }\n");
    let r = chloe(d.path(), &["run", &job]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("monitor.drawdown"), "{}", r.stderr);
}
