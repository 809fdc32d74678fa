//! Reads the reports of a finished output folder that the gate judges.
//!
//! Only files of the report contract are read (DESIGN.md): `summary.json`; the
//! walk-forward's `folds.parquet`, `oos_returns.parquet` and `predictions.parquet`
//! (all three, unless the run had no walk-forward); `stress_summary.parquet` and
//! `alerts.parquet` when present. A missing folder or
//! file, a missing column or key, or a column of the wrong type is bad input
//! (exit 2) naming the file and what is missing.

use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
};

use arrow::{
    array::{
        Array, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    },
    record_batch::RecordBatch,
};
use parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder};

use crate::error::{DataError, UsageError};

/// Parquet key-value metadata key holding the SHA-256 of the run's input data.
pub const DATA_SHA256_KEY: &str = "chloe.data_sha256";

/// The walk-forward's report files: all present or, in a run without a
/// walk-forward (a stress-only job), all absent.
const WALKFORWARD_FILES: [&str; 3] = [
    "folds.parquet",
    "oos_returns.parquet",
    "predictions.parquet",
];

/// One row of `folds.parquet`: the fold's windows and the statistics the gate uses.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldRow {
    /// Fold index.
    pub fold: i64,
    /// `[train_start, train_end, test_start, test_end]`, microseconds since the epoch.
    pub window: [i64; 4],
    /// Annualized Sharpe of the fold's test window (null when not computable).
    pub sharpe: Option<f64>,
    /// Max drawdown of the fold's test window.
    pub max_drawdown: Option<f64>,
}

/// Counts over `predictions.parquet` behind edge precision and the base rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictionCounts {
    /// Predictions with a label (the label horizon ended inside the data).
    pub labelled: usize,
    /// Labelled predictions whose label was true.
    pub positives: usize,
    /// Labelled predictions with edge_probability >= min_edge (edge calls).
    pub calls: usize,
    /// Edge calls whose label was true.
    pub hits: usize,
}

/// One row of `stress_summary.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    /// Scenario name.
    pub scenario: String,
    /// 99% value at risk (loss fraction).
    pub var_99: Option<f64>,
    /// 99% conditional value at risk (loss fraction).
    pub cvar_99: Option<f64>,
    /// Probability of breaching the drawdown limit.
    pub prob_drawdown_breach: Option<f64>,
}

/// The stress test's results, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub enum StressReport {
    /// No stress results apply; the reason.
    Skipped(String),
    /// One row per scenario.
    Scenarios(Vec<ScenarioRow>),
}

/// The walk-forward part of an output folder.
#[derive(Debug, Clone)]
pub struct WalkforwardReports {
    /// Folds in file order.
    pub folds: Vec<FoldRow>,
    /// Stitched out-of-sample `(timestamp, return)` in file (time) order.
    pub oos: Vec<(i64, f64)>,
    /// `chloe.data_sha256` of `oos_returns.parquet`, when written (and not `none`).
    pub data_sha256: Option<String>,
    /// Edge-call and label counts.
    pub predictions: PredictionCounts,
    /// `data.bars_per_year` of summary.json.
    pub bars_per_year: f64,
    /// `walkforward.config.n_trials` of summary.json.
    pub n_trials: usize,
    /// `walkforward.config.trials_sharpe_std` (annualized) of summary.json.
    pub trials_sharpe_std: f64,
    /// `walkforward.config.sizing.min_edge` of summary.json.
    pub min_edge: f64,
}

/// What the gate reads from one output folder.
#[derive(Debug, Clone)]
pub struct RunReports {
    /// The output folder.
    pub dir: PathBuf,
    /// Walk-forward reports; None for a run without a walk-forward.
    pub walkforward: Option<WalkforwardReports>,
    /// Stress results or the reason there are none.
    pub stress: StressReport,
    /// CRITICAL rows of `alerts.parquet`; None when the folder has no alerts report.
    pub critical_alerts: Option<usize>,
    /// summary.json as parsed.
    pub summary: serde_json::Value,
}

