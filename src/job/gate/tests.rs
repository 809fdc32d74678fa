//! Gate checks on hand-built report folders (small Parquet files written here).

use std::{path::Path, sync::Arc};

use arrow::{
    array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    },
    datatypes::{DataType, Field, Schema, TimeUnit},
    record_batch::RecordBatch,
};
use parquet::file::{metadata::KeyValue, properties::WriterProperties};

use super::*;
use crate::{
    atomic::write_parquet_atomic_with,
    config::gate::{GateOverrides, RawGate, Threshold},
    error::{Exit, exit_code},
    metrics,
};

const DAY: i64 = 86_400_000_000;

/// Scenario, var_99, cvar_99, prob_drawdown_breach.
type StressRow = (&'static str, Option<f64>, Option<f64>, Option<f64>);

/// A report folder described by its contents.
#[derive(Clone)]
struct Fixture {
    /// Per fold: Sharpe, max drawdown.
    folds: Vec<(Option<f64>, Option<f64>)>,
    /// Stitched returns, one per day starting at day 1000.
    returns: Vec<f64>,
    /// First out-of-sample day.
    first_day: i64,
    /// Predictions: probability and label.
    predictions: Vec<(f64, Option<bool>)>,
    min_edge: f64,
    n_trials: u64,
    trials_sharpe_std: f64,
    hash: Option<String>,
    stress: Option<Vec<StressRow>>,
    stress_skipped: Option<String>,
    alerts: Option<Vec<&'static str>>,
    gate_spec: Option<serde_json::Value>,
    /// False for a stress-only run: no walk-forward files, `walkforward: null`.
    walkforward: bool,
}

impl Default for Fixture {
    fn default() -> Self {
        Self {
            folds: vec![
                (Some(1.0), Some(0.05)),
                (Some(-0.5), Some(0.2)),
                (Some(2.0), Some(0.1)),
                (None, Some(0.0)),
            ],
            returns: vec![0.1, -0.2, 0.05, 0.3],
            first_day: 1000,
            predictions: vec![
                (0.7, Some(true)),
                (0.6, Some(false)),
                (0.8, Some(true)),
                (0.4, Some(true)),
                (0.3, Some(false)),
                (0.9, None),
            ],
            min_edge: 0.55,
            n_trials: 1,
            trials_sharpe_std: 0.0,
            hash: Some("ab".repeat(32)),
            stress: None,
            stress_skipped: None,
            alerts: None,
            gate_spec: None,
            walkforward: true,
        }
    }
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn ts(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn write(path: &Path, fields: Vec<Field>, cols: Vec<ArrayRef>, meta: Option<Vec<KeyValue>>) {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(meta)
        .build();
    write_parquet_atomic_with(path, schema, &[batch], props).unwrap();
}

impl Fixture {
    fn write_walkforward(&self, dir: &Path) {
        let n = self.folds.len() as i64;
        let win = |k: i64| (0..n).map(|i| (i * 100 + k) * DAY).collect::<Vec<_>>();
        write(
            &dir.join("folds.parquet"),
            vec![
                Field::new("fold", DataType::Int64, false),
                ts_field("train_start"),
                ts_field("train_end"),
                ts_field("test_start"),
                ts_field("test_end"),
                Field::new("sharpe", DataType::Float64, true),
                Field::new("max_drawdown", DataType::Float64, true),
                Field::new("edge_precision", DataType::Float64, true),
            ],
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                ts(win(0)),
                ts(win(50)),
                ts(win(51)),
                ts(win(99)),
                Arc::new(Float64Array::from_iter(self.folds.iter().map(|f| f.0))),
                Arc::new(Float64Array::from_iter(self.folds.iter().map(|f| f.1))),
                Arc::new(Float64Array::from(vec![None::<f64>; n as usize])),
            ],
            None,
        );
        let m = self.returns.len();
        let mut eq = 1.0;
        let equity: Vec<f64> = self
            .returns
            .iter()
            .map(|r| {
                eq *= 1.0 + r;
                eq
            })
            .collect();
        write(
            &dir.join("oos_returns.parquet"),
            vec![
                ts_field("timestamp"),
                Field::new("fold", DataType::Int64, false),
                Field::new("return", DataType::Float64, false),
                Field::new("equity", DataType::Float64, false),
            ],
            vec![
                ts((0..m as i64).map(|i| (self.first_day + i) * DAY).collect()),
                Arc::new(Int64Array::from(vec![0; m])),
                Arc::new(Float64Array::from(self.returns.clone())),
                Arc::new(Float64Array::from(equity)),
            ],
            self.hash
                .as_ref()
                .map(|h| vec![KeyValue::new(DATA_SHA256_KEY.into(), h.clone())]),
        );
        let k = self.predictions.len();
        write(
            &dir.join("predictions.parquet"),
            vec![
                ts_field("timestamp"),
                Field::new("symbol", DataType::Utf8, false),
                Field::new("edge_probability", DataType::Float64, false),
                Field::new("label", DataType::Boolean, true),
            ],
            vec![
                ts(vec![0; k]),
                Arc::new(StringArray::from(vec!["AAA"; k])),
                Arc::new(Float64Array::from_iter_values(
                    self.predictions.iter().map(|p| p.0),
                )),
                Arc::new(BooleanArray::from(
                    self.predictions.iter().map(|p| p.1).collect::<Vec<_>>(),
                )),
            ],
            None,
        );
    }

    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        if self.walkforward {
            self.write_walkforward(dir);
        }
        if let Some(rows) = &self.stress {
            write(
                &dir.join("stress_summary.parquet"),
                vec![
                    Field::new("scenario", DataType::Utf8, false),
                    Field::new("var_99", DataType::Float64, true),
                    Field::new("cvar_99", DataType::Float64, true),
                    Field::new("prob_drawdown_breach", DataType::Float64, true),
                ],
                vec![
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.1))),
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))),
                ],
                None,
            );
        }
        if let Some(sev) = &self.alerts {
            write(
                &dir.join("alerts.parquet"),
                vec![Field::new("severity", DataType::Utf8, false)],
                vec![Arc::new(StringArray::from(sev.clone()))],
                None,
            );
        }
        let mut summary = serde_json::json!({
            "job": "t",
            "data": { "bars_per_year": 252.0 },
            "walkforward": { "config": {
                "n_trials": self.n_trials,
                "trials_sharpe_std": self.trials_sharpe_std,
                "sizing": { "min_edge": self.min_edge },
            }},
        });
        if !self.walkforward {
            summary["walkforward"] = serde_json::Value::Null;
        }
        if let Some(why) = &self.stress_skipped {
            summary["stress"] = serde_json::json!({ "skipped": why });
        }
        if let Some(spec) = &self.gate_spec {
            summary["gate"] = serde_json::json!({ "spec": spec });
        }
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    }
}

