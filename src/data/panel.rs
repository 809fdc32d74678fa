//! The in-memory panel: a common calendar x symbols, with an availability mask.

use ndarray::{Array1, Array2, ShapeBuilder};
use rayon::prelude::*;

use super::bars::Bars;
use crate::config::CalendarMode;

/// Which fields a symbol has in its source data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
        // which is how every later stage reads it. Symbols fill in parallel.
        let cells = (t_len * n).max(1);
        let chunk = t_len.max(1);
        let (mut open, mut high, mut low) = (
            vec![f64::NAN; cells],
            vec![f64::NAN; cells],
            vec![f64::NAN; cells],
        );
        let (mut close, mut volume) = (vec![f64::NAN; cells], vec![f64::NAN; cells]);
        let (mut available, mut filled) = (vec![false; cells], vec![false; cells]);
        let per: Vec<(SymbolFields, usize, usize, usize)> = (
            open.par_chunks_mut(chunk),
            high.par_chunks_mut(chunk),
            low.par_chunks_mut(chunk),
            close.par_chunks_mut(chunk),
            volume.par_chunks_mut(chunk),
            available.par_chunks_mut(chunk),
            filled.par_chunks_mut(chunk),
        )
            .into_par_iter()
            .take(n)
            .enumerate()
            .map(|(i, (o, h, l, c, v, a, f))| {
                let cols = SymbolColumns {
                    open: o,
                    high: h,
                    low: l,
                    close: c,
                    volume: v,
                    available: a,
                    filled: f,
                };
                symbol_columns(bars, runs[i]..runs[i + 1], &timestamps, max_fill, cols)
            })
            .collect();
        let shape = (t_len, n).f();
        let mat = |mut v: Vec<f64>| {
            v.truncate(t_len * n);
            Array2::from_shape_vec(shape, v).expect("sized to the shape")
        };
        let matb = |mut v: Vec<bool>| {
            v.truncate(t_len * n);
            Array2::from_shape_vec(shape, v).expect("sized to the shape")
        };
        let (open, high, low, close, volume) =
            (mat(open), mat(high), mat(low), mat(close), mat(volume));
        let (available, filled) = (matb(available), matb(filled));
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
        self.benchmark = Some(Benchmark {
            symbol: symbol.to_string(),
            close: out,
            available: avail,
        });
    }
}

/// One symbol's column of every matrix.
struct SymbolColumns<'a> {
    open: &'a mut [f64],
    high: &'a mut [f64],
    low: &'a mut [f64],
    close: &'a mut [f64],
    volume: &'a mut [f64],
    available: &'a mut [bool],
    filled: &'a mut [bool],
}

/// Places one symbol's sorted rows on the calendar and forward-fills its close.
///
/// Returns the symbol's fields and its (gaps, filled, unfilled) counts.
fn symbol_columns(
    bars: &Bars,
    rows: std::ops::Range<usize>,
    calendar: &[i64],
    max_fill: usize,
    c: SymbolColumns<'_>,
) -> (SymbolFields, usize, usize, usize) {
    let t_len = calendar.len();
    let mut fields = SymbolFields {
        has_ohlc: false,
        has_volume: false,
    };
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
        c.close[t] = bars.close[r];
        c.available[t] = true;
        last_real = Some(t);
        if !bars.open[r].is_nan() {
            c.open[t] = bars.open[r];
            c.high[t] = bars.high[r];
            c.low[t] = bars.low[r];
            fields.has_ohlc = true;
        }
        if !bars.volume[r].is_nan() {
            c.volume[t] = bars.volume[r];
            fields.has_volume = true;
        }
    }
    let mut last: Option<(usize, f64)> = None;
    for t in 0..t_len {
        if c.available[t] {
            last = Some((t, c.close[t]));
            continue;
        }
        let Some((lt, lc)) = last else { continue };
        let inside = last_real.is_some_and(|lr| t < lr);
        if inside {
            gaps += 1;
        }
        if t - lt <= max_fill {
            c.close[t] = lc;
            c.available[t] = true;
            c.filled[t] = true;
            if fields.has_volume {
                c.volume[t] = 0.0;
            }
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
