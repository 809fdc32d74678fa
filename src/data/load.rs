//! Reading Parquet into [`Bars`] with pushdown, validation while converting,
//! and building the [`Panel`] a job asks for.
//!
//! Pushdown: only the needed columns are decoded; row groups whose statistics
//! cannot match the symbol or date filter are skipped; inside the remaining
//! row groups a row filter decodes the price columns only for matching rows.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use arrow::{
    array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray},
    buffer::{NullBuffer, ScalarBuffer},
    compute::cast,
    datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimeUnit},
    record_batch::RecordBatch,
};
use parquet::arrow::{
    ProjectionMask,
    arrow_reader::{
        ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
        RowFilter, statistics::StatisticsConverter,
    },
};
use rayon::prelude::*;

use super::{
    Loaded,
    bars::{Bars, Origin, Problems},
    panel::Panel,
    resample::resample,
    time::{DAY_US, format_us, weekday},
};
use crate::{
    config::{CalendarMode, ColumnMap, DataSpec, SymbolSelection},
    error::DataError,
};

/// One Parquet file and the hive partition values in its path.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// File path.
    pub path: PathBuf,
    /// `key=value` folder names between the dataset root and the file.
    pub partitions: Vec<(String, String)>,
}

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

/// Reads every file of a dataset; problems are collected, not raised.
///
/// Files are opened and pruned in parallel, then the kept row groups of all
/// files are decoded in parallel chunks; results are joined in file and row
/// order, so the output does not depend on the thread count.
pub fn read_bars(files: &[FileSource], sel: &Selection<'_>) -> Result<(Bars, Problems), DataError> {
    let plans: Vec<Vec<Unit<'_>>> = files
        .par_iter()
        .enumerate()
        .map(|(i, f)| plan_file(i as u32, f, sel))
        .collect::<Result<_, _>>()?;
    let units: Vec<Unit<'_>> = plans.into_iter().flatten().collect();
    let files: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    if units.iter().all(|u| !u.filtered(sel)) {
        return read_exact(&units, sel, files);
    }
    let (dests, named): (Vec<VecDest>, Vec<_>) = units
        .par_iter()
        .map(|u| {
            let mut d = VecDest::default();
            let named = read_unit(u, sel, &mut d)?;
            Ok((d, named))
        })
        .collect::<Result<Vec<_>, DataError>>()?
        .into_iter()
        .unzip();
    let (symbols, maps, problems) = dataset_symbols(named);
    let mut bars = Bars::default();
    for (d, map) in dests.iter().zip(&maps) {
        bars.symbol
            .extend(d.symbol.iter().map(|&s| map[s as usize]));
        bars.timestamp.extend_from_slice(&d.timestamp);
        bars.open.extend_from_slice(&d.open);
        bars.high.extend_from_slice(&d.high);
        bars.low.extend_from_slice(&d.low);
        bars.close.extend_from_slice(&d.close);
        bars.volume.extend_from_slice(&d.volume);
        bars.origin.extend_from_slice(&d.origin);
    }
    bars.symbols = symbols;
    bars.files = files;
    Ok((bars, problems))
}

/// Joins the units' symbol names (in unit order) into dataset symbol ids:
/// returns the names, one unit-local -> dataset id table per unit, and all
/// problems.
fn dataset_symbols(parts: Vec<(Vec<String>, Problems)>) -> (Vec<String>, Vec<Vec<u32>>, Problems) {
    let mut problems = Problems::default();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut symbols: Vec<String> = Vec::new();
    let maps = parts
        .into_iter()
        .map(|(names, p)| {
            problems.merge(p);
            names
                .iter()
                .map(|s| intern(&mut ids, &mut symbols, s))
                .collect()
        })
        .collect();
    (symbols, maps, problems)
}

