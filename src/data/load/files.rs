//! Which files a dataset path names: a file, a folder (hive-partitioned or not) or a glob.

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// One Parquet file and the hive partition values in its path.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// File path.
    pub path: PathBuf,
    /// `key=value` folder names between the dataset root and the file.
    pub partitions: Vec<(String, String)>,
}

/// Lists the Parquet files of a file, folder (hive-partitioned or not) or glob.
pub fn resolve_files(path: &Path) -> Result<Vec<FileSource>, DataError> {
    let text = path.to_string_lossy();
    let not_found = || DataError::NotFound {
        path: text.to_string(),
    };
    if text.contains(['*', '?', '[']) {
        let mut files: Vec<PathBuf> = glob::glob(&text)
            .map_err(|e| DataError::Unreadable {
                path: path.to_path_buf(),
                message: format!("bad glob pattern: {e}"),
            })?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(not_found());
        }
        return Ok(files
            .into_iter()
            .map(|p| FileSource {
                partitions: partitions_of(&p),
                path: p,
            })
            .collect());
    }
    if path.is_file() {
        return Ok(vec![FileSource {
            path: path.to_path_buf(),
            partitions: Vec::new(),
        }]);
    }
    if !path.is_dir() {
        return Err(not_found());
    }
    let mut out = Vec::new();
    walk(path, &mut Vec::new(), &mut out).map_err(|e| DataError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    if out.is_empty() {
        return Err(not_found());
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    parts: &mut Vec<(String, String)>,
    out: &mut Vec<FileSource>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            let pushed = match name.split_once('=') {
                Some((k, v)) => {
                    parts.push((k.to_string(), v.to_string()));
                    true
                }
                None => false,
            };
            walk(&p, parts, out)?;
            if pushed {
                parts.pop();
            }
        } else if name.ends_with(".parquet") || name.ends_with(".parq") || name.ends_with(".pq") {
            out.push(FileSource {
                path: p,
                partitions: parts.clone(),
            });
        }
    }
    Ok(())
}

fn partitions_of(p: &Path) -> Vec<(String, String)> {
    p.parent()
        .into_iter()
        .flat_map(|d| d.components())
        .filter_map(|c| {
            let s = c.as_os_str().to_string_lossy();
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}
