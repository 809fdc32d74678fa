//! Arrow schemas and batches for the stress report files (DESIGN.md contract).

use std::sync::Arc;

use arrow::{
    array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray},
    datatypes::{DataType, Field, Schema},
    record_batch::RecordBatch,
};

use crate::stress::{
    model::PathOut,
    summary::{BandRow, ScenarioSummary},
};

/// Schema of `stress_paths.parquet`.
pub fn paths_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("path", DataType::Int64, false),
        Field::new("terminal_value", DataType::Float64, false),
        Field::new("max_drawdown", DataType::Float64, false),
        Field::new("liquidations", DataType::Int32, false),
        Field::new("liquidation_cost", DataType::Float64, false),
        Field::new("breach_day", DataType::Int32, false),
    ]))
}

/// One chunk of path results as a batch; `first` is the first path index.
pub fn paths_batch(scenario: &str, first: u64, paths: &[PathOut]) -> anyhow::Result<RecordBatch> {
    let f = |g: fn(&PathOut) -> f32| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            paths.iter().map(|p| f64::from(g(p))),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            scenario,
            paths.len(),
        ))),
        Arc::new(Int64Array::from_iter_values(
            (0..paths.len() as u64).map(|i| (first + i) as i64),
        )),
        f(|p| p.terminal),
        f(|p| p.max_drawdown),
        Arc::new(Int32Array::from_iter_values(
            paths.iter().map(|p| p.liquidations as i32),
        )),
        f(|p| p.liquidation_cost),
        Arc::new(Int32Array::from_iter_values(
            paths.iter().map(|p| p.breach_day),
        )),
    ];
    Ok(RecordBatch::try_new(paths_schema(), cols)?)
}

fn nullable(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `stress_summary.parquet` as one batch.
pub fn summary_batch(rows: &[ScenarioSummary]) -> anyhow::Result<(Arc<Schema>, RecordBatch)> {
    let names = [
        "mean_terminal",
        "median_terminal",
        "var_95",
        "var_99",
        "cvar_95",
        "cvar_99",
        "prob_drawdown_breach",
        "mean_max_drawdown",
        "mean_liquidation_cost",
    ];
    let mut fields = vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("paths", DataType::Int64, false),
        Field::new("backend", DataType::Utf8, false),
    ];
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true)),
    );
    let schema = Arc::new(Schema::new(fields));
    let getters: [fn(&ScenarioSummary) -> f64; 9] = [
        |s| s.mean_terminal,
        |s| s.median_terminal,
        |s| s.var_95,
        |s| s.var_99,
        |s| s.cvar_95,
        |s| s.cvar_99,
        |s| s.prob_drawdown_breach,
        |s| s.mean_max_drawdown,
        |s| s.mean_liquidation_cost,
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.scenario.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.paths as i64),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.backend.as_str()),
        )),
    ];
    for g in getters {
        cols.push(Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| nullable(g(r))),
        )));
    }
    Ok((schema.clone(), RecordBatch::try_new(schema, cols)?))
}

/// `stress_bands.parquet` as one batch.
pub fn bands_batch(rows: &[BandRow]) -> anyhow::Result<(Arc<Schema>, RecordBatch)> {
    let names = ["p01", "p05", "p50", "p95", "p99"];
    let mut fields = vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("day", DataType::Int32, false),
    ];
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.scenario.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.day as i32),
        )),
    ];
    for k in 0..5 {
        cols.push(Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.p[k].and_then(nullable)),
        )));
    }
    Ok((schema.clone(), RecordBatch::try_new(schema, cols)?))
}