/// Reads units whose row counts are known (no row filter) straight into
/// preallocated columns: each unit decodes into its own region, so rows are
/// copied once, in parallel, and never regrown or joined.
fn read_exact(
    units: &[Unit<'_>],
    sel: &Selection<'_>,
    files: Vec<PathBuf>,
) -> Result<(Bars, Problems), DataError> {
    let sizes: Vec<usize> = units.iter().map(|u| u.rows() as usize).collect();
    let total: usize = sizes.iter().sum();
    // Filled in parallel: the first touch of the pages is the cost here.
    fn filled<T: Copy + Send + Sync>(v: T, n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        out.par_extend(rayon::iter::repeat_n(v, n));
        out
    }
    let mut timestamp = filled(0i64, total);
    let mut symbol = filled(0u32, total);
    let (mut open, mut high, mut low) =
        (filled(0.0, total), filled(0.0, total), filled(0.0, total));
    let (mut close, mut volume) = (filled(0.0, total), filled(0.0, total));
    let mut origin = filled(Origin::default(), total);
    let mut dests: Vec<RegionDest<'_>> = {
        let mut ts = regions(&mut timestamp, &sizes).into_iter();
        let mut sy = regions(&mut symbol, &sizes).into_iter();
        let mut op = regions(&mut open, &sizes).into_iter();
        let mut hi = regions(&mut high, &sizes).into_iter();
        let mut lo = regions(&mut low, &sizes).into_iter();
        let mut cl = regions(&mut close, &sizes).into_iter();
        let mut vo = regions(&mut volume, &sizes).into_iter();
        let mut or = regions(&mut origin, &sizes).into_iter();
        (0..sizes.len())
            .map(|_| {
                let next = "one region per unit";
                Dest {
                    timestamp: ts.next().expect(next),
                    symbol: sy.next().expect(next),
                    open: op.next().expect(next),
                    high: hi.next().expect(next),
                    low: lo.next().expect(next),
                    close: cl.next().expect(next),
                    volume: vo.next().expect(next),
                    origin: or.next().expect(next),
                }
            })
            .collect()
    };
    let parts: Vec<(Vec<String>, Problems)> = units
        .par_iter()
        .zip(dests.par_iter_mut())
        .map(|(u, d)| read_unit(u, sel, d))
        .collect::<Result<_, _>>()?;
    let written: Vec<usize> = dests.iter().map(|d| d.timestamp.len).collect();
    let (symbols, maps, problems) = dataset_symbols(parts);
    // Unit-local symbol ids -> dataset ids.
    dests
        .par_iter_mut()
        .zip(&maps)
        .filter(|(_, m)| m.iter().enumerate().any(|(i, &g)| i as u32 != g))
        .for_each(|(d, m)| {
            for s in &mut d.symbol.buf[..d.symbol.len] {
                *s = m[*s as usize];
            }
        });
    drop(dests);
    if written != sizes {
        // Rows failing validation were left out: close the gaps.
        fn compact<T: Copy>(v: &mut Vec<T>, sizes: &[usize], written: &[usize]) {
            let (mut from, mut to) = (0, 0);
            for (&size, &w) in sizes.iter().zip(written) {
                v.copy_within(from..from + w, to);
                from += size;
                to += w;
            }
            v.truncate(to);
        }
        compact(&mut timestamp, &sizes, &written);
        compact(&mut symbol, &sizes, &written);
        for v in [&mut open, &mut high, &mut low, &mut close, &mut volume] {
            compact(v, &sizes, &written);
        }
        compact(&mut origin, &sizes, &written);
    }
    let bars = Bars {
        symbols,
        timestamp,
        symbol,
        open,
        high,
        low,
        close,
        volume,
        origin,
        files,
    };
    Ok((bars, problems))
}

/// A run of row groups of one file, decoded by one task.
struct Unit<'a> {
    index: u32,
    src: &'a FileSource,
    meta: ArrowReaderMetadata,
    cols: Arc<Cols>,
    hive_symbol: Option<String>,
    /// Kept row groups, in file order.
    groups: Vec<usize>,
    /// File row number of the first row of every row group of the file.
    group_start: Arc<Vec<u64>>,
}

