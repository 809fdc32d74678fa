//! Portfolio construction: risk parity with risk budgets and long-only
//! minimum variance, from a covariance matrix.
//!
//! Risk parity solves Spinu's convex log-barrier problem (F. Spinu, "An
//! algorithm for computing risk parity weights", 2013): minimize
//! `0.5 x'Σx - Σ b_i ln x_i` over `x > 0`; at its unique minimum
//! `x_i (Σx)_i = b_i`, so `w = x / Σx` has risk contributions
//! `RC_i = w_i (Σw)_i / w'Σw = b_i / Σb`. A few sweeps of cyclical
//! coordinate descent start it, then Newton's method (blocked Cholesky) with
//! a backtracking line search that keeps `x > 0` finishes it; the stopping
//! rule is the risk contributions themselves, and running out of Newton
//! iterations is an error.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, linalg::general_mat_mul, s};

/// Why a portfolio could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortfolioError {
    /// The covariance is not a non-empty square matrix of finite values.
    #[error("covariance must be a non-empty square matrix of finite values, got {0}")]
    BadCovariance(String),
    /// The covariance is not positive definite (use a shrunk estimate).
    #[error("covariance is not positive definite (pivot {pivot} is {value:e})")]
    NotPositiveDefinite {
        /// Row where the Cholesky factorization failed.
        pivot: usize,
        /// The non-positive pivot.
        value: f64,
    },
    /// Budgets are of the wrong length or not finite and positive.
    #[error("risk budgets: {0}")]
    BadBudgets(String),
    /// The solver hit its iteration cap before the tolerance.
    #[error(
        "{method} did not converge in {iterations} iterations (residual {residual:e}, tolerance {tolerance:e})"
    )]
    NotConverged {
        /// Which solver.
        method: &'static str,
        /// Iterations done.
        iterations: usize,
        /// Residual at the last iterate.
        residual: f64,
        /// Tolerance asked for.
        tolerance: f64,
    },
}

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    /// Iteration cap; reaching it is [`PortfolioError::NotConverged`]
    /// (min-variance gets two more per asset for its active-set changes).
    pub max_iter: usize,
    /// Largest relative error allowed: `|RC_i - b_i| / b_i` for risk parity,
    /// the KKT residual relative to the portfolio variance for min-variance.
    pub tolerance: f64,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tolerance: 1e-10,
        }
    }
}

/// A solved portfolio.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Weights, non-negative, summing to 1.
    pub weights: Array1<f64>,
    /// Risk contributions `w_i (Σw)_i / w'Σw`, summing to 1.
    pub risk_contributions: Array1<f64>,
    /// Portfolio variance `w'Σw`.
    pub variance: f64,
    /// Newton (or active-set) iterations the solver took.
    pub iterations: usize,
    /// Coordinate-descent sweeps before Newton (risk parity).
    pub sweeps: usize,
}

/// Risk contributions `w_i (Σw)_i / w'Σw` of weights `w`.
pub fn risk_contributions(cov: ArrayView2<'_, f64>, w: ArrayView1<'_, f64>) -> Array1<f64> {
    let sw = cov.dot(&w);
    let var = w.dot(&sw);
    &w * &sw / var
}

fn check_cov(cov: ArrayView2<'_, f64>) -> Result<(), PortfolioError> {
    let (r, c) = cov.dim();
    if r == 0 || r != c || cov.iter().any(|v| !v.is_finite()) {
        return Err(PortfolioError::BadCovariance(format!("{r}x{c}")));
    }
    Ok(())
}

/// Columns per block of [`cholesky`].
const BLOCK: usize = 48;

