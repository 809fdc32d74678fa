//! The in-memory panel: a common calendar x symbols, with an availability mask.

use ndarray::{Array1, Array2, ArrayView1, ShapeBuilder};
use rayon::prelude::*;

use super::bars::Bars;
use crate::config::CalendarMode;

/// Which fields a symbol has in its source data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SymbolFields {
    /// Open, high and low are present on at least one bar.
    pub has_ohlc: bool,
    /// Volume is present on at least one bar.
    pub has_volume: bool,
}

/// A benchmark series aligned to the panel calendar.
#[derive(Debug, Clone)]
pub struct Benchmark {
    /// Benchmark symbol.
    pub symbol: String,
    /// Close per panel bar, forward-filled within the fill limit, NaN elsewhere.
    pub close: Array1<f64>,
    /// Whether `close` holds a value at that bar.
    pub available: Array1<bool>,
}

/// Prices on a common calendar: matrices are `[bars, symbols]`, stored
/// column-major so that each symbol's history is contiguous.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Sorted unique bar timestamps, microseconds UTC.
    pub timestamps: Vec<i64>,
    /// Symbol names, column order of every matrix.
    pub symbols: Vec<String>,
    /// Open, NaN where the bar is missing, filled or close-only.
    pub open: Array2<f64>,
    /// High, NaN where the bar is missing, filled or close-only.
    pub high: Array2<f64>,
    /// Low, NaN where the bar is missing, filled or close-only.
    pub low: Array2<f64>,
    /// Close, forward-filled for at most `max_fill` bars, NaN where unavailable.
    pub close: Array2<f64>,
    /// Volume, NaN where missing; 0 on forward-filled bars of symbols with volume.
    pub volume: Array2<f64>,
    /// The symbol has a usable close at this bar (real or filled).
    pub available: Array2<bool>,
    /// The close at this bar was forward-filled.
    pub filled: Array2<bool>,
    /// Fields each symbol has.
    pub fields: Vec<SymbolFields>,
    /// Benchmark, when the job names one.
    pub benchmark: Option<Benchmark>,
    /// Bars per year used to annualize.
    pub bars_per_year: f64,
    /// Typical spacing between bars, microseconds (median).
    pub bar_us: i64,
}

/// One-bar simple returns of one series: `close_t / close_{t-1} - 1` at bar t, NaN at
/// bar 0 and unless both bars are available with a positive close.
///
/// The one definition of a bar's return: features, the market return and the
/// walk-forward's replay all read it from here.
pub fn simple_returns(close: ArrayView1<'_, f64>, available: ArrayView1<'_, bool>) -> Vec<f64> {
    let ok = |t: usize| available[t] && close[t] > 0.0;
    let mut r = vec![f64::NAN; close.len()];
    for t in 1..close.len() {
        if ok(t) && ok(t - 1) {
            r[t] = close[t] / close[t - 1] - 1.0;
        }
    }
    r
}

impl Benchmark {
    /// One-bar simple returns of the benchmark ([`simple_returns`]).
    pub fn returns(&self) -> Vec<f64> {
        simple_returns(self.close.view(), self.available.view())
    }
}

/// Counts of what the panel builder did, for logs and `data check`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FillStats {
    /// Per symbol: calendar bars with no source bar inside the symbol's own range.
    pub gaps: Vec<usize>,
    /// Per symbol: bars whose close was forward-filled.
    pub filled: Vec<usize>,
    /// Per symbol: bars left unavailable because the gap exceeded the fill limit.
    pub unfilled: Vec<usize>,
}

impl Panel {
    /// Number of bars in the calendar.
    pub fn n_bars(&self) -> usize {
        self.timestamps.len()
    }

    /// Number of symbols.
    pub fn n_assets(&self) -> usize {
        self.symbols.len()
    }

    /// Whether every symbol has open/high/low.
    pub fn all_have_ohlc(&self) -> bool {
        self.fields.iter().all(|f| f.has_ohlc)
    }

    /// Whether every symbol has volume.
    pub fn all_have_volume(&self) -> bool {
        self.fields.iter().all(|f| f.has_volume)
    }

