//! Reads a run's output folder back: summary.json, gate.json and the columns
//! of the Parquet reports the page draws. A report that is not in the folder
//! is None (its section says "not in this run"); a report that cannot be read
//! is an error naming the file.

use std::{collections::BTreeMap, fs::File, path::Path};

use anyhow::Context;
use arrow::{
    array::{AsArray, RecordBatch},
    compute::cast,
    datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType},
};
use parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder};
use serde_json::Value;

/// Named columns of one Parquet report.
pub struct Table {
    file: String,
    batches: Vec<RecordBatch>,
}

impl Table {
    fn col(&self, name: &str, to: &DataType) -> anyhow::Result<Vec<arrow::array::ArrayRef>> {
        self.batches
            .iter()
            .map(|b| {
                let c = b
                    .column_by_name(name)
                    .with_context(|| format!("{}: no column {name:?}", self.file))?;
                cast(c, to).with_context(|| format!("{}: column {name:?} is not {to}", self.file))
            })
            .collect()
    }

    /// Whether the report has column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.batches
            .first()
            .is_some_and(|b| b.column_by_name(name).is_some())
    }

    /// A float column, None for nulls and non-finite values.
    pub fn f64s(&self, name: &str) -> anyhow::Result<Vec<Option<f64>>> {
        let mut out = Vec::new();
        for a in self.col(name, &DataType::Float64)? {
            let a = a.as_primitive::<Float64Type>();
            out.extend(a.iter().map(|v| v.filter(|x| x.is_finite())));
        }
        Ok(out)
    }

    /// An integer column, None for nulls.
    pub fn i64s(&self, name: &str) -> anyhow::Result<Vec<Option<i64>>> {
        let mut out = Vec::new();
        for a in self.col(name, &DataType::Int64)? {
            out.extend(a.as_primitive::<Int64Type>().iter());
        }
        Ok(out)
    }

    /// A timestamp column in microseconds, None for nulls.
    pub fn ts(&self, name: &str) -> anyhow::Result<Vec<Option<i64>>> {
        let to = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let mut out = Vec::new();
        for a in self.col(name, &to)? {
            out.extend(a.as_primitive::<TimestampMicrosecondType>().iter());
        }
        Ok(out)
    }

    /// A string column, None for nulls.
    pub fn strs(&self, name: &str) -> anyhow::Result<Vec<Option<String>>> {
        let mut out = Vec::new();
        for a in self.col(name, &DataType::Utf8)? {
            let a = a.as_string::<i32>();
            out.extend(a.iter().map(|v| v.map(str::to_string)));
        }
        Ok(out)
    }

    /// A string column as its distinct values (first-appearance order, null
    /// as "") and each row's index into them: no string per row.
    pub fn keys(&self, name: &str) -> anyhow::Result<(Vec<String>, Vec<u32>)> {
        let (mut names, mut index): (Vec<String>, BTreeMap<String, u32>) = Default::default();
        let mut rows = Vec::with_capacity(self.len());
        for a in self.col(name, &DataType::Utf8)? {
            for v in a.as_string::<i32>().iter() {
                let k = v.unwrap_or_default();
                let i = match index.get(k) {
                    Some(&i) => i,
                    None => {
                        let i = names.len() as u32;
                        names.push(k.to_string());
                        index.insert(k.to_string(), i);
                        i
                    }
                };
                rows.push(i);
            }
        }
        Ok((names, rows))
    }

    /// A boolean column, None for nulls.
    pub fn bools(&self, name: &str) -> anyhow::Result<Vec<Option<bool>>> {
        let mut out = Vec::new();
        for a in self.col(name, &DataType::Boolean)? {
            out.extend(a.as_boolean().iter());
        }
        Ok(out)
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether the report has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads `columns` (those present) of `dir/file`; None when the file is absent.
pub fn table(dir: &Path, file: &str, columns: &[&str]) -> anyhow::Result<Option<Table>> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    let f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .with_context(|| format!("reading {}", path.display()))?;
    let schema = b.parquet_schema();
    let idx: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| columns.contains(&schema.column(i).name()))
        .collect();
    let mask = ProjectionMask::leaves(schema, idx);
    let reader = b
        .with_projection(mask)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(Table {
        file: file.to_string(),
        batches,
    }))
}

/// Reads a JSON file of the folder; None when absent.
pub fn json(dir: &Path, file: &str) -> anyhow::Result<Option<Value>> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(Some(v))
}

/// Groups rows by the key indices of [`Table::keys`], in the keys' order.
pub fn group_keys<T>(keys: (Vec<String>, Vec<u32>), values: Vec<T>) -> Vec<(String, Vec<T>)> {
    let (names, rows) = keys;
    let mut out: Vec<(String, Vec<T>)> = names.into_iter().map(|n| (n, Vec::new())).collect();
    for (&k, v) in rows.iter().zip(values) {
        out[k as usize].1.push(v);
    }
    out
}

/// Groups rows by a string key, keeping the keys' first-appearance order.
pub fn group<T>(keys: &[Option<String>], mut values: Vec<T>) -> Vec<(String, Vec<T>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for (k, v) in keys.iter().zip(values.drain(..)) {
        let k = k.clone().unwrap_or_default();
        if !map.contains_key(&k) {
            order.push(k.clone());
        }
        map.entry(k).or_default().push(v);
    }
    order
        .into_iter()
        .map(|k| {
            let v = map.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::{
        array::StringArray,
        datatypes::{Field, Schema},
    };

    use super::*;

    #[test]
    fn interned_keys_group_like_strings() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        let batch = |v: Vec<Option<&str>>| {
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(v))]).unwrap()
        };
        let t = Table {
            file: "t.parquet".into(),
            batches: vec![
                batch(vec![Some("b"), Some("a"), None]),
                batch(vec![Some("a"), Some("b"), Some("c")]),
            ],
        };
        let (names, rows) = t.keys("k").unwrap();
        assert_eq!(names, ["b", "a", "", "c"]);
        assert_eq!(rows, [0, 1, 2, 1, 0, 3]);
        let values: Vec<usize> = (0..6).collect();
        assert_eq!(
            group_keys((names, rows), values.clone()),
            group(&t.strs("k").unwrap(), values)
        );
    }
}