fn spec(text: &str) -> GateSpec {
    toml::from_str::<RawGate>(text).unwrap().validate().unwrap()
}

fn run(fx: &Fixture, gate: &str) -> GateOutcome {
    let dir = tempfile::tempdir().unwrap();
    fx.write(dir.path());
    evaluate(dir.path(), &spec(gate), None, false).unwrap()
}

/// The single check of an outcome with this name.
fn only<'a>(o: &'a GateOutcome, name: &str) -> &'a Check {
    let found: Vec<_> = o.checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "{name} in {:?}", o.checks);
    found[0]
}

/// Runs `key = limit` and returns the check's status and value.
fn status(fx: &Fixture, key: &str, limit: f64) -> (Status, Option<f64>) {
    let o = run(fx, &format!("{key} = {limit}"));
    let c = only(&o, key);
    (c.status, c.value)
}

fn close(v: Option<f64>, want: f64) -> bool {
    v.is_some_and(|v| (v - want).abs() < 1e-12)
}

#[test]
fn nothing_configured_passes_with_no_checks() {
    let o = run(&Fixture::default(), "");
    assert!(o.passed() && o.checks.is_empty() && o.baseline.is_none());
}

#[test]
fn fold_thresholds_pass_and_fail_on_hand_values() {
    let fx = Fixture::default();
    // Fold Sharpe [1, -0.5, 2, null]: mean of the three = 2.5 / 3; 2 of 3 positive.
    let (s, v) = status(&fx, "min_avg_sharpe", 0.8);
    assert!(s == Status::Passed && close(v, 2.5 / 3.0));
    assert_eq!(status(&fx, "min_avg_sharpe", 0.85).0, Status::Failed);
    let (s, v) = status(&fx, "min_consistency", 0.6);
    assert!(s == Status::Passed && close(v, 2.0 / 3.0));
    assert_eq!(status(&fx, "min_consistency", 0.7).0, Status::Failed);
}