    /// One-bar simple returns `[bars, symbols]` ([`simple_returns`] per symbol).
    pub fn returns(&self) -> Array2<f64> {
        let mut out = Array2::from_elem((self.n_bars(), self.n_assets()), f64::NAN);
        for (i, mut col) in out.columns_mut().into_iter().enumerate() {
            let r = simple_returns(self.close.column(i), self.available.column(i));
            col.assign(&ArrayView1::from(&r));
        }
        out
    }

    /// Builds a panel from validated bars: calendar, matrices, forward fill.
    ///
    /// The close of symbol i at bar t is the last source close at or before t
    /// when that source bar is at most `max_fill` calendar bars back; never a
    /// later value.
    pub fn from_bars(
        bars: &Bars,
        calendar: CalendarMode,
        max_fill: usize,
        bars_per_year: Option<f64>,
    ) -> (Panel, FillStats) {
        if !bars.is_sorted() {
            let mut sorted = bars.clone();
            sorted.sort();
            return Self::from_bars(&sorted, calendar, max_fill, bars_per_year);
        }
        let n = bars.symbols.len();
        // Rows of symbol i are runs[i]..runs[i + 1] (bars are sorted by symbol).
        let mut runs = vec![0usize; n + 1];
        for &s in &bars.symbol {
            runs[s as usize + 1] += 1;
        }
        for i in 0..n {
            runs[i + 1] += runs[i];
        }
        let timestamps = calendar_of(bars, &runs, calendar);
        let t_len = timestamps.len();
        // Matrices are column-major: each symbol's history is contiguous,
        // which is how every later stage reads it. First each symbol (in
        // parallel) says which source row every calendar cell takes, then
        // every matrix is written once from that, in parallel.
        let cells = t_len * n;
        let mut src: Vec<u64> = Vec::with_capacity(cells);
        src.par_extend(rayon::iter::repeat_n(NO_ROW, cells));
        let per: Vec<(SymbolFields, usize, usize, usize)> = if t_len == 0 {
            vec![(SymbolFields::default(), 0, 0, 0); n]
        } else {
            src.par_chunks_mut(t_len)
                .enumerate()
                .map(|(i, cell)| {
                    place_symbol(bars, runs[i]..runs[i + 1], &timestamps, max_fill, cell)
                })
                .collect()
        };
        let has_volume: Vec<bool> = per.iter().map(|p| p.0.has_volume).collect();
        let shape = (t_len, n).f();
        let real = |s: u64| s & FILLED == 0;
        let row = |s: u64| (s & !FILLED) as usize;
        let nan = f64::NAN;
        let ohlc = |col: &[f64]| {
            gather(&src, shape, t_len, nan, &|s, _| {
                if real(s) { col[row(s)] } else { nan }
            })
        };
        let (open, high, low) = (ohlc(&bars.open), ohlc(&bars.high), ohlc(&bars.low));
        let close = gather(&src, shape, t_len, nan, &|s, _| bars.close[row(s)]);
        let volume = gather(&src, shape, t_len, nan, &|s, i| {
            if real(s) {
                bars.volume[row(s)]
            } else if has_volume[i] {
                0.0
            } else {
                f64::NAN
            }
        });
        let available = gather(&src, shape, t_len, false, &|_, _| true);
        let filled = gather(&src, shape, t_len, false, &|s, _| !real(s));
        let fields = per.iter().map(|p| p.0).collect();
        let stats = FillStats {
            gaps: per.iter().map(|p| p.1).collect(),
            filled: per.iter().map(|p| p.2).collect(),
            unfilled: per.iter().map(|p| p.3).collect(),
        };
        let bar_us = median_spacing(&timestamps);
        let bars_per_year = bars_per_year.unwrap_or_else(|| infer_bars_per_year(&timestamps));
        let panel = Panel {
            timestamps,
            symbols: bars.symbols.clone(),
            open,
            high,
            low,
            close,
            volume,
            available,
            filled,
            fields,
            benchmark: None,
            bars_per_year,
            bar_us,
        };
        (panel, stats)
    }

    /// Aligns a benchmark's bars to this panel's calendar (forward fill within `max_fill`).
    ///
    /// Benchmark bars outside the calendar never widen it.
    pub fn attach_benchmark(&mut self, symbol: &str, ts: &[i64], close: &[f64], max_fill: usize) {
        self.benchmark = Some(self.align(symbol, ts, close, max_fill));
    }

