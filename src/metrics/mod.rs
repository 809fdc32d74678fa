//! Performance statistics of return series: one statistic per file.
//!
//! Pure functions of per-bar simple returns `r: &[f64]` (DESIGN.md, "Metric
//! definitions"). A statistic that cannot be computed is `None`, never NaN.
//! Sharpe inputs of PSR/DSR are per bar; convert annual figures with
//! [`annual_to_per_bar`].
//!
//! - [`sharpe`]`(r, bars_per_year) -> Option<f64>`, [`sharpe_per_bar`]`(r)`
//! - [`sortino`]`(r, bars_per_year) -> Option<f64>`
//! - [`equity_curve`], [`drawdowns`], [`max_drawdown`]`(r) -> f64`, [`total_return`]`(r) -> f64`
//! - [`win_rate`]`(r, in_market) -> Option<f64>`, [`turnover`]`(w) -> Option<f64>`,
//!   [`n_trades`]`(w) -> usize` with `w: ArrayView2<f64>` `[bars, assets]`
//! - [`mean`], [`std_dev`], [`skewness`], [`kurtosis`] (non-excess)
//! - [`psr`]`(r, sr_star)`, [`probabilistic_sharpe`]`(sr, sr_star, n, skew, kurt)`
//! - [`dsr`]`(r, n_trials, trials_sharpe_std)`, [`deflated_sharpe`], [`expected_max_sharpe`]
//! - [`sharpe_ci`]`(r, bars_per_year, &BootstrapConfig) -> Option<(f64, f64)>`
//! - [`paired_sharpe_diff`]`(a, b, bars_per_year, &BootstrapConfig) -> Option<PairedSharpe>`
//! - [`norm_cdf`], [`norm_ppf`]
//! - [`quantile`]`(values, q)`, [`quantile_sorted`]`(sorted, q)`: type 7 (numpy's default)
//! - [`var_cvar`]`(ascending returns, level) -> (VaR, CVaR)` as positive losses

mod bootstrap;
mod drawdown;
mod dsr;
mod moments;
mod normal;
mod paired;
mod psr;
mod quantile;
mod sharpe;
mod sortino;
mod spread;
mod trading;
mod var;

pub use self::{
    bootstrap::{BootstrapConfig, MIN_BOOTSTRAP_BARS, sharpe_ci},
    drawdown::{drawdowns, equity_curve, max_drawdown, total_return},
    dsr::{EULER_GAMMA, deflated_sharpe, dsr, expected_max_sharpe},
    moments::{kurtosis, mean, skewness, std_dev},
    normal::{norm_cdf, norm_ppf},
    paired::{PairedSharpe, paired_sharpe_diff},
    psr::{probabilistic_sharpe, psr},
    quantile::{quantile, quantile_sorted, quantiles_select},
    sharpe::{annual_to_per_bar, sharpe, sharpe_per_bar},
    sortino::sortino,
    spread::corwin_schultz_pair,
    trading::{TRADE_EPS, n_trades, turnover, win_rate},
    var::var_cvar,
};

#[cfg(test)]
mod prop_tests;
