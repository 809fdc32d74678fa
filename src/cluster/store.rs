//! Units on disk: `DIR/shards/<unit>/` with the unit's files and a
//! `manifest.json` (job, data and version hashes, backend, unit id, row
//! counts, SHA-256 of each file), and `DIR/shards/job.json`, the record of
//! the job the shards ran (what `chloe merge DIR` reloads).
//!
//! A unit is written into its own staging folder, then renamed into place:
//! a unit folder exists whole or not at all. A unit whose manifest or
//! checksums do not verify is treated as absent (and redone by a shard).

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    atomic::write_atomic,
    config::Overrides,
    error::UsageError,
    job::{Prepared, provenance::sha256_hex},
};

/// The folder of units under an output folder.
pub fn shards_dir(out: &Path) -> PathBuf {
    out.join("shards")
}

/// What every unit of one job shares: a unit with another identity belongs
/// to another job, data set or chloe version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// SHA-256 of the job file's bytes, the command-line overrides and a
    /// previous run's book the stress reads (`from_walkforward = "path"`).
    pub job_key: String,
    /// SHA-256 of the job file's bytes.
    pub job_sha256: String,
    /// SHA-256 over the input data files (`none` without data).
    pub data_sha256: String,
    /// chloe's version.
    pub version: String,
}

impl Identity {
    /// The identity of a prepared job.
    pub fn of(prep: &Prepared) -> anyhow::Result<Self> {
        let overrides = serde_json::to_string(&prep.opts.overrides)?;
        let book = serde_json::to_string(&prep.file_book)?;
        Ok(Self {
            job_key: sha256_hex(
                format!("{}\n{overrides}\n{book}", prep.prov.job_sha256).as_bytes(),
            ),
            job_sha256: prep.prov.job_sha256.clone(),
            data_sha256: prep.prov.data_sha256.clone(),
            version: prep.prov.version.clone(),
        })
    }
}

/// One file of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name inside the unit folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

/// How a block of stress paths was computed (what the merge adds up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Backends that ran its chunks.
    pub backends: Vec<String>,
    /// Chunks run.
    pub chunks: u64,
    /// Chunks re-run on the CPU after a device failure.
    pub fallback_chunks: u64,
    /// First device error, when a fallback happened.
    pub fallback_reason: Option<String>,
}

/// `manifest.json` of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unit id (the folder name).
    pub unit: String,
    /// The job, data and version it belongs to.
    #[serde(flatten)]
    pub identity: Identity,
    /// Backend kind of a stress unit (`cpu` or `gpu`); null for fits.
    pub backend: Option<String>,
    /// The shard that wrote it, `I/N`.
    pub shard: String,
    /// Rows: fold fits or stress paths.
    pub rows: u64,
    /// Why a stress unit has no paths (the book is all cash), when so.
    pub skipped: Option<String>,
    /// A stress block's computation details.
    pub block: Option<BlockMeta>,
    /// Its files with their checksums.
    pub files: Vec<FileEntry>,
}

/// The state of a unit on disk.
#[derive(Debug)]
pub enum Check {
    /// Complete and verified.
    Ok(Box<Manifest>),
    /// No unit folder.
    Missing,
    /// A folder whose manifest or files do not verify, and why.
    Bad(String),
}

