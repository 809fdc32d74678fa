//! The report layer: every writer of a run's output folder.
//!
//! The job runner ([`crate::job`]) stages one folder per run and hands the
//! stages' result structs to these writers: [`parquet`] (the one Parquet
//! writer, with the run's deterministic provenance in each file's metadata),
//! [`walkforward`] and [`stress`] (Arrow schemas and batches of the report
//! contract in DESIGN.md) and [`summary`] (summary.json as typed structs).
//! Writers read results; they never call models or backends.

pub mod alerts;
pub mod gate;
pub mod html;
pub mod parquet;
pub mod stress;
pub mod summary;
pub mod walkforward;

pub use self::parquet::{ParquetOut, Provenance};
pub use crate::atomic::{ParquetSink, StagedDir, write_atomic};

/// Writes `summary` as pretty JSON to `summary.json` in `stage`.
pub fn write_summary(stage: &StagedDir, summary: &summary::Summary) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    write_atomic(&stage.path("summary.json"), text.as_bytes())
}
