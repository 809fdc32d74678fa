//! Returns-only Parquet files for `chloe optimize --returns`: long
//! (`timestamp, symbol, return`) or wide (`timestamp` and one numeric column
//! per symbol). A file with a `close` column is a price file and is read by
//! the data loader instead ([`Layout::Prices`]).

use std::{collections::BTreeMap, fs::File, path::Path};

use arrow::{
    array::{Array, AsArray, RecordBatch},
    compute::cast,
    datatypes::{DataType, Float64Type, Schema, TimeUnit, TimestampMicrosecondType},
};
use ndarray::Array2;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::DataError;

/// How a file for `chloe optimize` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Prices in chloe's schema (has a `close` column).
    Prices,
    /// `timestamp, symbol, return` rows.
    Long,
    /// `timestamp` and one return column per symbol.
    Wide,
}

/// Returns on a common calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnsMatrix {
    /// Symbols, sorted (long) or in column order (wide).
    pub symbols: Vec<String>,
    /// Sorted unique timestamps, microseconds UTC.
    pub timestamps: Vec<i64>,
    /// Returns `[timestamps, symbols]`, NaN where a symbol has none.
    pub values: Array2<f64>,
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DataError> {
    let f = File::open(path).map_err(|_| DataError::NotFound {
        path: path.display().to_string(),
    })?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| unreadable(path, e))
}

fn present(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The layout of the Parquet file at `path`, from its schema.
pub fn layout(path: &Path) -> Result<Layout, DataError> {
    // Folders, globs and missing paths are the data loader's to resolve or report.
    if !path.is_file() {
        return Ok(Layout::Prices);
    }
    let b = open(path)?;
    let schema = b.schema();
    let has = |n: &str| schema.fields().iter().any(|f| f.name() == n);
    Ok(if has("close") {
        Layout::Prices
    } else if has("return") {
        Layout::Long
    } else if !has("symbol") {
        Layout::Wide
    } else {
        return Err(DataError::MissingColumn {
            path: path.to_path_buf(),
            column: "close\" or \"return".into(),
            present: present(schema),
        });
    })
}

fn column<'a>(
    path: &Path,
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow::array::ArrayRef, DataError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.into(),
            present: present(&batch.schema()),
        })
}

fn as_type(
    path: &Path,
    name: &str,
    a: &arrow::array::ArrayRef,
    to: &DataType,
    expected: &str,
) -> Result<arrow::array::ArrayRef, DataError> {
    let ok = match to {
        DataType::Float64 => a.data_type().is_numeric(),
        DataType::Utf8 => matches!(
            a.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Dictionary(..)
        ),
        _ => matches!(a.data_type(), DataType::Timestamp(..) | DataType::Date32),
    };
    if !ok {
        return Err(DataError::ColumnType {
            path: path.to_path_buf(),
            column: name.into(),
            found: a.data_type().to_string(),
            expected: expected.into(),
        });
    }
    cast(a, to).map_err(|e| unreadable(path, e))
}

/// Reads a long or wide returns file into a matrix.
pub fn read(path: &Path, layout: Layout) -> Result<ReturnsMatrix, DataError> {
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, None);
    let reader = open(path)?.build().map_err(|e| unreadable(path, e))?;
    let mut cells: BTreeMap<(i64, String), f64> = BTreeMap::new();
    let mut wide_symbols: Vec<String> = Vec::new();
    let mut row0 = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(path, e))?;
        let ts = as_type(
            path,
            "timestamp",
            column(path, &batch, "timestamp")?,
            &ts_type,
            "timestamp or date",
        )?;
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        let mut put = |row: usize, t: i64, sym: &str, v: Option<f64>| {
            let v = v.unwrap_or(f64::NAN);
            if v.is_infinite() {
                return Err(DataError::Invalid {
                    path: path.display().to_string(),
                    problems: format!("return of {sym} is infinite at row {row}"),
                });
            }
            if cells.insert((t, sym.to_string()), v).is_some() {
                return Err(DataError::Invalid {
                    path: path.display().to_string(),
                    problems: format!("duplicate (timestamp, symbol) for {sym} at row {row}"),
                });
            }
            Ok(())
        };
        match layout {
            Layout::Long => {
                let sym = as_type(
                    path,
                    "symbol",
                    column(path, &batch, "symbol")?,
                    &DataType::Utf8,
                    "string",
                )?;
                let sym = sym.as_string::<i32>();
                let r = as_type(
                    path,
                    "return",
                    column(path, &batch, "return")?,
                    &DataType::Float64,
                    "a number",
                )?;
                let r = r.as_primitive::<Float64Type>();
                for k in 0..batch.num_rows() {
                    if ts.is_null(k) || sym.is_null(k) {
                        return Err(DataError::Invalid {
                            path: path.display().to_string(),
                            problems: format!("null timestamp or symbol at row {}", row0 + k),
                        });
                    }
                    put(
                        row0 + k,
                        ts.value(k),
                        sym.value(k),
                        r.is_valid(k).then(|| r.value(k)),
                    )?;
                }
            }
            Layout::Wide | Layout::Prices => {
                let schema = batch.schema();
                let names: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != "timestamp")
                    .collect();
                if names.is_empty() {
                    return Err(DataError::MissingColumn {
                        path: path.to_path_buf(),
                        column: "one return column per symbol".into(),
                        present: present(&schema),
                    });
                }
                if wide_symbols.is_empty() {
                    wide_symbols = names.clone();
                }
                for name in &names {
                    let r = as_type(
                        path,
                        name,
                        column(path, &batch, name)?,
                        &DataType::Float64,
                        "a number",
                    )?;
                    let r = r.as_primitive::<Float64Type>();
                    for k in 0..batch.num_rows() {
                        put(
                            row0 + k,
                            ts.value(k),
                            name,
                            r.is_valid(k).then(|| r.value(k)),
                        )?;
                    }
                }
            }
        }
        row0 += batch.num_rows();
    }
    let mut timestamps: Vec<i64> = cells.keys().map(|(t, _)| *t).collect();
    timestamps.dedup();
    let symbols = if layout == Layout::Long {
        let mut s: Vec<String> = cells.keys().map(|(_, s)| s.clone()).collect();
        s.sort();
        s.dedup();
        s
    } else {
        wide_symbols
    };
    if timestamps.is_empty() || symbols.is_empty() {
        return Err(DataError::Empty {
            path: path.display().to_string(),
            filters: "none".into(),
        });
    }
    let col: BTreeMap<&str, usize> = symbols
        .iter()
        .enumerate()
        .map(|(c, s)| (s.as_str(), c))
        .collect();
    let mut values = Array2::from_elem((timestamps.len(), symbols.len()), f64::NAN);
    for ((t, s), v) in &cells {
        if let (Ok(r), Some(&c)) = (timestamps.binary_search(t), col.get(s.as_str())) {
            values[[r, c]] = *v;
        }
    }
    Ok(ReturnsMatrix {
        symbols,
        timestamps,
        values,
    })
}