/// Reads a unit folder and verifies its manifest and checksums against `identity`;
/// with `keep`, returns the files' bytes too (in manifest order).
pub fn check(out: &Path, unit: &str, identity: &Identity, keep: bool) -> (Check, Vec<Vec<u8>>) {
    let dir = shards_dir(out).join(unit);
    if !dir.exists() {
        return (Check::Missing, Vec::new());
    }
    let bad = |m: String| (Check::Bad(m), Vec::new());
    let m: Manifest = match std::fs::read(dir.join("manifest.json")) {
        Err(e) => return bad(format!("manifest.json unreadable: {e}")),
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(m) => m,
            Err(e) => return bad(format!("manifest.json is not a unit manifest: {e}")),
        },
    };
    if m.unit != unit {
        return bad(format!("manifest names unit {}", m.unit));
    }
    if &m.identity != identity {
        return bad(format!(
            "written for another job, data or version (job {}, data {}, chloe {}; this job: job {}, data {}, chloe {})",
            short(&m.identity.job_key),
            short(&m.identity.data_sha256),
            m.identity.version,
            short(&identity.job_key),
            short(&identity.data_sha256),
            identity.version
        ));
    }
    let mut files = Vec::new();
    for f in &m.files {
        let path = dir.join(&f.name);
        let (sha, bytes) = match hash(&path, keep) {
            Ok(x) => x,
            Err(e) => return bad(format!("{}: {e:#}", f.name)),
        };
        if sha != f.sha256 {
            return bad(format!("{}: checksum mismatch", f.name));
        }
        if keep {
            if bytes.len() as u64 != f.bytes {
                return bad(format!("{}: size mismatch", f.name));
            }
            files.push(bytes);
        }
    }
    (Check::Ok(Box::new(m)), files)
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

fn hash(path: &Path, keep: bool) -> anyhow::Result<(String, Vec<u8>)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        if keep {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    Ok((
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        kept,
    ))
}

