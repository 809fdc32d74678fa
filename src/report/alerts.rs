//! The monitor's reports: `alerts.parquet` (the report contract's columns),
//! `monitor.parquet` (what the monitor tracked per decision bar) and
//! `correlation.parquet` (correlation of the held assets over the
//! out-of-sample span, long form). Rows follow the monitor's order, which
//! does not depend on the thread count.

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    },
    datatypes::{DataType, Field, Schema, TimeUnit},
};

use super::parquet::ParquetOut;
use crate::{monitor::Monitor, stress::BackendKind};

fn ts_field(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Schema of `alerts.parquet`.
pub fn alerts_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        ts_field("timestamp", true),
        Field::new("severity", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("limit", DataType::Float64, true),
        Field::new("symbol", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, false),
    ]))
}

/// Schema of `monitor.parquet`.
pub fn track_schema() -> Arc<Schema> {
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    Arc::new(Schema::new(vec![
        ts_field("timestamp", false),
        f("equity", false),
        f("drawdown", false),
        f("gross", false),
        f("net", false),
        f("max_single_name", false),
        Field::new("top_symbol", DataType::Utf8, true),
        f("avg_correlation", true),
        Field::new("n_held", DataType::Int64, false),
    ]))
}

/// Schema of `correlation.parquet`.
pub fn correlation_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("symbol_a", DataType::Utf8, false),
        Field::new("symbol_b", DataType::Utf8, false),
        Field::new("correlation", DataType::Float64, true),
    ]))
}

/// Writes the monitor's three reports; `symbols` names the panel's columns.
pub fn write(out: &ParquetOut<'_>, symbols: &[String], mon: &Monitor) -> anyhow::Result<()> {
    let cpu = BackendKind::Cpu;
    let a = &mon.alerts;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(a.iter().map(|a| a.timestamp).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            a.iter().map(|a| a.severity.name()),
        )),
        Arc::new(StringArray::from_iter_values(a.iter().map(|a| a.rule))),
        Arc::new(Float64Array::from_iter(a.iter().map(|a| finite(a.value)))),
        Arc::new(Float64Array::from_iter(
            a.iter().map(|a| a.limit.and_then(finite)),
        )),
        Arc::new(StringArray::from_iter(
            a.iter().map(|a| a.symbol.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            a.iter().map(|a| a.message.as_str()),
        )),
    ];
    let schema = alerts_schema();
    out.write(
        "alerts.parquet",
        schema.clone(),
        &[RecordBatch::try_new(schema, cols)?],
        cpu,
    )?;

    let t = &mon.track;
    if !t.timestamps.is_empty() {
        let f = |v: &[f64]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(t.timestamps.clone()).with_timezone("UTC")),
            f(&t.equity),
            f(&t.drawdown),
            f(&t.gross),
            f(&t.net),
            f(&t.max_single_name),
            Arc::new(StringArray::from_iter(
                t.top_asset.iter().map(|i| i.map(|i| symbols[i].as_str())),
            )),
            Arc::new(Float64Array::from(t.avg_correlation.clone())),
            Arc::new(Int64Array::from_iter_values(
                t.n_held.iter().map(|&n| n as i64),
            )),
        ];
        let schema = track_schema();
        out.write(
            "monitor.parquet",
            schema.clone(),
            &[RecordBatch::try_new(schema, cols)?],
            cpu,
        )?;

        let c = &mon.correlation;
        let (mut sa, mut sb, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (x, &i) in c.assets.iter().enumerate() {
            for (y, &j) in c.assets.iter().enumerate() {
                sa.push(symbols[i].as_str());
                sb.push(symbols[j].as_str());
                v.push(finite(c.matrix[[x, y]]));
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(sa)),
            Arc::new(StringArray::from_iter_values(sb)),
            Arc::new(Float64Array::from(v)),
        ];
        let schema = correlation_schema();
        out.write(
            "correlation.parquet",
            schema.clone(),
            &[RecordBatch::try_new(schema, cols)?],
            cpu,
        )?;
    }
    Ok(())
}
