//! Reading Parquet into [`Bars`] with pushdown, validation while converting,
//! and building the [`Panel`](super::Panel) a job asks for.
//!
//! Pushdown: only the needed columns are decoded; row groups whose statistics
//! cannot match the symbol or date filter are skipped; inside the remaining
//! row groups a row filter decodes the price columns only for matching rows.
//!
//! The parts, in the order a read goes through them:
//! - `files`: which files a dataset path names (file, hive folder, glob);
//! - `plan`: open each file, check its columns (`columns`), prune row groups by
//!   their statistics, cut the rest into units of work;
//! - `read`: decode the units in parallel (`decode`, converting arrays with
//!   `arrays`, validating rows with `rules`) into sinks (`sink`) and join them
//!   in file and row order;
//! - `build`: bars -> panel, with the calendar, notes and the benchmark.

mod arrays;
mod build;
mod columns;
mod decode;
mod files;
mod plan;
mod read;
mod rules;
mod sink;

use std::path::Path;

pub use self::{
    build::{load_aligned, load_panel, panel_from_bars},
    files::{FileSource, resolve_files},
    read::read_bars,
};
use super::{
    bars::{Bars, Problems},
    resample::resample,
};
use crate::{
    config::{ColumnMap, SymbolSelection},
    error::DataError,
};

/// What to read from a dataset.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// Symbols to keep.
    pub symbols: &'a SymbolSelection,
    /// First timestamp kept (inclusive), microseconds UTC.
    pub start: Option<i64>,
    /// Last timestamp kept (inclusive).
    pub end: Option<i64>,
    /// Column names.
    pub columns: &'a ColumnMap,
}

/// A file that cannot be opened or decoded, with the reader's message.
fn unreadable(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Adds a problem for every duplicated (symbol, timestamp); bars must be sorted.
pub fn check_duplicates(bars: &Bars, problems: &mut Problems) {
    for r in 1..bars.len() {
        if bars.symbol[r] == bars.symbol[r - 1] && bars.timestamp[r] == bars.timestamp[r - 1] {
            let first = bars.describe(r - 1);
            problems.add("duplicated (symbol, timestamp)", || {
                format!("{} and row {}", first, bars.origin[r].row())
            });
        }
    }
}

/// Reads and validates a dataset selection: sorted, checked bars, or the problems.
pub fn load_bars(
    path: &Path,
    sel: &Selection<'_>,
    bar: Option<i64>,
) -> Result<(Bars, Problems), DataError> {
    let files = resolve_files(path)?;
    let (mut bars, mut problems) = read_bars(&files, sel)?;
    bars.sort();
    check_duplicates(&bars, &mut problems);
    if problems.is_empty()
        && let Some(bar) = bar
    {
        bars = resample(&bars, bar);
    }
    Ok((bars, problems))
}