/// Lower Cholesky factor of a symmetric positive definite matrix (only the
/// lower triangle of the result is meaningful).
///
/// Blocked right-looking form (Golub & Van Loan 2013, algorithm 4.2.3): each
/// block of `BLOCK` columns is factored with row dot products, then the rest
/// of the matrix is updated by a matrix product (ndarray's gemm, which picks
/// the CPU's vector kernels at run time), where nearly all the flops are.
fn cholesky(a: ArrayView2<'_, f64>) -> Result<Array2<f64>, PortfolioError> {
    let n = a.nrows();
    // Row-major working copy: row i is `buf[i * n..(i + 1) * n]`.
    let mut buf = a
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + BLOCK).min(n);
        // Diagonal block, then the rows below it, against the block's columns.
        for j in k0..k1 {
            let (head, tail) = buf.split_at_mut((j + 1) * n);
            let row_j = &mut head[j * n..];
            let d = row_j[j] - dot(&row_j[k0..j], &row_j[k0..j]);
            if d <= 0.0 || !d.is_finite() {
                return Err(PortfolioError::NotPositiveDefinite { pivot: j, value: d });
            }
            let djj = d.sqrt();
            row_j[j] = djj;
            let lj = &row_j[k0..j];
            for row_i in tail.chunks_exact_mut(n) {
                let s = dot(&row_i[k0..j], lj);
                row_i[j] = (row_i[j] - s) / djj;
            }
        }
        if k1 < n {
            // Trailing update A22 -= L21 L21', lower block columns only.
            let mut l = ndarray::ArrayViewMut2::from_shape((n, n), &mut buf).expect("n x n buffer");
            let panel = l.slice(s![k1.., k0..k1]).to_owned();
            let mut j0 = k1;
            while j0 < n {
                let j1 = (j0 + BLOCK).min(n);
                let rows = panel.slice(s![j0 - k1.., ..]);
                let cols = panel.slice(s![j0 - k1..j1 - k1, ..]);
                general_mat_mul(
                    -1.0,
                    &rows,
                    &cols.t(),
                    1.0,
                    &mut l.slice_mut(s![j0.., j0..j1]),
                );
                j0 = j1;
            }
        }
        k0 = k1;
    }
    Ok(Array2::from_shape_vec((n, n), buf).expect("n x n buffer"))
}

/// Dot product of two equal-length slices (four partial sums, so it vectorizes).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Solves `L L' x = b` given the lower factor `L`.
fn cholesky_solve(l: &Array2<f64>, b: ArrayView1<'_, f64>) -> Array1<f64> {
    let n = l.nrows();
    let mut y = b.to_owned();
    for i in 0..n {
        let s = l
            .row(i)
            .slice(ndarray::s![..i])
            .dot(&y.slice(ndarray::s![..i]));
        y[i] = (y[i] - s) / l[[i, i]];
    }
    for i in (0..n).rev() {
        let mut s = 0.0;
        for k in i + 1..n {
            s += l[[k, i]] * y[k];
        }
        y[i] = (y[i] - s) / l[[i, i]];
    }
    y
}

