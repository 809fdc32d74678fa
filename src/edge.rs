//! Edge classification: the probability that an asset's forward return beats its
//! in-sample edge threshold, and the calibration table that turns it into an
//! expected return.
//!
//! Everything here is fitted on one fold's training samples: the scaler
//! ([`Standardizer`]), the model ([`fit_model`]) and the table ([`Calibration`]).

use linfa::{
    Dataset,
    traits::{Fit, Predict},
};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rand_xoshiro::{Xoshiro256Plus, rand_core::SeedableRng};

use crate::config::walkforward::{ModelKind, ProbabilityCalibration};

/// Rows sampled for each tree of the bagged ensemble (with replacement).
pub const TREE_SAMPLE: usize = 20_000;

/// Column means and standard deviations of the training rows.
#[derive(Debug, Clone)]
pub struct Standardizer {
    mean: Array1<f64>,
    std: Array1<f64>,
}

impl Standardizer {
    /// Fits on the rows of `x` (all finite). A constant column gets std 1.
    pub fn fit(x: ArrayView2<'_, f64>) -> Self {
        let n = x.nrows().max(1) as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let mut var = Array1::zeros(x.ncols());
        for row in x.rows() {
            for (j, v) in row.iter().enumerate() {
                let d = v - mean[j];
                var[j] += d * d;
            }
        }
        let std = var.mapv(|v: f64| {
            let s = (v / (n - 1.0).max(1.0)).sqrt();
            if s > 1e-12 { s } else { 1.0 }
        });
        Self { mean, std }
    }

    /// Standardizes `x` in place.
    pub fn transform(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - self.mean[j]) / self.std[j];
            }
        }
    }
}

/// A fitted edge model: probabilities of the "edge" class.
pub trait EdgeModel: Send + Sync {
    /// Probability in [0, 1] per row of standardized features.
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64>;
    /// Importance per feature (|coefficient| or mean impurity decrease).
    fn importance(&self) -> Vec<f64>;
}

/// L2-regularized logistic regression, fitted by Newton's method ([`newton_logistic`]).
///
/// The objective is linfa-logistic's and scikit-learn's (`C = 1/alpha`):
/// `sum_i log(1 + exp(-y_i (x_i.w + b))) + alpha/2 |w|^2`, intercept not penalized.
///
/// Why not `linfa_logistic::LogisticRegression`: it was the first implementation
/// and was measured (BENCHMARKS.md, "Walk-forward"). On the 500-asset x 20-year
/// panel (~120k rows x 15 columns per fold) its L-BFGS evaluates loss and
/// gradient in separate passes with a fresh allocation per product and a line
/// search, ~0.45 s per fold on one core, and got slower with 2 threads (allocator
/// and memory-bandwidth bound): only 2.7x faster than the scikit-learn baseline.
/// With so few columns, Newton's method needs one pass per iteration to build
/// the gradient and the (d+1)^2 Hessian, and converges in ~6 iterations to the
/// same optimum, with no allocation inside the loop.
#[derive(Debug, Clone)]
pub struct LogisticEdge {
    coef: Array1<f64>,
    intercept: f64,
}

impl EdgeModel for LogisticEdge {
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        x.dot(&self.coef)
            .mapv(|z| 1.0 / (1.0 + (-(z + self.intercept)).exp()))
    }

    fn importance(&self) -> Vec<f64> {
        self.coef.iter().map(|c| c.abs()).collect()
    }
}

/// Bagged decision trees (linfa-trees), class-balanced; the probability is the
/// share of trees voting "edge".
pub struct TreeEdge {
    trees: Vec<DecisionTree<f64, usize>>,
    n_features: usize,
}

impl EdgeModel for TreeEdge {
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let mut votes = Array1::<f64>::zeros(x.nrows());
        for t in &self.trees {
            let y: Array1<usize> = t.predict(&x);
            votes.zip_mut_with(&y, |v, &c| *v += c as f64);
        }
        votes / self.trees.len().max(1) as f64
    }

    fn importance(&self) -> Vec<f64> {
        let mut imp = vec![0.0; self.n_features];
        for t in &self.trees {
            for (j, v) in t.feature_importance().into_iter().enumerate() {
                if j < imp.len() {
                    imp[j] += v / self.trees.len() as f64;
                }
            }
        }
        imp
    }
}