impl Unit<'_> {
    /// Rows in this unit's row groups.
    fn rows(&self) -> u64 {
        let md = self.meta.metadata();
        self.groups
            .iter()
            .map(|&g| md.row_group(g).num_rows().max(0) as u64)
            .sum()
    }

    /// Whether the row filter tests symbols (a list is asked for and the
    /// file has a symbol column).
    fn filters_symbols(&self, sel: &Selection<'_>) -> bool {
        matches!(sel.symbols, SymbolSelection::List(_)) && self.cols.symbol.is_some()
    }

    /// Whether a row filter applies, so the row count is not known up front.
    fn filtered(&self, sel: &Selection<'_>) -> bool {
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
fn plan_file<'a>(
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

/// Where the decoded rows of one column go.
trait Sink<T: Copy> {
    /// Appends a slice.
    fn put_slice(&mut self, s: &[T]);
    /// Appends every item of `it`.
    fn put_iter(&mut self, it: impl Iterator<Item = T>);
    /// Appends `n` copies of `v`.
    fn put_n(&mut self, v: T, n: usize);
    /// How many more values fit.
    fn room(&self) -> usize;
}

impl<T: Copy> Sink<T> for Vec<T> {
    fn put_slice(&mut self, s: &[T]) {
        self.extend_from_slice(s);
    }
    fn put_iter(&mut self, it: impl Iterator<Item = T>) {
        self.extend(it);
    }
    fn put_n(&mut self, v: T, n: usize) {
        self.resize(self.len() + n, v);
    }
    fn room(&self) -> usize {
        usize::MAX
    }
}

/// A unit's own part of a preallocated output column, filled from the front.
struct Region<'a, T> {
    buf: &'a mut [T],
    len: usize,
}

impl<T: Copy> Sink<T> for Region<'_, T> {
    fn put_slice(&mut self, s: &[T]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }
    fn put_iter(&mut self, it: impl Iterator<Item = T>) {
        for v in it {
            self.buf[self.len] = v;
            self.len += 1;
        }
    }
    fn put_n(&mut self, v: T, n: usize) {
        self.buf[self.len..self.len + n].fill(v);
        self.len += n;
    }
    fn room(&self) -> usize {
        self.buf.len() - self.len
    }
}

/// The eight row columns one unit writes.
#[derive(Default)]
struct Dest<A, B, C, D> {
    timestamp: A,
    symbol: B,
    open: C,
    high: C,
    low: C,
    close: C,
    volume: C,
    origin: D,
}

/// Output columns growing as rows arrive (used when a row filter makes the
/// row count unknown up front).
type VecDest = Dest<Vec<i64>, Vec<u32>, Vec<f64>, Vec<Origin>>;

/// Output columns preallocated to the exact row count, one region per unit.
type RegionDest<'a> = Dest<Region<'a, i64>, Region<'a, u32>, Region<'a, f64>, Region<'a, Origin>>;

/// Splits `v` into consecutive regions of the given sizes.
fn regions<'a, T>(mut v: &'a mut [T], sizes: &[usize]) -> Vec<Region<'a, T>> {
    sizes
        .iter()
        .map(|&k| {
            let (head, tail) = std::mem::take(&mut v).split_at_mut(k);
            v = tail;
            Region { buf: head, len: 0 }
        })
        .collect()
}

struct Cols {
    ts: usize,
    symbol: Option<usize>,
    ohlc: Option<[usize; 3]>,
    close: usize,
    volume: Option<usize>,
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn find_columns(
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
    // Types.
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
    Ok(Cols {
        ts,
        symbol,
        ohlc,
        close,
        volume,
    })
}

fn is_string_like(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_like(v),
        _ => false,
    }
}

/// Timestamps in microseconds UTC with their null mask.
struct Micros {
    values: ScalarBuffer<i64>,
    nulls: Option<NullBuffer>,
}

impl Micros {
    fn get(&self, r: usize) -> Option<i64> {
        match &self.nulls {
            Some(n) if n.is_null(r) => None,
            _ => Some(self.values[r]),
        }
    }
}

