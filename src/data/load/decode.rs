//! Decoding one unit: Arrow batches through the row filter, validated, into a sink.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    sync::{Arc, Mutex},
};

use arrow::{
    array::{Array, AsArray, BooleanArray, Float64Array},
    compute::cast,
    datatypes::{DataType, Float64Type},
    record_batch::RecordBatch,
};
use parquet::{
    arrow::{
        ProjectionMask,
        arrow_reader::{
            ArrowPredicateFn, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowFilter,
        },
    },
    schema::types::SchemaDescriptor,
};

use super::{
    Selection,
    arrays::{symbol_ids, to_micros, to_strings},
    plan::Unit,
    rules::Batch,
    sink::{Dest, Sink, put_consecutive_origins, put_rows},
    unreadable,
};
use crate::{
    config::SymbolSelection,
    data::bars::{Origin, Problems},
    error::DataError,
};

/// Positions (among the rows of a unit's kept row groups) that passed the row
/// filter, in order; appended by the filter as the reader runs it.
type Selected = Arc<Mutex<Vec<u64>>>;

/// Decodes and validates one unit into `b`; returns its symbol names (ids in
/// `b.symbol` index them) and its problems.
pub(super) fn read_unit<A, B, C, D>(
    unit: &Unit<'_>,
    sel: &Selection<'_>,
    b: &mut Dest<A, B, C, D>,
) -> Result<(Vec<String>, Problems), DataError>
where
    A: Sink<i64>,
    B: Sink<u32>,
    C: Sink<f64>,
    D: Sink<Origin>,
{
    let path = &unit.src.path;
    let cols = &*unit.cols;
    let kept_rows: Vec<(u64, u64)> = unit
        .groups
        .iter()
        .map(|&g| {
            (
                unit.group_start[g],
                unit.meta.metadata().row_group(g).num_rows() as u64,
            )
        })
        .collect();
    let (reader, selected) = open_reader(unit, sel)?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut symbols: Vec<String> = Vec::new();
    let mut problems = Problems::default();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut pos = 0u64;
    let names = sel.columns;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(path, e))?;
        let n = batch.num_rows();
        if n > b.timestamp.room() {
            // Only a corrupt file: its pages hold more rows than its metadata.
            return Err(unreadable(
                path,
                "a row group holds more rows than the file's metadata says",
            ));
        }
        let positions: Option<Vec<u64>> = selected.as_ref().map(|s| {
            let s = s.lock().expect("not poisoned");
            s[pos as usize..pos as usize + n].to_vec()
        });
        let batch_start = pos;
        pos += n as u64;
        let col = |name: &str| batch.column_by_name(name).expect("projected column");
        let ts = to_micros(col(&names.timestamp).as_ref());
        let floats = |name: &str| -> Float64Array {
            cast(col(name), &DataType::Float64)
                .expect("numeric casts to float64")
                .as_primitive::<Float64Type>()
                .clone()
        };
        let close = floats(&names.close);
        let ohlc = cols
            .ohlc
            .map(|_| (floats(&names.open), floats(&names.high), floats(&names.low)));
        let volume = cols.volume.map(|_| floats(&names.volume));
        let sym_ids = symbol_ids(&batch, unit.fixed_symbol(), names, &mut ids, &mut symbols);
        let row_of = |r: usize| {
            file_row(
                &kept_rows,
                positions.as_ref().map_or(batch_start + r as u64, |p| p[r]),
            )
        };
        let batch_rows = Batch {
            file_name: file_name.clone(),
            names,
            symbols: &symbols,
            ts: &ts,
            sym_ids: &sym_ids,
            close: &close,
            ohlc: ohlc.as_ref(),
            volume: volume.as_ref(),
        };
        // Fast check of every rule; a row that fails any goes through the
        // slow path that says which rule and where.
        let mut skip = Vec::new();
        for r in 0..n {
            if !batch_rows.row_ok(r) && !batch_rows.record_problems(r, row_of(r), &mut problems) {
                skip.push(r);
            }
        }
        put_rows(b, &batch_rows, &skip);
        match &positions {
            None if skip.is_empty() => {
                put_consecutive_origins(&mut b.origin, unit.index, &kept_rows, batch_start, n);
            }
            _ => {
                let keep = |r: &usize| skip.binary_search(r).is_err();
                b.origin.put_iter(
                    (0..n)
                        .filter(keep)
                        .map(|r| Origin::new(unit.index, row_of(r))),
                );
            }
        }
    }
    Ok((symbols, problems))
}