/// A constant probability: the training base rate, when only one class was seen.
#[derive(Debug, Clone)]
pub struct ConstantEdge {
    /// The probability returned for every row.
    pub p: f64,
    /// Number of features (importance is zero for each).
    pub n_features: usize,
}

impl EdgeModel for ConstantEdge {
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        Array1::from_elem(x.nrows(), self.p)
    }

    fn importance(&self) -> Vec<f64> {
        vec![0.0; self.n_features]
    }
}

/// Fits the configured model on standardized rows `x` with labels `y`.
///
/// Returns the model and notes (fallbacks worth logging).
pub fn fit_model(
    kind: &ModelKind,
    x: ArrayView2<'_, f64>,
    y: &[bool],
    seed: u64,
) -> (Box<dyn EdgeModel>, Vec<String>) {
    let n_pos = y.iter().filter(|&&b| b).count();
    let base = if y.is_empty() {
        0.0
    } else {
        n_pos as f64 / y.len() as f64
    };
    let constant = |why: String| -> (Box<dyn EdgeModel>, Vec<String>) {
        (
            Box::new(ConstantEdge {
                p: base,
                n_features: x.ncols(),
            }),
            vec![why],
        )
    };
    if n_pos == 0 || n_pos == y.len() {
        return constant(format!(
            "edge: {} training samples all in one class; predicted the base rate",
            y.len()
        ));
    }
    let targets: Array1<usize> = y.iter().map(|&b| usize::from(b)).collect();
    match *kind {
        ModelKind::Logistic { l2 } => match newton_logistic(x, y, l2) {
            Some(model) => (Box::new(model), Vec::new()),
            None => constant(
                "edge: logistic regression did not converge; predicted the base rate".into(),
            ),
        },
        ModelKind::Trees { n_trees, max_depth } => {
            let mut rng = Xoshiro256Plus::seed_from_u64(seed);
            let m = TREE_SAMPLE.min(x.nrows());
            // Class-balanced weights so a leaf's majority means "more likely than the base rate".
            let (w_pos, w_neg) = (0.5 / base, 0.5 / (1.0 - base));
            let mut trees = Vec::with_capacity(n_trees);
            for _ in 0..n_trees {
                let rows: Vec<usize> = (0..m).map(|_| rng.gen_range(0..x.nrows())).collect();
                let xs = x.select(Axis(0), &rows);
                let ys: Array1<usize> = rows.iter().map(|&r| targets[r]).collect();
                let ws: Array1<f32> = rows
                    .iter()
                    .map(|&r| if y[r] { w_pos as f32 } else { w_neg as f32 })
                    .collect();
                let data = Dataset::new(xs, ys).with_weights(ws);
                match DecisionTree::params()
                    .max_depth(Some(max_depth))
                    .min_weight_leaf(50.0)
                    .fit(&data)
                {
                    Ok(t) => trees.push(t),
                    Err(e) => {
                        return constant(format!(
                            "edge: tree fit failed ({e}); predicted the base rate"
                        ));
                    }
                }
            }
            (
                Box::new(TreeEdge {
                    trees,
                    n_features: x.ncols(),
                }),
                Vec::new(),
            )
        }
    }
}