/// Converts a timestamp-like array to microseconds UTC (zero-copy for `us`).
fn to_micros(a: &dyn Array) -> Micros {
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

fn to_strings(a: &ArrayRef) -> StringArray {
    let c = cast(a, &DataType::Utf8).expect("string-like column casts to utf8");
    c.as_string::<i32>().clone()
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

/// Decodes and validates one unit into `b`; returns its symbol names (ids in
/// `b.symbol` index them) and its problems.
fn read_unit<A, B, C, D>(
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
    let index = unit.index;
    let cols = &*unit.cols;
    let hive_symbol = &unit.hive_symbol;
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
    // Positions (among rows of the kept row groups) that pass the filter.
    let selected: Option<Arc<Mutex<Vec<u64>>>> = {
        let filter_symbols = unit.filters_symbols(sel);
        if unit.filtered(sel) {
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
                ProjectionMask::roots(&pschema, pred_roots),
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
            builder = builder.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
            Some(out)
        } else {
            None
        }
    };
    let reader = builder.build().map_err(|e| unreadable(path, e))?;
    let file_row = |pos: u64| -> u64 {
        let mut p = pos;
        for &(start, len) in &kept_rows {
            if p < len {
                return start + p;
            }
            p -= len;
        }
        pos
    };
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
        let sym_ids: Vec<u32> = match (hive_symbol, cols.symbol) {
            (Some(h), None) => {
                let id = intern(&mut ids, &mut symbols, h);
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
                                map[k] = intern(&mut ids, &mut symbols, values.value(k));
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
                        let id = intern(&mut ids, &mut symbols, v);
                        last = Some((v, id));
                        id
                    })
                    .collect()
            }
        };
        let row_of =
            |r: usize| file_row(positions.as_ref().map_or(batch_start + r as u64, |p| p[r]));
        let batch_rows = Batch {
            file_name: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
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
        let keep = |r: &usize| skip.binary_search(r).is_err();
        let kept = n - skip.len();
        let nan_if_null =
            |a: &Float64Array, r: usize| if a.is_valid(r) { a.value(r) } else { f64::NAN };
        if skip.is_empty() && close.null_count() == 0 {
            b.timestamp.put_slice(&ts.values);
            b.symbol.put_slice(&sym_ids);
            b.close.put_slice(close.values());
        } else {
            b.timestamp
                .put_iter((0..n).filter(keep).map(|r| ts.values[r]));
            b.symbol.put_iter((0..n).filter(keep).map(|r| sym_ids[r]));
            b.close
                .put_iter((0..n).filter(keep).map(|r| nan_if_null(&close, r)));
        }
        // open/high/low are kept only when all three are present on a bar.
        match &ohlc {
            Some((o, h, l))
                if skip.is_empty()
                    && o.null_count() == 0
                    && h.null_count() == 0
                    && l.null_count() == 0 =>
            {
                b.open.put_slice(o.values());
                b.high.put_slice(h.values());
                b.low.put_slice(l.values());
            }
            Some((o, h, l)) => {
                let all = |r: usize| o.is_valid(r) && h.is_valid(r) && l.is_valid(r);
                for (dst, a) in [(&mut b.open, o), (&mut b.high, h), (&mut b.low, l)] {
                    dst.put_iter(
                        (0..n)
                            .filter(keep)
                            .map(|r| if all(r) { a.value(r) } else { f64::NAN }),
                    );
                }
            }
            None => {
                for v in [&mut b.open, &mut b.high, &mut b.low] {
                    v.put_n(f64::NAN, kept);
                }
            }
        }
        match &volume {
            Some(v) if skip.is_empty() && v.null_count() == 0 => b.volume.put_slice(v.values()),
            Some(v) => b
                .volume
                .put_iter((0..n).filter(keep).map(|r| nan_if_null(v, r))),
            None => b.volume.put_n(f64::NAN, kept),
        }
        match &positions {
            None if skip.is_empty() => {
                // Consecutive positions: copy file rows segment by segment.
                let (mut p, end) = (batch_start, batch_start + n as u64);
                let mut seg_start = 0u64;
                for &(start, len) in &kept_rows {
                    let seg_end = seg_start + len;
                    if p < seg_end && p < end {
                        let upto = seg_end.min(end);
                        b.origin.put_iter(
                            (p..upto).map(|q| Origin::new(index, start + (q - seg_start))),
                        );
                        p = upto;
                    }
                    seg_start = seg_end;
                }
            }
            _ => b
                .origin
                .put_iter((0..n).filter(keep).map(|r| Origin::new(index, row_of(r)))),
        }
    }
    Ok((symbols, problems))
}

/// Symbol id of a row whose symbol is null.
const NO_SYMBOL: u32 = u32::MAX;

/// One decoded batch, for validation.
struct Batch<'a> {
    file_name: String,
    names: &'a ColumnMap,
    symbols: &'a [String],
    ts: &'a Micros,
    sym_ids: &'a [u32],
    close: &'a Float64Array,
    ohlc: Option<&'a (Float64Array, Float64Array, Float64Array)>,
    volume: Option<&'a Float64Array>,
}

