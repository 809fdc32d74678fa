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
/// to the output folder, and [`StagedDir::commit`] replaces the output folder
/// with it. A run that fails or is killed before that leaves the previous
/// output folder as it was (or none); the next run removes the dead run's
/// staging folder.
pub struct StagedDir {
    staging: PathBuf,
    out: PathBuf,
    committed: bool,
}

/// Hidden sibling names of output folder `name`: `.{name}.{what}.{pid}`.
fn sibling(parent: &Path, name: &str, what: &str, pid: u32) -> PathBuf {
    parent.join(format!(".{name}.{what}.{pid}"))
}

/// Removes staging and old folders of `name` left by processes that no longer
/// run. A run killed between moving the previous output folder aside and
/// moving its own into place left no output folder: the previous one is put back.
fn remove_dead_siblings(parent: &Path, name: &str) {
    // Liveness is read from /proc; elsewhere stale folders are left alone.
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        for what in ["staging", "old"] {
            let prefix = format!(".{name}.{what}.");
            if let Some(pid) = file
                .strip_prefix(&prefix)
                .and_then(|p| p.parse::<u32>().ok())
                && pid != std::process::id()
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let out = parent.join(name);
                if what == "old" && !out.exists() && std::fs::rename(e.path(), &out).is_ok() {
                    tracing::warn!(
                        "restored {} from a run killed while replacing it",
                        out.display()
                    );
                    continue;
                }
                tracing::debug!("removing {} left by a dead run", e.path().display());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
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
        remove_dead_siblings(parent, &name);
        let staging = sibling(parent, &name, "staging", std::process::id());
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

    /// The staging folder (where readers of the staged reports look before commit).
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// The final output folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Replaces the output folder with the staged one: the old folder is
    /// renamed aside, the staged one renamed into place, the old one removed.
    pub fn commit(mut self) -> anyhow::Result<()> {
        let parent = self
            .staging
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let name = self
            .out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let old = sibling(&parent, &name, "old", std::process::id());
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &old)
                .with_context(|| format!("moving the previous {} aside", self.out.display()))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.out) {
            if had_old {
                let _ = std::fs::rename(&old, &self.out);
            }
            return Err(e).with_context(|| format!("moving reports into {}", self.out.display()));
        }
        self.committed = true;
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }
}

impl StagedDir {
    /// Moves the staged files into `dir` one by one, without replacing `dir`
    /// (it holds other files: a cluster job's shards). `last` (summary.json)
    /// is removed first and moved last, so a folder caught midway never
    /// looks complete. The staging folder is removed.
    pub fn publish_into(mut self, dir: &Path, last: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        match std::fs::remove_file(dir.join(last)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing the previous {last}"));
            }
            _ => {}
        }
        let mut names: Vec<_> = std::fs::read_dir(&self.staging)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        names.sort_by_key(|n| n == last);
        for n in names {
            let to = dir.join(&n);
            if to.is_dir() {
                std::fs::remove_dir_all(&to)?;
            }
            std::fs::rename(self.staging.join(&n), &to)
                .with_context(|| format!("moving reports into {}", to.display()))?;
        }
        self.committed = true;
        let _ = std::fs::remove_dir_all(&self.staging);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_the_folder_whole_and_drop_leaves_it() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("stale.parquet"), b"old").unwrap();
        std::fs::write(out.join("summary.json"), b"old").unwrap();
        // A dead run's staging folder (pid 0 is never a user process).
        std::fs::create_dir_all(d.path().join(".out.staging.0")).unwrap();

        let s = StagedDir::new(&out).unwrap();
        if cfg!(target_os = "linux") {
            assert!(
                !d.path().join(".out.staging.0").exists(),
                "dead staging removed"
            );
        } else {
            std::fs::remove_dir_all(d.path().join(".out.staging.0")).unwrap();
        }
        write_atomic(&s.path("summary.json"), b"new").unwrap();
        drop(s);
        assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), b"old");

        let s = StagedDir::new(&out).unwrap();
        write_atomic(&s.path("summary.json"), b"new").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), b"new");
        assert!(
            !out.join("stale.parquet").exists(),
            "no file of the old run"
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out"], "no staging or old folder left");

        // Killed between the two renames: the previous folder is put back.
        if cfg!(target_os = "linux") {
            std::fs::rename(&out, d.path().join(".out.old.0")).unwrap();
            let s = StagedDir::new(&out).unwrap();
            assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), b"new");
            drop(s);
            assert!(!d.path().join(".out.old.0").exists());
        }
    }
}
