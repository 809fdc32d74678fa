//! Finding the job's columns in a file's schema and checking their types.

use std::path::Path;

use arrow::datatypes::{DataType, Schema};

use crate::{config::ColumnMap, error::DataError};

/// Where the job's columns are in a file's schema (root column indices).
pub(super) struct Cols {
    pub(super) ts: usize,
    /// None when the symbol comes from a hive folder name instead.
    pub(super) symbol: Option<usize>,
    /// Open, high, low: all three or none.
    pub(super) ohlc: Option<[usize; 3]>,
    pub(super) close: usize,
    pub(super) volume: Option<usize>,
}

/// Finds the job's columns in `schema`; names the missing or mistyped one.
pub(super) fn find_columns(
    path: &Path,
    schema: &Schema,
    c: &ColumnMap,
    hive_symbol: bool,
) -> Result<Cols, DataError> {
    let present = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let idx = |name: &str| schema.index_of(name).ok();
    let required = |name: &str| {
        idx(name).ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            present: present(),
        })
    };
    let ts = required(&c.timestamp)?;
    let symbol = if hive_symbol && idx(&c.symbol).is_none() {
        None
    } else {
        Some(required(&c.symbol)?)
    };
    let close = required(&c.close)?;
    let (o, h, l) = (idx(&c.open), idx(&c.high), idx(&c.low));
    let ohlc = match (o, h, l) {
        (Some(o), Some(h), Some(l)) => Some([o, h, l]),
        (None, None, None) => None,
        _ => {
            let missing = [(&c.open, o), (&c.high, h), (&c.low, l)]
                .into_iter()
                .find(|(_, i)| i.is_none())
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            return Err(DataError::MissingColumn {
                path: path.to_path_buf(),
                column: format!("{missing}\" (open, high and low come together; \"{missing}"),
                present: present(),
            });
        }
    };
    let volume = idx(&c.volume);
    let cols = Cols {
        ts,
        symbol,
        ohlc,
        close,
        volume,
    };
    check_types(path, schema, &cols)?;
    Ok(cols)
}

/// Checks the type of every column found against the input contract.
fn check_types(path: &Path, schema: &Schema, cols: &Cols) -> Result<(), DataError> {
    let Cols {
        ts,
        symbol,
        ohlc,
        close,
        volume,
    } = *cols;
    let check = |i: usize, ok: fn(&DataType) -> bool, expected: &str| {
        let f = schema.field(i);
        if ok(f.data_type()) {
            Ok(())
        } else {
            Err(DataError::ColumnType {
                path: path.to_path_buf(),
                column: f.name().clone(),
                found: f.data_type().to_string(),
                expected: expected.to_string(),
            })
        }
    };
    check(
        ts,
        |t| {
            matches!(
                t,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
            )
        },
        "timestamp (s/ms/us/ns, any time zone), date32 or date64",
    )?;
    if let Some(s) = symbol {
        check(
            s,
            is_string_like,
            "string, large string or dictionary of strings",
        )?;
    }
    let price = |t: &DataType| matches!(t, DataType::Float64 | DataType::Float32);
    check(close, price, "float64 or float32")?;
    if let Some(ohlc) = ohlc {
        for i in ohlc {
            check(i, price, "float64 or float32")?;
        }
    }
    if let Some(v) = volume {
        check(
            v,
            |t| t.is_floating() || t.is_integer(),
            "a float or integer type",
        )?;
    }
    Ok(())
}

fn is_string_like(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_like(v),
        _ => false,
    }
}
