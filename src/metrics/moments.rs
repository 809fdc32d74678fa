//! Sample moments of a return series: mean, standard deviation, skewness, kurtosis.
//!
//! Skewness and kurtosis are the moment (population, biased) estimators
//! g1 = m3 / m2^1.5 and g2 = m4 / m2^2 with m_k = mean((r - mean)^k), as used by
//! Bailey & López de Prado (2012) and by `scipy.stats.skew` / `kurtosis(fisher=False)`.
//! Kurtosis is NOT excess: a normal sample gives about 3.

/// Arithmetic mean; None when empty.
pub fn mean(r: &[f64]) -> Option<f64> {
    if r.is_empty() {
        return None;
    }
    Some(r.iter().sum::<f64>() / r.len() as f64)
}

/// Sample standard deviation with ddof = 1; None when fewer than 2 values.
pub fn std_dev(r: &[f64]) -> Option<f64> {
    if r.len() < 2 {
        return None;
    }
    let m = mean(r)?;
    let ss: f64 = r.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (r.len() - 1) as f64).sqrt())
}

/// Central moments m2, m3, m4 (divided by n).
fn central_moments(r: &[f64]) -> Option<(f64, f64, f64)> {
    let m = mean(r)?;
    let n = r.len() as f64;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for &x in r {
        let d = x - m;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    Some((m2 / n, m3 / n, m4 / n))
}

/// Sample skewness m3 / m2^1.5; None when fewer than 3 values or zero variance.
pub fn skewness(r: &[f64]) -> Option<f64> {
    if r.len() < 3 {
        return None;
    }
    let (m2, m3, _) = central_moments(r)?;
    (m2 > 0.0).then(|| m3 / m2.powf(1.5))
}

/// Sample (non-excess) kurtosis m4 / m2^2; None when fewer than 4 values or zero variance.
pub fn kurtosis(r: &[f64]) -> Option<f64> {
    if r.len() < 4 {
        return None;
    }
    let (m2, _, m4) = central_moments(r)?;
    (m2 > 0.0).then(|| m4 / (m2 * m2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_moments() {
        // r = [1, 2, 3, 10]: mean 4, deviations [-3, -2, -1, 6].
        // sum d^2 = 9+4+1+36 = 50 -> std(ddof=1) = sqrt(50/3); m2 = 12.5
        // sum d^3 = -27-8-1+216 = 180 -> m3 = 45; skew = 45 / 12.5^1.5 = 1.0182337649086284
        // sum d^4 = 81+16+1+1296 = 1394 -> m4 = 348.5; kurt = 348.5 / 156.25 = 2.2304
        let r = [1.0, 2.0, 3.0, 10.0];
        assert_eq!(mean(&r), Some(4.0));
        assert!((std_dev(&r).unwrap() - (50.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((skewness(&r).unwrap() - 1.018_233_764_908_628_4).abs() < 1e-12);
        assert!((kurtosis(&r).unwrap() - 2.2304).abs() < 1e-12);
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(mean(&[]), None);
        assert_eq!(std_dev(&[1.0]), None);
        assert_eq!(skewness(&[1.0, 1.0, 1.0]), None);
        assert_eq!(kurtosis(&[1.0, 2.0, 3.0]), None);
    }
}