#[test]
fn stitched_thresholds_pass_and_fail_on_hand_values() {
    let fx = Fixture::default();
    // r = [0.1, -0.2, 0.05, 0.3]: mean 0.0625, std(ddof=1) 0.2056494...,
    // Sharpe * sqrt(252) = 4.824506406770078 (python); max drawdown 0.2 (equity
    // 1.1 -> 0.88).
    let (s, v) = status(&fx, "min_stitched_sharpe", 4.8);
    assert!(s == Status::Passed && v.is_some_and(|v| (v - 4.824_506_406_770_078).abs() < 1e-9));
    assert_eq!(status(&fx, "min_stitched_sharpe", 4.85).0, Status::Failed);

    let o = run(&fx, "max_drawdown = 0.15");
    let worst = only(&o, "max_drawdown.worst_fold");
    assert_eq!(worst.status, Status::Failed);
    assert!(
        close(worst.value, 0.2) && worst.why.contains("fold 1"),
        "{}",
        worst.why
    );
    let stitched = only(&o, "max_drawdown.stitched");
    assert!(stitched.status == Status::Failed && close(stitched.value, 0.2));
    assert_eq!(o.verdict, Verdict::Fail);
    let o = run(&fx, "max_drawdown = 0.2");
    assert!(o.passed() && o.counts.passed == 2);

    let psr = metrics::psr(&fx.returns, 0.0).unwrap();
    let (s, v) = status(&fx, "min_psr", (psr - 0.01).max(0.0));
    assert!(s == Status::Passed && close(v, psr));
    assert_eq!(
        status(&fx, "min_psr", (psr + 0.01).min(1.0)).0,
        Status::Failed
    );
    // One trial: DSR is PSR against 0. More trials deflate it.
    assert!(close(status(&fx, "min_dsr", 0.0).1, psr));
    let many = Fixture {
        n_trials: 100,
        trials_sharpe_std: 2.0,
        ..fx.clone()
    };
    let (_, dsr) = status(&many, "min_dsr", 0.0);
    assert!(dsr.unwrap() < psr);
}

#[test]
fn precision_thresholds_pass_and_fail_on_hand_values() {
    let fx = Fixture::default();
    // Labelled: 5 (3 true). Calls with p >= 0.55: 0.7 T, 0.6 F, 0.8 T -> 2 / 3.
    // Base rate 3 / 5; lift 2/3 - 3/5. The unlabelled 0.9 counts nowhere.
    let (s, v) = status(&fx, "min_edge_precision", 0.6);
    assert!(s == Status::Passed && close(v, 2.0 / 3.0));
    assert_eq!(status(&fx, "min_edge_precision", 0.7).0, Status::Failed);
    let (s, v) = status(&fx, "min_precision_lift", 0.05);
    assert!(s == Status::Passed && close(v, 2.0 / 3.0 - 0.6));
    assert_eq!(status(&fx, "min_precision_lift", 0.1).0, Status::Failed);
}

#[test]
fn statistics_that_cannot_be_computed_fail() {
    let fx = Fixture {
        folds: vec![(None, None)],
        returns: vec![0.01],
        predictions: vec![(0.1, Some(true))],
        ..Default::default()
    };
    let o = run(
        &fx,
        "min_avg_sharpe = -10\nmin_stitched_sharpe = -10\nmin_psr = 0\nmin_edge_precision = 0\nmin_consistency = 0",
    );
    assert_eq!(o.counts.failed, 5, "{:?}", o.checks);
    assert!(o.checks.iter().all(|c| c.value.is_none()));
    assert!(o.checks[0].why.contains("could not be computed"));
}

