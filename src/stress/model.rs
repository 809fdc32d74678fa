//! Market model inputs turned into kernel records, shared by both backends.
//!
//! Every `#[repr(C)]` record here has a twin struct in `shaders/stress.wgsl`;
//! the comment on each names it. Field order and sizes must match.

use bytemuck::{Pod, Zeroable};

use crate::config::stress::{
    Liquidation, MarketInputs, ScenarioKind, ScenarioSpec, ShockMeasure, StressSpec,
};

/// Per-kernel constants. Matches `struct Config` in `shaders/stress.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct KernelConfig {
    /// Assets.
    pub n_assets: u32,
    /// Days per path.
    pub horizon: u32,
    /// Philox blocks of 4 normals per day, `ceil(n_assets / 4)`.
    pub blocks: u32,
    /// Scenario index (counter word 3).
    pub scenario: u32,
    /// Philox key, low word of the seed.
    pub key0: u32,
    /// Philox key, high word of the seed.
    pub key1: u32,
    /// First path of the chunk, low 32 bits.
    pub path_lo: u32,
    /// First path of the chunk, high 32 bits.
    pub path_hi: u32,
    /// Paths in the chunk.
    pub n_paths: u32,
    /// 0 = deleverage, 1 = haircut.
    pub liquidation: u32,
    /// 0 = portfolio move, 1 = equal-weighted market move.
    pub shock_market: u32,
    /// 0 = parametric, 1 = bootstrap.
    pub kind: u32,
    /// Rows of the bootstrap return table.
    pub hist_days: u32,
    /// Bootstrap block length.
    pub block_days: u32,
    /// 1 = count daily values into the band histogram instead of writing them.
    pub band_histogram: u32,
    /// Factor count of the correlated draws; 0 = full Cholesky.
    pub factors: u32,
    /// Starting value.
    pub capital: f32,
    /// Starting cash, `capital * (1 - sum w)`.
    pub cash0: f32,
    /// Shock threshold on |move|.
    pub shock_threshold: f32,
    /// Gross / value limit.
    pub concentration_limit: f32,
    /// Cut per deleveraging.
    pub deleverage_fraction: f32,
    /// Haircut per liquidation day (haircut rule).
    pub haircut: f32,
    /// `1 - drawdown_limit`.
    pub dd_keep: f32,
    /// Daily jump probability.
    pub jump_p: f32,
    /// Jump mean.
    pub jump_mean: f32,
    /// Jump std.
    pub jump_std: f32,
    /// `1 / n_assets`.
    pub inv_n: f32,
    /// `1 / capital`, for the band histogram bins.
    pub inv_capital: f32,
    /// First day of a GPU dispatch's window (the CPU runs the whole horizon).
    pub t0: u32,
    /// One past the last day of a GPU dispatch's window.
    pub t1: u32,
    /// Padded row length of the factor loadings in the GPU's layout.
    pub k_stride: u32,
    /// Reserved.
    pub pad: u32,
}

/// Per-asset constants. Matches `struct Asset` in `shaders/stress.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct AssetParams {
    /// Starting holding, `w * capital`.
    pub h0: f32,
    /// `mu - (m sigma)^2 / 2`.
    pub drift: f32,
    /// `m sigma`.
    pub vol: f32,
    /// `spread * spread_multiplier / 2`.
    pub half_spread: f32,
    /// `k m sigma / sqrt(ADV * liquidity_multiplier)`: cost per unit traded is `half_spread + impact * sqrt(|dh|)`.
    pub impact: f32,
    /// Reserved.
    pub pad: [f32; 3],
}

/// One path's result. Matches `struct PathOut` in `shaders/stress.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Default)]
pub struct PathOut {
    /// Value after the last day.
    pub terminal: f32,
    /// Largest drawdown from the running peak (peak starts at capital).
    pub max_drawdown: f32,
    /// Total liquidation cost.
    pub liquidation_cost: f32,
    /// Liquidation days.
    pub liquidations: u32,
    /// First day the drawdown exceeded the limit, -1 if never.
    pub breach_day: i32,
    /// Reserved.
    pub pad: [u32; 3],
}

