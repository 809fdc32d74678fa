//! Sortino ratio, target 0.
//!
//! F. A. Sortino and L. N. Price, "Performance Measurement in a Downside Risk
//! Framework", Journal of Investing 3 (1994): `mean(r) / sqrt(mean(min(r, 0)^2))`,
//! the downside deviation taken over all bars, annualized by `sqrt(bars_per_year)`.

/// Annualized Sortino ratio; 0 when no bar is negative, None when there are no bars.
pub fn sortino(r: &[f64], bars_per_year: f64) -> Option<f64> {
    if r.is_empty() {
        return None;
    }
    let n = r.len() as f64;
    let m = r.iter().sum::<f64>() / n;
    let down = r.iter().map(|&x| x.min(0.0).powi(2)).sum::<f64>() / n;
    if down == 0.0 {
        return Some(0.0);
    }
    Some(m / down.sqrt() * bars_per_year.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // r = [0.02, -0.01, 0.03, -0.02]: mean = 0.02/4 = 0.005.
        // downside squares: [0, 1e-4, 0, 4e-4] -> mean 1.25e-4 -> dd = 0.011180339887498949
        // per bar 0.005 / 0.01118... = 0.4472135954999579; * sqrt(252) = 7.099295739719539
        let r = [0.02, -0.01, 0.03, -0.02];
        assert!((sortino(&r, 1.0).unwrap() - 0.447_213_595_499_957_9).abs() < 1e-12);
        assert!((sortino(&r, 252.0).unwrap() - 7.099_295_739_719_539).abs() < 1e-10);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(sortino(&[], 252.0), None);
        assert_eq!(sortino(&[0.01, 0.0, 0.02], 252.0), Some(0.0));
    }
}