    /// A series of sorted bars `ts`, `close` aligned to this panel's calendar
    /// (forward fill within `max_fill`); bars outside the calendar never widen it.
    pub fn align(&self, symbol: &str, ts: &[i64], close: &[f64], max_fill: usize) -> Benchmark {
        let t_len = self.n_bars();
        let mut out = Array1::from_elem(t_len, f64::NAN);
        let mut avail = Array1::from_elem(t_len, false);
        // ts is sorted; walk both calendars together.
        let mut j = 0usize;
        let mut last: Option<(usize, f64)> = None;
        for (t, &stamp) in self.timestamps.iter().enumerate() {
            // A benchmark bar between two panel bars counts as of the next
            // panel bar: known by then, never before.
            while j < ts.len() && ts[j] <= stamp {
                last = Some((t, close[j]));
                j += 1;
            }
            if let Some((lt, c)) = last
                && t - lt <= max_fill
            {
                out[t] = c;
                avail[t] = true;
            }
        }
        Benchmark {
            symbol: symbol.to_string(),
            close: out,
            available: avail,
        }
    }
}

/// One symbol's column of every matrix.
/// Builds one matrix from the cell -> row table: `f(cell, symbol)` for cells
/// with a row, `empty` for the rest.
fn gather<T: Copy + Send + Sync, F: Fn(u64, usize) -> T + Sync>(
    src: &[u64],
    shape: ndarray::Shape<ndarray::Ix2>,
    t_len: usize,
    empty: T,
    f: &F,
) -> Array2<T> {
    let mut v = Vec::with_capacity(src.len());
    v.par_extend(src.par_iter().enumerate().map(|(k, &s)| {
        if s == NO_ROW {
            empty
        } else {
            f(s, k / t_len.max(1))
        }
    }));
    Array2::from_shape_vec(shape, v).expect("sized to the shape")
}

/// A calendar cell with no value.
const NO_ROW: u64 = u64::MAX;

/// Flag on a cell whose close is forward-filled from the row in the low bits.
const FILLED: u64 = 1 << 63;

/// Places one symbol's sorted rows on the calendar (`cell[t]` = source row,
/// `FILLED | row` when forward-filled, or `NO_ROW`).
///
/// Returns the symbol's fields and its (gaps, filled, unfilled) counts.
fn place_symbol(
    bars: &Bars,
    rows: std::ops::Range<usize>,
    calendar: &[i64],
    max_fill: usize,
    cell: &mut [u64],
) -> (SymbolFields, usize, usize, usize) {
    let t_len = calendar.len();
    let mut fields = SymbolFields::default();
    let (mut gaps, mut n_filled, mut unfilled) = (0, 0, 0);
    // Both the rows and the calendar are sorted: walk them together.
    let mut t = 0usize;
    let mut last_real: Option<usize> = None;
    for r in rows {
        let stamp = bars.timestamp[r];
        while t < t_len && calendar[t] < stamp {
            t += 1;
        }
        if t == t_len || calendar[t] != stamp {
            continue; // dropped by an intersection calendar
        }
        cell[t] = r as u64;
        last_real = Some(t);
        fields.has_ohlc |= !bars.open[r].is_nan();
        fields.has_volume |= !bars.volume[r].is_nan();
    }
    let mut last: Option<(usize, u64)> = None;
    for (t, c) in cell.iter_mut().enumerate() {
        if *c != NO_ROW {
            last = Some((t, *c));
            continue;
        }
        let Some((lt, lr)) = last else { continue };
        let inside = last_real.is_some_and(|lr| t < lr);
        if inside {
            gaps += 1;
        }
        if t - lt <= max_fill {
            *c = FILLED | lr;
            n_filled += 1;
        } else if inside {
            unfilled += 1;
        }
    }
    (fields, gaps, n_filled, unfilled)
}

