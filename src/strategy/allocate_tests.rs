use ndarray::Array2;

use super::*;
use crate::config::strategy::RawPortfolio;

fn spec(text: &str) -> PortfolioSpec {
    toml::from_str::<RawPortfolio>(text)
        .unwrap()
        .validate()
        .unwrap()
}

fn decision(target: &[f64]) -> Decision {
    Decision {
        target: target.to_vec(),
        records: Vec::new(),
    }
}

/// Asset 0 alternates ±a every bar, asset 1 ±b every two bars: zero means,
/// zero sample correlation over any multiple of 4 bars.
fn orthogonal(t_len: usize, a: f64, b: f64) -> Array2<f64> {
    Array2::from_shape_fn((t_len, 3), |(t, i)| match i {
        0 => {
            if t % 2 == 0 {
                a
            } else {
                -a
            }
        }
        1 => {
            if t % 4 < 2 {
                b
            } else {
                -b
            }
        }
        _ => f64::NAN,
    })
}

#[test]
fn risk_parity_of_two_uncorrelated_assets_is_inverse_volatility() {
    let (a, b, t_len) = (0.02, 0.01, 64usize);
    let r = orthogonal(t_len, a, b);
    let mut alloc = Allocator::new(
        &spec("covariance_days = 64"),
        1.0, // no cap
    );
    let mut d = decision(&[0.05, 0.03, 0.0]);
    alloc.distribute(&mut d, r.view(), t_len - 1, None);
    assert!(alloc.failure().is_none());
    // Ledoit-Wolf by hand: S = diag(a², b²), μ = (a² + b²) / 2,
    // d² = ((a² - b²) / 2)², b̄² = a² b² / T, δ = b̄² / d².
    let (a2, b2, tf) = (a * a, b * b, t_len as f64);
    let mu = (a2 + b2) / 2.0;
    let d2 = ((a2 - b2) / 2.0).powi(2);
    let delta = (a2 * b2 / tf) / d2;
    let (sa, sb) = (
        ((1.0 - delta) * a2 + delta * mu).sqrt(),
        ((1.0 - delta) * b2 + delta * mu).sqrt(),
    );
    let total = 0.08;
    let wa = total * (1.0 / sa) / (1.0 / sa + 1.0 / sb);
    let wb = total * (1.0 / sb) / (1.0 / sa + 1.0 / sb);
    assert!((d.target[0] - wa).abs() < 1e-10, "{:?} vs {wa}", d.target);
    assert!((d.target[1] - wb).abs() < 1e-10, "{:?} vs {wb}", d.target);
    assert_eq!(d.target[2], 0.0);
    // Without shrinkage in play the ratio is b / a: the lower-volatility asset gets more.
    assert!(d.target[1] > d.target[0]);
}

#[test]
fn equal_and_kelly_modes_and_the_position_cap() {
    let r = orthogonal(8, 0.02, 0.01);
    let mut eq = Allocator::new(&spec("mode = \"equal\""), 1.0);
    let mut d = decision(&[0.05, 0.03, 0.0]);
    eq.distribute(&mut d, r.view(), 7, None);
    assert_eq!(d.target, vec![0.04, 0.04, 0.0]);
    // Capped at max_position; the cut stays in cash.
    let mut capped = Allocator::new(&spec("mode = \"equal\""), 0.1);
    let mut d = decision(&[0.25, 0.05, 0.0]);
    capped.distribute(&mut d, r.view(), 7, None);
    assert_eq!(d.target, vec![0.1, 0.1, 0.0]);
    let mut kelly = Allocator::new(&spec("mode = \"kelly\""), 0.01);
    let mut d = decision(&[0.05, 0.03, 0.0]);
    kelly.distribute(&mut d, r.view(), 7, None);
    assert_eq!(d.target, vec![0.05, 0.03, 0.0]);
}

#[test]
fn no_look_ahead_rows_after_t_do_not_matter() {
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.04
    };
    let r = Array2::from_shape_fn((120, 4), |_| next());
    let mut later = r.clone();
    for t in 81..120 {
        for i in 0..4 {
            later[[t, i]] = 10.0 * r[[t, i]] + 0.3;
        }
    }
    for cov in ["window", "regime"] {
        let regimes: Vec<Regime> = (0..120)
            .map(|t| {
                if t % 3 == 0 {
                    Regime::Volatile
                } else {
                    Regime::Stable
                }
            })
            .collect();
        let h = RegimeHistory {
            start: 0,
            regimes: &regimes,
        };
        let go = |x: &Array2<f64>| {
            let mut a = Allocator::new(
                &spec(&format!("covariance = \"{cov}\"\ncovariance_days = 40")),
                1.0,
            );
            let mut d = decision(&[0.1, 0.2, 0.0, 0.3]);
            a.distribute(&mut d, x.view(), 80, Some(h));
            assert!(a.failure().is_none());
            d.target
        };
        let (now, then) = (go(&r), go(&later));
        assert_eq!(now, then, "{cov}");
        assert!((now.iter().sum::<f64>() - 0.6).abs() < 1e-12);
        // The data up to t does matter.
        let mut earlier = r.clone();
        earlier[[80, 0]] += 0.05;
        assert_ne!(go(&earlier), now, "{cov}");
    }
}

#[test]
fn regime_rows_take_the_latest_bars_of_the_current_regime() {
    use Regime::{Crisis as C, Stable as S};
    let regimes = [S, C, S, S, C, C, S, C];
    let h = RegimeHistory {
        start: 10,
        regimes: &regimes,
    };
    assert_eq!(regime_rows(17, 3, &h), vec![14, 15, 17]);
    assert_eq!(regime_rows(16, 10, &h), vec![10, 12, 13, 16]);
    assert_eq!(regime_rows(9, 10, &h), Vec::<usize>::new());
    assert_eq!(window_rows(3, 10), vec![0, 1, 2, 3]);
    assert_eq!(window_rows(9, 3), vec![7, 8, 9]);
}

#[test]
fn a_solver_failure_is_kept_with_its_bar_not_replaced_by_equal_weights() {
    // No variation at all: the covariance is zero and risk parity has no answer.
    let r = Array2::<f64>::zeros((30, 2));
    let mut a = Allocator::new(&spec(""), 1.0);
    let mut d = decision(&[0.05, 0.03]);
    a.distribute(&mut d, r.view(), 25, None);
    let f = a.failure().expect("a failure");
    assert_eq!(f.bar, 25);
    assert!(f.message.contains("risk parity"), "{}", f.message);
    assert_eq!(d.target, vec![0.05, 0.03]);
}

#[test]
fn risk_contributions_of_a_book_sum_to_one() {
    let r = orthogonal(64, 0.02, 0.01);
    let rc = book_risk_contributions(r.view(), &[0.5, 0.5, 0.0], 63, 64);
    assert_eq!(rc.len(), 2);
    assert!((rc.iter().map(|x| x.1).sum::<f64>() - 1.0).abs() < 1e-12);
    // Equal weights, uncorrelated: contributions proportional to the variances.
    assert!(rc[0].1 > rc[1].1);
    assert!(book_risk_contributions(r.view(), &[0.0; 3], 63, 64).is_empty());
}
