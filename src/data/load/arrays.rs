//! Arrow arrays to the loader's types: timestamps in microseconds UTC, strings,
//! symbol ids.

use std::collections::HashMap;

use arrow::{
    array::{Array, ArrayRef, AsArray, StringArray},
    buffer::{NullBuffer, ScalarBuffer},
    compute::cast,
    datatypes::{DataType, Int32Type, Int64Type, TimeUnit},
    record_batch::RecordBatch,
};

use crate::{config::ColumnMap, data::time::DAY_US};

/// Symbol id of a row whose symbol is null.
pub(super) const NO_SYMBOL: u32 = u32::MAX;

/// Timestamps in microseconds UTC with their null mask.
pub(super) struct Micros {
    pub(super) values: ScalarBuffer<i64>,
    pub(super) nulls: Option<NullBuffer>,
}

impl Micros {
    pub(super) fn get(&self, r: usize) -> Option<i64> {
        match &self.nulls {
            Some(n) if n.is_null(r) => None,
            _ => Some(self.values[r]),
        }
    }
}

/// Converts a timestamp-like array to microseconds UTC (zero-copy for `us`).
pub(super) fn to_micros(a: &dyn Array) -> Micros {
    let nulls = a.logical_nulls().filter(|n| n.null_count() > 0);
    let scaled = |f: &dyn Fn(i64) -> i64| -> ScalarBuffer<i64> {
        let ints = cast(&a.slice(0, a.len()), &DataType::Int64).expect("time types cast to int64");
        ints.as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|&v| f(v))
            .collect()
    };
    let values = match a.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => a
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .values()
            .clone(),
        DataType::Timestamp(TimeUnit::Second, _) => scaled(&|v| v.saturating_mul(1_000_000)),
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => {
            scaled(&|v| v.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => scaled(&|v| v.div_euclid(1_000)),
        DataType::Date32 => a
            .as_primitive::<arrow::datatypes::Date32Type>()
            .values()
            .iter()
            .map(|&d| d as i64 * DAY_US)
            .collect(),
        _ => {
            return Micros {
                values: vec![0; a.len()].into(),
                nulls: Some(NullBuffer::new_null(a.len())),
            };
        }
    };
    Micros { values, nulls }
}

pub(super) fn to_strings(a: &ArrayRef) -> StringArray {
    let c = cast(a, &DataType::Utf8).expect("string-like column casts to utf8");
    c.as_string::<i32>().clone()
}

/// The symbol id of every row of a batch (ids index `symbols`, interned on
/// first sight); [`NO_SYMBOL`] where the symbol is null. `fixed` is the
/// symbol of every row when the file has no symbol column.
pub(super) fn symbol_ids(
    batch: &RecordBatch,
    fixed: Option<&str>,
    names: &ColumnMap,
    ids: &mut HashMap<String, u32>,
    symbols: &mut Vec<String>,
) -> Vec<u32> {
    let n = batch.num_rows();
    let col = |name: &str| batch.column_by_name(name).expect("projected column");
    match fixed {
        Some(h) => {
            let id = intern(ids, symbols, h);
            vec![id; n]
        }
        _ if matches!(col(&names.symbol).data_type(), DataType::Dictionary(k, _) if **k == DataType::Int32) =>
        {
            let dict = col(&names.symbol).as_dictionary::<Int32Type>().clone();
            let values = to_strings(dict.values());
            // Dictionary entry -> symbol id, interned on first use.
            let mut map = vec![NO_SYMBOL; values.len()];
            dict.keys()
                .iter()
                .map(|k| match k {
                    Some(k) if values.is_valid(k as usize) => {
                        let k = k as usize;
                        if map[k] == NO_SYMBOL {
                            map[k] = intern(ids, symbols, values.value(k));
                        }
                        map[k]
                    }
                    _ => NO_SYMBOL,
                })
                .collect()
        }
        _ => {
            let s = to_strings(col(&names.symbol));
            let mut last: Option<(&str, u32)> = None;
            (0..n)
                .map(|r| {
                    if s.is_null(r) {
                        return NO_SYMBOL;
                    }
                    let v = s.value(r);
                    if let Some((lv, id)) = last
                        && lv == v
                    {
                        return id;
                    }
                    let id = intern(ids, symbols, v);
                    last = Some((v, id));
                    id
                })
                .collect()
        }
    }
}

/// The id of symbol `s` (its index in `names`), adding it on first sight.
pub(super) fn intern(ids: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str) -> u32 {
    if let Some(&id) = ids.get(s) {
        return id;
    }
    names.push(s.to_string());
    let id = (names.len() - 1) as u32;
    ids.insert(s.to_string(), id);
    id
}
