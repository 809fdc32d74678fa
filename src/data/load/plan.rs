//! Opening files and pruning them: the row groups whose statistics can match the
//! selection, cut into units of work.

use std::{fs::File, sync::Arc};

use arrow::{
    array::{Array, AsArray},
    datatypes::{DataType, Field, Schema},
};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, statistics::StatisticsConverter,
};

use super::{
    Selection,
    arrays::to_micros,
    columns::{Cols, find_columns},
    files::FileSource,
    unreadable,
};
use crate::{
    config::{ColumnMap, SymbolSelection},
    error::DataError,
};

/// A run of row groups of one file, decoded by one task.
pub(super) struct Unit<'a> {
    pub(super) index: u32,
    pub(super) src: &'a FileSource,
    pub(super) meta: ArrowReaderMetadata,
    pub(super) cols: Arc<Cols>,
    pub(super) hive_symbol: Option<String>,
    /// Kept row groups, in file order.
    pub(super) groups: Vec<usize>,
    /// File row number of the first row of every row group of the file.
    pub(super) group_start: Arc<Vec<u64>>,
}

impl Unit<'_> {
    /// Rows in this unit's row groups.
    pub(super) fn rows(&self) -> u64 {
        let md = self.meta.metadata();
        self.groups
            .iter()
            .map(|&g| md.row_group(g).num_rows().max(0) as u64)
            .sum()
    }

    /// The symbol of every row when the file has no symbol column (it comes
    /// from a hive folder name instead).
    pub(super) fn fixed_symbol(&self) -> Option<&str> {
        self.hive_symbol
            .as_deref()
            .filter(|_| self.cols.symbol.is_none())
    }

    /// Whether the row filter tests symbols (a list is asked for and the
    /// file has a symbol column).
    pub(super) fn filters_symbols(&self, sel: &Selection<'_>) -> bool {
        matches!(sel.symbols, SymbolSelection::List(_)) && self.cols.symbol.is_some()
    }

    /// Whether a row filter applies, so the row count is not known up front.
    pub(super) fn filtered(&self, sel: &Selection<'_>) -> bool {
        self.filters_symbols(sel) || sel.start.is_some() || sel.end.is_some()
    }
}

/// Asks the reader to keep a string symbol column dictionary-encoded: Parquet
/// stores it that way, and it saves building one string per row.
fn dictionary_symbols(meta: ArrowReaderMetadata, symbol: &str) -> ArrowReaderMetadata {
    let schema = meta.schema();
    let Ok(i) = schema.index_of(symbol) else {
        return meta;
    };
    if !matches!(
        schema.field(i).data_type(),
        DataType::Utf8 | DataType::LargeUtf8
    ) {
        return meta;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(k, f)| {
            if k == i {
                Field::new(
                    f.name(),
                    DataType::Dictionary(
                        Box::new(DataType::Int32),
                        Box::new(f.data_type().clone()),
                    ),
                    f.is_nullable(),
                )
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), options).unwrap_or(meta)
}

/// Opens a file, checks its schema and splits its kept row groups into units.
pub(super) fn plan_file<'a>(
    index: u32,
    src: &'a FileSource,
    sel: &Selection<'_>,
) -> Result<Vec<Unit<'a>>, DataError> {
    let path = &src.path;
    let hive_symbol = src
        .partitions
        .iter()
        .rev()
        .find(|(k, _)| k == &sel.columns.symbol)
        .map(|(_, v)| v.clone());
    if let Some(s) = &hive_symbol
        && !sel.symbols.contains(s)
    {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| unreadable(path, e))?;
    let meta = dictionary_symbols(meta, &sel.columns.symbol);
    let cols = Arc::new(find_columns(
        path,
        meta.schema(),
        sel.columns,
        hive_symbol.is_some(),
    )?);
    let groups = keep_row_groups(&meta, sel.columns, sel, cols.symbol.is_some());
    let md = meta.metadata().clone();
    let mut group_start = Vec::with_capacity(md.num_row_groups());
    let mut acc = 0u64;
    for g in md.row_groups() {
        group_start.push(acc);
        acc += g.num_rows() as u64;
    }
    let group_start = Arc::new(group_start);
    let per = groups
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 2)
        .max(1);
    Ok(groups
        .chunks(per)
        .map(|c| Unit {
            index,
            src,
            meta: meta.clone(),
            cols: cols.clone(),
            hive_symbol: hive_symbol.clone(),
            groups: c.to_vec(),
            group_start: group_start.clone(),
        })
        .collect())
}

fn keep_row_groups(
    meta: &ArrowReaderMetadata,
    cols: &ColumnMap,
    sel: &Selection<'_>,
    has_symbol_col: bool,
) -> Vec<usize> {
    let md = meta.metadata();
    let n = md.num_row_groups();
    let mut keep = vec![true; n];
    let schema = meta.schema();
    let pschema = meta.parquet_schema();
    if (sel.start.is_some() || sel.end.is_some())
        && let Ok(conv) = StatisticsConverter::try_new(&cols.timestamp, schema, pschema)
        && let (Ok(mins), Ok(maxs)) = (
            conv.row_group_mins(md.row_groups().iter()),
            conv.row_group_maxes(md.row_groups().iter()),
        )
    {
        let (mins, maxs) = (to_micros(&mins), to_micros(&maxs));
        let (mins, maxs): (Vec<_>, Vec<_>) = (0..n).map(|g| (mins.get(g), maxs.get(g))).unzip();
        for g in 0..n {
            if let (Some(lo), Some(hi)) = (mins[g], maxs[g])
                && (sel.end.is_some_and(|e| lo > e) || sel.start.is_some_and(|s| hi < s))
            {
                keep[g] = false;
            }
        }
    }
    if has_symbol_col
        && let SymbolSelection::List(wanted) = sel.symbols
        && let Ok(conv) = StatisticsConverter::try_new(&cols.symbol, schema, pschema)
        && let (Ok(mins), Ok(maxs)) = (
            conv.row_group_mins(md.row_groups().iter()),
            conv.row_group_maxes(md.row_groups().iter()),
        )
        && mins.data_type() == &DataType::Utf8
    {
        let (mins, maxs) = (mins.as_string::<i32>(), maxs.as_string::<i32>());
        for (g, k) in keep.iter_mut().enumerate() {
            if mins.is_valid(g) && maxs.is_valid(g) {
                let (lo, hi) = (mins.value(g), maxs.value(g));
                if !wanted.iter().any(|w| w.as_str() >= lo && w.as_str() <= hi) {
                    *k = false;
                }
            }
        }
    }
    (0..n).filter(|&g| keep[g]).collect()
}