/// Fits L2-regularized logistic regression by Newton's method with step halving.
///
/// Stops when the largest gradient component is below `1e-6 * n` (the mean-loss
/// gradient below 1e-6) or after 50 iterations; None if the Hessian is singular
/// or the result is not finite. Sequential and allocation-free in the loop, so
/// the fit is bit-for-bit reproducible.
pub fn newton_logistic(x: ArrayView2<'_, f64>, y: &[bool], alpha: f64) -> Option<LogisticEdge> {
    let (n, d) = x.dim();
    let k = d + 1; // last parameter is the intercept
    let mut w = vec![0.0; k];
    let mut grad = vec![0.0; k];
    let mut hess = vec![0.0; k * k];
    let mut step = vec![0.0; k];
    let loss = |w: &[f64]| -> f64 {
        let mut l = 0.0;
        for (row, &yi) in x.rows().into_iter().zip(y) {
            let z = row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + w[d];
            // log(1 + exp(-s z)) computed stably, s = +1 for an edge.
            let m = if yi { -z } else { z };
            l += if m > 0.0 {
                m + (-m).exp().ln_1p()
            } else {
                m.exp().ln_1p()
            };
        }
        l + 0.5 * alpha * w[..d].iter().map(|v| v * v).sum::<f64>()
    };
    let mut current = loss(&w);
    for _ in 0..50 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        hess.iter_mut().for_each(|h| *h = 0.0);
        for (row, &yi) in x.rows().into_iter().zip(y) {
            let z = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[d];
            let p = 1.0 / (1.0 + (-z).exp());
            let r = p - f64::from(u8::from(yi));
            let v = p * (1.0 - p);
            for a in 0..k {
                let xa = if a < d { row[a] } else { 1.0 };
                grad[a] += r * xa;
                let va = v * xa;
                for b in a..k {
                    let xb = if b < d { row[b] } else { 1.0 };
                    hess[a * k + b] += va * xb;
                }
            }
        }
        for a in 0..d {
            grad[a] += alpha * w[a];
            hess[a * k + a] += alpha;
        }
        for a in 0..k {
            for b in 0..a {
                hess[a * k + b] = hess[b * k + a];
            }
        }
        if grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) < 1e-6 * n as f64 {
            break;
        }
        step.copy_from_slice(&grad);
        cholesky_solve(&mut hess, &mut step, k)?;
        let mut t = 1.0;
        let mut trial = vec![0.0; k];
        loop {
            for a in 0..k {
                trial[a] = w[a] - t * step[a];
            }
            let l = loss(&trial);
            if l <= current || t < 1e-8 {
                current = l;
                break;
            }
            t *= 0.5;
        }
        w.copy_from_slice(&trial);
    }
    w.iter().all(|v| v.is_finite()).then(|| LogisticEdge {
        coef: Array1::from(w[..d].to_vec()),
        intercept: w[d],
    })
}

/// Solves `A x = b` in place for symmetric positive definite `A` (`k x k`, row-major);
/// `b` becomes `x`. None when `A` is not positive definite (linfa-linalg's Cholesky).
fn cholesky_solve(a: &mut [f64], b: &mut [f64], k: usize) -> Option<()> {
    use linfa_linalg::cholesky::SolveCInplace;
    let mut a = ndarray::ArrayViewMut2::from_shape((k, k), a).ok()?;
    let mut x = ndarray::ArrayViewMut2::from_shape((k, 1), b).ok()?;
    a.solvec_inplace(&mut x).ok()?;
    x.iter().all(|v| v.is_finite()).then_some(())
}

/// Fewest held-out rows (and of each class) a probability calibration is fitted on.
pub const MIN_CALIBRATION_ROWS: usize = 50;

/// A fitted map from a model's score in [0, 1] to a calibrated probability.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbabilityMap {
    /// `p = 1 / (1 + exp(-(a logit(s) + b)))`.
    Platt {
        /// Slope on the score's log-odds.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// A non-decreasing step function: `value[j]` for scores up to `upper[j]`.
    Isotonic {
        /// Largest score of each block, increasing.
        upper: Vec<f64>,
        /// Share of positives in each block, non-decreasing.
        value: Vec<f64>,
    },
}

/// Log-odds of a score, clamped away from 0 and 1.
fn logit(s: f64) -> f64 {
    let s = s.clamp(1e-9, 1.0 - 1e-9);
    (s / (1.0 - s)).ln()
}

impl ProbabilityMap {
    /// Platt scaling: a one-feature logistic regression of `y` on `logit(s)`
    /// (a negligible L2 penalty keeps separable data finite).
    pub fn platt(s: &[f64], y: &[bool]) -> Option<Self> {
        let x = Array2::from_shape_fn((s.len(), 1), |(i, _)| logit(s[i]));
        let m = newton_logistic(x.view(), y, 1e-6)?;
        Some(Self::Platt {
            a: m.coef[0],
            b: m.intercept,
        })
    }

