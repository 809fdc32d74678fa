//! `chloe optimize` on the shipped US equities.

use crate::util::{chloe, datasets};

fn file() -> String {
    datasets()
        .join("us_equities_daily_skfolio.parquet")
        .display()
        .to_string()
}

fn column(json: &serde_json::Value, key: &str) -> Vec<f64> {
    json["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[key].as_f64().unwrap())
        .collect()
}

#[test]
fn risk_parity_prints_equal_contributions() {
    let dir = datasets();
    let f = file();
    let run = chloe(&dir, &["optimize", "--returns", &f, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let w = column(&json, "weight");
    let rc = column(&json, "risk_contribution");
    assert_eq!(w.len(), 20);
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(w.iter().all(|&x| x > 0.0));
    for r in &rc {
        assert!((r * 20.0 - 1.0).abs() < 1e-8, "contribution {r}");
    }
    // Weights differ (equal risk is not equal weight on this data).
    let (lo, hi) = w
        .iter()
        .fold((1.0f64, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo > 1.5, "{lo} {hi}");

    // The text table prints the same contributions.
    let run = chloe(&dir, &["optimize", "--returns", &f]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 20);
    for row in rows {
        let rc: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!((rc - 0.05).abs() < 1e-11, "{row}");
    }
}

#[test]
fn budgets_and_min_variance() {
    let dir = datasets();
    let f = file();
    let run = chloe(
        &dir,
        &[
            "optimize",
            "--returns",
            &f,
            "--budgets",
            "AAPL=2,XOM=3",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rc = column(&json, "risk_contribution");
    let syms: Vec<&str> = json["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    for (s, r) in syms.iter().zip(&rc) {
        let b = match *s {
            "AAPL" => 2.0,
            "XOM" => 3.0,
            _ => 1.0,
        } / 23.0;
        assert!(((r - b) / b).abs() < 1e-8, "{s}: {r} vs {b}");
    }

    let run = chloe(
        &dir,
        &[
            "optimize",
            "--method",
            "min-variance",
            "--returns",
            &f,
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let w = column(&json, "weight");
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(w.iter().all(|&x| x >= 0.0));
    // Min variance is less volatile than risk parity on the same covariance.
    let mv = json["volatility"].as_f64().unwrap();
    let run = chloe(&dir, &["optimize", "--returns", &f, "--json"]);
    let rp: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(mv < rp["volatility"].as_f64().unwrap());
}

#[test]
fn bad_input_is_exit_2_naming_it() {
    let dir = datasets();
    let f = file();
    let cases: [(&[&str], &str); 4] = [
        (&["--returns", "missing.parquet"], "missing.parquet"),
        (&["--returns", &f, "--budgets", "FOO=1"], "FOO"),
        (&["--returns", &f, "--budgets", "AAPL=0"], "AAPL"),
        (
            &[
                "--returns",
                &f,
                "--method",
                "min-variance",
                "--budgets",
                "AAPL=1",
            ],
            "--budgets",
        ),
    ];
    for (args, named) in cases {
        let mut a = vec!["optimize"];
        a.extend_from_slice(args);
        let run = chloe(&dir, &a);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

/// Writes the shipped prices' one-bar returns as a long and a wide returns file.
fn returns_files(dir: &std::path::Path) -> (String, String) {
    use std::sync::Arc;

    use arrow::{
        array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray},
        datatypes::{DataType, Field, Schema, TimeUnit},
    };
    let spec = chloe::config::DataSpec {
        path: datasets().join("us_equities_daily_skfolio.parquet"),
        symbols: chloe::config::SymbolSelection::All,
        start: None,
        end: None,
        bar: None,
        columns: chloe::config::ColumnMap::default(),
        max_fill_days: 5,
        bars_per_year: None,
        calendar: None,
        benchmark: None,
    };
    let panel = chloe::data::load_panel(&spec).unwrap().panel;
    let r = panel.returns();
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let write = |name: &str, schema: Schema, cols: Vec<ArrayRef>| {
        let path = dir.join(name);
        let batch = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path.display().to_string()
    };
    // Long, with the symbols in reverse order and undefined returns left out.
    let (mut ts, mut sym, mut ret) = (Vec::new(), Vec::new(), Vec::new());
    for i in (0..panel.n_assets()).rev() {
        for t in 0..panel.n_bars() {
            if r[[t, i]].is_finite() {
                ts.push(panel.timestamps[t]);
                sym.push(panel.symbols[i].clone());
                ret.push(r[[t, i]]);
            }
        }
    }
    let long = write(
        "long.parquet",
        Schema::new(vec![
            Field::new("timestamp", ts_type.clone(), false),
            Field::new("symbol", DataType::Utf8, false),
            Field::new("return", DataType::Float64, true),
        ]),
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(sym)),
            Arc::new(Float64Array::from(ret)),
        ],
    );
    let mut fields = vec![Field::new("timestamp", ts_type, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(
        TimestampMicrosecondArray::from(panel.timestamps.clone()).with_timezone("UTC"),
    )];
    for (i, s) in panel.symbols.iter().enumerate() {
        fields.push(Field::new(s, DataType::Float64, true));
        cols.push(Arc::new(Float64Array::from(
            r.column(i)
                .iter()
                .map(|v| v.is_finite().then_some(*v))
                .collect::<Vec<_>>(),
        )));
    }
    let wide = write("wide.parquet", Schema::new(fields), cols);
    (long, wide)
}

#[test]
fn returns_files_long_and_wide_give_the_prices_weights() {
    let tmp = crate::util::tempdir();
    let (long, wide) = returns_files(tmp.path());
    let json = |f: &str| {
        let run = chloe(tmp.path(), &["optimize", "--returns", f, "--json"]);
        assert_eq!(run.code, 0, "{f}: {}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    let prices = json(&file());
    let by_symbol = |j: &serde_json::Value| -> std::collections::BTreeMap<String, f64> {
        j["symbols"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["symbol"].as_str().unwrap().to_string(),
                    s["weight"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let want = by_symbol(&prices);
    for (f, input) in [(&long, "long_returns"), (&wide, "wide_returns")] {
        let j = json(f);
        assert_eq!(j["input"], input);
        assert_eq!(j["observations"], prices["observations"]);
        let got = by_symbol(&j);
        assert_eq!(got.len(), want.len());
        for (s, w) in &want {
            assert!((got[s] - w).abs() < 1e-12, "{input} {s}: {} vs {w}", got[s]);
        }
        let v = (j["volatility"].as_f64().unwrap() / prices["volatility"].as_f64().unwrap() - 1.0)
            .abs();
        assert!(v < 1e-9, "{input}: volatility differs by {v}");
    }
    assert_eq!(prices["input"], "prices");
}

#[test]
fn a_returns_file_without_returns_is_exit_2_naming_the_column() {
    use std::sync::Arc;

    use arrow::{
        array::{Float64Array, RecordBatch, StringArray},
        datatypes::{DataType, Field, Schema},
    };
    let tmp = crate::util::tempdir();
    let path = tmp.path().join("bad.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["A"])),
            Arc::new(Float64Array::from(vec![0.01])),
        ],
    )
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let run = chloe(
        tmp.path(),
        &["optimize", "--returns", path.to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("return"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.parquet"), "{}", run.stderr);
}
