//! Walk-forward reports: folds, out-of-sample returns, predictions, regimes and
//! summary.json, staged and moved into the output folder together.
//!
//! Timestamps are `timestamp[us, UTC]`; a statistic that cannot be computed is
//! null. Rows are written in fold order, so the files do not depend on the
//! thread count.

use std::{path::Path, sync::Arc, time::Instant};

use arrow::{
    array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    },
    datatypes::{DataType, Field, Schema, TimeUnit},
};

use super::Walkforward;
use crate::{
    config::{JobSpec, walkforward::ModelKind},
    data::Panel,
    report::{ParquetSink, StagedDir, write_atomic},
};

/// Wall times per stage, seconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timings {
    /// Loading and validating the data.
    pub load_s: f64,
    /// Computing features.
    pub features_s: f64,
    /// Running the folds.
    pub folds_s: f64,
    /// Writing the reports.
    pub report_s: f64,
    /// Whole command.
    pub total_s: f64,
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn ts(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn f64s(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn opt_f64s(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn i64s(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn batch(schema: &Arc<Schema>, cols: Vec<ArrayRef>) -> anyhow::Result<RecordBatch> {
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// Schema of `folds.parquet`.
pub fn folds_schema() -> Arc<Schema> {
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    Arc::new(Schema::new(vec![
        Field::new("fold", DataType::Int64, false),
        ts_field("train_start"),
        ts_field("train_end"),
        ts_field("test_start"),
        ts_field("test_end"),
        f("sharpe", true),
        f("sortino", true),
        f("max_drawdown", false),
        f("total_return", false),
        f("win_rate", true),
        f("edge_precision", true),
        Field::new("n_trades", DataType::Int64, false),
        f("turnover", true),
    ]))
}

/// Writes every walk-forward report into `out` (staged, then moved into place).
pub fn write_all(
    out: &Path,
    job: &JobSpec,
    panel: &Panel,
    wf: &Walkforward,
    mut timings: Timings,
    started: Instant,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let stage = StagedDir::new(out)?;
    write_parquet(&stage, panel, wf)?;
    timings.report_s = t0.elapsed().as_secs_f64();
    timings.total_s = started.elapsed().as_secs_f64();
    let summary = summary_json(job, panel, wf, timings);
    write_atomic(
        &stage.path("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    stage.commit()
}

/// Writes the four Parquet reports into a staging folder.
pub fn write_parquet(stage: &StagedDir, panel: &Panel, wf: &Walkforward) -> anyhow::Result<()> {
    let stamp = |bar: usize| panel.timestamps[bar];
    let folds = &wf.folds;

    let schema = folds_schema();
    let m = |f: &dyn Fn(&super::FoldResult) -> Option<f64>| -> ArrayRef {
        opt_f64s(folds.iter().map(f).collect())
    };
    let cols = vec![
        i64s(folds.iter().map(|f| f.fold.index as i64).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.train_start)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.train_end)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.test_start)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.test_end)).collect()),
        m(&|f| f.metrics.sharpe),
        m(&|f| f.metrics.sortino),
        f64s(folds.iter().map(|f| f.metrics.max_drawdown).collect()),
        f64s(folds.iter().map(|f| f.metrics.total_return).collect()),
        m(&|f| f.metrics.win_rate),
        m(&|f| f.metrics.edge_precision),
        i64s(folds.iter().map(|f| f.metrics.n_trades as i64).collect()),
        m(&|f| f.metrics.turnover),
    ];
    let mut sink = ParquetSink::create(&stage.path("folds.parquet"), schema.clone())?;
    sink.write(&batch(&schema, cols)?)?;
    sink.finish()?;

    let schema = Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("return", DataType::Float64, false),
        Field::new("equity", DataType::Float64, false),
    ]));
    let mut sink = ParquetSink::create(&stage.path("oos_returns.parquet"), schema.clone())?;
    let mut equity = 1.0;
    for f in folds {
        let n = f.returns.len();
        let mut eq = Vec::with_capacity(n);
        for r in &f.returns {
            equity *= 1.0 + r;
            eq.push(equity);
        }
        let cols = vec![
            ts((0..n).map(|k| stamp(f.fold.test_start + 1 + k)).collect()),
            i64s(vec![f.fold.index as i64; n]),
            f64s(f.returns.clone()),
            f64s(eq),
        ];
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()?;

    let schema = Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("fold", DataType::Int64, false),
        Field::new("regime", DataType::Utf8, false),
        Field::new("edge_probability", DataType::Float64, false),
        Field::new("edge_strength", DataType::Float64, false),
        Field::new("label", DataType::Boolean, true),
    ]));
    let mut sink = ParquetSink::create(&stage.path("predictions.parquet"), schema.clone())?;
    for f in folds {
        let p = &f.predictions;
        let cols: Vec<ArrayRef> = vec![
            ts(p.iter().map(|p| stamp(p.bar)).collect()),
            Arc::new(StringArray::from_iter_values(
                p.iter().map(|p| panel.symbols[p.asset].as_str()),
            )),
            i64s(vec![f.fold.index as i64; p.len()]),
            Arc::new(StringArray::from_iter_values(
                p.iter()
                    .map(|p| f.regimes[p.bar - f.fold.test_start].name()),
            )),
            f64s(p.iter().map(|p| p.edge_probability).collect()),
            f64s(p.iter().map(|p| p.edge_strength).collect()),
            Arc::new(BooleanArray::from(
                p.iter().map(|p| p.label).collect::<Vec<_>>(),
            )),
        ];
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()?;

    let regime_set = folds.first().map(|f| f.regime_set).unwrap_or(&[]);
    let mut fields = vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("regime", DataType::Utf8, false),
    ];
    fields.extend(
        regime_set
            .iter()
            .map(|r| Field::new(format!("p_{}", r.name()), DataType::Float64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut sink = ParquetSink::create(&stage.path("regimes.parquet"), schema.clone())?;
    for f in folds {
        let n = f.regimes.len();
        let mut cols = vec![
            ts((0..n).map(|k| stamp(f.fold.test_start + k)).collect()),
            i64s(vec![f.fold.index as i64; n]),
            Arc::new(StringArray::from_iter_values(
                f.regimes.iter().map(|r| r.name()),
            )) as ArrayRef,
        ];
        for j in 0..regime_set.len() {
            cols.push(f64s(f.regime_probs.column(j).to_vec()));
        }
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()
}

fn summary_json(
    job: &JobSpec,
    panel: &Panel,
    wf: &Walkforward,
    timings: Timings,
) -> serde_json::Value {
    let spec = &job.walkforward;
    let fmt = crate::data::time::format_us;
    let mut importance: Vec<(String, f64)> = wf
        .columns
        .iter()
        .cloned()
        .zip(wf.importance.iter().copied())
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    // Nonzero weights; the map is deterministic (sorted by symbol unless serde_json
    // keeps insertion order, which is panel order).
    let final_portfolio = wf.final_portfolio.as_ref().map(|fp| {
        let weights: serde_json::Map<String, serde_json::Value> = panel
            .symbols
            .iter()
            .zip(&fp.weights)
            .filter(|&(_, &w)| w != 0.0)
            .map(|(s, &w)| (s.clone(), serde_json::json!(w)))
            .collect();
        serde_json::json!({
            "timestamp": fmt(panel.timestamps[fp.bar]),
            "weights": weights,
        })
    });
    serde_json::json!({
        "job": job.name,
        "versions": { "chloe": env!("CARGO_PKG_VERSION") },
        "seed": job.seed,
        "backend": { "used": "cpu", "why": "walk-forward runs on the CPU (rayon)" },
        "threads": rayon::current_num_threads(),
        "wall_times": timings,
        "data": {
            "bars": panel.n_bars(),
            "assets": panel.n_assets(),
            "first": panel.timestamps.first().map(|&t| fmt(t)),
            "last": panel.timestamps.last().map(|&t| fmt(t)),
            "bars_per_year": panel.bars_per_year,
            "warmup_bars": wf.warmup,
        },
        "walkforward": {
            "config": {
                "in_sample_days": spec.in_sample,
                "out_of_sample_days": spec.out_of_sample,
                "step_days": spec.step,
                "mode": format!("{:?}", spec.mode).to_lowercase(),
                "lookahead_days": spec.lookahead,
                "purge_days": spec.purge,
                "embargo_days": spec.embargo,
                "edge_percentile": spec.edge_quantile * 100.0,
                "label_scope": format!("{:?}", spec.label_scope).to_lowercase(),
                "model": match spec.model {
                    ModelKind::Logistic { l2 } => serde_json::json!({ "kind": "logistic", "l2": l2 }),
                    ModelKind::Trees { n_trees, max_depth } => serde_json::json!({
                        "kind": "trees", "n_trees": n_trees, "max_depth": max_depth
                    }),
                },
                "regime_method": format!("{:?}", spec.regime_method).to_lowercase(),
                "regime_states": spec.regime_states,
                "n_trials": spec.n_trials,
                "trials_sharpe_std": spec.trials_sharpe_std,
                "sizing": {
                    "rule": "quarter_kelly",
                    "min_edge": job.sizing.min_edge,
                    "max_position": job.sizing.max_position,
                    "cost_bps": job.sizing.cost_bps,
                    "max_gross": job.sizing.max_gross,
                },
            },
            "aggregate": wf.aggregate,
            "feature_importance": importance
                .iter()
                .map(|(n, v)| serde_json::json!({ "feature": n, "importance": v }))
                .collect::<Vec<_>>(),
            "notes": wf.notes,
        },
        "final_portfolio": final_portfolio,
    })
}
