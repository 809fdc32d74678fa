//! Where decoded rows go: growing vectors, or a unit's region of preallocated columns.

use arrow::array::{Array, Float64Array};

use super::rules::Batch;
use crate::data::bars::Origin;

/// Where the decoded rows of one column go.
pub(super) trait Sink<T: Copy> {
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
pub(super) struct Region<'a, T> {
    pub(super) buf: &'a mut [T],
    pub(super) len: usize,
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
pub(super) struct Dest<A, B, C, D> {
    pub(super) timestamp: A,
    pub(super) symbol: B,
    pub(super) open: C,
    pub(super) high: C,
    pub(super) low: C,
    pub(super) close: C,
    pub(super) volume: C,
    pub(super) origin: D,
}

/// Output columns growing as rows arrive (used when a row filter makes the
/// row count unknown up front).
pub(super) type VecDest = Dest<Vec<i64>, Vec<u32>, Vec<f64>, Vec<Origin>>;

/// Output columns preallocated to the exact row count, one region per unit.
pub(super) type RegionDest<'a> =
    Dest<Region<'a, i64>, Region<'a, u32>, Region<'a, f64>, Region<'a, Origin>>;

/// Splits `v` into consecutive regions of the given sizes.
pub(super) fn regions<'a, T>(mut v: &'a mut [T], sizes: &[usize]) -> Vec<Region<'a, T>> {
    sizes
        .iter()
        .map(|&k| {
            let (head, tail) = std::mem::take(&mut v).split_at_mut(k);
            v = tail;
            Region { buf: head, len: 0 }
        })
        .collect()
}

/// Appends the timestamp, symbol and price columns of every row of `rows` but
/// `skip` (ascending) to `b`; whole slices when nothing is skipped or null.
pub(super) fn put_rows<A, B, C, D>(b: &mut Dest<A, B, C, D>, rows: &Batch<'_>, skip: &[usize])
where
    A: Sink<i64>,
    B: Sink<u32>,
    C: Sink<f64>,
{
    let (ts, sym_ids, close) = (rows.ts, rows.sym_ids, rows.close);
    let n = sym_ids.len();
    let keep = |r: &usize| skip.binary_search(r).is_err();
    let kept = n - skip.len();
    let nan_if_null =
        |a: &Float64Array, r: usize| if a.is_valid(r) { a.value(r) } else { f64::NAN };
    if skip.is_empty() && close.null_count() == 0 {
        b.timestamp.put_slice(&ts.values);
        b.symbol.put_slice(sym_ids);
        b.close.put_slice(close.values());
    } else {
        b.timestamp
            .put_iter((0..n).filter(keep).map(|r| ts.values[r]));
        b.symbol.put_iter((0..n).filter(keep).map(|r| sym_ids[r]));
        b.close
            .put_iter((0..n).filter(keep).map(|r| nan_if_null(close, r)));
    }
    // open/high/low are kept only when all three are present on a bar.
    match rows.ohlc {
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
    match rows.volume {
        Some(v) if skip.is_empty() && v.null_count() == 0 => b.volume.put_slice(v.values()),
        Some(v) => b
            .volume
            .put_iter((0..n).filter(keep).map(|r| nan_if_null(v, r))),
        None => b.volume.put_n(f64::NAN, kept),
    }
}

/// Appends the origins of `n` rows at consecutive positions from `batch_start`,
/// copying file rows segment by segment of the kept row groups.
pub(super) fn put_consecutive_origins<D: Sink<Origin>>(
    dst: &mut D,
    index: u32,
    kept_rows: &[(u64, u64)],
    batch_start: u64,
    n: usize,
) {
    let (mut p, end) = (batch_start, batch_start + n as u64);
    let mut seg_start = 0u64;
    for &(start, len) in kept_rows {
        let seg_end = seg_start + len;
        if p < seg_end && p < end {
            let upto = seg_end.min(end);
            dst.put_iter((p..upto).map(|q| Origin::new(index, start + (q - seg_start))));
            p = upto;
        }
        seg_start = seg_end;
    }
}
