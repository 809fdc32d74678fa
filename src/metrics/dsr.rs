//! Deflated Sharpe Ratio.
//!
//! D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
//! Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
//! Management 40(5) (2014): DSR = PSR(SR0) with the expected maximum Sharpe of N
//! unskilled trials `SR0 = sqrt(V[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))`.
//!
//! Units: every Sharpe here, including `trials_sharpe_std`, is PER BAR. The job key
//! `trials_sharpe_std` is an annualized standard deviation; convert it with
//! [`super::annual_to_per_bar`] (divide by `sqrt(bars_per_year)`).

use super::{
    moments::{kurtosis, skewness},
    normal::norm_ppf,
    psr::probabilistic_sharpe,
    sharpe::sharpe_per_bar,
};

/// Euler-Mascheroni constant.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Expected maximum Sharpe (per bar) of `n_trials` unskilled trials whose Sharpe ratios
/// have standard deviation `trials_sharpe_std` (per bar); 0 for a single trial.
pub fn expected_max_sharpe(n_trials: usize, trials_sharpe_std: f64) -> f64 {
    if n_trials <= 1 {
        return 0.0;
    }
    let n = n_trials as f64;
    let z = (1.0 - EULER_GAMMA) * norm_ppf(1.0 - 1.0 / n)
        + EULER_GAMMA * norm_ppf(1.0 - 1.0 / (n * std::f64::consts::E));
    trials_sharpe_std.max(0.0) * z
}

/// DSR from summary statistics (all Sharpe values per bar); None as for
/// [`probabilistic_sharpe`] or when `n_trials` is 0.
pub fn deflated_sharpe(
    sharpe: f64,
    n: usize,
    skew: f64,
    kurt: f64,
    n_trials: usize,
    trials_sharpe_std: f64,
) -> Option<f64> {
    if n_trials == 0 || !trials_sharpe_std.is_finite() {
        return None;
    }
    let sr0 = expected_max_sharpe(n_trials, trials_sharpe_std);
    probabilistic_sharpe(sharpe, sr0, n, skew, kurt)
}

/// DSR of a return series; `trials_sharpe_std` per bar. None when fewer than 4 bars.
pub fn dsr(r: &[f64], n_trials: usize, trials_sharpe_std: f64) -> Option<f64> {
    if r.len() < 4 {
        return None;
    }
    let sr = sharpe_per_bar(r)?;
    let g3 = skewness(r).unwrap_or(0.0);
    let g4 = kurtosis(r).unwrap_or(3.0);
    deflated_sharpe(sr, r.len(), g3, g4, n_trials, trials_sharpe_std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{annual_to_per_bar, psr};

    /// The paper's numerical example (section "A numerical example"): annualized SR 2.5
    /// over 5 years of daily returns, T = 1250 (250 bars a year), skewness -3,
    /// kurtosis 10, N = 100 trials with annualized V[SR_n] = 1/2. The paper reports
    /// E[max SR] = 0.1132 per bar and DSR = 0.9004. Independent check with scipy:
    ///
    /// ```python
    /// from scipy.stats import norm; import math
    /// g = 0.5772156649015329; A = 250; N = 100
    /// sr = 2.5 / math.sqrt(A); v = 0.5 / A
    /// sr0 = math.sqrt(v) * ((1-g)*norm.ppf(1-1/N) + g*norm.ppf(1-1/(N*math.e)))
    /// z = (sr - sr0) * math.sqrt(1250-1) / math.sqrt(1 + 3*sr + (10-1)/4*sr*sr)
    /// sr0, norm.cdf(z)   # 0.11317200186513214, 0.9003968344493903
    /// ```
    #[test]
    fn published_example() {
        let sr = annual_to_per_bar(2.5, 250.0);
        let std = annual_to_per_bar(0.5f64.sqrt(), 250.0);
        let sr0 = expected_max_sharpe(100, std);
        assert!((sr0 - 0.113_172_001_865_132_14).abs() < 1e-12, "{sr0}");
        assert!((sr0 - 0.1132).abs() < 5e-5);
        let d = deflated_sharpe(sr, 1250, -3.0, 10.0, 100, std).unwrap();
        assert!((d - 0.900_396_834_449_390_3).abs() < 1e-10, "{d}");
        assert!((d - 0.9004).abs() < 5e-5);
    }

    #[test]
    fn one_trial_is_psr_against_zero() {
        let r = [0.01, -0.005, 0.02, 0.003, -0.01, 0.007, 0.012, -0.002];
        assert_eq!(dsr(&r, 1, 0.3), psr(&r, 0.0));
        assert_eq!(dsr(&r, 0, 0.3), None);
    }

    #[test]
    fn more_trials_deflate_more() {
        let std = 0.05;
        assert!(expected_max_sharpe(10, std) < expected_max_sharpe(1000, std));
        let a = deflated_sharpe(0.1, 500, 0.0, 3.0, 10, std).unwrap();
        let b = deflated_sharpe(0.1, 500, 0.0, 3.0, 1000, std).unwrap();
        assert!(b < a);
    }
}