    /// Isotonic regression by pool-adjacent-violators: the non-decreasing
    /// step function of the score closest to `y` in squared error. Equal
    /// scores share one block.
    pub fn isotonic(s: &[f64], y: &[bool]) -> Self {
        let mut pairs: Vec<(f64, f64)> = s
            .iter()
            .zip(y)
            .map(|(&s, &y)| (s, f64::from(u8::from(y))))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Blocks of (upper score, sum of y, count), merged while decreasing.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for (s, y) in pairs {
            match blocks.last_mut() {
                Some(last) if last.0 == s => {
                    last.1 += y;
                    last.2 += 1.0;
                }
                _ => blocks.push((s, y, 1.0)),
            }
            while blocks.len() > 1 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.1 / a.2 <= b.1 / b.2 {
                    break;
                }
                blocks[n - 2] = (b.0, a.1 + b.1, a.2 + b.2);
                blocks.pop();
            }
        }
        Self::Isotonic {
            upper: blocks.iter().map(|b| b.0).collect(),
            value: blocks.iter().map(|b| b.1 / b.2).collect(),
        }
    }

    /// The calibrated probability of score `s`.
    pub fn apply(&self, s: f64) -> f64 {
        match self {
            Self::Platt { a, b } => 1.0 / (1.0 + (-(a * logit(s) + b)).exp()),
            Self::Isotonic { upper, value } => {
                let j = upper.partition_point(|&u| u < s).min(upper.len() - 1);
                value[j]
            }
        }
    }
}

/// An edge model whose scores go through a [`ProbabilityMap`].
pub struct CalibratedEdge {
    model: Box<dyn EdgeModel>,
    map: ProbabilityMap,
}

impl EdgeModel for CalibratedEdge {
    fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        self.model.predict_proba(x).mapv(|s| self.map.apply(s))
    }

    fn importance(&self) -> Vec<f64> {
        self.model.importance()
    }
}

/// Fits the edge model with calibrated probabilities. Rows are training
/// samples dated `bars[r]`: the model is fitted on rows dated before
/// `tail_start - purge` (their label windows end before the tail), the
/// calibration on the scores of rows dated `tail_start` or later, so the
/// probabilities the risk engine sizes with are measured on data the model
/// did not see. With too few held-out rows (or one class) the model is
/// fitted on every row, uncalibrated, and a note says so.
#[expect(clippy::too_many_arguments, reason = "one fit, its rows and its split")]
pub fn fit_calibrated(
    kind: &ModelKind,
    method: ProbabilityCalibration,
    x: ArrayView2<'_, f64>,
    y: &[bool],
    bars: &[usize],
    tail_start: usize,
    purge: usize,
    seed: u64,
) -> (Box<dyn EdgeModel>, Vec<String>) {
    if method == ProbabilityCalibration::None {
        return fit_model(kind, x, y, seed);
    }
    let head: Vec<usize> = (0..y.len())
        .filter(|&r| bars[r] + purge < tail_start)
        .collect();
    let tail: Vec<usize> = (0..y.len()).filter(|&r| bars[r] >= tail_start).collect();
    let tail_pos = tail.iter().filter(|&&r| y[r]).count();
    let few = head.len() < MIN_CALIBRATION_ROWS
        || tail_pos < MIN_CALIBRATION_ROWS
        || tail.len() - tail_pos < MIN_CALIBRATION_ROWS;
    if few {
        let (m, mut notes) = fit_model(kind, x, y, seed);
        notes.push(format!(
            "edge: probabilities uncalibrated: {} held-out rows ({tail_pos} with an edge) and {} training rows, fewer than {MIN_CALIBRATION_ROWS} of each",
            tail.len(),
            head.len()
        ));
        return (m, notes);
    }
    let xh = x.select(Axis(0), &head);
    let yh: Vec<bool> = head.iter().map(|&r| y[r]).collect();
    let (model, mut notes) = fit_model(kind, xh.view(), &yh, seed);
    let s = model.predict_proba(x.select(Axis(0), &tail).view());
    let yt: Vec<bool> = tail.iter().map(|&r| y[r]).collect();
    let s = s.as_slice().expect("standard layout");
    let map = match method {
        ProbabilityCalibration::Isotonic => Some(ProbabilityMap::isotonic(s, &yt)),
        _ => ProbabilityMap::platt(s, &yt),
    };
    match map {
        Some(map) => (Box::new(CalibratedEdge { model, map }), notes),
        None => {
            notes.push(
                "edge: Platt calibration did not converge; probabilities uncalibrated".into(),
            );
            (model, notes)
        }
    }
}