impl Batch<'_> {
    /// Whether row `r` passes every rule (the fast path).
    fn row_ok(&self, r: usize) -> bool {
        if self.ts.get(r).is_none() || self.sym_ids[r] == NO_SYMBOL || !self.close.is_valid(r) {
            return false;
        }
        let c = self.close.value(r);
        if !(c.is_finite() && c > 0.0) {
            return false;
        }
        if let Some((o, h, l)) = self.ohlc {
            let nvalid = o.is_valid(r) as u8 + h.is_valid(r) as u8 + l.is_valid(r) as u8;
            if nvalid == 3 {
                let (o, h, l) = (o.value(r), h.value(r), l.value(r));
                if !(o.is_finite()
                    && h.is_finite()
                    && l.is_finite()
                    && o > 0.0
                    && h > 0.0
                    && l > 0.0)
                {
                    return false;
                }
                let tol = 1e-9 * h.abs().max(l.abs());
                if h < l - tol || c < l - tol || c > h + tol || o < l - tol || o > h + tol {
                    return false;
                }
            } else if nvalid != 0 {
                return false;
            }
        }
        if let Some(v) = self.volume
            && v.is_valid(r)
        {
            let v = v.value(r);
            if !(v.is_finite() && v >= 0.0) {
                return false;
            }
        }
        true
    }

    /// Records every rule row `r` breaks; returns false when the row cannot
    /// be placed at all (null timestamp or symbol).
    fn record_problems(&self, r: usize, row: u64, problems: &mut Problems) -> bool {
        let names = self.names;
        let file_name = &self.file_name;
        let (ts, sym) = (
            self.ts.get(r),
            Some(self.sym_ids[r]).filter(|&s| s != NO_SYMBOL),
        );
        let ex = |t: Option<i64>| {
            format!(
                "{} {} ({file_name} row {row})",
                sym.map_or("<null>".to_string(), |i| self.symbols[i as usize].clone()),
                t.map_or("<null>".into(), format_us)
            )
        };
        let Some(t) = ts else {
            problems.add(&format!("column \"{}\" is null", names.timestamp), || {
                ex(ts)
            });
            if sym.is_none() {
                problems.add(&format!("column \"{}\" is null", names.symbol), || ex(ts));
            }
            return false;
        };
        if sym.is_none() {
            problems.add(&format!("column \"{}\" is null", names.symbol), || ex(ts));
            return false;
        }
        let c = if self.close.is_valid(r) {
            self.close.value(r)
        } else {
            f64::NAN
        };
        if !c.is_finite() {
            problems.add(
                &format!("column \"{}\" is null, NaN or infinite", names.close),
                || ex(Some(t)),
            );
        } else if c <= 0.0 {
            problems.add(
                &format!("column \"{}\" is not positive", names.close),
                || format!("{} = {c}", ex(Some(t))),
            );
        }
        if let Some((ov, hv, lv)) = self.ohlc {
            let valid = [ov.is_valid(r), hv.is_valid(r), lv.is_valid(r)];
            let nvalid = valid.iter().filter(|&&v| v).count();
            if nvalid == 3 {
                let (o, h, l) = (ov.value(r), hv.value(r), lv.value(r));
                let mut bad = false;
                for (name, v) in [(&names.open, o), (&names.high, h), (&names.low, l)] {
                    if !v.is_finite() {
                        problems.add(&format!("column \"{name}\" is NaN or infinite"), || {
                            ex(Some(t))
                        });
                        bad = true;
                    } else if v <= 0.0 {
                        problems.add(&format!("column \"{name}\" is not positive"), || {
                            format!("{} = {v}", ex(Some(t)))
                        });
                        bad = true;
                    }
                }
                if !bad && c.is_finite() && c > 0.0 {
                    let tol = 1e-9 * h.abs().max(l.abs());
                    if h < l - tol {
                        problems.add(
                            &format!("\"{}\" below \"{}\"", names.high, names.low),
                            || format!("{} high {h} low {l}", ex(Some(t))),
                        );
                    } else {
                        if c < l - tol || c > h + tol {
                            problems
                                .add(&format!("\"{}\" outside [low, high]", names.close), || {
                                    format!("{} close {c} low {l} high {h}", ex(Some(t)))
                                });
                        }
                        if o < l - tol || o > h + tol {
                            problems
                                .add(&format!("\"{}\" outside [low, high]", names.open), || {
                                    format!("{} open {o} low {l} high {h}", ex(Some(t)))
                                });
                        }
                    }
                }
            } else if nvalid > 0 {
                problems.add(
                    &format!(
                        "\"{}\", \"{}\", \"{}\" partly null on one bar (all three null is a close-only bar)",
                        names.open, names.high, names.low
                    ),
                    || ex(Some(t)),
                );
            }
        }
        if let Some(vv) = self.volume
            && vv.is_valid(r)
        {
            let v = vv.value(r);
            if !v.is_finite() {
                problems.add(
                    &format!("column \"{}\" is NaN or infinite", names.volume),
                    || ex(Some(t)),
                );
            } else if v < 0.0 {
                problems.add(&format!("column \"{}\" is negative", names.volume), || {
                    format!("{} = {v}", ex(Some(t)))
                });
            }
        }
        true
    }
}

