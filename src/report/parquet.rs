//! The one Parquet writer of a run: every report file carries the run's
//! deterministic provenance in its key-value metadata, nothing else that
//! could differ between two runs of the same job.

use std::sync::Arc;

use arrow::{datatypes::Schema, record_batch::RecordBatch};
use parquet::file::{metadata::KeyValue, properties::WriterProperties};

use crate::{
    atomic::{ParquetSink, StagedDir},
    stress::BackendKind,
};

/// Deterministic provenance of a run (DESIGN.md: job hash, data hash, version, seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// SHA-256 of the job file's bytes, hex.
    pub job_sha256: String,
    /// SHA-256 over every input data file (see `job::provenance`), hex;
    /// `"none"` when the run read no data.
    pub data_sha256: String,
    /// chloe's version.
    pub version: String,
    /// The run's seed.
    pub seed: u64,
}

impl Provenance {
    /// Writer properties: the report defaults plus the `chloe.*` metadata keys.
    pub fn writer_properties(&self, backend: BackendKind) -> WriterProperties {
        let kv = [
            ("chloe.job_sha256", self.job_sha256.clone()),
            ("chloe.data_sha256", self.data_sha256.clone()),
            ("chloe.version", self.version.clone()),
            ("chloe.seed", self.seed.to_string()),
            ("chloe.backend", backend.as_str().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect();
        crate::atomic::writer_properties()
            .into_builder()
            .set_key_value_metadata(Some(kv))
            .build()
    }
}

/// Parquet files of one run, written into its staging folder.
pub struct ParquetOut<'a> {
    stage: &'a StagedDir,
    provenance: &'a Provenance,
}

impl<'a> ParquetOut<'a> {
    /// Writes into `stage` with `provenance` on every file.
    pub fn new(stage: &'a StagedDir, provenance: &'a Provenance) -> Self {
        Self { stage, provenance }
    }

    /// Opens `file` for streaming batches; `backend` computed its rows.
    pub fn sink(
        &self,
        file: &str,
        schema: Arc<Schema>,
        backend: BackendKind,
    ) -> anyhow::Result<ParquetSink> {
        ParquetSink::create_with(
            &self.stage.path(file),
            schema,
            self.provenance.writer_properties(backend),
        )
    }

    /// Writes `file` from whole batches.
    pub fn write(
        &self,
        file: &str,
        schema: Arc<Schema>,
        batches: &[RecordBatch],
        backend: BackendKind,
    ) -> anyhow::Result<()> {
        let mut sink = self.sink(file, schema, backend)?;
        for b in batches {
            sink.write(b)?;
        }
        sink.finish()
    }
}