/// Everything a backend needs to simulate one scenario.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Kernel constants (path fields are set per chunk).
    pub cfg: KernelConfig,
    /// Per-asset constants.
    pub assets: Vec<AssetParams>,
    /// Lower Cholesky factor of C_s, packed by rows (row i starts at i(i+1)/2);
    /// with `cfg.factors = k > 0`, the loadings `B` (`[n, k]`, row-major)
    /// followed by the n residual scales (see [`factor_loadings`]).
    pub chol: Vec<f32>,
    /// Bootstrap table of daily log returns `[hist_days, n_assets]`, empty otherwise.
    pub hist: Vec<f32>,
}

impl Prepared {
    /// Kernel inputs for `scenario` (index `index`) of `spec` on `market`;
    /// `hist` is the bootstrap return table, rows of `market.symbols.len()` returns.
    pub fn new(
        spec: &StressSpec,
        market: &MarketInputs,
        seed: u64,
        index: u32,
        scenario: &ScenarioSpec,
        hist: Vec<f32>,
    ) -> Self {
        let n = market.symbols.len();
        let m = scenario.vol_multiplier;
        let rho = scenario.correlation_shift;
        let cs: Vec<Vec<f64>> = market
            .correlation
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.iter()
                    .enumerate()
                    .map(|(j, &c)| if i == j { 1.0 } else { (1.0 - rho) * c + rho })
                    .collect()
            })
            .collect();
        // Bootstrap scenarios draw no normals: the factor model is moot there.
        let factors = match scenario.kind {
            ScenarioKind::Parametric => spec.factors.map_or(0, |k| k.min(n as u32)),
            ScenarioKind::Bootstrap { .. } => 0,
        };
        let chol = if factors > 0 {
            let (b, s) = factor_loadings(&cs, factors as usize);
            b.iter().flatten().chain(&s).map(|&v| v as f32).collect()
        } else {
            lower_cholesky(&cs, &scenario.name)
        };
        let wsum: f64 = market
            .symbols
            .iter()
            .map(|s| spec.weights.get(s).copied().unwrap_or(0.0))
            .sum();
        let assets = (0..n)
            .map(|i| {
                let w = spec.weights.get(&market.symbols[i]).copied().unwrap_or(0.0);
                let vol = m * market.sigma[i];
                AssetParams {
                    h0: (w * spec.capital) as f32,
                    drift: (market.mu[i] - vol * vol / 2.0) as f32,
                    vol: vol as f32,
                    half_spread: (market.spread[i] * scenario.spread_multiplier / 2.0) as f32,
                    impact: (spec.impact_coefficient * vol
                        / (market.adv[i] * scenario.liquidity_multiplier).sqrt())
                        as f32,
                    pad: [0.0; 3],
                }
            })
            .collect();
        let (kind, block_days) = match scenario.kind {
            ScenarioKind::Parametric => (0, 1),
            ScenarioKind::Bootstrap { block_days, .. } => (1, block_days),
        };
        let hist_days = hist.len().checked_div(n).unwrap_or(0) as u32;
        let key = super::philox::key_of(seed);
        let cfg = KernelConfig {
            n_assets: n as u32,
            horizon: spec.horizon,
            blocks: (n + factors as usize).div_ceil(4) as u32,
            scenario: index,
            key0: key[0],
            key1: key[1],
            path_lo: 0,
            path_hi: 0,
            n_paths: 0,
            liquidation: u32::from(matches!(spec.liquidation, Liquidation::Haircut(_))),
            shock_market: u32::from(spec.shock_measure == ShockMeasure::Market),
            kind,
            hist_days,
            block_days: block_days.min(hist_days.max(1)),
            band_histogram: 0,
            factors,
            capital: spec.capital as f32,
            cash0: (spec.capital * (1.0 - wsum)) as f32,
            shock_threshold: spec.shock_threshold as f32,
            concentration_limit: spec.concentration_limit as f32,
            deleverage_fraction: spec.deleverage_fraction as f32,
            haircut: match spec.liquidation {
                Liquidation::Haircut(c) => c as f32,
                Liquidation::Deleverage => 0.0,
            },
            dd_keep: (1.0 - spec.drawdown_limit) as f32,
            jump_p: scenario.jump_probability as f32,
            jump_mean: scenario.jump_mean as f32,
            jump_std: scenario.jump_std as f32,
            inv_n: 1.0 / n.max(1) as f32,
            inv_capital: (1.0 / spec.capital) as f32,
            t0: 0,
            t1: spec.horizon,
            k_stride: 0,
            pad: 0,
        };
        Self {
            cfg,
            assets,
            chol,
            hist,
        }
    }

    /// The config for the chunk of `n` paths starting at `first`.
    /// `histogram`: count daily values into band bins on the device.
    pub fn chunk_config(&self, first: u64, n: u32, histogram: bool) -> KernelConfig {
        KernelConfig {
            path_lo: first as u32,
            path_hi: (first >> 32) as u32,
            n_paths: n,
            band_histogram: u32::from(histogram),
            ..self.cfg
        }
    }
}

