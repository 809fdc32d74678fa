//! Per-scenario reduction of path results: tail risk of the terminal return
//! and percentile bands of the portfolio value per day.
//!
//! Results are folded in path order, so neither the chunk size nor the
//! backend nor a split of the path range changes a number.

use serde::Serialize;

use super::{model::PathOut, philox::ln_f32};
use crate::metrics::{quantile_sorted, quantiles_select, var_cvar};

/// Histogram bins over ln(V / capital) in [-`LOG_SPAN`, `LOG_SPAN`].
pub const BINS: usize = 8192;
/// Half-width of the histogram's log-value range.
pub const LOG_SPAN: f64 = 5.0;
/// Largest relative error of a histogram band: half a bin in log space.
pub fn histogram_relative_error() -> f64 {
    (LOG_SPAN / BINS as f64).exp_m1()
}

/// Bins per unit of ln(V / capital), as f32 (the kernels' constant).
pub const BAND_SCALE: f32 = (BINS as f64 / (2.0 * LOG_SPAN)) as f32;

/// Histogram bin of value `v`: 0 below the range (or v <= 0), `BINS + 1`
/// above it, else 1 + the bin of ln(v / capital) in [-LOG_SPAN, LOG_SPAN).
///
/// f32 with the kernels' `ln_f32`, statement for statement as `band_bin` in
/// `shaders/stress.wgsl`, so a device counting on its own bins alike.
pub fn band_bin(v: f32, inv_capital: f32) -> usize {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    let x = (ln_f32(v * inv_capital) + LOG_SPAN as f32) * BAND_SCALE;
    if x < 0.0 {
        return 0;
    }
    (x.min(BINS as f32) as usize + 1).min(BINS + 1)
}

/// WGSL constants for `band_bin`, prepended to the stress shader.
pub fn band_wgsl_constants() -> String {
    format!(
        "const BAND_BINS: u32 = {BINS}u;\nconst BAND_LOG_SPAN: f32 = {:?};\nconst BAND_SCALE: f32 = {:?};\n",
        LOG_SPAN as f32, BAND_SCALE
    )
}

/// Band percentiles written to `stress_bands.parquet`.
pub const BAND_QUANTILES: [f64; 5] = [0.01, 0.05, 0.50, 0.95, 0.99];

/// Tail statistics of one scenario (the `stress_summary.parquet` row).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub scenario: String,
    /// Paths simulated.
    pub paths: u64,
    /// Backend(s) that ran the paths.
    pub backend: String,
    /// Mean terminal value.
    pub mean_terminal: f64,
    /// Median terminal value.
    pub median_terminal: f64,
    /// 95% VaR of the terminal return, a loss as a fraction of capital.
    pub var_95: f64,
    /// 99% VaR.
    pub var_99: f64,
    /// 95% CVaR (mean loss in the worst 5%).
    pub cvar_95: f64,
    /// 99% CVaR.
    pub cvar_99: f64,
    /// Share of paths whose drawdown exceeded the limit.
    pub prob_drawdown_breach: f64,
    /// Mean of the per-path maximum drawdown.
    pub mean_max_drawdown: f64,
    /// Mean total liquidation cost per path.
    pub mean_liquidation_cost: f64,
    /// Mean number of liquidation days per path.
    pub mean_liquidations: f64,
}

/// One row of `stress_bands.parquet`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BandRow {
    /// Scenario name.
    pub scenario: String,
    /// Day index.
    pub day: u32,
    /// Percentiles 1, 5, 50, 95, 99 of portfolio value; `None` outside the histogram range.
    pub p: [Option<f64>; 5],
}

enum Bands {
    Exact(Vec<f32>),
    Histogram(Vec<u64>),
}

/// Accumulates chunk results of one scenario in path order.
pub struct Accumulator {
    capital: f64,
    horizon: usize,
    terminal: Vec<f64>,
    sum_mdd: f64,
    sum_cost: f64,
    sum_liqs: u64,
    breaches: u64,
    bands: Bands,
}

impl Accumulator {
    /// A new accumulator; exact bands keep every daily value, else a histogram.
    pub fn new(capital: f64, horizon: u32, paths: u64, exact: bool) -> Self {
        let horizon = horizon as usize;
        let bands = if exact {
            Bands::Exact(Vec::with_capacity(paths as usize * horizon))
        } else {
            Bands::Histogram(vec![0; horizon * (BINS + 2)])
        };
        Self {
            capital,
            horizon,
            terminal: Vec::with_capacity(paths.min(1 << 24) as usize),
            sum_mdd: 0.0,
            sum_cost: 0.0,
            sum_liqs: 0,
            breaches: 0,
            bands,
        }
    }

    /// Whether the bands are exact percentiles.
    pub fn exact(&self) -> bool {
        matches!(self.bands, Bands::Exact(_))
    }

    /// Adds the next chunk: path results and their daily values (path-major).
    pub fn push(&mut self, paths: &[PathOut], values: &[f32]) {
        for p in paths {
            self.terminal.push(f64::from(p.terminal));
            self.sum_mdd += f64::from(p.max_drawdown);
            self.sum_cost += f64::from(p.liquidation_cost);
            self.sum_liqs += u64::from(p.liquidations);
            self.breaches += u64::from(p.breach_day >= 0);
        }
        match &mut self.bands {
            Bands::Exact(v) => v.extend_from_slice(values),
            Bands::Histogram(counts) => {
                let inv_capital = (1.0 / self.capital) as f32;
                for path in values.chunks(self.horizon) {
                    for (t, &v) in path.iter().enumerate() {
                        counts[t * (BINS + 2) + band_bin(v, inv_capital)] += 1;
                    }
                }
            }
        }
    }

