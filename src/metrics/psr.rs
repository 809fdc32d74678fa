//! Probabilistic Sharpe Ratio.
//!
//! D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier",
//! Journal of Risk 15(2) (2012), eq. (10):
//! `PSR(SR*) = Phi( (SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )`
//! with SR the per-bar (non-annualized) Sharpe ratio, g3 the skewness and g4 the
//! non-excess kurtosis of the n returns. All Sharpe inputs here are per bar;
//! convert annual figures with [`super::annual_to_per_bar`].

use super::{
    moments::{kurtosis, skewness},
    normal::norm_cdf,
    sharpe::sharpe_per_bar,
};

/// PSR from summary statistics: per-bar `sharpe` and benchmark `sharpe_star`, `n` bars,
/// skewness `skew`, non-excess kurtosis `kurt`. None when n < 2, an input is not finite,
/// or the variance term `1 - g3 SR + (g4-1)/4 SR^2` is not positive.
pub fn probabilistic_sharpe(
    sharpe: f64,
    sharpe_star: f64,
    n: usize,
    skew: f64,
    kurt: f64,
) -> Option<f64> {
    if n < 2
        || ![sharpe, sharpe_star, skew, kurt]
            .iter()
            .all(|x| x.is_finite())
    {
        return None;
    }
    let var = 1.0 - skew * sharpe + (kurt - 1.0) / 4.0 * sharpe * sharpe;
    if var <= 0.0 {
        return None;
    }
    let z = (sharpe - sharpe_star) * ((n - 1) as f64).sqrt() / var.sqrt();
    Some(norm_cdf(z))
}

/// PSR of a return series against a per-bar benchmark Sharpe `sharpe_star`.
///
/// A flat series (zero variance) has Sharpe 0, skewness 0 and kurtosis 3 by convention.
/// None when fewer than 4 bars.
pub fn psr(r: &[f64], sharpe_star: f64) -> Option<f64> {
    if r.len() < 4 {
        return None;
    }
    let sr = sharpe_per_bar(r)?;
    let g3 = skewness(r).unwrap_or(0.0);
    let g4 = kurtosis(r).unwrap_or(3.0);
    probabilistic_sharpe(sr, sharpe_star, r.len(), g3, g4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_returns_reduce_to_t_statistic() {
        // g3 = 0, g4 = 3: var = 1 + SR^2/2. SR = 0.1, SR* = 0, n = 101:
        // z = 0.1 * 10 / sqrt(1.005) = 0.9975093361076329; Phi(z) (scipy:
        // norm.cdf(0.1*10/math.sqrt(1.005)) = 0.8407413278013518)
        let p = probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0).unwrap();
        assert!((p - 0.840_741_327_801_351_8).abs() < 1e-12, "{p}");
    }

    #[test]
    fn equal_to_benchmark_is_one_half() {
        assert_eq!(probabilistic_sharpe(0.2, 0.2, 50, -1.0, 6.0), Some(0.5));
    }

    #[test]
    fn undefined_cases() {
        assert_eq!(probabilistic_sharpe(0.1, 0.0, 1, 0.0, 3.0), None);
        // var = 1 - 10 * 0.5 + 0 < 0
        assert_eq!(probabilistic_sharpe(0.5, 0.0, 100, 10.0, 1.0), None);
        assert_eq!(psr(&[0.01, 0.02], 0.0), None);
    }
}