/// A reader of the unit's row groups and needed columns, with the row filter
/// of the selection when one applies (and the positions it keeps).
fn open_reader(
    unit: &Unit<'_>,
    sel: &Selection<'_>,
) -> Result<(ParquetRecordBatchReader, Option<Selected>), DataError> {
    let path = &unit.src.path;
    let cols = &*unit.cols;
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, unit.meta.clone());
    let groups = unit.groups.clone();
    let mut roots = vec![cols.ts, cols.close];
    roots.extend(cols.symbol);
    roots.extend(cols.ohlc.into_iter().flatten());
    roots.extend(cols.volume);
    let pschema = builder.parquet_schema().clone();
    let mut builder = builder
        .with_projection(ProjectionMask::roots(&pschema, roots.clone()))
        .with_row_groups(groups)
        .with_batch_size(64 * 1024);
    let selected = if unit.filtered(sel) {
        let (filter, selected) = row_filter(unit, sel, &pschema);
        builder = builder.with_row_filter(filter);
        Some(selected)
    } else {
        None
    };
    let reader = builder.build().map_err(|e| unreadable(path, e))?;
    Ok((reader, selected))
}

/// The row filter of the selection's date range (and symbol list, when the
/// file has a symbol column); it records the positions it keeps.
fn row_filter(
    unit: &Unit<'_>,
    sel: &Selection<'_>,
    pschema: &SchemaDescriptor,
) -> (RowFilter, Selected) {
    let cols = &*unit.cols;
    let filter_symbols = unit.filters_symbols(sel);
    let mut pred_roots = vec![cols.ts];
    pred_roots.extend(cols.symbol.filter(|_| filter_symbols));
    let wanted: HashSet<String> = match sel.symbols {
        SymbolSelection::List(v) => v.iter().cloned().collect(),
        SymbolSelection::All => HashSet::new(),
    };
    let (ts_name, sym_name) = (sel.columns.timestamp.clone(), sel.columns.symbol.clone());
    let (start, end) = (sel.start.unwrap_or(i64::MIN), sel.end.unwrap_or(i64::MAX));
    let out = Arc::new(Mutex::new(Vec::new()));
    let out2 = out.clone();
    let mut seen = 0u64;
    let pred = ArrowPredicateFn::new(
        ProjectionMask::roots(pschema, pred_roots),
        move |batch: RecordBatch| {
            let ts = to_micros(batch.column_by_name(&ts_name).expect("projected").as_ref());
            let syms = if filter_symbols {
                Some(to_strings(
                    batch.column_by_name(&sym_name).expect("projected"),
                ))
            } else {
                None
            };
            let mut mask = Vec::with_capacity(batch.num_rows());
            let mut sel = out2.lock().expect("not poisoned");
            for r in 0..batch.num_rows() {
                let t = ts.get(r);
                // Null timestamps are kept so validation reports them.
                let in_time = t.is_none_or(|t| t >= start && t <= end);
                let in_sym = syms
                    .as_ref()
                    .is_none_or(|s| s.is_null(r) || wanted.contains(s.value(r)));
                let keep = in_time && in_sym;
                if keep {
                    sel.push(seen + r as u64);
                }
                mask.push(keep);
            }
            seen += batch.num_rows() as u64;
            Ok(BooleanArray::from(mask))
        },
    );
    (RowFilter::new(vec![Box::new(pred)]), out)
}

/// File row number of position `pos` among the rows of the kept row groups
/// (`(first file row, rows)` per group, in order).
fn file_row(kept_rows: &[(u64, u64)], pos: u64) -> u64 {
    let mut p = pos;
    for &(start, len) in kept_rows {
        if p < len {
            return start + p;
        }
        p -= len;
    }
    pos
}