/// Mean squared difference between probabilities and outcomes (Brier 1950);
/// None without outcomes.
pub fn brier(p: impl IntoIterator<Item = (f64, bool)>) -> Option<f64> {
    let (sum, n) = p.into_iter().fold((0.0, 0usize), |(s, n), (p, y)| {
        let d = p - f64::from(u8::from(y));
        (s + d * d, n + 1)
    });
    (n > 0).then(|| sum / n as f64)
}

/// In-sample calibration table: mean forward return per bucket of predicted probability.
///
/// Buckets hold equal numbers of training samples ordered by probability, so a
/// probability maps to the mean forward return of the training samples that got
/// similar probabilities; the expected return moves with p.
#[derive(Debug, Clone)]
pub struct Calibration {
    upper: Vec<f64>,
    mean_return: Vec<f64>,
}

impl Calibration {
    /// Builds up to `buckets` buckets from training probabilities and forward returns.
    pub fn fit(p: &[f64], fwd: &[f64], buckets: usize) -> Self {
        let mut pairs: Vec<(f64, f64)> = p.iter().copied().zip(fwd.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let n = pairs.len();
        let b = buckets.clamp(1, n.max(1));
        let mut upper = Vec::with_capacity(b);
        let mut mean_return = Vec::with_capacity(b);
        for j in 0..b {
            let (lo, hi) = (j * n / b, (j + 1) * n / b);
            if hi <= lo {
                continue;
            }
            let chunk = &pairs[lo..hi];
            upper.push(chunk[chunk.len() - 1].0);
            mean_return.push(chunk.iter().map(|c| c.1).sum::<f64>() / chunk.len() as f64);
        }
        if upper.is_empty() {
            upper.push(1.0);
            mean_return.push(0.0);
        }
        Self { upper, mean_return }
    }

    /// Expected forward return for probability `p`.
    pub fn expected_return(&self, p: f64) -> f64 {
        let j = self
            .upper
            .partition_point(|&u| u < p)
            .min(self.upper.len() - 1);
        self.mean_return[j]
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn standardizer_uses_sample_std() {
        let x = array![[1.0, 5.0], [3.0, 5.0]];
        let s = Standardizer::fit(x.view());
        let mut y = x.clone();
        s.transform(&mut y);
        let r = 2f64.sqrt().recip();
        assert_eq!(y, array![[-r, 0.0], [r, 0.0]]);
    }

    #[test]
    fn calibration_buckets_by_probability() {
        let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let r = [-0.02, -0.01, 0.0, 0.01, 0.02, 0.03];
        let c = Calibration::fit(&p, &r, 3);
        assert!((c.expected_return(0.05) - -0.015).abs() < 1e-12);
        assert!((c.expected_return(0.35) - 0.005).abs() < 1e-12);
        assert!((c.expected_return(0.99) - 0.025).abs() < 1e-12);
    }

    fn separable(n: usize) -> (Array2<f64>, Vec<bool>) {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            let u = ((i * 7919 + j * 104729) % 1000) as f64 / 1000.0 - 0.5;
            if j == 0 { u } else { 0.3 * u }
        });
        let y = (0..n).map(|i| x[[i, 0]] + 0.1 * x[[i, 1]] > 0.1).collect();
        (x, y)
    }

    #[test]
    fn models_learn_a_linear_rule() {
        let (x, y) = separable(2000);
        for kind in [
            ModelKind::Logistic { l2: 1.0 },
            ModelKind::Trees {
                n_trees: 5,
                max_depth: 3,
            },
        ] {
            let (m, notes) = fit_model(&kind, x.view(), &y, 1);
            assert!(notes.is_empty(), "{notes:?}");
            let p = m.predict_proba(x.view());
            let acc = p
                .iter()
                .zip(&y)
                .filter(|(p, y)| (**p >= 0.5) == **y)
                .count() as f64
                / y.len() as f64;
            assert!(acc > 0.9, "{kind:?}: {acc}");
            let imp = m.importance();
            assert!(imp[0] > imp[1], "{kind:?}: {imp:?}");
        }
    }

