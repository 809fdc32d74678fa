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
use linfa_logistic::LogisticRegression;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rand_xoshiro::{Xoshiro256Plus, rand_core::SeedableRng};

use crate::config::walkforward::ModelKind;

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

/// L2-regularized logistic regression (linfa-logistic, L-BFGS).
///
/// linfa minimizes `sum_i log(1 + exp(-y_i x_i.w)) + alpha/2 |w|^2` without
/// penalizing the intercept, which is scikit-learn's objective with `C = 1/alpha`.
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
        ModelKind::Logistic { l2 } => {
            let data = Dataset::new(x.to_owned(), targets);
            match LogisticRegression::default()
                .alpha(l2)
                .max_iterations(100)
                .gradient_tolerance(1e-4)
                .fit(&data)
            {
                Ok(m) => {
                    // linfa maps the larger label (1 = edge) to the positive class.
                    let model = LogisticEdge {
                        coef: m.params().clone(),
                        intercept: m.intercept(),
                    };
                    (Box::new(model), Vec::new())
                }
                Err(e) => constant(format!("edge: logistic regression failed ({e}); predicted the base rate")),
            }
        }
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
                    Err(e) => return constant(format!("edge: tree fit failed ({e}); predicted the base rate")),
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
        let j = self.upper.partition_point(|&u| u < p).min(self.upper.len() - 1);
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
    fn one_class_gives_the_base_rate() {
        let (x, _) = separable(50);
        let (m, notes) = fit_model(&ModelKind::Logistic { l2: 1.0 }, x.view(), &[true; 50], 0);
        assert_eq!(notes.len(), 1);
        assert!(m.predict_proba(x.view()).iter().all(|&p| p == 1.0));
    }
}