impl RunReports {
    /// Reads the reports of the output folder `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        check_folder(dir)?;
        let summary = read_summary(dir)?;
        let has_wf = WALKFORWARD_FILES.iter().any(|f| dir.join(f).is_file())
            || summary.get("walkforward").is_some_and(|w| !w.is_null());
        let walkforward = if has_wf {
            missing_files(dir, &WALKFORWARD_FILES)?;
            Some(read_walkforward(dir, &summary)?)
        } else {
            None
        };
        let stress = match summary.pointer("/stress/skipped") {
            Some(serde_json::Value::String(why)) => StressReport::Skipped(why.clone()),
            _ => read_stress(&dir.join("stress_summary.parquet"))?,
        };
        let alerts = dir.join("alerts.parquet");
        let critical_alerts = if alerts.is_file() {
            Some(read_critical_alerts(&alerts)?)
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            walkforward,
            stress,
            critical_alerts,
            summary,
        })
    }
}

fn read_walkforward(dir: &Path, summary: &serde_json::Value) -> anyhow::Result<WalkforwardReports> {
    let spath = dir.join("summary.json");
    let number = |pointer: &str| -> Result<f64, DataError> {
        summary
            .pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| DataError::Invalid {
                path: spath.display().to_string(),
                problems: format!(
                    "missing number \"{}\" (not a chloe walk-forward summary?)",
                    pointer.trim_start_matches('/').replace('/', ".")
                ),
            })
    };
    let bars_per_year = number("/data/bars_per_year")?;
    let n_trials = number("/walkforward/config/n_trials")?;
    let trials_sharpe_std = number("/walkforward/config/trials_sharpe_std")?;
    let min_edge = number("/walkforward/config/sizing/min_edge")?;
    let folds = read_folds(&dir.join("folds.parquet"))?;
    let (oos, data_sha256) = read_oos(&dir.join("oos_returns.parquet"))?;
    let predictions = read_predictions(&dir.join("predictions.parquet"), min_edge)?;
    Ok(WalkforwardReports {
        folds,
        oos,
        data_sha256,
        predictions,
        bars_per_year,
        n_trials: n_trials.max(0.0) as usize,
        trials_sharpe_std,
        min_edge,
    })
}

/// An error naming the files of `names` that `dir` lacks, if any.
fn missing_files(dir: &Path, names: &[&str]) -> Result<(), UsageError> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "{} is not a complete chloe output folder: {} missing (run `chloe run` first)",
        dir.display(),
        missing.join(", ")
    )))
}

/// Checks that `dir` is a chloe output folder: a folder with a `summary.json`.
pub fn check_folder(dir: &Path) -> Result<(), UsageError> {
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "{}: no such output folder",
            dir.display()
        )));
    }
    if !dir.join("summary.json").is_file() {
        return Err(UsageError(format!(
            "{} is not a chloe output folder: summary.json missing (run `chloe run` first)",
            dir.display()
        )));
    }
    Ok(())
}

/// Parses `summary.json` of an output folder.
pub fn read_summary(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::Unreadable {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| {
        DataError::Invalid {
            path: path.display().to_string(),
            problems: format!("not valid JSON: {e}"),
        }
        .into()
    })
}

/// Batches of the named columns of a Parquet file, and its key-value metadata.
fn read_parquet(
    path: &Path,
    columns: &[&str],
) -> anyhow::Result<(Vec<RecordBatch>, BTreeMap<String, String>)> {
    let unreadable = |message: String| DataError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(e.to_string()))?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(columns.len());
    for &c in columns {
        let i = schema.index_of(c).map_err(|_| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: c.into(),
            present: schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        roots.push(i);
    }
    let meta: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| unreadable(e.to_string()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    Ok((batches, meta))
}

/// Column `name` of `batch` as array type `T`, or an error naming the file and types.
fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    path: &Path,
    name: &str,
    expected: &str,
) -> Result<&'a T, DataError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.into(),
            present: String::new(),
        })?;
    col.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DataError::ColumnType {
            path: path.to_path_buf(),
            column: name.into(),
            found: col.data_type().to_string(),
            expected: expected.into(),
        })
}

fn f64s(batch: &RecordBatch, path: &Path, name: &str) -> Result<Vec<Option<f64>>, DataError> {
    let a = column::<Float64Array>(batch, path, name, "Float64")?;
    Ok(a.iter().map(|v| v.filter(|x| x.is_finite())).collect())
}

fn i64s(batch: &RecordBatch, path: &Path, name: &str) -> Result<Vec<i64>, DataError> {
    let a = column::<Int64Array>(batch, path, name, "Int64")?;
    no_nulls(a, path, name)?;
    Ok(a.values().to_vec())
}

fn stamps(batch: &RecordBatch, path: &Path, name: &str) -> Result<Vec<i64>, DataError> {
    let a = column::<TimestampMicrosecondArray>(batch, path, name, "Timestamp(Microsecond)")?;
    no_nulls(a, path, name)?;
    Ok(a.values().to_vec())
}

