//! What identifies a run's inputs: SHA-256 of the job file and of every input
//! data file, the build's git revision, the host.

use std::{io::Read, path::Path};

use anyhow::Context;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::{config::JobSpec, report::summary::HashedFile};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hashes one file, streaming it in 1 MiB blocks.
pub fn hash_file(path: &Path) -> anyhow::Result<HashedFile> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(HashedFile {
        path: path.display().to_string(),
        bytes,
        sha256: hex(&h.finalize()),
    })
}

/// Every data file the job reads (dataset, benchmark, hedge instruments),
/// sorted by path, deduplicated.
pub fn data_files(job: &JobSpec) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let Some(d) = &job.data else {
        return Ok(Vec::new());
    };
    let mut roots = vec![d.path.clone()];
    if let Some(b) = &d.benchmark {
        roots.push(b.path.clone());
    }
    if let Some(h) = &job.hedge {
        roots.extend(h.instruments.iter().map(|i| i.path.clone()));
    }
    let mut files = Vec::new();
    for r in roots {
        files.extend(
            crate::data::load::resolve_files(&r)?
                .into_iter()
                .map(|f| f.path),
        );
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Hashes `files` in parallel; returns them in the given order and the data
/// hash: SHA-256 over the files' 32-byte digests in that order (contents
/// only, so moving the dataset does not change it). None without files.
pub fn hash_data(
    files: &[std::path::PathBuf],
) -> anyhow::Result<(Vec<HashedFile>, Option<String>)> {
    let hashed: Vec<HashedFile> = files
        .par_iter()
        .map(|p| hash_file(p))
        .collect::<anyhow::Result<_>>()?;
    if hashed.is_empty() {
        return Ok((hashed, None));
    }
    let mut h = Sha256::new();
    for f in &hashed {
        for i in (0..f.sha256.len()).step_by(2) {
            h.update([u8::from_str_radix(&f.sha256[i..i + 2], 16).expect("hex we wrote")]);
        }
    }
    Ok((hashed, Some(hex(&h.finalize()))))
}

/// Git revision the binary was built from, when the build environment said
/// (`CHLOE_GIT_REVISION`, or the CI's `GITHUB_SHA` / `CI_COMMIT_SHA`).
pub fn git_revision() -> Option<String> {
    option_env!("CHLOE_GIT_REVISION")
        .or(option_env!("GITHUB_SHA"))
        .or(option_env!("CI_COMMIT_SHA"))
        .map(str::to_string)
}

/// This machine's host name, when the OS tells.
pub fn host() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn data_hash_is_over_the_file_digests_in_order() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, vec![7u8; 3 << 20]).unwrap();
        let (files, h) = hash_data(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(files[0].sha256, sha256_hex(b"abc"));
        assert_eq!(files[1].sha256, sha256_hex(&vec![7u8; 3 << 20]));
        assert_eq!(files[1].bytes, 3 << 20);
        let mut digests = Vec::new();
        for f in &files {
            digests.extend(Sha256::digest(std::fs::read(&f.path).unwrap()));
        }
        assert_eq!(h.unwrap(), sha256_hex(&digests));
        let (_, swapped) = hash_data(&[b, a]).unwrap();
        assert_ne!(swapped, Some(sha256_hex(&digests)), "order matters");
        assert_eq!(hash_data(&[]).unwrap().1, None);
    }
}
