//! Property tests of the metrics (`prop_` prefix).

use proptest::prelude::*;

use super::*;

fn returns() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-0.5f64..0.5, 2..200)
}

proptest! {
    #[test]
    fn prop_paired_sharpe_is_antisymmetric(
        ab in prop::collection::vec((-0.05f64..0.05, -0.05f64..0.05), 10..80),
        seed in 0u64..1000,
    ) {
        // Swapping the two series negates every resampled difference exactly, so
        // the two prob_better add to one (ties count one half on both sides).
        let (a, b): (Vec<f64>, Vec<f64>) = ab.into_iter().unzip();
        let cfg = BootstrapConfig { resamples: 50, seed, ..Default::default() };
        let x = paired_sharpe_diff(&a, &b, 252.0, &cfg).unwrap();
        let y = paired_sharpe_diff(&b, &a, 252.0, &cfg).unwrap();
        prop_assert_eq!(x.prob_better + y.prob_better, 1.0);
        prop_assert_eq!(x.difference, -y.difference);
        // Interpolated quantiles mirror up to rounding.
        prop_assert!((x.ci.0 + y.ci.1).abs() <= 1e-9 * x.ci.0.abs().max(1.0));
        prop_assert!(x.ci.0 <= x.ci.1);
    }

    #[test]
    fn prop_sharpe_scale_invariant(r in returns(), k in 0.01f64..100.0) {
        let scaled: Vec<f64> = r.iter().map(|x| x * k).collect();
        let a = sharpe(&r, 252.0).unwrap();
        let b = sharpe(&scaled, 252.0).unwrap();
        prop_assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn prop_max_drawdown_in_unit_interval(r in returns()) {
        let dd = max_drawdown(&r);
        prop_assert!((0.0..=1.0).contains(&dd));
    }

    #[test]
    fn prop_monotone_equity_has_no_drawdown(r in prop::collection::vec(0.0f64..0.2, 0..200)) {
        prop_assert_eq!(max_drawdown(&r), 0.0);
    }

    #[test]
    fn prop_total_return_is_last_equity(r in returns()) {
        let eq = equity_curve(&r);
        prop_assert!((total_return(&r) - (eq[eq.len() - 1] - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn prop_psr_in_unit_interval_and_monotone(sr in -0.5f64..0.5, n in 2usize..5000) {
        let p = probabilistic_sharpe(sr, 0.0, n, 0.0, 3.0).unwrap();
        prop_assert!((0.0..=1.0).contains(&p));
        let q = probabilistic_sharpe(sr, 0.05, n, 0.0, 3.0).unwrap();
        prop_assert!(q <= p);
    }

    #[test]
    fn prop_ppf_inverts_cdf(x in -8.0f64..5.0) {
        // Above ~5 the CDF rounds too close to 1 for the inverse to recover x.
        prop_assert!((norm_ppf(norm_cdf(x)) - x).abs() < 1e-8);
    }
}