fn no_nulls(a: &dyn Array, path: &Path, name: &str) -> Result<(), DataError> {
    if a.null_count() == 0 {
        return Ok(());
    }
    Err(DataError::Invalid {
        path: path.display().to_string(),
        problems: format!("column \"{name}\" has {} null values", a.null_count()),
    })
}

fn read_folds(path: &Path) -> anyhow::Result<Vec<FoldRow>> {
    let cols = [
        "fold",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "sharpe",
        "max_drawdown",
    ];
    let (batches, _) = read_parquet(path, &cols)?;
    let mut rows = Vec::new();
    for b in &batches {
        let fold = i64s(b, path, "fold")?;
        let w: Vec<Vec<i64>> = cols[1..5]
            .iter()
            .map(|c| stamps(b, path, c))
            .collect::<Result<_, _>>()?;
        let sharpe = f64s(b, path, "sharpe")?;
        let dd = f64s(b, path, "max_drawdown")?;
        for i in 0..b.num_rows() {
            rows.push(FoldRow {
                fold: fold[i],
                window: [w[0][i], w[1][i], w[2][i], w[3][i]],
                sharpe: sharpe[i],
                max_drawdown: dd[i],
            });
        }
    }
    Ok(rows)
}

/// `(timestamp, return)` rows and the data hash.
type OosReport = (Vec<(i64, f64)>, Option<String>);

fn read_oos(path: &Path) -> anyhow::Result<OosReport> {
    let (batches, meta) = read_parquet(path, &["timestamp", "return"])?;
    let mut rows = Vec::new();
    for b in &batches {
        let t = stamps(b, path, "timestamp")?;
        let r = column::<Float64Array>(b, path, "return", "Float64")?;
        no_nulls(r, path, "return")?;
        rows.extend(t.into_iter().zip(r.values().iter().copied()));
    }
    // The runner writes "none" for a run that read no data: no hash to compare.
    let hash = meta
        .get(DATA_SHA256_KEY)
        .filter(|h| h.as_str() != "none")
        .cloned();
    Ok((rows, hash))
}

fn read_predictions(path: &Path, min_edge: f64) -> anyhow::Result<PredictionCounts> {
    let (batches, _) = read_parquet(path, &["edge_probability", "label"])?;
    let mut c = PredictionCounts::default();
    for b in &batches {
        let p = column::<Float64Array>(b, path, "edge_probability", "Float64")?;
        let l = column::<BooleanArray>(b, path, "label", "Boolean")?;
        for (p, l) in p.iter().zip(l.iter()) {
            let Some(l) = l else { continue };
            c.labelled += 1;
            c.positives += usize::from(l);
            if p.is_some_and(|p| p >= min_edge) {
                c.calls += 1;
                c.hits += usize::from(l);
            }
        }
    }
    Ok(c)
}

fn read_stress(path: &Path) -> anyhow::Result<StressReport> {
    if !path.is_file() {
        return Ok(StressReport::Skipped(
            "no stress report in this folder (stress_summary.parquet is absent)".into(),
        ));
    }
    let cols = ["scenario", "var_99", "cvar_99", "prob_drawdown_breach"];
    let (batches, _) = read_parquet(path, &cols)?;
    let mut rows = Vec::new();
    for b in &batches {
        let s = column::<StringArray>(b, path, "scenario", "Utf8")?;
        let var = f64s(b, path, "var_99")?;
        let cvar = f64s(b, path, "cvar_99")?;
        let breach = f64s(b, path, "prob_drawdown_breach")?;
        for i in 0..b.num_rows() {
            rows.push(ScenarioRow {
                scenario: if s.is_valid(i) {
                    s.value(i).into()
                } else {
                    String::new()
                },
                var_99: var[i],
                cvar_99: cvar[i],
                prob_drawdown_breach: breach[i],
            });
        }
    }
    if rows.is_empty() {
        return Ok(StressReport::Skipped(
            "stress_summary.parquet has no scenarios".into(),
        ));
    }
    Ok(StressReport::Scenarios(rows))
}

fn read_critical_alerts(path: &Path) -> anyhow::Result<usize> {
    let (batches, _) = read_parquet(path, &["severity"])?;
    let mut n = 0;
    for b in &batches {
        let s = column::<StringArray>(b, path, "severity", "Utf8")?;
        n += s.iter().filter(|v| *v == Some("CRITICAL")).count();
    }
    Ok(n)
}