    /// Adds band histogram counts `[horizon, BINS + 2]` a device counted.
    pub fn push_counts(&mut self, band_counts: &[u32]) {
        if band_counts.is_empty() {
            return;
        }
        let Bands::Histogram(counts) = &mut self.bands else {
            panic!("band counts in exact mode: the engine asks for values then");
        };
        for (c, &k) in counts.iter_mut().zip(band_counts) {
            *c += u64::from(k);
        }
    }

    /// Summary statistics and bands for scenario `name`.
    pub fn finish(self, name: &str, backend: &str) -> (ScenarioSummary, Vec<BandRow>) {
        let n = self.terminal.len();
        let nf = n.max(1) as f64;
        let mut returns: Vec<f64> = self
            .terminal
            .iter()
            .map(|v| v / self.capital - 1.0)
            .collect();
        returns.sort_by(f64::total_cmp);
        let mut sorted = self.terminal.clone();
        sorted.sort_by(f64::total_cmp);
        let (var_95, cvar_95) = var_cvar(&returns, 0.95);
        let (var_99, cvar_99) = var_cvar(&returns, 0.99);
        let summary = ScenarioSummary {
            scenario: name.to_string(),
            paths: n as u64,
            backend: backend.to_string(),
            mean_terminal: self.terminal.iter().sum::<f64>() / nf,
            median_terminal: quantile_sorted(&sorted, 0.5),
            var_95,
            var_99,
            cvar_95,
            cvar_99,
            prob_drawdown_breach: self.breaches as f64 / nf,
            mean_max_drawdown: self.sum_mdd / nf,
            mean_liquidation_cost: self.sum_cost / nf,
            mean_liquidations: self.sum_liqs as f64 / nf,
        };
        let h = self.horizon;
        let bands = match &self.bands {
            Bands::Exact(values) => (0..h)
                .map(|t| {
                    let mut day: Vec<f64> = values
                        .iter()
                        .skip(t)
                        .step_by(h)
                        .map(|&v| f64::from(v))
                        .collect();
                    BandRow {
                        scenario: name.to_string(),
                        day: t as u32,
                        p: quantiles_select(&mut day, BAND_QUANTILES).map(Some),
                    }
                })
                .collect(),
            Bands::Histogram(counts) => (0..h)
                .map(|t| BandRow {
                    scenario: name.to_string(),
                    day: t as u32,
                    p: BAND_QUANTILES.map(|q| {
                        hist_quantile(
                            &counts[t * (BINS + 2)..(t + 1) * (BINS + 2)],
                            q,
                            self.capital,
                        )
                    }),
                })
                .collect(),
        };
        (summary, bands)
    }
}

fn hist_quantile(counts: &[u64], q: f64, capital: f64) -> Option<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let rank = (q * (n - 1) as f64).round() as u64;
    let mut cum = 0u64;
    for (b, &c) in counts.iter().enumerate() {
        cum += c;
        if cum > rank {
            if b == 0 || b == BINS + 1 {
                return None;
            }
            let w = 2.0 * LOG_SPAN / BINS as f64;
            return Some(capital * (-LOG_SPAN + (b as f64 - 0.5) * w).exp());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_bin_matches_the_f64_bin_edges() {
        // The f32 kernel bin is the f64 bin except for values within f32
        // rounding of a bin edge.
        let cap = 1.0e8f64;
        let inv = (1.0 / cap) as f32;
        let w = BINS as f64 / (2.0 * LOG_SPAN);
        let mut checked = 0;
        for k in 0..200_000u32 {
            let v = (cap * (-6.0 + 12.0 * f64::from(k) / 200_000.0).exp()) as f32;
            let x = ((f64::from(v) / cap).ln() + LOG_SPAN) * w;
            if (x - x.round()).abs() < 1e-2 {
                continue; // at an edge: either side is right
            }
            let expect = if x < 0.0 {
                0
            } else {
                (x as usize + 1).min(BINS + 1)
            };
            assert_eq!(band_bin(v, inv), expect, "v = {v}");
            checked += 1;
        }
        assert!(checked > 190_000);
        assert_eq!(band_bin(0.0, inv), 0);
        assert_eq!(band_bin(-5.0, inv), 0);
        assert_eq!(band_bin(f32::NAN, inv), 0);
        assert_eq!(band_bin(f32::INFINITY, inv), BINS + 1);
        assert_eq!(band_bin(f32::MAX, inv), BINS + 1);
    }

    #[test]
    fn histogram_band_within_stated_error() {
        let cap = 100.0;
        let vals: Vec<f32> = (0..10_000).map(|i| 50.0 + i as f32 * 0.01).collect();
        let paths = vec![PathOut::default(); vals.len()];
        let mut exact = Accumulator::new(cap, 1, 10_000, true);
        let mut hist = Accumulator::new(cap, 1, 10_000, false);
        exact.push(&paths, &vals);
        hist.push(&paths, &vals);
        let (_, e) = exact.finish("x", "cpu");
        let (_, h) = hist.finish("x", "cpu");
        for k in 0..5 {
            let (a, b) = (e[0].p[k].unwrap(), h[0].p[k].unwrap());
            assert!(
                (b / a - 1.0).abs() <= histogram_relative_error() + 1e-4,
                "{a} {b}"
            );
        }
    }
}
