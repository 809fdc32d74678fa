//! Sample quantiles: linear interpolation between order statistics.
//!
//! Definition (Hyndman and Fan 1996, type 7; numpy's default `method="linear"`):
//! for `n` ascending values `x` and `q` in [0, 1], with `h = q (n - 1)`,
//! `lo = floor(h)`, `hi = min(lo + 1, n - 1)`, the quantile is
//! `x[lo] + (x[hi] - x[lo]) (h - lo)`. `q` outside [0, 1] is clamped.
//!
//! - [`quantile_sorted`] takes ascending data as given: a NaN in it (sorted last by
//!   `f64::total_cmp`) reaches the result only when it is an interpolated neighbour.
//!   Empty data gives NaN.
//! - [`quantile`] takes unsorted data and ignores non-finite values (NaN, ±inf):
//!   the quantile of the finite values, NaN when there are none.
//!
//! On finite data the two-neighbour rule equals interpolating with
//! `hi = ceil(h)` (the form the regime thresholds used) except when
//! `x[lo + 1] - x[lo]` overflows, which needs values beyond ±8.9e307.

/// Quantile `q` of ascending `sorted` values (type 7, numpy's default); NaN when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = q.clamp(0.0, 1.0) * last as f64;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (h - lo as f64)
}

/// Quantile `q` of the finite values among unsorted `values`; NaN when none is finite.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// Quantiles `qs` of `values` (reordered in place), equal bit for bit to
/// [`quantile_sorted`] of the sorted values: only the order statistics the
/// quantiles read are selected, not the whole slice sorted.
pub fn quantiles_select<const K: usize>(values: &mut [f64], qs: [f64; K]) -> [f64; K] {
    let Some(last) = values.len().checked_sub(1) else {
        return [f64::NAN; K];
    };
    let at = |q: f64| {
        let h = q.clamp(0.0, 1.0) * last as f64;
        let lo = (h.floor() as usize).min(last);
        (h, lo, (lo + 1).min(last))
    };
    let mut wanted: Vec<usize> = qs
        .iter()
        .flat_map(|&q| {
            let (_, lo, hi) = at(q);
            [lo, hi]
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // Ascending: after selecting k, everything right of k is >= it, so the
    // next order statistic is selected in that right part alone.
    let mut start = 0;
    for &k in &wanted {
        values[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        start = k + 1;
    }
    qs.map(|q| {
        let (h, lo, hi) = at(q);
        values[lo] + (values[hi] - values[lo]) * (h - lo as f64)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn matches_numpy() {
        // numpy.quantile([1, 2, 3, 4], q) for q = 0.025, 0.6, 0.975, 0, 1.
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile_sorted(&s, 0.025) - 1.075).abs() < 1e-12);
        assert_eq!(quantile_sorted(&s, 0.6), 2.8);
        assert!((quantile_sorted(&s, 0.975) - 3.925).abs() < 1e-12);
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 1.0), 4.0);
        // numpy.quantile([7, 1, 5], 0.5) = 5 (median of three); one value is every quantile.
        assert_eq!(quantile(&[7.0, 1.0, 5.0], 0.5), 5.0);
        assert_eq!(quantile(&[5.0], 0.3), 5.0);
    }

    #[test]
    fn unsorted_ignores_non_finite_and_empty_is_nan() {
        let v = [
            4.0,
            f64::NAN,
            1.0,
            f64::INFINITY,
            3.0,
            f64::NEG_INFINITY,
            2.0,
        ];
        assert_eq!(quantile(&v, 0.6), 2.8);
        assert!(quantile(&[f64::NAN], 0.5).is_nan());
        assert!(quantile(&[], 0.5).is_nan());
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn q_outside_unit_interval_is_clamped() {
        let s = [1.0, 2.0, 3.0];
        assert_eq!(quantile_sorted(&s, -0.5), 1.0);
        assert_eq!(quantile_sorted(&s, 1.5), 3.0);
    }

    proptest! {
        #[test]
        fn selection_equals_sorting_bit_for_bit(
            mut v in proptest::collection::vec(
                prop_oneof![-5.0f64..5.0, Just(0.0), Just(-0.0), Just(1.0)], 1..400),
            qs in proptest::array::uniform5(0.0f64..1.0),
        ) {
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let got = quantiles_select(&mut v, qs);
            for (g, q) in got.iter().zip(qs) {
                prop_assert_eq!(g.to_bits(), quantile_sorted(&sorted, q).to_bits());
            }
        }

        #[test]
        fn prop_between_neighbouring_order_statistics(
            mut v in prop::collection::vec(-1e6f64..1e6, 1..40),
            q in 0.0f64..=1.0,
        ) {
            v.sort_by(f64::total_cmp);
            let x = quantile_sorted(&v, q);
            let h = q * (v.len() - 1) as f64;
            let (lo, hi) = (v[h.floor() as usize], v[h.ceil() as usize]);
            // Interpolation rounds: allow a few ulps at the scale of the data.
            let tol = 1e-9;
            prop_assert!(lo - tol <= x && x <= hi + tol, "{lo} <= {x} <= {hi}");
            // Monotone in q.
            prop_assert!(quantile_sorted(&v, q * 0.5) <= x + tol);
        }
    }
}
