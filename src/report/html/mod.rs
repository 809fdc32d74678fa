//! report.html: one self-contained page (inline CSS and SVG, no script, no
//! network) that a person opens after a run.
//!
//! [`build`] reads only the output folder (summary.json, gate.json and the
//! Parquet reports), so `chloe report OUT_DIR` and the run itself, which
//! calls it on its staged folder, write the same bytes. The page holds no
//! time of its own; sections whose reports are missing say so.

mod charts;
mod page;
mod read;
mod sections;
pub mod thin;

use std::path::Path;

use anyhow::Context;

use self::page::{CSS, esc};
use crate::error::{Exit, UsageError};

/// Builds the page from the reports in `dir`.
pub fn build(dir: &Path) -> anyhow::Result<String> {
    let summary = read::json(dir, "summary.json")?.ok_or_else(|| {
        UsageError(format!(
            "{}: no summary.json: not a chloe output folder",
            dir.display()
        ))
    })?;
    let run = sections::Run::read(dir, summary)?;
    let body = run.render()?;
    let title = format!("chloe report: {}", run.job());
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(&title)
    ))
}

/// Builds the page from the reports in `dir` and writes `dir/report.html`.
pub fn write(dir: &Path) -> anyhow::Result<usize> {
    let html = build(dir)?;
    crate::atomic::write_atomic(&dir.join("report.html"), html.as_bytes())
        .context("writing report.html")?;
    Ok(html.len())
}

/// `chloe report OUT_DIR`: rebuilds report.html from a finished run's folder.
pub fn command(dir: &Path) -> anyhow::Result<Exit> {
    if !dir.is_dir() {
        return Err(UsageError(format!("{}: no such folder", dir.display())).into());
    }
    let bytes = write(dir)?;
    println!(
        "report.html in {} ({:.1} kB)",
        dir.display(),
        bytes as f64 / 1000.0
    );
    Ok(Exit::Ok)
}
