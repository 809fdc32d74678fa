//! The in-memory panel: a common calendar x symbols, with an availability mask.

use ndarray::{Array1, Array2};

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

/// Prices on a common calendar: matrices are `[bars, symbols]`.
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
        let n = bars.symbols.len();
        let timestamps = calendar_of(bars, calendar);
        let t_len = timestamps.len();
        let nan = || Array2::from_elem((t_len, n), f64::NAN);
        let (mut open, mut high, mut low, mut close, mut volume) = (nan(), nan(), nan(), nan(), nan());
        let mut real = Array2::from_elem((t_len, n), false);
        let mut fields = vec![
            SymbolFields {
                has_ohlc: false,
                has_volume: false
            };
            n
        ];
        for r in 0..bars.len() {
            let Ok(t) = timestamps.binary_search(&bars.timestamp[r]) else {
                continue; // dropped by an intersection calendar
            };
            let i = bars.symbol[r] as usize;
            close[[t, i]] = bars.close[r];
            real[[t, i]] = true;
            if !bars.open[r].is_nan() {
                open[[t, i]] = bars.open[r];
                high[[t, i]] = bars.high[r];
                low[[t, i]] = bars.low[r];
                fields[i].has_ohlc = true;
            }
            if !bars.volume[r].is_nan() {
                volume[[t, i]] = bars.volume[r];
                fields[i].has_volume = true;
            }
        }
        let mut available = real.clone();
        let mut filled = Array2::from_elem((t_len, n), false);
        let mut stats = FillStats {
            gaps: vec![0; n],
            filled: vec![0; n],
            unfilled: vec![0; n],
        };
        for i in 0..n {
            let mut last: Option<(usize, f64)> = None;
            let last_real = (0..t_len).rev().find(|&t| real[[t, i]]);
            for t in 0..t_len {
                if real[[t, i]] {
                    last = Some((t, close[[t, i]]));
                    continue;
                }
                let Some((lt, lc)) = last else { continue };
                if last_real.is_some_and(|lr| t < lr) {
                    stats.gaps[i] += 1;
                }
                if t - lt <= max_fill {
                    close[[t, i]] = lc;
                    available[[t, i]] = true;
                    filled[[t, i]] = true;
                    if fields[i].has_volume {
                        volume[[t, i]] = 0.0;
                    }
                    stats.filled[i] += 1;
                } else if last_real.is_some_and(|lr| t < lr) {
                    stats.unfilled[i] += 1;
                }
            }
        }
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
            while j < ts.len() && ts[j] <= stamp {
                if ts[j] == stamp {
                    last = Some((t, close[j]));
                } else {
                    // A benchmark bar between panel bars counts as of the next panel bar.
                    last = Some((t, close[j]));
                }
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

fn calendar_of(bars: &Bars, mode: CalendarMode) -> Vec<i64> {
    match mode {
        CalendarMode::Union => {
            let mut ts = bars.timestamp.clone();
            ts.sort_unstable();
            ts.dedup();
            ts
        }
        CalendarMode::Intersection => {
            let n = bars.symbols.len();
            let mut per: Vec<Vec<i64>> = vec![Vec::new(); n];
            for r in 0..bars.len() {
                per[bars.symbol[r] as usize].push(bars.timestamp[r]);
            }
            let mut it = per.into_iter().map(|mut v| {
                v.sort_unstable();
                v
            });
            let mut acc = it.next().unwrap_or_default();
            for v in it {
                acc.retain(|t| v.binary_search(t).is_ok());
            }
            acc
        }
    }
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