#[test]
fn stress_thresholds_use_the_worst_scenario() {
    let fx = Fixture {
        stress: Some(vec![
            ("calm", Some(0.05), Some(0.07), Some(0.01)),
            ("crash", Some(0.2), Some(0.3), Some(0.4)),
        ]),
        ..Default::default()
    };
    let (s, v) = status(&fx, "max_stress_var_99", 0.25);
    assert!(s == Status::Passed && close(v, 0.2));
    assert_eq!(status(&fx, "max_stress_var_99", 0.1).0, Status::Failed);
    let (s, v) = status(&fx, "max_stress_cvar_99", 0.2);
    assert!(s == Status::Failed && close(v, 0.3));
    let o = run(&fx, "max_stress_breach_probability = 0.5");
    let c = only(&o, "max_stress_breach_probability");
    assert!(c.status == Status::Passed && close(c.value, 0.4) && c.why.contains("crash"));
    // A scenario whose statistic is null fails the check instead of being ignored.
    let holes = Fixture {
        stress: Some(vec![
            ("calm", Some(0.05), None, None),
            ("crash", None, None, None),
        ]),
        ..Default::default()
    };
    let o = run(&holes, "max_stress_var_99 = 1");
    let c = only(&o, "max_stress_var_99");
    assert!(
        c.status == Status::Failed && c.why.contains("crash"),
        "{}",
        c.why
    );
}

#[test]
fn stress_thresholds_skip_without_a_stress_result() {
    let gate =
        "max_stress_var_99 = 0.1\nmax_stress_cvar_99 = 0.1\nmax_stress_breach_probability = 0.1";
    let o = run(&Fixture::default(), gate);
    assert_eq!(o.counts.skipped, 3);
    assert!(o.passed());
    assert!(o.checks[0].why.contains("stress_summary.parquet is absent"));
    // The runner's reason wins even when a stress file is present.
    let fx = Fixture {
        stress: Some(vec![("crash", Some(0.9), Some(0.9), Some(0.9))]),
        stress_skipped: Some("the deployment book is all cash".into()),
        ..Default::default()
    };
    let o = run(&fx, gate);
    assert_eq!(o.counts.skipped, 3);
    assert!(o.checks.iter().all(|c| c.why.contains("all cash")));
}

#[test]
fn critical_alerts_count_when_a_monitor_report_exists() {
    let (s, v) = status(&Fixture::default(), "max_critical_alerts", 0.0);
    assert!(s == Status::Skipped && v.is_none());
    let fx = Fixture {
        alerts: Some(vec!["WARNING", "CRITICAL", "CRITICAL"]),
        ..Default::default()
    };
    let (s, v) = status(&fx, "max_critical_alerts", 2.0);
    assert!(s == Status::Passed && v == Some(2.0));
    assert_eq!(status(&fx, "max_critical_alerts", 1.0).0, Status::Failed);
}

#[test]
fn baseline_thresholds_skip_without_a_baseline() {
    let o = run(
        &Fixture::default(),
        "max_sharpe_drop = 0\nmax_drawdown_increase = 0\nmax_precision_drop = 0\nmin_prob_better = 0.5",
    );
    assert_eq!(o.counts.skipped, 4);
    assert!(o.checks.iter().all(|c| c.why.contains("--baseline")));
}

fn wiggle(n: usize, shift: f64) -> Vec<f64> {
    (0..n)
        .map(|i| 0.0005 + shift + 0.01 * ((i as f64) * 1.3).sin())
        .collect()
}

fn pair(cand: &Fixture, base: &Fixture) -> (tempfile::TempDir, tempfile::TempDir) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    cand.write(a.path());
    base.write(b.path());
    (a, b)
}

const RELATIVE: &str =
    "max_sharpe_drop = 0\nmax_drawdown_increase = 0\nmax_precision_drop = 0\nmin_prob_better = 0.5";

#[test]
fn baseline_with_itself_ties() {
    let fx = Fixture {
        returns: wiggle(120, 0.0),
        ..Default::default()
    };
    let (a, b) = pair(&fx, &fx);
    let o = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), false).unwrap();
    let c = o.baseline.as_ref().unwrap();
    assert_eq!(c.common_bars, 120);
    assert_eq!(c.sharpe_difference, Some(0.0));
    assert_eq!(c.sharpe_difference_ci, Some([0.0, 0.0]));
    assert_eq!(c.prob_better, Some(0.5));
    assert!(c.differences.is_empty());
    assert!(o.passed() && o.counts.passed == 4, "{:?}", o.checks);
    // Ties are not wins: asking for more than one half fails.
    let o = evaluate(
        a.path(),
        &spec("min_prob_better = 0.6"),
        Some(b.path()),
        false,
    )
    .unwrap();
    assert_eq!(o.verdict, Verdict::Fail);
}

