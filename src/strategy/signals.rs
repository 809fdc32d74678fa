//! A user's signals file: `timestamp, symbol, weight | edge_probability`,
//! aligned to the panel (one row per bar and symbol at most).
//!
//! A bar with rows in the file is a decision bar: symbols without a row there
//! get weight 0 (or no edge probability); a bar without rows holds the book.

use std::{collections::HashMap, fs::File, path::Path};

use arrow::{
    array::{Array, Float64Array, StringArray, TimestampMicrosecondArray},
    compute::cast,
    datatypes::{DataType, TimeUnit},
};
use ndarray::Array2;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{data::Panel, error::ConfigError};

/// What the value column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Target weights, fractions of the account's value.
    Weight,
    /// Edge probabilities for the risk engine.
    EdgeProbability,
}

/// Signals aligned to a panel.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Value per bar and asset `[bars, assets]`, NaN without a row.
    pub values: Array2<f64>,
    /// Whether the file has any row at the bar.
    pub has_row: Vec<bool>,
    /// Weights or edge probabilities.
    pub kind: SignalKind,
}

impl Signals {
    /// Whether the values are edge probabilities.
    pub fn is_probability(&self) -> bool {
        self.kind == SignalKind::EdgeProbability
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::invalid("strategy.signals", format!("{}: {message}", path.display()))
}

/// Reads `path` and aligns it to `panel`'s calendar and symbols; a timestamp
/// that is not a bar of the panel, an unknown symbol, a duplicate
/// (timestamp, symbol) or a non-finite value is an error naming the row.
pub fn load(path: &Path, panel: &Panel) -> Result<Signals, ConfigError> {
    let file = File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(path, format!("is not a readable Parquet file: {e}")))?;
    let bars: HashMap<i64, usize> = panel
        .timestamps
        .iter()
        .enumerate()
        .map(|(k, &t)| (t, k))
        .collect();
    let syms: HashMap<&str, usize> = panel
        .symbols
        .iter()
        .enumerate()
        .map(|(k, s)| (s.as_str(), k))
        .collect();
    let mut values = Array2::from_elem((panel.n_bars(), panel.n_assets()), f64::NAN);
    let mut has_row = vec![false; panel.n_bars()];
    let mut kind = None;
    let mut row0 = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, format!("cannot read: {e}")))?;
        let schema = batch.schema();
        let col = |name: &str, to: &DataType| {
            let k = schema
                .index_of(name)
                .map_err(|_| bad(path, format!("has no column \"{name}\"")))?;
            cast(batch.column(k), to).map_err(|e| {
                bad(
                    path,
                    format!("column \"{name}\" cannot be read as {to}: {e}"),
                )
            })
        };
        let this_kind = match (
            schema.index_of("weight").is_ok(),
            schema.index_of("edge_probability").is_ok(),
        ) {
            (true, false) => SignalKind::Weight,
            (false, true) => SignalKind::EdgeProbability,
            _ => {
                return Err(bad(
                    path,
                    "must have exactly one of the columns \"weight\" and \"edge_probability\"",
                ));
            }
        };
        kind = Some(this_kind);
        let ts = col(
            "timestamp",
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("cast to timestamp[us]");
        let sy = col("symbol", &DataType::Utf8)?;
        let sy = sy
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to utf8");
        let name = match this_kind {
            SignalKind::Weight => "weight",
            SignalKind::EdgeProbability => "edge_probability",
        };
        let v = col(name, &DataType::Float64)?;
        let v = v
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to f64");
        for r in 0..batch.num_rows() {
            let row = row0 + r;
            if ts.is_null(r) || sy.is_null(r) || v.is_null(r) {
                return Err(bad(path, format!("row {row} has a null value")));
            }
            let Some(&t) = bars.get(&ts.value(r)) else {
                return Err(bad(
                    path,
                    format!(
                        "row {row}: timestamp {} is not a bar of the panel",
                        crate::data::time::format_us(ts.value(r))
                    ),
                ));
            };
            let Some(&i) = syms.get(sy.value(r)) else {
                return Err(bad(
                    path,
                    format!("row {row}: symbol \"{}\" is not in the panel", sy.value(r)),
                ));
            };
            let x = v.value(r);
            let ok = match this_kind {
                SignalKind::Weight => x.is_finite(),
                SignalKind::EdgeProbability => (0.0..=1.0).contains(&x),
            };
            if !ok {
                return Err(bad(path, format!("row {row}: {name} {x} is out of range")));
            }
            if values[[t, i]].is_finite() {
                return Err(bad(
                    path,
                    format!(
                        "row {row}: a second row for {} on the same bar",
                        sy.value(r)
                    ),
                ));
            }
            values[[t, i]] = x;
            has_row[t] = true;
        }
        row0 += batch.num_rows();
    }
    Ok(Signals {
        values,
        has_row,
        kind: kind.ok_or_else(|| bad(path, "has no rows"))?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::{
        array::{ArrayRef, RecordBatch},
        datatypes::{Field, Schema},
    };
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::data::{SymbolFields, time::DAY_US};

    fn panel() -> Panel {
        let nan = Array2::from_elem((3, 2), f64::NAN);
        Panel {
            timestamps: vec![0, DAY_US, 2 * DAY_US],
            symbols: vec!["A".into(), "B".into()],
            open: nan.clone(),
            high: nan.clone(),
            low: nan.clone(),
            close: Array2::from_elem((3, 2), 10.0),
            volume: nan,
            available: Array2::from_elem((3, 2), true),
            filled: Array2::from_elem((3, 2), false),
            fields: vec![SymbolFields::default(); 2],
            benchmark: None,
            bars_per_year: 252.0,
            bar_us: DAY_US,
        }
    }

    fn write(
        dir: &Path,
        value: &str,
        ts: Vec<i64>,
        sym: Vec<&str>,
        v: Vec<f64>,
    ) -> std::path::PathBuf {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("symbol", DataType::Utf8, false),
            Field::new(value, DataType::Float64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(sym)),
            Arc::new(Float64Array::from(v)),
        ];
        let path = dir.join(format!("{value}.parquet"));
        let mut w =
            ArrowWriter::try_new(File::create(&path).unwrap(), schema.clone(), None).unwrap();
        w.write(&RecordBatch::try_new(schema, cols).unwrap())
            .unwrap();
        w.close().unwrap();
        path
    }

    #[test]
    fn aligns_to_the_panel_and_names_bad_rows() {
        let d = tempfile::tempdir().unwrap();
        let p = panel();
        let path = write(
            d.path(),
            "weight",
            vec![DAY_US, DAY_US],
            vec!["B", "A"],
            vec![0.3, 0.7],
        );
        let s = load(&path, &p).unwrap();
        assert_eq!(s.kind, SignalKind::Weight);
        assert_eq!(s.has_row, vec![false, true, false]);
        assert_eq!((s.values[[1, 0]], s.values[[1, 1]]), (0.7, 0.3));
        assert!(s.values[[0, 0]].is_nan());
        let path = write(d.path(), "edge_probability", vec![0], vec!["A"], vec![0.6]);
        assert!(load(&path, &p).unwrap().is_probability());
        for (ts, sym, v, want) in [
            (5, "A", 0.1, "row 0: timestamp"),
            (0, "Z", 0.1, "row 0: symbol \"Z\""),
            (0, "A", f64::NAN, "row 0: weight NaN"),
        ] {
            let path = write(d.path(), "weight", vec![ts], vec![sym], vec![v]);
            let e = load(&path, &p).unwrap_err().to_string();
            assert!(e.starts_with("strategy.signals") && e.contains(want), "{e}");
        }
        let path = write(
            d.path(),
            "weight",
            vec![0, 0],
            vec!["A", "A"],
            vec![0.1, 0.2],
        );
        let e = load(&path, &p).unwrap_err().to_string();
        assert!(e.contains("row 1: a second row for A"), "{e}");
    }
}
