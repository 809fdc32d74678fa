//! Correlation of held assets: Pearson correlation of one-bar returns over a
//! window, on the bars where both assets have a return (pairwise complete).

use ndarray::ArrayView2;

/// Pearson correlation of columns `a` and `b` of `returns` over `rows`;
/// None with fewer than `min_obs` common bars or a constant series.
pub fn pearson(
    returns: ArrayView2<'_, f64>,
    rows: std::ops::Range<usize>,
    a: usize,
    b: usize,
    min_obs: usize,
) -> Option<f64> {
    let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
    for t in rows.clone() {
        let (x, y) = (returns[[t, a]], returns[[t, b]]);
        if x.is_finite() && y.is_finite() {
            n += 1;
            sx += x;
            sy += y;
        }
    }
    if n < min_obs.max(2) {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut cxy, mut cxx, mut cyy) = (0.0, 0.0, 0.0);
    for t in rows {
        let (x, y) = (returns[[t, a]], returns[[t, b]]);
        if x.is_finite() && y.is_finite() {
            cxy += (x - mx) * (y - my);
            cxx += (x - mx) * (x - mx);
            cyy += (y - my) * (y - my);
        }
    }
    (cxx > 0.0 && cyy > 0.0).then(|| (cxy / (cxx * cyy).sqrt()).clamp(-1.0, 1.0))
}

/// Mean correlation over the pairs of `assets` with a defined correlation in
/// the window of `window` bars ending at `t` (t included); None with fewer
/// than two assets or no defined pair.
pub fn average_pairwise(
    returns: ArrayView2<'_, f64>,
    t: usize,
    window: usize,
    assets: &[usize],
) -> Option<f64> {
    if assets.len() < 2 {
        return None;
    }
    let rows = (t + 1).saturating_sub(window)..t + 1;
    let min_obs = window.div_ceil(2);
    let (mut s, mut k) = (0.0, 0usize);
    for (x, &a) in assets.iter().enumerate() {
        for &b in &assets[x + 1..] {
            if let Some(c) = pearson(returns, rows.clone(), a, b, min_obs) {
                s += c;
                k += 1;
            }
        }
    }
    (k > 0).then(|| s / k as f64)
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn known_correlations() {
        // Column 1 = 2 x column 0 + 1 (corr 1), column 2 = -column 0 (corr -1),
        // column 3 orthogonal to column 0 over the 4 bars (corr 0).
        let x = [1.0, -1.0, 2.0, -2.0];
        let z = [1.0, 1.0, -1.0, -1.0];
        let mut r = Array2::zeros((4, 4));
        for t in 0..4 {
            r[[t, 0]] = x[t];
            r[[t, 1]] = 2.0 * x[t] + 1.0;
            r[[t, 2]] = -x[t];
            r[[t, 3]] = z[t];
        }
        let v = r.view();
        assert!((pearson(v, 0..4, 0, 1, 2).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(v, 0..4, 0, 2, 2).unwrap() + 1.0).abs() < 1e-12);
        assert!(pearson(v, 0..4, 0, 3, 2).unwrap().abs() < 1e-12);
        // Pairs (0,1) = 1, (0,2) = -1, (1,2) = -1: mean -1/3.
        let m = average_pairwise(v, 3, 4, &[0, 1, 2]).unwrap();
        assert!((m + 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(average_pairwise(v, 3, 4, &[0]), None);
        // Too few common bars.
        r[[0, 1]] = f64::NAN;
        r[[1, 1]] = f64::NAN;
        r[[2, 1]] = f64::NAN;
        assert_eq!(pearson(r.view(), 0..4, 0, 1, 2), None);
    }
}