/// Writes a unit: its files and manifest into a staging folder, then one
/// rename into `DIR/shards/<unit>`. A unit folder already there (another
/// shard computed the same unit) is kept when it verifies.
pub fn write_unit(
    out: &Path,
    mut manifest: Manifest,
    files: &[(&str, Vec<u8>)],
) -> anyhow::Result<()> {
    let root = shards_dir(out);
    let final_dir = root.join(&manifest.unit);
    let staging = root.join(format!(".{}.staging.{}", manifest.unit, std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        manifest.files.clear();
        for (name, bytes) in files {
            write_atomic(&staging.join(name), bytes)?;
            manifest.files.push(FileEntry {
                name: (*name).to_string(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            });
        }
        let json = serde_json::to_vec_pretty(&manifest)?;
        write_atomic(&staging.join("manifest.json"), &json)?;
        if std::fs::rename(&staging, &final_dir).is_err() {
            // Another shard wrote it first, or a broken copy is in the way.
            match check(out, &manifest.unit, &manifest.identity, false).0 {
                Check::Ok(_) => {
                    tracing::info!("unit {}: already written by another shard", manifest.unit);
                    std::fs::remove_dir_all(&staging)?;
                }
                _ => {
                    let _ = std::fs::remove_dir_all(&final_dir);
                    std::fs::rename(&staging, &final_dir)
                        .with_context(|| format!("moving unit into {}", final_dir.display()))?;
                }
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result.with_context(|| format!("writing unit {}", manifest.unit))
}

/// `.staging.<host>.<pid>`: shards on several nodes share `DIR`, so a
/// staging folder is known dead only to the host that made it.
fn staging_suffix() -> String {
    format!(".staging.{}.{}", host_tag(), std::process::id())
}

fn host_tag() -> String {
    crate::job::provenance::host()
        .unwrap_or_else(|| "host".into())
        .replace(['/', '.'], "_")
}

/// Removes staging folders left under `DIR/shards/` by killed shards of
/// this host (a process that no longer runs).
pub fn remove_dead_staging(out: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(shards_dir(out)) else {
        return;
    };
    let mark = format!(".staging.{}.", host_tag());
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .starts_with('.')
            .then(|| name.rsplit_once(&mark))
            .flatten()
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!("removing {name}, left by a killed shard");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes a unit folder that does not verify, so it can be redone.
pub fn remove_unit(out: &Path, unit: &str) -> anyhow::Result<()> {
    let dir = shards_dir(out).join(unit);
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
}

/// `DIR/shards/job.json`: the job the shards ran, for `chloe merge DIR`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job's identity.
    #[serde(flatten)]
    pub identity: Identity,
    /// The job file (absolute path).
    pub job: PathBuf,
    /// Command-line overrides the shards ran with.
    pub overrides: Overrides,
    /// `--baseline` of the shards' command line.
    pub baseline: Option<PathBuf>,
    /// `--allow-different-data` of the shards' command line.
    pub allow_different_data: bool,
    /// Shard count of the last shard that ran (array indices for resubmission).
    pub shards: u32,
    /// Units of the plan.
    pub units: usize,
}

impl JobRecord {
    /// Path of the record under output folder `out`.
    pub fn path(out: &Path) -> PathBuf {
        shards_dir(out).join("job.json")
    }

    /// Reads the record of output folder `out` (exit 2 when absent or unreadable).
    pub fn read(out: &Path) -> anyhow::Result<Self> {
        let p = Self::path(out);
        let bytes = std::fs::read(&p).map_err(|e| {
            UsageError(format!(
                "{}: cannot read ({e}): {} is not an output folder of `chloe run --shard`",
                p.display(),
                out.display()
            ))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| UsageError(format!("{}: not a chloe job record: {e}", p.display())).into())
    }

    /// Writes the record, refusing a folder that holds another job's shards.
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        if let Ok(old) = Self::read(out)
            && old.identity != self.identity
        {
            return Err(UsageError(format!(
                "--out {}: the folder holds shards of another job, data or chloe version \
                 (job file {}); use a new output folder",
                out.display(),
                old.job.display()
            ))
            .into());
        }
        let bytes = serde_json::to_vec_pretty(self)?;
        let path = Self::path(out);
        if std::fs::read(&path).is_ok_and(|b| b == bytes) {
            return Ok(());
        }
        // Shards on several hosts write it at once: a temporary name per host and process.
        std::fs::create_dir_all(shards_dir(out))
            .with_context(|| format!("creating {}", shards_dir(out).display()))?;
        let tmp = shards_dir(out).join(format!(".job.json{}.tmp", staging_suffix()));
        std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(job: &str) -> Identity {
        Identity {
            job_key: job.repeat(16),
            job_sha256: job.repeat(16),
            data_sha256: "d".repeat(64),
            version: "0.1.0".into(),
        }
    }

    fn manifest(unit: &str, id: &Identity) -> Manifest {
        Manifest {
            unit: unit.into(),
            identity: id.clone(),
            backend: None,
            shard: "0/1".into(),
            rows: 1,
            skipped: None,
            block: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn units_verify_until_a_byte_or_the_job_changes() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path();
        let id = identity("a");
        assert!(matches!(check(out, "u1", &id, false).0, Check::Missing));
        write_unit(out, manifest("u1", &id), &[("x.bin", vec![1, 2, 3])]).unwrap();
        let (c, files) = check(out, "u1", &id, true);
        let Check::Ok(m) = c else {
            panic!("written unit verifies: {c:?}")
        };
        assert_eq!(files, vec![vec![1, 2, 3]]);
        assert_eq!(m.files[0].sha256, sha256_hex(&[1, 2, 3]));
        // Another job's unit of the same name does not verify.
        assert!(matches!(
            check(out, "u1", &identity("b"), false).0,
            Check::Bad(_)
        ));
        // A second write of a verified unit keeps the first (another shard won).
        write_unit(out, manifest("u1", &id), &[("x.bin", vec![9])]).unwrap();
        assert_eq!(check(out, "u1", &id, true).1, vec![vec![1, 2, 3]]);
        // A changed byte fails the checksum; a broken unit is replaced by a write.
        std::fs::write(shards_dir(out).join("u1/x.bin"), [1, 2, 4]).unwrap();
        let Check::Bad(why) = check(out, "u1", &id, false).0 else {
            panic!("a changed file must not verify")
        };
        assert!(why.contains("checksum"), "{why}");
        write_unit(out, manifest("u1", &id), &[("x.bin", vec![7])]).unwrap();
        assert_eq!(check(out, "u1", &id, true).1, vec![vec![7]]);
        // No staging folder is left behind.
        let names: Vec<String> = std::fs::read_dir(shards_dir(out))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["u1"]);
    }
}
