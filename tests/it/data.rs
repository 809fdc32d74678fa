//! Data path: validation errors, input shapes, synth, import, resampling, panel properties.

use std::{path::Path, sync::Arc};

use arrow::{
    array::{
        ArrayRef, Date32Array, DictionaryArray, Float32Array, Float64Array, Int64Array,
        RecordBatch, StringArray, TimestampNanosecondArray,
    },
    datatypes::Int32Type,
};
use chloe::{
    config::{CalendarMode, ColumnMap, SymbolSelection},
    data::{
        Panel,
        load::{Selection, load_bars},
        time::{DAY_US, parse_date},
    },
};
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;

use crate::util::{chloe, tempdir};

/// One source row: symbol, date, open, high, low, close, volume.
type Row = (
    &'static str,
    &'static str,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn write_cols(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ts_us(d: &str) -> i64 {
    parse_date(d, false).unwrap()
}

fn write_rows(path: &Path, rows: &[Row]) {
    let ts: Vec<i64> = rows.iter().map(|r| ts_us(r.1) * 1000).collect();
    let f = |k: usize| -> ArrayRef {
        Arc::new(Float64Array::from(
            rows.iter()
                .map(|r| [r.2, r.3, r.4, r.5, r.6][k])
                .collect::<Vec<_>>(),
        ))
    };
    write_cols(
        path,
        vec![
            (
                "timestamp",
                Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")) as ArrayRef,
            ),
            (
                "symbol",
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
            ),
            ("open", f(0)),
            ("high", f(1)),
            ("low", f(2)),
            ("close", f(3)),
            ("volume", f(4)),
        ],
    );
}

fn good_rows() -> Vec<Row> {
    vec![
        (
            "AAA",
            "2020-01-02",
            Some(10.0),
            Some(11.0),
            Some(9.0),
            Some(10.5),
            Some(100.0),
        ),
        (
            "AAA",
            "2020-01-03",
            Some(10.5),
            Some(11.5),
            Some(10.0),
            Some(11.0),
            Some(120.0),
        ),
        (
            "AAA",
            "2020-01-06",
            Some(11.0),
            Some(11.2),
            Some(10.1),
            Some(10.2),
            Some(90.0),
        ),
        ("BBB", "2020-01-02", None, None, None, Some(50.0), None),
        ("BBB", "2020-01-03", None, None, None, Some(51.0), None),
        ("BBB", "2020-01-06", None, None, None, Some(49.0), None),
    ]
}

/// Writes `rows` and runs `chloe data check` on them.
fn check_rows(rows: &[Row]) -> crate::util::Run {
    let dir = tempdir();
    write_rows(&dir.path().join("p.parquet"), rows);
    chloe(dir.path(), &["data", "check", "p.parquet"])
}

fn assert_bad(run: &crate::util::Run, needle: &str) {
    assert_eq!(run.code, 2, "exit code; stderr: {}", run.stderr);
    assert!(
        run.stderr.contains(needle),
        "stderr should name {needle:?}: {}",
        run.stderr
    );
}

#[test]
fn valid_file_passes() {
    let run = check_rows(&good_rows());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("status    valid"), "{}", run.stdout);
    assert!(run.stdout.contains("AAA"));
}

#[test]
fn missing_file() {
    let dir = tempdir();
    let run = chloe(dir.path(), &["data", "check", "nope.parquet"]);
    assert_bad(&run, "nope.parquet: no such file");
}

#[test]
fn not_parquet() {
    let dir = tempdir();
    std::fs::write(dir.path().join("x.parquet"), b"timestamp,symbol,close\n").unwrap();
    let run = chloe(dir.path(), &["data", "check", "x.parquet"]);
    assert_bad(&run, "x.parquet: not a readable Parquet file");
}

#[test]
fn corrupt_parquet() {
    let dir = tempdir();
    let p = dir.path().join("c.parquet");
    write_rows(&p, &good_rows());
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes.truncate(mid);
    std::fs::write(&p, bytes).unwrap();
    let run = chloe(dir.path(), &["data", "check", "c.parquet"]);
    assert_bad(&run, "not a readable Parquet file");
}