    #[test]
    fn newton_matches_linfa_logistic() {
        use linfa_logistic::LogisticRegression;
        let (x, y) = separable(3000);
        let noisy: Vec<bool> = y
            .iter()
            .enumerate()
            .map(|(i, &b)| if i % 7 == 0 { !b } else { b })
            .collect();
        let ours = newton_logistic(x.view(), &noisy, 1.0).unwrap();
        let targets: Array1<usize> = noisy.iter().map(|&b| usize::from(b)).collect();
        let theirs = LogisticRegression::default()
            .alpha(1.0)
            .max_iterations(1000)
            .gradient_tolerance(1e-8)
            .fit(&Dataset::new(x.clone(), targets))
            .unwrap();
        let sign = if theirs.labels().pos.class == 1 {
            1.0
        } else {
            -1.0
        };
        for (a, b) in ours.coef.iter().zip(theirs.params()) {
            assert!(
                (a - sign * b).abs() < 1e-3 * (1.0 + b.abs()),
                "{a} vs {}",
                sign * b
            );
        }
        assert!((ours.intercept - sign * theirs.intercept()).abs() < 1e-3);
    }

    #[test]
    fn one_class_gives_the_base_rate() {
        let (x, _) = separable(50);
        let (m, notes) = fit_model(&ModelKind::Logistic { l2: 1.0 }, x.view(), &[true; 50], 0);
        assert_eq!(notes.len(), 1);
        assert!(m.predict_proba(x.view()).iter().all(|&p| p == 1.0));
    }

