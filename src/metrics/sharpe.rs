//! Sharpe ratio, risk-free rate 0.
//!
//! W. F. Sharpe, "Mutual Fund Performance", Journal of Business 39 (1966) and
//! "The Sharpe Ratio", Journal of Portfolio Management 21 (1994):
//! `mean(r) / std(r, ddof = 1)`, annualized by `sqrt(bars_per_year)`.

use super::moments::{mean, std_dev};

/// Per-bar (non-annualized) Sharpe ratio; 0 when std is 0, None when fewer than 2 bars.
pub fn sharpe_per_bar(r: &[f64]) -> Option<f64> {
    let s = std_dev(r)?;
    let m = mean(r)?;
    // Treat a numerically flat series (std at rounding level) as flat.
    if s == 0.0 || s <= f64::EPSILON * m.abs() {
        return Some(0.0);
    }
    Some(m / s)
}

/// Annualized Sharpe ratio `mean / std(ddof=1) * sqrt(bars_per_year)`; 0 when std is 0,
/// None when fewer than 2 bars.
pub fn sharpe(r: &[f64], bars_per_year: f64) -> Option<f64> {
    Some(sharpe_per_bar(r)? * bars_per_year.sqrt())
}

/// Converts an annualized Sharpe (or Sharpe standard deviation) to per-bar units.
pub fn annual_to_per_bar(sharpe_annual: f64, bars_per_year: f64) -> f64 {
    sharpe_annual / bars_per_year.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // r = [0.01, -0.02, 0.03, 0.02]: mean = 0.04/4 = 0.01.
        // deviations [0, -0.03, 0.02, 0.01]; ss = 0 + 9e-4 + 4e-4 + 1e-4 = 1.4e-3
        // std = sqrt(1.4e-3 / 3) = 0.021602468994692866
        // per bar 0.01 / 0.0216024... = 0.4629100498862757; * sqrt(252) = 7.348469228349534
        let r = [0.01, -0.02, 0.03, 0.02];
        assert!((sharpe_per_bar(&r).unwrap() - 0.462_910_049_886_275_7).abs() < 1e-12);
        assert!((sharpe(&r, 252.0).unwrap() - 7.348_469_228_349_534).abs() < 1e-10);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(sharpe(&[], 252.0), None);
        assert_eq!(sharpe(&[0.01], 252.0), None);
        assert_eq!(sharpe(&[0.01, 0.01, 0.01], 252.0), Some(0.0));
        assert_eq!(sharpe(&[0.0, 0.0], 252.0), Some(0.0));
    }

    #[test]
    fn conversion() {
        assert!((annual_to_per_bar(2.5, 250.0) - 0.158_113_883_008_418_97).abs() < 1e-15);
    }
}