/// Risk-parity weights for risk budgets `budgets` (equal when `None`); the
/// budgets are relative and normalized to sum to 1.
pub fn risk_parity(
    cov: ArrayView2<'_, f64>,
    budgets: Option<ArrayView1<'_, f64>>,
    opts: &SolveOptions,
) -> Result<Allocation, PortfolioError> {
    check_cov(cov)?;
    let n = cov.nrows();
    let b = match budgets {
        None => Array1::from_elem(n, 1.0 / n as f64),
        Some(b) => {
            if b.len() != n {
                return Err(PortfolioError::BadBudgets(format!(
                    "{} budgets for {n} assets",
                    b.len()
                )));
            }
            if let Some(i) = b.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(PortfolioError::BadBudgets(format!(
                    "budget {i} is {}, must be finite and positive",
                    b[i]
                )));
            }
            &b / b.sum()
        }
    };
    // Scale Σ to unit mean variance: the weights are scale-free and the
    // barrier's values stay of order one.
    let scale = cov.diag().mean().unwrap_or(1.0);
    if scale <= 0.0 {
        return Err(PortfolioError::BadCovariance(
            "zero or negative variances".into(),
        ));
    }
    let s = cov.mapv(|v| v / scale);
    // Positive definiteness up front, so failures are named as such.
    cholesky(s.view())?;
    let f = |x: &Array1<f64>, sx: &Array1<f64>| {
        0.5 * x.dot(sx) - b.iter().zip(x).map(|(b, x)| b * x.ln()).sum::<f64>()
    };
    // Start on the optimal scaling of the inverse-volatility portfolio.
    let u = s.diag().mapv(|v| 1.0 / v.sqrt());
    let t = (1.0 / u.dot(&s.dot(&u))).sqrt();
    let mut x = u * t;
    let mut sx = s.dot(&x);
    let residual = |x: &Array1<f64>, sx: &Array1<f64>| {
        let var = x.dot(sx);
        (0..n)
            .map(|i| ((x[i] * sx[i] / var - b[i]) / b[i]).abs())
            .fold(0.0, f64::max)
    };
    let mut res = residual(&x, &sx);
    // Cyclical coordinate descent on the same objective (Griveau-Billion,
    // Richard & Roncalli 2013, "A fast algorithm for computing
    // high-dimensional risk parity portfolios"): each coordinate is minimized
    // exactly, `s_ii x_i² + c_i x_i - b_i = 0`, and Σx is updated in O(N), so a
    // sweep costs about one matrix-vector product. Sweeps bring x close to
    // the optimum, where Newton converges quadratically: fewer O(N³) steps.
    let mut sweeps = 0;
    while res > opts.tolerance.max(WARM_TOLERANCE) && sweeps < MAX_SWEEPS {
        sweeps += 1;
        for i in 0..n {
            let sii = s[[i, i]];
            let c = sx[i] - sii * x[i];
            let root = (c * c + 4.0 * sii * b[i]).sqrt();
            // The positive root, without cancellation for either sign of c.
            let xi = if c >= 0.0 {
                2.0 * b[i] / (c + root)
            } else {
                (root - c) / (2.0 * sii)
            };
            let delta = xi - x[i];
            if delta != 0.0 {
                sx.scaled_add(delta, &s.row(i));
                x[i] = xi;
            }
        }
        res = residual(&x, &sx);
    }
    if sweeps > 0 {
        // Rounding accumulated by the incremental updates.
        sx = s.dot(&x);
        res = residual(&x, &sx);
    }
    let mut it = 0;
    while res > opts.tolerance {
        if it >= opts.max_iter {
            return Err(PortfolioError::NotConverged {
                method: "risk parity",
                iterations: it,
                residual: res,
                tolerance: opts.tolerance,
            });
        }
        it += 1;
        let g = &sx - &(&b / &x);
        let mut h = s.clone();
        for i in 0..n {
            h[[i, i]] += b[i] / (x[i] * x[i]);
        }
        let l = cholesky(h.view())?;
        let d = -cholesky_solve(&l, g.view());
        // Largest step keeping x > 0 (a tenth of the way to the boundary at most).
        let mut alpha: f64 = 1.0;
        for i in 0..n {
            if d[i] < 0.0 {
                alpha = alpha.min(0.9 * -x[i] / d[i]);
            }
        }
        let f0 = f(&x, &sx);
        let slope = g.dot(&d);
        let gnorm = g.dot(&g).sqrt();
        loop {
            let xn = &x + &(&d * alpha);
            let sxn = s.dot(&xn);
            let fnew = f(&xn, &sxn);
            let armijo = fnew <= f0 + 1e-4 * alpha * slope;
            // Near the optimum f stops resolving decreases in floating point;
            // a full step that halves the gradient is then taken as is.
            let newton_region = alpha == 1.0 && {
                let gn = &sxn - &(&b / &xn);
                gn.dot(&gn).sqrt() <= 0.5 * gnorm
            };
            if armijo || newton_region {
                x = xn;
                sx = sxn;
                break;
            }
            alpha *= 0.5;
            if alpha < 1e-20 {
                return Err(PortfolioError::NotConverged {
                    method: "risk parity (line search stalled)",
                    iterations: it,
                    residual: res,
                    tolerance: opts.tolerance,
                });
            }
        }
        res = residual(&x, &sx);
    }
    let w = &x / x.sum();
    let mut a = finish(cov, w, it);
    a.sweeps = sweeps;
    Ok(a)
}