#[test]
fn missing_required_column() {
    let dir = tempdir();
    write_cols(
        &dir.path().join("m.parquet"),
        vec![
            (
                "timestamp",
                Arc::new(Date32Array::from(vec![18000, 18001])) as ArrayRef,
            ),
            ("symbol", Arc::new(StringArray::from(vec!["A", "A"]))),
            ("price", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ],
    );
    let run = chloe(dir.path(), &["data", "check", "m.parquet"]);
    assert_bad(&run, "missing required column \"close\"");
    assert!(run.stderr.contains("price"), "lists present columns");
}

#[test]
fn wrong_column_type() {
    let dir = tempdir();
    write_cols(
        &dir.path().join("t.parquet"),
        vec![
            (
                "timestamp",
                Arc::new(Date32Array::from(vec![18000, 18001])) as ArrayRef,
            ),
            ("symbol", Arc::new(StringArray::from(vec!["A", "A"]))),
            ("close", Arc::new(StringArray::from(vec!["1.0", "2.0"]))),
        ],
    );
    let run = chloe(dir.path(), &["data", "check", "t.parquet"]);
    assert_bad(
        &run,
        "column \"close\" has type Utf8, expected float64 or float32",
    );
}

#[test]
fn null_nan_infinite_close() {
    for bad in [None, Some(f64::NAN), Some(f64::INFINITY)] {
        let mut rows = good_rows();
        rows[4].5 = bad;
        let run = check_rows(&rows);
        assert_bad(&run, "column \"close\" is null, NaN or infinite: 1 row(s)");
        assert!(run.stderr.contains("BBB 2020-01-03"), "{}", run.stderr);
        assert!(run.stderr.contains("row 4"), "{}", run.stderr);
    }
}

#[test]
fn ohlc_partly_null() {
    let mut rows = good_rows();
    rows[1].3 = None;
    assert_bad(&check_rows(&rows), "partly null on one bar");
}

#[test]
fn ohlc_nan() {
    let mut rows = good_rows();
    rows[1].3 = Some(f64::NAN);
    assert_bad(&check_rows(&rows), "column \"high\" is NaN or infinite");
}

#[test]
fn non_positive_price() {
    let mut rows = good_rows();
    rows[5].5 = Some(0.0);
    rows[3].5 = Some(-1.0);
    let run = check_rows(&rows);
    assert_bad(&run, "column \"close\" is not positive: 2 row(s)");
}

#[test]
fn high_below_low() {
    let mut rows = good_rows();
    rows[0].3 = Some(8.0);
    assert_bad(&check_rows(&rows), "\"high\" below \"low\"");
}

#[test]
fn close_outside_range() {
    let mut rows = good_rows();
    rows[2].5 = Some(11.3);
    let run = check_rows(&rows);
    assert_bad(&run, "\"close\" outside [low, high]");
    assert!(run.stderr.contains("AAA 2020-01-06"));
    // Within the 1e-9 relative tolerance is fine.
    let mut rows = good_rows();
    rows[2].5 = Some(11.2 * (1.0 + 1e-12));
    assert_eq!(check_rows(&rows).code, 0);
}

#[test]
fn negative_volume() {
    let mut rows = good_rows();
    rows[0].6 = Some(-5.0);
    assert_bad(&check_rows(&rows), "column \"volume\" is negative");
}

#[test]
fn duplicated_bar() {
    let mut rows = good_rows();
    rows.push(("AAA", "2020-01-03", None, None, None, Some(11.0), None));
    assert_bad(&check_rows(&rows), "duplicated (symbol, timestamp)");
}

#[test]
fn all_problems_of_a_kind_are_counted() {
    let mut rows = good_rows();
    for r in rows.iter_mut() {
        r.6 = Some(-1.0);
    }
    let run = check_rows(&rows);
    assert_bad(&run, "column \"volume\" is negative: 6 row(s), first:");
}

#[test]
fn empty_selection() {
    let dir = tempdir();
    write_rows(&dir.path().join("p.parquet"), &good_rows());
    let run = chloe(
        dir.path(),
        &["data", "check", "p.parquet", "--start", "2021-01-01"],
    );
    assert_bad(&run, "no rows left after filters");
}

#[test]
fn unknown_symbol() {
    let dir = tempdir();
    write_rows(&dir.path().join("p.parquet"), &good_rows());
    let run = chloe(
        dir.path(),
        &["data", "check", "p.parquet", "--symbols", "AAA,ZZZ"],
    );
    assert_bad(&run, "symbol(s) not found: ZZZ");
}

#[test]
fn unsorted_input_is_fine() {
    let mut rows = good_rows();
    rows.reverse();
    let run = check_rows(&rows);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn real_world_types_are_accepted() {
    // date32 timestamps, dictionary symbols, float32 prices, integer volume, no open/high/low.
    let dir = tempdir();
    let sym: DictionaryArray<Int32Type> = vec!["X", "X", "Y"].into_iter().collect();
    write_cols(
        &dir.path().join("types.parquet"),
        vec![
            (
                "timestamp",
                Arc::new(Date32Array::from(vec![18263, 18264, 18263])) as ArrayRef,
            ),
            ("symbol", Arc::new(sym)),
            (
                "close",
                Arc::new(Float32Array::from(vec![1.5f32, 1.6, 3.0])),
            ),
            ("volume", Arc::new(Int64Array::from(vec![10, 20, 30]))),
        ],
    );
    let run = chloe(dir.path(), &["data", "check", "types.parquet", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["rows"], 3);
    assert_eq!(v["start"], "2020-01-02");
    assert_eq!(v["per_symbol"][0]["volume"], true);
    assert_eq!(v["per_symbol"][0]["ohlc"], false);
}

#[test]
fn hive_partitioned_and_glob_inputs() {
    let dir = tempdir();
    let rows = good_rows();
    for sym in ["AAA", "BBB"] {
        let d = dir.path().join("hive").join(format!("symbol={sym}"));
        std::fs::create_dir_all(&d).unwrap();
        // Hive files often drop the partition column.
        let mine: Vec<&Row> = rows.iter().filter(|r| r.0 == sym).collect();
        write_cols(
            &d.join("part-0.parquet"),
            vec![
                (
                    "timestamp",
                    Arc::new(
                        TimestampNanosecondArray::from(
                            mine.iter().map(|r| ts_us(r.1) * 1000).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ) as ArrayRef,
                ),
                (
                    "close",
                    Arc::new(Float64Array::from(
                        mine.iter().map(|r| r.5).collect::<Vec<_>>(),
                    )),
                ),
            ],
        );
        write_rows(
            &dir.path().join(format!("flat_{sym}.parquet")),
            &rows
                .iter()
                .filter(|r| r.0 == sym)
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    let run = chloe(dir.path(), &["data", "check", "hive", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["symbols"], 2);
    assert_eq!(v["rows"], 6);
    // Selecting one symbol skips the other partition.
    let run = chloe(
        dir.path(),
        &["data", "check", "hive", "--symbols", "BBB", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["rows"], 3);
    let run = chloe(dir.path(), &["data", "check", "flat_*.parquet", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["symbols"], 2);
    let run = chloe(dir.path(), &["data", "check", "none_*.parquet"]);
    assert_bad(&run, "no such file");
}

#[test]
fn synth_then_check_round_trip() {
    let dir = tempdir();
    let run = chloe(
        dir.path(),
        &[
            "data",
            "synth",
            "--assets",
            "5",
            "--days",
            "300",
            "--seed",
            "3",
            "-o",
            "s.parquet",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = chloe(dir.path(), &["data", "check", "s.parquet", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["rows"], 1500);
    assert_eq!(v["symbols"], 5);
    assert_eq!(v["bars_per_year"], 252.0);
    // Same seed, same bytes; another seed, other bytes.
    chloe(
        dir.path(),
        &[
            "data",
            "synth",
            "--assets",
            "5",
            "--days",
            "300",
            "--seed",
            "3",
            "-o",
            "t.parquet",
        ],
    );
    chloe(
        dir.path(),
        &[
            "data",
            "synth",
            "--assets",
            "5",
            "--days",
            "300",
            "--seed",
            "4",
            "-o",
            "u.parquet",
        ],
    );
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert_eq!(read("s.parquet"), read("t.parquet"));
    assert_ne!(read("s.parquet"), read("u.parquet"));
}

#[test]
fn csv_import_then_check() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("p.csv"),
        "Date,Ticker,Adj Close,Volume\n2020-01-03,AAA,10.5,100\n2020-01-02,AAA,10.0,\n2020-01-02,BBB,5.0,7\n",
    )
    .unwrap();
    let run = chloe(
        dir.path(),
        &[
            "data",
            "import",
            "p.csv",
            "-o",
            "p.parquet",
            "--timestamp-col",
            "Date",
            "--symbol-col",
            "Ticker",
            "--close-col",
            "Adj Close",
            "--volume-col",
            "Volume",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = chloe(dir.path(), &["data", "check", "p.parquet", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["rows"], 3);
    assert_eq!(v["start"], "2020-01-02");
    // Writes `name.csv` and imports it to `name.parquet`.
    let import = |name: &str, body: &str| {
        std::fs::write(dir.path().join(format!("{name}.csv")), body).unwrap();
        let (csv, parquet) = (format!("{name}.csv"), format!("{name}.parquet"));
        chloe(dir.path(), &["data", "import", &csv, "-o", &parquet])
    };
    // A bad number names the line and column.
    let run = import(
        "bad",
        "timestamp,symbol,close\n2020-01-02,A,1.0\n2020-01-03,A,abc\n",
    );
    assert_bad(&run, "line 3, column \"close\": not a number: \"abc\"");
    assert!(!dir.path().join("bad.parquet").exists());
    // A line cut short before the close is an error naming it; a blank line
    // is skipped without shifting later line numbers.
    let run = import(
        "short",
        "timestamp,symbol,close,volume\n2020-01-02,A,1.0,5\n\n2020-01-03,A\n",
    );
    assert_bad(&run, "line 4, column \"close\": empty close");
    let run = import(
        "blank",
        "timestamp,symbol,close\n2020-01-02,A,1.0\n\n2020-01-03,A,1.5\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // An empty file (no header) is a clear exit-2 error too.
    let run = import("empty", "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!dir.path().join("empty.parquet").exists());
}

fn job(dir: &Path, body: &str) -> crate::util::Run {
    std::fs::write(dir.join("job.toml"), body).unwrap();
    chloe(dir, &["data", "check", "job.toml"])
}

#[test]
fn job_file_errors_name_the_key() {
    let dir = tempdir();
    write_rows(&dir.path().join("p.parquet"), &good_rows());
    let run = job(
        dir.path(),
        "[job]\nname = \"x\"\n[data]\npath = \"p.parquet\"\nmax_fil_days = 3\n",
    );
    assert_bad(&run, "max_fil_days");
    let run = job(
        dir.path(),
        "[job]\nname = \"x\"\n[data]\npath = \"p.parquet\"\nmax_fill_days = -3\n",
    );
    assert_bad(&run, "data.max_fill_days must be in 0..=10000, got -3");
    let run = job(
        dir.path(),
        "[job]\nname = \"x\"\n[data]\npath = \"p.parquet\"\nstart = \"yesterday\"\n",
    );
    assert_bad(&run, "data.start must be a date");
    let run = job(dir.path(), "[job]\nname = \"x\"\n[data]\npath = 5\n");
    assert_bad(&run, "invalid type");
}

#[test]
fn job_file_column_mapping_and_benchmark() {
    let dir = tempdir();
    let d = dir.path();
    // Prices with other column names.
    write_cols(
        &d.join("px.parquet"),
        vec![
            (
                "date",
                Arc::new(Date32Array::from(vec![
                    18263, 18264, 18267, 18263, 18264, 18267,
                ])) as ArrayRef,
            ),
            (
                "ticker",
                Arc::new(StringArray::from(vec!["A", "A", "A", "B", "B", "B"])),
            ),
            (
                "adj_close",
                Arc::new(Float64Array::from(vec![1.0, 1.1, 1.2, 2.0, 2.1, 2.2])),
            ),
        ],
    );
    // The benchmark has a bar the panel lacks (Saturday); it must not widen the calendar.
    write_cols(
        &d.join("bm.parquet"),
        vec![
            (
                "timestamp",
                Arc::new(Date32Array::from(vec![18263, 18264, 18265, 18267])) as ArrayRef,
            ),
            ("symbol", Arc::new(StringArray::from(vec!["IDX"; 4]))),
            (
                "close",
                Arc::new(Float64Array::from(vec![100.0, 101.0, 102.0, 103.0])),
            ),
        ],
    );
    let body = "[job]\nname = \"x\"\n[data]\npath = \"px.parquet\"\n[data.columns]\ntimestamp = \"date\"\nsymbol = \"ticker\"\nclose = \"adj_close\"\n[data.benchmark]\npath = \"bm.parquet\"\nsymbol = \"IDX\"\n[data.benchmark.columns]\n";
    let run = job(d, body);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spec = chloe::config::JobSpec::load(&d.join("job.toml")).unwrap();
    let loaded = chloe::data::load_panel(spec.data.as_ref().unwrap()).unwrap();
    assert_eq!(loaded.panel.n_bars(), 3);
    let bm = loaded.panel.benchmark.as_ref().unwrap();
    assert_eq!(bm.close.to_vec(), vec![100.0, 101.0, 103.0]);
    let run = job(d, &body.replace("IDX\"\n", "NOPE\"\n"));
    assert_bad(&run, "symbol(s) not found: NOPE");
}

#[test]
fn huge_bar_is_a_usage_error_naming_the_flag_or_key() {
    let dir = tempdir();
    let d = dir.path();
    write_rows(&d.join("p.parquet"), &good_rows());
    // 9999999999999999 days overflows i64 microseconds (it panicked in debug builds).
    let bar = "9999999999999999d";
    let run = chloe(d, &["data", "check", "p.parquet", "--bar", bar]);
    assert_bad(
        &run,
        "--bar: is too large to count in microseconds, got \"9999999999999999d\"",
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let run = job(
        d,
        &format!("[job]\nname = \"x\"\n[data]\npath = \"p.parquet\"\nbar = \"{bar}\"\n"),
    );
    assert_bad(&run, "data.bar is too large to count in microseconds");
    let run = chloe(d, &["data", "check", "p.parquet", "--bar", "1w"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn benchmark_in_the_traded_dataset_is_not_traded_with_all_symbols() {
    let dir = tempdir();
    let d = dir.path();
    let mut rows = good_rows();
    for (date, c) in [
        ("2020-01-02", 300.0),
        ("2020-01-03", 303.0),
        ("2020-01-06", 306.0),
    ] {
        rows.push(("IDX", date, None, None, None, Some(c), None));
    }
    write_rows(&d.join("p.parquet"), &rows);
    let body = "[job]\nname = \"x\"\n[data]\npath = \"p.parquet\"\nsymbols = \"all\"\n[data.benchmark]\nsymbol = \"IDX\"\n";
    let run = job(d, body);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let spec = chloe::config::JobSpec::load(&d.join("job.toml")).unwrap();
    let loaded = chloe::data::load_panel(spec.data.as_ref().unwrap()).unwrap();
    assert_eq!(loaded.panel.symbols, ["AAA", "BBB"]);
    assert_eq!(loaded.panel.close.column(1).to_vec(), [50.0, 51.0, 49.0]);
    let bm = loaded.panel.benchmark.as_ref().unwrap();
    assert_eq!(bm.close.to_vec(), [300.0, 303.0, 306.0]);
    assert!(
        loaded.notes.iter().any(|n| n
            == "benchmark IDX is in the traded dataset and data.symbols = \"all\": not traded (3 rows left out of the universe)"),
        "{:?}",
        loaded.notes
    );
    // The same benchmark read from another file leaves the traded universe alone.
    write_rows(&d.join("bm.parquet"), &rows[6..]);
    std::fs::write(
        d.join("job.toml"),
        body.replace(
            "[data.benchmark]\n",
            "[data.benchmark]\npath = \"bm.parquet\"\n",
        ),
    )
    .unwrap();
    let spec = chloe::config::JobSpec::load(&d.join("job.toml")).unwrap();
    let loaded = chloe::data::load_panel(spec.data.as_ref().unwrap()).unwrap();
    assert_eq!(loaded.panel.symbols, ["AAA", "BBB", "IDX"]);
    assert!(loaded.notes.iter().all(|n| !n.starts_with("benchmark IDX")));
}

#[test]
fn mixed_calendars_need_an_explicit_choice() {
    let dir = tempdir();
    let d = dir.path();
    // 2020-01-04/05 is a weekend: C trades every day, E weekdays only.
    let mut ts = Vec::new();
    let mut sym = Vec::new();
    for day in 18260..18290 {
        ts.push(day);
        sym.push("C");
        if chloe::data::time::weekday(day as i64 * DAY_US) < 5 {
            ts.push(day);
            sym.push("E");
        }
    }
    let n = ts.len();
    write_cols(
        &d.join("mix.parquet"),
        vec![
            ("timestamp", Arc::new(Date32Array::from(ts)) as ArrayRef),
            ("symbol", Arc::new(StringArray::from(sym))),
            ("close", Arc::new(Float64Array::from(vec![1.0; n]))),
        ],
    );
    let base = "[job]\nname = \"x\"\n[data]\npath = \"mix.parquet\"\n";
    assert_bad(&job(d, base), "set data.calendar");
    let run = job(d, &format!("{base}calendar = \"intersection\"\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("WARN"), "warns: {}", run.stderr);
}

#[test]
fn resample_minutes_to_days() {
    // Two symbols, one-minute bars over two days; daily bars computed by hand.
    let dir = tempdir();
    let p = dir.path().join("min.parquet");
    let m = 60_000_000i64;
    let d0 = ts_us("2021-03-01");
    let mut ts = Vec::new();
    let mut sym = Vec::new();
    let (mut o, mut h, mut l, mut c, mut v) = (vec![], vec![], vec![], vec![], vec![]);
    for (s, base) in [("A", 100.0), ("B", 10.0)] {
        for day in 0..2 {
            for k in 0..4 {
                let t = d0 + day * DAY_US + 9 * 60 * m + k * m;
                let x = base + (day * 10 + k) as f64;
                ts.push(t * 1000);
                sym.push(s);
                o.push(x);
                h.push(x + 0.5);
                l.push(x - 0.5);
                c.push(x + 0.25);
                v.push(10.0 * (k + 1) as f64);
            }
        }
    }
    write_cols(
        &p,
        vec![
            (
                "timestamp",
                Arc::new(TimestampNanosecondArray::from(ts)) as ArrayRef,
            ),
            ("symbol", Arc::new(StringArray::from(sym))),
            ("open", Arc::new(Float64Array::from(o))),
            ("high", Arc::new(Float64Array::from(h))),
            ("low", Arc::new(Float64Array::from(l))),
            ("close", Arc::new(Float64Array::from(c))),
            ("volume", Arc::new(Float64Array::from(v))),
        ],
    );
    let cols = ColumnMap::default();
    let sel = Selection {
        symbols: &SymbolSelection::All,
        start: None,
        end: None,
        columns: &cols,
    };
    let (bars, problems) = load_bars(&p, &sel, Some(DAY_US)).unwrap();
    assert!(problems.is_empty());
    assert_eq!(bars.timestamp, vec![d0, d0 + DAY_US, d0, d0 + DAY_US]);
    assert_eq!(bars.open, vec![100.0, 110.0, 10.0, 20.0]);
    assert_eq!(bars.high, vec![103.5, 113.5, 13.5, 23.5]);
    assert_eq!(bars.low, vec![99.5, 109.5, 9.5, 19.5]);
    assert_eq!(bars.close, vec![103.25, 113.25, 13.25, 23.25]);
    assert_eq!(bars.volume, vec![100.0; 4]);
    // Through the CLI too.
    let run = chloe(
        dir.path(),
        &["data", "check", "min.parquet", "--bar", "1d", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["rows"], 4);
    assert_eq!(v["bar"], "1d");
}

/// Writes `batch` to `path` in row groups of `rows` rows.
fn write_row_groups(path: &Path, batch: &RecordBatch, rows: usize) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[test]
fn date_filter_uses_row_group_pruning() {
    // A file written in many small row groups: a narrow date slice must read
    // only the matching rows, with row numbers that point into the file.
    let dir = tempdir();
    let p = dir.path().join("rg.parquet");
    let n = 1000;
    let ts: Vec<i32> = (0..n).map(|i| 18000 + i).collect();
    let mut close: Vec<f64> = vec![1.0; n as usize];
    close[700] = -1.0;
    let batch = RecordBatch::try_from_iter(vec![
        ("timestamp", Arc::new(Date32Array::from(ts)) as ArrayRef),
        ("symbol", Arc::new(StringArray::from(vec!["A"; n as usize]))),
        ("close", Arc::new(Float64Array::from(close))),
    ])
    .unwrap();
    write_row_groups(&p, &batch, 100);
    let cols = ColumnMap::default();
    let day = |d: i64| d * DAY_US;
    let sel = Selection {
        symbols: &SymbolSelection::All,
        start: Some(day(18650)),
        end: Some(day(18749)),
        columns: &cols,
    };
    let (bars, problems) = load_bars(&p, &sel, None).unwrap();
    assert_eq!(bars.len(), 100);
    assert_eq!(bars.origin[0].row(), 650);
    let found = problems.list();
    assert_eq!(found.len(), 1);
    assert!(found[0].2[0].contains("row 700"), "{:?}", found);
    // Without a filter, row numbers still point into the file across row groups.
    let all = Selection {
        start: None,
        end: None,
        ..sel.clone()
    };
    let (bars, problems) = load_bars(&p, &all, None).unwrap();
    assert_eq!(bars.len(), 1000);
    assert_eq!(bars.origin[999].row(), 999);
    assert!(problems.list()[0].2[0].contains("row 700"));
    // Outside the slice the bad row is not read at all.
    let sel = Selection {
        start: Some(day(18000)),
        end: Some(day(18099)),
        ..sel
    };
    let (bars, problems) = load_bars(&p, &sel, None).unwrap();
    assert_eq!(bars.len(), 100);
    assert!(problems.is_empty());
}

#[test]
fn rows_that_cannot_be_placed_leave_no_gap() {
    // Unfiltered reads decode straight into preallocated columns, one region
    // per group of row groups; rows dropped by validation (null symbol) must
    // close up, and the result must equal the filtered (growing) read path.
    let dir = tempdir();
    let p = dir.path().join("holes.parquet");
    let n = 1000usize;
    let ts: Vec<i32> = (0..n as i32).map(|i| 18000 + i).collect();
    let syms: Vec<Option<&str>> = (0..n)
        .map(|i| match i {
            150 | 720 => None,
            // Runs of 100 rows: decoding units (groups of row groups) start
            // on either symbol, so unit-local symbol ids need remapping.
            _ if (i / 100) % 2 == 0 => Some("A"),
            _ => Some("B"),
        })
        .collect();
    let close: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("timestamp", Arc::new(Date32Array::from(ts)) as ArrayRef),
        ("symbol", Arc::new(StringArray::from(syms))),
        ("close", Arc::new(Float64Array::from(close))),
    ])
    .unwrap();
    write_row_groups(&p, &batch, 100);
    let cols = ColumnMap::default();
    let all = Selection {
        symbols: &SymbolSelection::All,
        start: None,
        end: None,
        columns: &cols,
    };
    let (bars, problems) = load_bars(&p, &all, None).unwrap();
    assert_eq!(bars.len(), n - 2);
    assert_eq!(problems.list()[0].1, 2, "{:?}", problems.list());
    let rows: Vec<u64> = bars.origin.iter().map(|o| o.row()).collect();
    // Sorted by (symbol, time): A's rows then B's.
    let is_a = |r: &u64| (r / 100).is_multiple_of(2);
    let placed = |r: &u64| *r != 150 && *r != 720;
    let expect: Vec<u64> = (0..n as u64)
        .filter(is_a)
        .chain((0..n as u64).filter(|r| !is_a(r)))
        .filter(placed)
        .collect();
    assert_eq!(rows, expect);
    for (k, &r) in expect.iter().enumerate() {
        assert_eq!(bars.close[k], 100.0 + r as f64);
        assert_eq!(
            bars.symbols[bars.symbol[k] as usize],
            if is_a(&r) { "A" } else { "B" }
        );
    }
    // Same rows through the row-filter path (a start date before every row).
    let filtered = Selection {
        start: Some(0),
        ..all.clone()
    };
    let (other, _) = load_bars(&p, &filtered, None).unwrap();
    assert_eq!(other.timestamp, bars.timestamp);
    assert_eq!(other.close, bars.close);
    assert_eq!(other.origin, bars.origin);
    assert_eq!(other.symbols, bars.symbols);
    assert_eq!(other.symbol, bars.symbol);
}

#[test]
fn origin_packs_file_and_row() {
    use chloe::data::bars::Origin;
    let o = Origin::new(7, 123_456_789_012);
    assert_eq!((o.file(), o.row()), (7, 123_456_789_012));
    // Out-of-range values saturate rather than spill into the other field.
    let o = Origin::new(u32::MAX, u64::MAX);
    assert_eq!((o.file(), o.row()), ((1 << 24) - 1, (1 << 40) - 1));
}

/// A random single-symbol series with gaps: (bar index present?, close).
fn panel_of(present: &[bool], closes: &[f64], max_fill: usize) -> Panel {
    let mut bars = chloe::data::Bars {
        symbols: vec!["A".into(), "B".into()],
        ..Default::default()
    };
    for (t, (&p, &c)) in present.iter().zip(closes).enumerate() {
        // B is always present so the calendar holds every bar.
        bars.timestamp.push(t as i64 * DAY_US);
        bars.symbol.push(1);
        for v in [
            &mut bars.open,
            &mut bars.high,
            &mut bars.low,
            &mut bars.volume,
        ] {
            v.push(f64::NAN);
        }
        bars.close.push(1.0);
        bars.origin.push(chloe::data::bars::Origin::default());
        if p {
            bars.timestamp.push(t as i64 * DAY_US);
            bars.symbol.push(0);
            for v in [
                &mut bars.open,
                &mut bars.high,
                &mut bars.low,
                &mut bars.volume,
            ] {
                v.push(f64::NAN);
            }
            bars.close.push(c);
            bars.origin.push(chloe::data::bars::Origin::default());
        }
    }
    bars.sort();
    Panel::from_bars(&bars, CalendarMode::Union, max_fill, None).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_panel_is_causal_and_fill_is_bounded(
        present in proptest::collection::vec(any::<bool>(), 5..60),
        seed_closes in proptest::collection::vec(1.0f64..100.0, 60),
        max_fill in 0usize..6,
        cut in 0usize..60,
    ) {
        let n = present.len();
        let closes = &seed_closes[..n];
        let p = panel_of(&present, closes, max_fill);
        // Fill never exceeds its limit and never fills backwards.
        let mut last_real: Option<usize> = None;
        for t in 0..n {
            if present[t] {
                last_real = Some(t);
                prop_assert_eq!(p.close[[t, 0]], closes[t]);
                prop_assert!(!p.filled[[t, 0]]);
            } else {
                match last_real {
                    Some(lr) if t - lr <= max_fill => {
                        prop_assert_eq!(p.close[[t, 0]], closes[lr]);
                        prop_assert!(p.filled[[t, 0]] && p.available[[t, 0]]);
                    }
                    _ => prop_assert!(p.close[[t, 0]].is_nan() && !p.available[[t, 0]]),
                }
            }
        }
        // No value at t depends on data after t: change everything after `cut`.
        let cut = cut.min(n - 1);
        let mut present2 = present.clone();
        let mut closes2 = closes.to_vec();
        for t in cut + 1..n {
            present2[t] = !present2[t];
            closes2[t] *= 1.7;
        }
        let q = panel_of(&present2, &closes2, max_fill);
        for t in 0..=cut {
            let (a, b) = (p.close[[t, 0]], q.close[[t, 0]]);
            prop_assert!(a == b || (a.is_nan() && b.is_nan()), "bar {} changed", t);
            prop_assert_eq!(p.available[[t, 0]], q.available[[t, 0]]);
        }
    }
}