fn calendar_of(bars: &Bars, runs: &[usize], mode: CalendarMode) -> Vec<i64> {
    let n = runs.len() - 1;
    let run = |i: usize| &bars.timestamp[runs[i]..runs[i + 1]];
    let mut acc: Vec<i64> = if n == 0 { Vec::new() } else { run(0).to_vec() };
    acc.dedup();
    for i in 1..n {
        let other = run(i);
        if other == acc.as_slice() {
            continue;
        }
        let (mut a, mut b) = (0, 0);
        let mut out = Vec::with_capacity(acc.len().max(other.len()));
        match mode {
            CalendarMode::Union => {
                while a < acc.len() || b < other.len() {
                    let x = if b == other.len() || (a < acc.len() && acc[a] <= other[b]) {
                        let x = acc[a];
                        a += 1;
                        x
                    } else {
                        let x = other[b];
                        b += 1;
                        x
                    };
                    if out.last() != Some(&x) {
                        out.push(x);
                    }
                }
            }
            CalendarMode::Intersection => {
                while a < acc.len() && b < other.len() {
                    match acc[a].cmp(&other[b]) {
                        std::cmp::Ordering::Less => a += 1,
                        std::cmp::Ordering::Greater => b += 1,
                        std::cmp::Ordering::Equal => {
                            if out.last() != Some(&acc[a]) {
                                out.push(acc[a]);
                            }
                            a += 1;
                            b += 1;
                        }
                    }
                }
            }
        }
        acc = out;
    }
    acc
}

/// Median spacing between consecutive timestamps, microseconds.
pub fn median_spacing(ts: &[i64]) -> i64 {
    if ts.len() < 2 {
        return super::time::DAY_US;
    }
    let mut d: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let mid = d.len() / 2;
    *d.select_nth_unstable(mid).1
}

/// Infers bars per year: 252 for weekday daily bars, 365 for 7-day daily bars,
/// and the observed count per year otherwise.
pub fn infer_bars_per_year(ts: &[i64]) -> f64 {
    if ts.len() < 2 {
        return 252.0;
    }
    let spacing = median_spacing(ts);
    let day = super::time::DAY_US;
    if spacing >= day / 2 && spacing <= day * 3 / 2 {
        let weekend = ts.iter().filter(|&&t| super::time::weekday(t) >= 5).count();
        if (weekend as f64) < 0.02 * ts.len() as f64 {
            252.0
        } else {
            365.0
        }
    } else {
        let span_years = (ts[ts.len() - 1] - ts[0]) as f64 / (365.25 * day as f64);
        if span_years > 0.0 {
            ((ts.len() - 1) as f64 / span_years).round().max(1.0)
        } else {
            (365.25 * day as f64 / spacing as f64).round()
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn simple_returns_by_hand() {
        // 100 -> 110 (+10%), 110 -> 99 (-10%), then bar 3 is unavailable: bars 3 and 4
        // have no return; 80 -> 100 at bar 5 is +25%; a zero close is never a base.
        let close = array![100.0, 110.0, 99.0, f64::NAN, 80.0, 100.0, 0.0, 50.0];
        let avail = array![true, true, true, false, true, true, true, true];
        let r = simple_returns(close.view(), avail.view());
        assert!(r[0].is_nan() && r[3].is_nan() && r[4].is_nan());
        assert!((r[1] - 0.1).abs() < 1e-15 && (r[2] + 0.1).abs() < 1e-15);
        assert_eq!(r[5], 0.25);
        assert!(r[6].is_nan() && r[7].is_nan());
    }

    #[test]
    fn panel_returns_are_per_symbol_columns() {
        let close = array![[10.0, 20.0], [11.0, 19.0], [12.1, 19.0]];
        let available = array![[true, true], [true, false], [true, true]];
        let panel = Panel {
            timestamps: vec![0, 1, 2],
            symbols: vec!["A".into(), "B".into()],
            open: close.clone(),
            high: close.clone(),
            low: close.clone(),
            close,
            volume: Array2::zeros((3, 2)),
            available,
            filled: Array2::from_elem((3, 2), false),
            fields: vec![SymbolFields::default(); 2],
            benchmark: None,
            bars_per_year: 252.0,
            bar_us: 1,
        };
        let r = panel.returns();
        assert_eq!(r.dim(), (3, 2));
        assert!((r[[1, 0]] - 0.1).abs() < 1e-12 && (r[[2, 0]] - 0.1).abs() < 1e-12);
        assert!(r.row(0).iter().chain(r.column(1)).all(|v| v.is_nan()));
    }
}