/// Relative risk-contribution error at which coordinate descent hands over to Newton.
const WARM_TOLERANCE: f64 = 1e-3;
/// Most coordinate-descent sweeps before Newton takes over regardless.
const MAX_SWEEPS: usize = 100;

fn finish(cov: ArrayView2<'_, f64>, w: Array1<f64>, iterations: usize) -> Allocation {
    let sw = cov.dot(&w);
    let variance = w.dot(&sw);
    let risk_contributions = &w * &sw / variance;
    Allocation {
        weights: w,
        risk_contributions,
        variance,
        iterations,
        sweeps: 0,
    }
}

/// Long-only minimum-variance weights summing to 1 (primal active-set method,
/// Nocedal & Wright 2006, algorithm 16.3).
pub fn min_variance(
    cov: ArrayView2<'_, f64>,
    opts: &SolveOptions,
) -> Result<Allocation, PortfolioError> {
    check_cov(cov)?;
    let n = cov.nrows();
    let scale = cov.diag().mean().unwrap_or(1.0);
    if scale <= 0.0 {
        return Err(PortfolioError::BadCovariance(
            "zero or negative variances".into(),
        ));
    }
    let s = cov.mapv(|v| v / scale);
    cholesky(s.view())?;
    let mut w = Array1::from_elem(n, 1.0 / n as f64);
    let mut free = vec![true; n];
    let mut it = 0;
    loop {
        let idx: Vec<usize> = (0..n).filter(|&i| free[i]).collect();
        // Equality-constrained minimum on the free set: w_F ∝ Σ_FF⁻¹ 1.
        let sub = Array2::from_shape_fn((idx.len(), idx.len()), |(a, c)| s[[idx[a], idx[c]]]);
        let l = cholesky(sub.view())?;
        let y = cholesky_solve(&l, Array1::ones(idx.len()).view());
        let target = &y / y.sum();
        let mut p = Array1::<f64>::zeros(n);
        for (k, &i) in idx.iter().enumerate() {
            p[i] = target[k] - w[i];
        }
        let sw = s.dot(&w);
        let var = w.dot(&sw);
        let step = p.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if step <= opts.tolerance {
            // Stationary on the free set: check the bound multipliers.
            let lambda = idx.iter().map(|&i| sw[i]).sum::<f64>() / idx.len() as f64;
            let worst = (0..n)
                .filter(|&i| !free[i])
                .map(|i| (i, (sw[i] - lambda) / var))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match worst {
                Some((i, mu)) if mu < -opts.tolerance => free[i] = true,
                _ => break,
            }
        } else {
            let mut alpha: f64 = 1.0;
            let mut block = None;
            for &i in &idx {
                if p[i] < 0.0 && -w[i] / p[i] < alpha {
                    alpha = -w[i] / p[i];
                    block = Some(i);
                }
            }
            w = &w + &(&p * alpha);
            if let Some(i) = block {
                w[i] = 0.0;
                free[i] = false;
            }
        }
        it += 1;
        if it >= opts.max_iter + 2 * n {
            return Err(PortfolioError::NotConverged {
                method: "min variance",
                iterations: it,
                residual: step,
                tolerance: opts.tolerance,
            });
        }
    }
    w.mapv_inplace(|v| v.max(0.0));
    let w = &w / w.sum();
    Ok(finish(cov, w, it))
}

#[cfg(test)]
#[path = "portfolio_tests.rs"]
mod tests;
