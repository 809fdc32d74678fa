//! Covariance estimates from a returns matrix: the sample covariance and its
//! Ledoit-Wolf shrinkage toward a scaled identity.

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// A shrunk covariance and the shrinkage intensity used.
#[derive(Debug, Clone, PartialEq)]
pub struct Shrunk {
    /// `δ μ I + (1 - δ) S`, positive definite whenever `δ > 0`.
    pub covariance: Array2<f64>,
    /// Shrinkage intensity `δ` in `[0, 1]`.
    pub shrinkage: f64,
}

/// Demeaned copy of `returns` `[observations, assets]`.
fn demeaned(returns: ArrayView2<'_, f64>) -> Array2<f64> {
    let mean = returns
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(returns.ncols()));
    &returns - &mean
}

/// Sample covariance of `returns` `[observations, assets]`, divided by the
/// number of observations (the maximum-likelihood form Ledoit-Wolf uses).
pub fn sample_covariance(returns: ArrayView2<'_, f64>) -> Array2<f64> {
    let x = demeaned(returns);
    x.t().dot(&x) / x.nrows() as f64
}

/// Ledoit-Wolf shrinkage of the sample covariance toward `μ I`,
/// `μ = tr(S) / N`, with the closed-form intensity of Ledoit & Wolf (2004),
/// "A well-conditioned estimator for large-dimensional covariance matrices",
/// lemma 3.1-3.4: `δ = min(b̄², d²) / d²` with `d² = ‖S - μI‖²`,
/// `b̄² = T⁻² Σ_t ‖x_t x_t' - S‖²` and `‖A‖² = tr(AA') / N`. `returns` is
/// `[observations, assets]` with at least one observation, all finite.
pub fn ledoit_wolf(returns: ArrayView2<'_, f64>) -> Shrunk {
    let x = demeaned(returns);
    let (t, n) = x.dim();
    let (tf, nf) = (t as f64, n as f64);
    let s = x.t().dot(&x) / tf;
    let mu = s.diag().sum() / nf;
    let mut d2 = 0.0;
    for ((i, j), v) in s.indexed_iter() {
        let target = if i == j { mu } else { 0.0 };
        d2 += (v - target).powi(2);
    }
    d2 /= nf;
    // Σ_t ‖x_t x_t' - S‖² = Σ_ij (x²)'(x²) - T Σ_ij S_ij², computed in O(T N²).
    let x2 = x.mapv(|v| v * v);
    let fourth = x2.t().dot(&x2).sum();
    let s2 = s.iter().map(|v| v * v).sum::<f64>();
    let b2_bar = ((fourth / tf - s2) / tf / nf).max(0.0);
    let b2 = b2_bar.min(d2);
    let shrinkage = if d2 > 0.0 { b2 / d2 } else { 0.0 };
    let mut covariance = s * (1.0 - shrinkage);
    for i in 0..n {
        covariance[[i, i]] += shrinkage * mu;
    }
    Shrunk {
        covariance,
        shrinkage,
    }
}