    /// Rows with a planted probability: y ~ Bernoulli(sigmoid(z)), z from the
    /// first feature (a deterministic pseudo-random draw per row).
    fn planted(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>, Vec<f64>) {
        let mut rng = Xoshiro256Plus::seed_from_u64(seed);
        let x: Array2<f64> = Array2::from_shape_fn((n, 2), |_| rng.gen_range(-2.0..2.0));
        let p: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| 1.0 / (1.0 + (-1.5f64 * r[0]).exp()))
            .collect();
        let y = p.iter().map(|&p| rng.gen_bool(p)).collect();
        (x, y, p)
    }

    #[test]
    fn platt_recovers_a_planted_probability() {
        // Scores are sigmoid(z / 2) where the truth is sigmoid(z): Platt's
        // slope is 2 and its intercept 0 in the limit.
        let mut rng = Xoshiro256Plus::seed_from_u64(3);
        let z: Vec<f64> = (0..40_000).map(|_| rng.gen_range(-4.0..4.0)).collect();
        let s: Vec<f64> = z.iter().map(|z| 1.0 / (1.0 + (-z / 2.0).exp())).collect();
        let y: Vec<bool> = z
            .iter()
            .map(|z| rng.gen_bool(1.0 / (1.0 + (-z).exp())))
            .collect();
        let map = ProbabilityMap::platt(&s, &y).unwrap();
        let ProbabilityMap::Platt { a, b } = map else {
            panic!()
        };
        assert!((a - 2.0).abs() < 0.1 && b.abs() < 0.05, "a {a} b {b}");
        for z in [-3.0f64, -1.0, 0.0, 0.5, 2.0] {
            let truth = 1.0 / (1.0 + (-z).exp());
            let got = map.apply(1.0 / (1.0 + (-z / 2.0f64).exp()));
            assert!((got - truth).abs() < 0.02, "z {z}: {got} vs {truth}");
        }
    }

    #[test]
    fn isotonic_is_pool_adjacent_violators() {
        // By hand: (0.1, 0), (0.2, 1), (0.3, 0) violates and pools with 0.2 -> 0.5, (0.4, 1).
        let map = ProbabilityMap::isotonic(&[0.3, 0.1, 0.4, 0.2], &[false, false, true, true]);
        assert_eq!(
            map,
            ProbabilityMap::Isotonic {
                upper: vec![0.1, 0.3, 0.4],
                value: vec![0.0, 0.5, 1.0]
            }
        );
        assert_eq!(map.apply(0.25), 0.5);
        assert_eq!(map.apply(0.05), 0.0);
        assert_eq!(map.apply(0.9), 1.0);
        // A monotone distortion (s = p^3) is undone.
        let mut rng = Xoshiro256Plus::seed_from_u64(5);
        let p: Vec<f64> = (0..50_000).map(|_| rng.gen_range(0.05..0.95)).collect();
        let y: Vec<bool> = p.iter().map(|&p| rng.gen_bool(p)).collect();
        let s: Vec<f64> = p.iter().map(|p| p * p * p).collect();
        let map = ProbabilityMap::isotonic(&s, &y);
        for q in [0.1, 0.3, 0.5, 0.7, 0.9] {
            let got = map.apply(q * q * q);
            assert!((got - q).abs() < 0.06, "p {q}: {got}");
        }
    }

    #[test]
    fn calibrated_trees_give_probabilities_not_vote_shares() {
        // Class-balanced bagged trees vote around 0.5 whatever the base rate;
        // calibrated on a held-out tail, their mean probability is the base rate.
        let (x, y, _) = planted(12_000, 9);
        // A rare edge: keep the label only where z is high (base rate ~0.2).
        let y: Vec<bool> = y
            .iter()
            .zip(x.rows())
            .map(|(&y, r)| y && r[1] > 0.4)
            .collect();
        let bars: Vec<usize> = (0..y.len()).map(|r| r / 10).collect();
        let kind = ModelKind::Trees {
            n_trees: 5,
            max_depth: 3,
        };
        let (x_test, y_test) = (x.slice(ndarray::s![10_000.., ..]), &y[10_000..]);
        let base = y_test.iter().filter(|&&b| b).count() as f64 / y_test.len() as f64;
        let fit_rows = ndarray::s![..10_000, ..];
        let (raw, _) = fit_model(&kind, x.slice(fit_rows), &y[..10_000], 1);
        let raw_mean = raw.predict_proba(x_test).mean().unwrap();
        let (cal, notes) = fit_calibrated(
            &kind,
            ProbabilityCalibration::Isotonic,
            x.slice(fit_rows),
            &y[..10_000],
            &bars[..10_000],
            800,
            5,
            1,
        );
        assert!(notes.is_empty(), "{notes:?}");
        let p = cal.predict_proba(x_test);
        let cal_mean = p.mean().unwrap();
        assert!((raw_mean - base).abs() > 0.06, "raw {raw_mean} base {base}");
        assert!(
            (cal_mean - base).abs() < 0.03,
            "calibrated {cal_mean} base {base}"
        );
        // And they score better on held-out outcomes.
        let b_raw = brier(
            raw.predict_proba(x_test)
                .iter()
                .copied()
                .zip(y_test.iter().copied()),
        )
        .unwrap();
        let b_cal = brier(p.iter().copied().zip(y_test.iter().copied())).unwrap();
        assert!(b_cal < b_raw, "{b_cal} vs {b_raw}");
    }

    #[test]
    fn calibration_holds_out_a_purged_tail_or_says_it_did_not() {
        let (x, y, _) = planted(3000, 2);
        let bars: Vec<usize> = (0..3000).map(|r| r / 10).collect();
        let kind = ModelKind::Logistic { l2: 1.0 };
        // Tail from bar 250 (500 rows), purge 5: the model sees bars < 245 only.
        // Changing a row of the purged gap or the tail must not change the model's
        // coefficients (importance), only the calibration.
        let (m, notes) = fit_calibrated(
            &kind,
            ProbabilityCalibration::Platt,
            x.view(),
            &y,
            &bars,
            250,
            5,
            0,
        );
        assert!(notes.is_empty(), "{notes:?}");
        let mut y2 = y.clone();
        for v in &mut y2[2450..] {
            *v = !*v;
        }
        let (m2, _) = fit_calibrated(
            &kind,
            ProbabilityCalibration::Platt,
            x.view(),
            &y2,
            &bars,
            250,
            5,
            0,
        );
        assert_eq!(m.importance(), m2.importance());
        assert_ne!(m.predict_proba(x.view()), m2.predict_proba(x.view()));
        // Too few held-out rows: uncalibrated, with a note.
        let (_, notes) = fit_calibrated(
            &kind,
            ProbabilityCalibration::Platt,
            x.view(),
            &y,
            &bars,
            297,
            5,
            0,
        );
        assert!(
            notes.iter().any(|n| n.contains("uncalibrated")),
            "{notes:?}"
        );
    }

    #[test]
    fn brier_by_hand() {
        assert!((brier([(0.8, true), (0.3, false)]).unwrap() - 0.065).abs() < 1e-15);
        assert_eq!(brier([]), None);
    }
}