#[test]
fn a_dominating_candidate_wins_every_resample() {
    let base = Fixture {
        returns: wiggle(120, 0.0),
        ..Default::default()
    };
    let cand = Fixture {
        returns: wiggle(120, 0.002),
        ..base.clone()
    };
    let (a, b) = pair(&cand, &base);
    let o = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), false).unwrap();
    let c = o.baseline.as_ref().unwrap();
    assert_eq!(c.prob_better, Some(1.0));
    assert!(c.sharpe_difference.unwrap() > 0.0 && c.sharpe_difference_ci.unwrap()[0] > 0.0);
    assert!(only(&o, "max_sharpe_drop").value.unwrap() < 0.0);
    // The other way round the candidate loses every resample and the drop is positive.
    let o = evaluate(b.path(), &spec(RELATIVE), Some(a.path()), false).unwrap();
    assert_eq!(o.baseline.as_ref().unwrap().prob_better, Some(0.0));
    assert_eq!(only(&o, "max_sharpe_drop").status, Status::Failed);
    assert_eq!(only(&o, "min_prob_better").status, Status::Failed);
}

#[test]
fn baseline_uses_common_timestamps_only() {
    // Baseline covers days 1000..1100, candidate 1050..1150: 50 common bars, on
    // which the candidate's returns equal the baseline's.
    let all = wiggle(150, 0.0);
    let base = Fixture {
        returns: all[..100].to_vec(),
        ..Default::default()
    };
    let cand = Fixture {
        returns: all[50..].to_vec(),
        first_day: 1050,
        ..base.clone()
    };
    let (a, b) = pair(&cand, &base);
    let o = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), false).unwrap();
    let c = o.baseline.unwrap();
    assert_eq!(c.common_bars, 50);
    assert_eq!(c.sharpe_difference, Some(0.0));
    assert_eq!(c.candidate_sharpe, metrics::sharpe(&all[50..100], 252.0));
}

fn refused(cand: &Fixture, base: &Fixture) -> String {
    let (a, b) = pair(cand, base);
    let err = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    // Allowed, the comparison runs and lists the difference.
    let o = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), true).unwrap();
    assert_eq!(o.baseline.unwrap().differences.len(), 1);
    format!("{err:#}")
}

#[test]
fn different_data_or_fold_plan_is_refused_unless_allowed() {
    let base = Fixture {
        returns: wiggle(60, 0.0),
        ..Default::default()
    };
    let other_hash = Fixture {
        hash: Some("cd".repeat(32)),
        ..base.clone()
    };
    let e = refused(&other_hash, &base);
    assert!(
        e.contains("data hash differs") && e.contains("--allow-different-data"),
        "{e}"
    );
    let no_hash = Fixture {
        hash: None,
        ..base.clone()
    };
    let e = refused(&base, &no_hash);
    assert!(
        e.contains("data hash unknown") && e.contains(DATA_SHA256_KEY),
        "{e}"
    );
    let more_folds = Fixture {
        folds: vec![(Some(1.0), Some(0.1)); 5],
        ..base.clone()
    };
    let e = refused(&more_folds, &base);
    assert!(
        e.contains("fold plan differs: candidate has 5 folds, baseline 4"),
        "{e}"
    );
}