fn intern(ids: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str) -> u32 {
    if let Some(&id) = ids.get(s) {
        return id;
    }
    names.push(s.to_string());
    let id = (names.len() - 1) as u32;
    ids.insert(s.to_string(), id);
    id
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

fn filters_text(spec_symbols: &SymbolSelection, start: Option<i64>, end: Option<i64>) -> String {
    let mut f = Vec::new();
    if let SymbolSelection::List(v) = spec_symbols {
        f.push(format!("symbols {}", v.join(",")));
    }
    if let Some(s) = start {
        f.push(format!("start {}", format_us(s)));
    }
    if let Some(e) = end {
        f.push(format!("end {}", format_us(e)));
    }
    if f.is_empty() {
        "none".into()
    } else {
        f.join(", ")
    }
}

/// Checks that the selected symbols all exist; returns an error naming the missing ones.
fn check_symbols(path: &Path, bars: &Bars, symbols: &SymbolSelection) -> Result<(), DataError> {
    if let SymbolSelection::List(v) = symbols {
        let missing: Vec<&str> = v
            .iter()
            .filter(|s| !bars.symbols.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let mut avail: Vec<&str> = bars.symbols.iter().map(String::as_str).take(10).collect();
            if bars.symbols.len() > 10 {
                avail.push("...");
            }
            return Err(DataError::UnknownSymbols {
                path: path.display().to_string(),
                missing: missing.join(", "),
                available: if avail.is_empty() {
                    "no rows in range".into()
                } else {
                    avail.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// Share of a symbol's bars that fall on Saturday or Sunday.
fn weekend_share(bars: &Bars) -> Vec<f64> {
    let n = bars.symbols.len();
    let mut wk = vec![0usize; n];
    let mut all = vec![0usize; n];
    for r in 0..bars.len() {
        let s = bars.symbol[r] as usize;
        all[s] += 1;
        if weekday(bars.timestamp[r]) >= 5 {
            wk[s] += 1;
        }
    }
    (0..n)
        .map(|i| wk[i] as f64 / all[i].max(1) as f64)
        .collect()
}

/// Loads the panel a `[data]` section describes, with its benchmark.
pub fn load_panel(spec: &DataSpec) -> Result<Loaded, DataError> {
    let sel = Selection {
        symbols: &spec.symbols,
        start: spec.start,
        end: spec.end,
        columns: &spec.columns,
    };
    let (bars, problems) = load_bars(&spec.path, &sel, spec.bar)?;
    panel_from_bars(spec, &bars, &problems)
}

/// Builds the panel from bars already read for `spec` (see [`load_panel`]).
pub fn panel_from_bars(
    spec: &DataSpec,
    bars: &Bars,
    problems: &Problems,
) -> Result<Loaded, DataError> {
    let label = spec.path.display().to_string();
    if !problems.is_empty() {
        return Err(DataError::Invalid {
            path: label,
            problems: problems.render(),
        });
    }
    check_symbols(&spec.path, bars, &spec.symbols)?;
    let mut notes = Vec::new();
    // With symbols = "all", a benchmark stored in the traded dataset was read with
    // it: it is the yardstick, not a position (explicit lists are refused at validation).
    let benchmark_in_universe = spec.benchmark.as_ref().filter(|b| {
        spec.symbols == SymbolSelection::All
            && b.path == spec.path
            && bars.symbols.contains(&b.symbol)
    });
    // Readers intern a symbol only with its first row; copy only if one has none.
    let compacted;
    let bars = if let Some(b) = benchmark_in_universe {
        let mut c = bars.clone();
        let rows = c.remove_symbol(&b.symbol);
        notes.push(format!(
            "benchmark {} is in the traded dataset and data.symbols = \"all\": not traded ({rows} rows left out of the universe)",
            b.symbol
        ));
        compacted = c;
        &compacted
    } else if bars.all_symbols_used() {
        bars
    } else {
        let mut b = bars.clone();
        b.compact_symbols();
        compacted = b;
        &compacted
    };
    if bars.is_empty() {
        return Err(DataError::Empty {
            path: label,
            filters: filters_text(&spec.symbols, spec.start, spec.end),
        });
    }
    // Mixed calendars: some symbols trade on weekends (crypto), some never do.
    let shares = weekend_share(bars);
    let seven: Vec<&str> = shares
        .iter()
        .zip(&bars.symbols)
        .filter(|(s, _)| **s > 0.1)
        .map(|(_, n)| n.as_str())
        .collect();
    let five: Vec<&str> = shares
        .iter()
        .zip(&bars.symbols)
        .filter(|(s, _)| **s < 0.01)
        .map(|(_, n)| n.as_str())
        .collect();
    let calendar = if !seven.is_empty() && !five.is_empty() {
        match spec.calendar {
            None => {
                return Err(DataError::Calendar {
                    message: format!(
                        "{label}: symbols trade on different calendars (7-day: {}; weekdays only: {}); set data.calendar = \"union\" or \"intersection\"",
                        seven.join(", "),
                        five.join(", ")
                    ),
                });
            }
            Some(mode) => {
                let msg = format!(
                    "mixing a 7-day calendar ({}) with a weekday one ({}): calendar = {mode:?}",
                    seven.join(", "),
                    five.join(", ")
                );
                tracing::warn!("{msg}");
                notes.push(msg);
                mode
            }
        }
    } else {
        spec.calendar.unwrap_or(CalendarMode::Union)
    };
    let rows = bars.len();
    let (mut panel, fills) =
        Panel::from_bars(bars, calendar, spec.max_fill_days, spec.bars_per_year);
    let close_only: Vec<&str> = panel
        .fields
        .iter()
        .zip(&panel.symbols)
        .filter(|(f, _)| !f.has_ohlc)
        .map(|(_, s)| s.as_str())
        .collect();
    if !close_only.is_empty() {
        notes.push(format!(
            "{} of {} symbols are close-only: range-based volatility falls back to close-to-close",
            close_only.len(),
            panel.n_assets()
        ));
    }
    let no_volume = panel.fields.iter().filter(|f| !f.has_volume).count();
    if no_volume > 0 {
        notes.push(format!(
            "{no_volume} of {} symbols have no volume: liquidity features and ADV use configured defaults",
            panel.n_assets()
        ));
    }
    if let Some(b) = &spec.benchmark {
        let syms = SymbolSelection::List(vec![b.symbol.clone()]);
        let bsel = Selection {
            symbols: &syms,
            start: spec.start,
            end: spec.end,
            columns: &b.columns,
        };
        let (bbars, bproblems) = load_bars(&b.path, &bsel, spec.bar)?;
        if !bproblems.is_empty() {
            return Err(DataError::Invalid {
                path: b.path.display().to_string(),
                problems: bproblems.render(),
            });
        }
        check_symbols(&b.path, &bbars, &syms)?;
        panel.attach_benchmark(
            &b.symbol,
            &bbars.timestamp,
            &bbars.close,
            spec.max_fill_days,
        );
        let missing = panel
            .benchmark
            .as_ref()
            .map_or(0, |bm| bm.available.iter().filter(|a| !**a).count());
        if missing > 0 {
            notes.push(format!(
                "benchmark {} has no value on {missing} of {} bars",
                b.symbol,
                panel.n_bars()
            ));
        }
    }
    for n in &notes {
        tracing::info!("{n}");
    }
    Ok(Loaded {
        panel,
        fills,
        rows,
        notes,
    })
}