/// Lower Cholesky factor of `cs` packed by rows, f32.
fn lower_cholesky(cs: &[Vec<f64>], scenario: &str) -> Vec<f32> {
    use super::correlation::cholesky;
    let n = cs.len();
    // A convex mix of PSD matrices is PSD (validation repaired C), but a
    // singular one (perfectly correlated assets) can fail in floating
    // point: retry with a tiny ridge, and say so.
    let l = cholesky(cs)
            .or_else(|| {
                [1e-12, 1e-10, 1e-8, 1e-6].into_iter().find_map(|ridge| {
                    let mut r = cs.to_vec();
                    for (i, row) in r.iter_mut().enumerate() {
                        row[i] += ridge;
                    }
                    let l = cholesky(&r)?;
                    tracing::warn!(
                        "scenario {}: shifted correlation is singular; factorized with a {ridge:e} ridge",
                        scenario
                    );
                    Some(l)
                })
            })
            .expect("a validated correlation matrix plus a 1e-6 ridge is positive definite");
    (0..n)
        .flat_map(|i| l[i][..=i].to_vec())
        .map(|v| v as f32)
        .collect()
}

/// Statistical factor model of a correlation matrix: the top `k`
/// eigenvectors scaled by the root of their eigenvalues as loadings `B`
/// (`[n, k]`), and residual scales `s_i = sqrt(max(0, 1 - sum_j B_ij^2))` so
/// every asset keeps unit variance. Draws are then `x = B f + s * e` with
/// `k + n` independent normals: O(n k) per day instead of the Cholesky
/// factor's O(n^2), and the implied correlation `B B^T + diag(s^2)` equals C
/// when `k = n`.
pub fn factor_loadings(cs: &[Vec<f64>], k: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    use linfa_linalg::eigh::{EigSort, Eigh};
    let n = cs.len();
    let m = ndarray::Array2::from_shape_fn((n, n), |(i, j)| cs[i][j]);
    let (vals, vecs) = m
        .eigh()
        .expect("the symmetric eigen-solver converges on a correlation matrix")
        .sort_eig_desc();
    let b: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..k)
                .map(|j| vecs[(i, j)] * vals[j].max(0.0).sqrt())
                .collect()
        })
        .collect();
    let s = b
        .iter()
        .map(|row| {
            (1.0 - row.iter().map(|v| v * v).sum::<f64>())
                .max(0.0)
                .sqrt()
        })
        .collect();
    (b, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_sizes_match_wgsl() {
        assert_eq!(size_of::<KernelConfig>(), 128);
        assert_eq!(size_of::<AssetParams>(), 32);
        assert_eq!(size_of::<PathOut>(), 32);
    }
}
