//! Tests of the portfolio solvers and the Ledoit-Wolf estimate against closed
//! forms, hand computations and the optimality conditions.

use ndarray::{Array1, Array2, array};
use proptest::prelude::*;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::{Xoshiro256Plus, rand_core::SeedableRng};

use super::*;
use crate::strategy::covariance::{ledoit_wolf, sample_covariance};

/// A random SPD matrix: a k-factor structure plus idiosyncratic variance,
/// with volatilities spread over a decade.
fn random_spd(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let k = 1 + n / 3;
    let a: Array2<f64> = Array2::from_shape_fn((n, k), |_| StandardNormal.sample(&mut rng));
    let mut s = a.dot(&a.t()) / k as f64;
    for i in 0..n {
        let u: f64 = StandardNormal.sample(&mut rng);
        s[[i, i]] += 0.05 + 0.5 * u.abs();
    }
    let vol = Array1::from_shape_fn(n, |i| 0.005 * 10f64.powf(i as f64 / n as f64));
    Array2::from_shape_fn((n, n), |(i, j)| s[[i, j]] * vol[i] * vol[j])
}

fn random_returns(t: usize, n: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let common: Vec<f64> = (0..t).map(|_| StandardNormal.sample(&mut rng)).collect();
    Array2::from_shape_fn((t, n), |(r, _)| {
        let e: f64 = StandardNormal.sample(&mut rng);
        0.01 * (0.6 * common[r] + e)
    })
}

fn max_rel(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max)
}

fn assert_rc(cov: &Array2<f64>, a: &Allocation, b: &Array1<f64>) {
    assert!((a.weights.sum() - 1.0).abs() < 1e-12);
    assert!(a.weights.iter().all(|&w| w > 0.0));
    // Recomputed here, not taken from the solver.
    let rc = risk_contributions(cov.view(), a.weights.view());
    let err = max_rel(&rc, b);
    assert!(err <= 1e-8, "risk contributions off by {err:e} relative");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_equal_risk_contributions_on_random_spd(n in 2usize..60, seed in 0u64..1_000_000) {
        let cov = random_spd(n, seed);
        let a = risk_parity(cov.view(), None, &SolveOptions::default()).unwrap();
        assert_rc(&cov, &a, &Array1::from_elem(n, 1.0 / n as f64));
    }

    #[test]
    fn prop_budgets_are_respected(n in 2usize..40, seed in 0u64..1_000_000) {
        let cov = random_spd(n, seed);
        let raw = Array1::from_shape_fn(n, |i| 1.0 + ((seed as usize + 7 * i) % 10) as f64);
        let a = risk_parity(cov.view(), Some(raw.view()), &SolveOptions::default()).unwrap();
        assert_rc(&cov, &a, &(&raw / raw.sum()));
    }

    #[test]
    fn prop_min_variance_meets_kkt(n in 2usize..40, seed in 0u64..1_000_000) {
        let cov = random_spd(n, seed);
        let a = min_variance(cov.view(), &SolveOptions::default()).unwrap();
        let w = &a.weights;
        prop_assert!((w.sum() - 1.0).abs() < 1e-12);
        prop_assert!(w.iter().all(|&v| v >= 0.0));
        // Σw is constant on the support and no smaller off it.
        let g = cov.dot(w);
        let lambda = a.variance;
        for i in 0..n {
            if w[i] > 1e-12 {
                prop_assert!(((g[i] - lambda) / lambda).abs() < 1e-8, "{} vs {}", g[i], lambda);
            } else {
                prop_assert!(g[i] >= lambda * (1.0 - 1e-8));
            }
        }
    }
}

#[test]
fn diagonal_covariance_gives_inverse_volatility() {
    let sigma = array![0.1, 0.2, 0.4, 0.05, 0.3];
    let cov = Array2::from_diag(&sigma.mapv(|s| s * s));
    let a = risk_parity(cov.view(), None, &SolveOptions::default()).unwrap();
    let inv = sigma.mapv(|s| 1.0 / s);
    let expected = &inv / inv.sum();
    assert!(max_rel(&a.weights, &expected) < 1e-10, "{}", a.weights);
    // With budgets b on a diagonal Σ, w_i ∝ sqrt(b_i) / σ_i.
    let b = array![1.0, 2.0, 3.0, 4.0, 5.0];
    let a = risk_parity(cov.view(), Some(b.view()), &SolveOptions::default()).unwrap();
    let raw = Array1::from_shape_fn(5, |i| b[i].sqrt() / sigma[i]);
    assert!(max_rel(&a.weights, &(&raw / raw.sum())) < 1e-10);
}

#[test]
fn two_assets_closed_form() {
    // Equal risk for two assets is inverse volatility whatever the correlation.
    let (s1, s2, rho) = (0.2, 0.5, 0.7);
    let cov = array![[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]];
    let a = risk_parity(cov.view(), None, &SolveOptions::default()).unwrap();
    assert!((a.weights[0] - s2 / (s1 + s2)).abs() < 1e-12);
}

#[test]
fn singular_covariance_solves_after_ledoit_wolf() {
    // 60 assets, 20 observations: the sample covariance has rank 19.
    let r = random_returns(20, 60, 7);
    let s = sample_covariance(r.view());
    assert!(matches!(
        risk_parity(s.view(), None, &SolveOptions::default()),
        Err(PortfolioError::NotPositiveDefinite { .. })
    ));
    let shrunk = ledoit_wolf(r.view());
    assert!(shrunk.shrinkage > 0.0 && shrunk.shrinkage <= 1.0);
    let a = risk_parity(shrunk.covariance.view(), None, &SolveOptions::default()).unwrap();
    assert_rc(&shrunk.covariance, &a, &Array1::from_elem(60, 1.0 / 60.0));
    let m = min_variance(shrunk.covariance.view(), &SolveOptions::default()).unwrap();
    assert!((m.weights.sum() - 1.0).abs() < 1e-12);
    // The minimum-variance portfolio has no more variance than the risk-parity one.
    assert!(m.variance <= a.variance * (1.0 + 1e-12));
}

