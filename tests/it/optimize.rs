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