#[test]
fn bad_folders_are_bad_input_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("nope");
    let err = evaluate(&none, &GateSpec::default(), None, false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    assert!(format!("{err:#}").contains("no such output folder"));

    Fixture::default().write(dir.path());
    let err = evaluate(dir.path(), &GateSpec::default(), Some(&none), false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    assert!(format!("{err:#}").contains("--baseline"));

    std::fs::remove_file(dir.path().join("predictions.parquet")).unwrap();
    let err = evaluate(dir.path(), &GateSpec::default(), None, false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("not a complete chloe output folder")
            && msg.contains("predictions.parquet missing"),
        "{msg}"
    );

    Fixture::default().write(dir.path());
    std::fs::write(dir.path().join("summary.json"), r#"{"data": {}}"#).unwrap();
    let err = evaluate(dir.path(), &GateSpec::default(), None, false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    assert!(format!("{err:#}").contains("data.bars_per_year"));

    // A column of the wrong type names file, column and types.
    Fixture::default().write(dir.path());
    write(
        &dir.path().join("oos_returns.parquet"),
        vec![
            ts_field("timestamp"),
            Field::new("return", DataType::Utf8, false),
        ],
        vec![ts(vec![0]), Arc::new(StringArray::from(vec!["x"]))],
        None,
    );
    let err = evaluate(dir.path(), &GateSpec::default(), None, false).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("oos_returns.parquet") && msg.contains("\"return\""),
        "{msg}"
    );
}

#[test]
fn thresholds_come_from_summary_unless_a_job_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture {
        gate_spec: Some(serde_json::json!({ "min_avg_sharpe": 0.5, "max_drawdown": 0.15 })),
        ..Default::default()
    };
    fx.write(dir.path());
    let mut req = GateRequest {
        dir: dir.path().to_path_buf(),
        overrides: GateOverrides {
            max_drawdown: Some(0.3),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = resolve_spec(&req).unwrap();
    assert_eq!(s.limit(Threshold::MinAvgSharpe), Some(0.5));
    assert_eq!(s.limit(Threshold::MaxDrawdown), Some(0.3));
    // --job wins over the summary; its [gate] goes through the same overrides.
    let job = dir.path().join("job.toml");
    std::fs::write(&job, "[job]\nname = \"j\"\n[gate]\nmin_psr = 0.9\n").unwrap();
    req.job = Some(job.clone());
    let s = resolve_spec(&req).unwrap();
    assert_eq!(s.limit(Threshold::MinAvgSharpe), None);
    assert_eq!(s.limit(Threshold::MinPsr), Some(0.9));
    assert_eq!(s.limit(Threshold::MaxDrawdown), Some(0.3));
    // A bad flag value is a config error naming the flag.
    req.overrides.min_psr = Some(1.5);
    let err = resolve_spec(&req).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    assert!(format!("{err:#}").contains("--min-psr"));
}

#[test]
fn gate_command_rewrites_only_the_gate_files() {
    let dir = tempfile::tempdir().unwrap();
    Fixture::default().write(dir.path());
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), std::fs::read(&p).unwrap())
        })
        .collect();
    let req = GateRequest {
        dir: dir.path().to_path_buf(),
        overrides: GateOverrides {
            min_avg_sharpe: Some(100.0),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(command(&req).unwrap(), Exit::GateFailed);
    for (p, bytes) in &before {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{} changed", p.display());
    }
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n, before.len() + 2);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("gate.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["checks"][0]["name"], "min_avg_sharpe");
    assert_eq!(json["checks"][0]["limit"], 100.0);
}

#[test]
fn a_stress_only_run_skips_the_walkforward_thresholds() {
    let stress_only = Fixture {
        walkforward: false,
        stress: Some(vec![("crash", Some(0.2), Some(0.3), Some(0.4))]),
        ..Default::default()
    };
    let o = run(
        &stress_only,
        "min_avg_sharpe = 1\nmax_drawdown = 0.1\nmax_stress_var_99 = 0.1",
    );
    assert_eq!(o.checks.len(), 3);
    assert_eq!(o.counts.skipped, 2);
    assert!(o.checks[0].why.contains("no walk-forward reports"));
    let var = only(&o, "max_stress_var_99");
    assert!(var.status == Status::Failed && close(var.value, 0.2));
    // Nothing to compare against a baseline.
    let (a, b) = pair(&stress_only, &Fixture::default());
    let err = evaluate(a.path(), &spec(RELATIVE), Some(b.path()), true).unwrap_err();
    assert_eq!(exit_code(&err), Exit::BadInput);
    assert!(format!("{err:#}").contains("no walk-forward reports"));
    // A folder whose summary says the walk-forward ran must have its files.
    let dir = tempfile::tempdir().unwrap();
    Fixture::default().write(dir.path());
    std::fs::remove_file(dir.path().join("folds.parquet")).unwrap();
    let err = evaluate(dir.path(), &GateSpec::default(), None, false).unwrap_err();
    assert!(format!("{err:#}").contains("folds.parquet missing"));
}