#[test]
fn iteration_cap_is_an_error_not_equal_weights() {
    let cov = random_spd(30, 3);
    let opts = SolveOptions {
        max_iter: 1,
        tolerance: 1e-10,
    };
    match risk_parity(cov.view(), None, &opts) {
        Err(PortfolioError::NotConverged {
            iterations,
            residual,
            ..
        }) => {
            assert_eq!(iterations, 1);
            assert!(residual > 1e-10);
        }
        other => panic!("expected NotConverged, got {other:?}"),
    }
}

#[test]
fn bad_budgets_and_covariances_are_errors() {
    let cov = Array2::<f64>::eye(3);
    let opts = SolveOptions::default();
    let b = array![1.0, 0.0, 1.0];
    assert!(matches!(
        risk_parity(cov.view(), Some(b.view()), &opts),
        Err(PortfolioError::BadBudgets(_))
    ));
    let b = array![1.0, 1.0];
    assert!(matches!(
        risk_parity(cov.view(), Some(b.view()), &opts),
        Err(PortfolioError::BadBudgets(_))
    ));
    let bad = array![[1.0, f64::NAN], [f64::NAN, 1.0]];
    assert!(matches!(
        risk_parity(bad.view(), None, &opts),
        Err(PortfolioError::BadCovariance(_))
    ));
}

#[test]
fn min_variance_hits_the_bound() {
    // Unconstrained: w1 = (4 - 1.8) / (1 + 4 - 3.6) > 1, so long-only is (1, 0).
    let cov = array![[1.0, 1.8], [1.8, 4.0]];
    let a = min_variance(cov.view(), &SolveOptions::default()).unwrap();
    assert_eq!(a.weights, array![1.0, 0.0]);
    // Diagonal: w ∝ 1/σ².
    let cov = Array2::from_diag(&array![1.0, 4.0, 2.0]);
    let a = min_variance(cov.view(), &SolveOptions::default()).unwrap();
    let raw = array![1.0, 0.25, 0.5];
    assert!(max_rel(&a.weights, &(&raw / raw.sum())) < 1e-12);
}

#[test]
fn ledoit_wolf_hand_computed() {
    // Observations (1, 2), (-1, 0), (0, -2), mean zero. By hand:
    // S = [[2/3, 2/3], [2/3, 8/3]], μ = 5/3, d² = (1 + 1 + 8/9) / 2 = 13/9,
    // Σ_t ‖x_t x_t' - S‖² = (49 + 73 + 28) / 9, b̄² = 150/9 / 2 / 9 = 25/27,
    // δ = (25/27) / (13/9) = 25/39, Σ* = δμI + (1 - δ)S
    //   = [[153, 28], [28, 237]] / 117.
    let r = array![[1.0, 2.0], [-1.0, 0.0], [0.0, -2.0]];
    let lw = ledoit_wolf(r.view());
    assert!((lw.shrinkage - 25.0 / 39.0).abs() < 1e-14);
    let expected = array![[153.0, 28.0], [28.0, 237.0]] / 117.0;
    for (a, b) in lw.covariance.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }
    // A constant shift of the data changes nothing (the estimate demeans).
    let lw2 = ledoit_wolf((&r + 5.0).view());
    assert!((lw2.shrinkage - lw.shrinkage).abs() < 1e-12);
}

#[test]
fn ledoit_wolf_intensity_matches_direct_sum() {
    // The O(T N²) identity against the definition's sum over observations.
    let r = random_returns(25, 6, 11);
    let lw = ledoit_wolf(r.view());
    let s = sample_covariance(r.view());
    let x = &r - &r.mean_axis(ndarray::Axis(0)).unwrap();
    let (t, n) = (25.0, 6.0);
    let mu = s.diag().sum() / n;
    let d2 = (&s - &(Array2::<f64>::eye(6) * mu)).mapv(|v| v * v).sum() / n;
    let mut b2 = 0.0;
    for row in x.rows() {
        let outer = Array2::from_shape_fn((6, 6), |(i, j)| row[i] * row[j]);
        b2 += (&outer - &s).mapv(|v| v * v).sum() / n;
    }
    let b2 = (b2 / (t * t)).min(d2);
    assert!((lw.shrinkage - b2 / d2).abs() < 1e-12);
}

#[test]
fn blocked_cholesky_reproduces_the_matrix_across_blocks() {
    // 130 = two full blocks and a partial one.
    let a = random_spd(130, 9);
    let l = cholesky(a.view()).unwrap();
    let n = a.nrows();
    let mut worst: f64 = 0.0;
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = (0..=j).map(|p| l[[i, p]] * l[[j, p]]).sum();
            worst = worst.max((v - a[[i, j]]).abs() / a[[i, i]].max(a[[j, j]]));
        }
    }
    assert!(worst < 1e-12, "{worst}");
    // A non-positive pivot in a later block is named.
    let mut bad = a.clone();
    bad[[100, 100]] = -1.0;
    assert!(matches!(
        cholesky(bad.view()),
        Err(PortfolioError::NotPositiveDefinite { pivot: 100, .. })
    ));
}

#[test]
fn equal_contributions_at_size_with_coordinate_warm_start() {
    let cov = random_spd(300, 4);
    let a = risk_parity(cov.view(), None, &SolveOptions::default()).unwrap();
    assert!(a.sweeps > 0);
    assert_rc(&cov, &a, &Array1::from_elem(300, 1.0 / 300.0));
}
