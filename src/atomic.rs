//! Atomic writes: write to a temporary name in the same folder, then rename.
//! A low-level utility: data writers and report writers both use it.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use arrow::{datatypes::Schema, record_batch::RecordBatch};
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::WriterProperties,
};

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writer properties for every Parquet report: zstd, no creation-time metadata
/// that would make identical runs differ.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_created_by(format!("chloe {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Writes record batches to a Parquet file atomically.
pub fn write_parquet_atomic(
    path: &Path,
    schema: Arc<Schema>,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    write_parquet_atomic_with(path, schema, batches, writer_properties())
}

/// Writes record batches to a Parquet file atomically with the given properties.
pub fn write_parquet_atomic_with(
    path: &Path,
    schema: Arc<Schema>,
    batches: &[RecordBatch],
    props: WriterProperties,
) -> anyhow::Result<()> {
    let mut w = ParquetSink::create_with(path, schema, props)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

/// A Parquet file being written under a temporary name; renamed into place by
/// [`ParquetSink::finish`], removed if dropped unfinished.
pub struct ParquetSink {
    tmp: PathBuf,
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
}

impl ParquetSink {
    /// Opens a temporary file next to `path`, with the report writer properties.
    pub fn create(path: &Path, schema: Arc<Schema>) -> anyhow::Result<Self> {
        Self::create_with(path, schema, writer_properties())
    }

    /// Opens a temporary file next to `path` with the given writer properties.
    pub fn create_with(
        path: &Path,
        schema: Arc<Schema>,
        props: WriterProperties,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = temp_name(path);
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let writer = ArrowWriter::try_new(f, schema, Some(props))
            .with_context(|| format!("opening parquet writer for {}", path.display()))?;
        Ok(Self {
            tmp,
            path: path.to_path_buf(),
            writer: Some(writer),
        })
    }

    /// Appends one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer
            .as_mut()
            .expect("writer open until finish")
            .write(batch)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Closes the file and renames it into place.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let w = self.writer.take().expect("writer open until finish");
        let f = w
            .into_inner()
            .with_context(|| format!("closing {}", self.path.display()))?;
        f.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming into {}", self.path.display()))
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A report folder written as a whole: files go to a hidden staging folder next
/// to the output folder and are moved into place by [`StagedDir::commit`]; a
/// run that fails before that leaves the output folder as it was.
pub struct StagedDir {
    staging: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates the staging folder for output folder `out`.
    pub fn new(out: &Path) -> anyhow::Result<Self> {
        let parent = out
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let staging = parent.join(format!(".{name}.staging.{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        Ok(Self {
            staging,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// Path of `file` inside the staging folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.staging.join(file)
    }

    /// The final output folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Moves every staged file into the output folder (each move is a rename).
    pub fn commit(mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let mut entries: Vec<_> = std::fs::read_dir(&self.staging)?
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {}", self.staging.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let dest = self.out.join(e.file_name());
            std::fs::rename(e.path(), &dest)
                .with_context(|| format!("moving report into {}", dest.display()))?;
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
