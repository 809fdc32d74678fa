//! Paired stationary bootstrap of the difference of two Sharpe ratios.
//!
//! Two return series on the same bars (a candidate `a` and a baseline `b`) are
//! resampled with the same stationary-bootstrap indices (Politis & Romano 1994,
//! see [`super::sharpe_ci`]), so their dependence on common market moves is kept
//! (Ledoit & Wolf, "Robust performance hypothesis testing with the Sharpe ratio",
//! Journal of Empirical Finance 15 (2008), section 3.2, use the same pairing).
//!
//! `prob_better` is the share of resamples where Sharpe(a) > Sharpe(b); a tie
//! (equal Sharpe ratios, e.g. identical series) counts one half, so two identical
//! series score exactly 0.5 and neither is called better.

use rayon::prelude::*;

use super::{
    bootstrap::{BootstrapConfig, MIN_BOOTSTRAP_BARS, Stationary, percentile_interval},
    sharpe::sharpe,
};

/// Candidate-minus-baseline Sharpe difference with its paired bootstrap statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedSharpe {
    /// Annualized Sharpe of `a` minus that of `b`, on the full series.
    pub difference: f64,
    /// Percentile interval of the resampled differences at the config's level.
    pub ci: (f64, f64),
    /// Share of resamples with Sharpe(a) > Sharpe(b), ties counting one half.
    pub prob_better: f64,
}

/// Paired bootstrap of `sharpe(a) - sharpe(b)`; `a[i]` and `b[i]` are the same bar.
///
/// None when the lengths differ, fewer than [`MIN_BOOTSTRAP_BARS`] bars, no
/// resamples, a level outside (0, 1), or a non-finite return.
pub fn paired_sharpe_diff(
    a: &[f64],
    b: &[f64],
    bars_per_year: f64,
    cfg: &BootstrapConfig,
) -> Option<PairedSharpe> {
    let n = a.len();
    if n != b.len()
        || n < MIN_BOOTSTRAP_BARS
        || cfg.resamples == 0
        || !(cfg.level > 0.0 && cfg.level < 1.0)
        || a.iter().chain(b).any(|x| !x.is_finite())
    {
        return None;
    }
    let difference = sharpe(a, bars_per_year)? - sharpe(b, bars_per_year)?;
    let walk = Stationary::new(n, cfg);
    let mut diffs: Vec<f64> = (0..cfg.resamples as u64)
        .into_par_iter()
        .map_init(
            || (vec![0; n], vec![0.0; n], vec![0.0; n]),
            |(idx, ra, rb), k| {
                walk.indices(k, idx);
                for (j, &i) in idx.iter().enumerate() {
                    ra[j] = a[i];
                    rb[j] = b[i];
                }
                sharpe(ra, bars_per_year).unwrap_or(0.0) - sharpe(rb, bars_per_year).unwrap_or(0.0)
            },
        )
        .collect();
    let wins: f64 = diffs
        .iter()
        .map(|&d| match d.partial_cmp(&0.0) {
            Some(std::cmp::Ordering::Greater) => 1.0,
            Some(std::cmp::Ordering::Equal) => 0.5,
            _ => 0.0,
        })
        .sum();
    diffs.sort_by(f64::total_cmp);
    Some(PairedSharpe {
        difference,
        ci: percentile_interval(&diffs, cfg.level),
        prob_better: wins / diffs.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sharpe_ci;

    fn series(n: usize, phase: f64) -> Vec<f64> {
        (0..n)
            .map(|i| 0.0005 + 0.01 * ((i as f64) * 1.7 + phase).sin())
            .collect()
    }

    #[test]
    fn identical_series_tie_everywhere() {
        let r = series(200, 0.0);
        let p = paired_sharpe_diff(&r, &r, 252.0, &BootstrapConfig::default()).unwrap();
        assert_eq!(p.difference, 0.0);
        assert_eq!(p.ci, (0.0, 0.0));
        assert_eq!(p.prob_better, 0.5);
    }

    #[test]
    fn a_shifted_up_series_wins_every_resample() {
        // a = b + c, c > 0: same std, higher mean, so Sharpe(a) > Sharpe(b) on every
        // resample whose std is not zero (the sine values are distinct).
        let b = series(150, 0.3);
        let a: Vec<f64> = b.iter().map(|x| x + 0.002).collect();
        let cfg = BootstrapConfig::default();
        let p = paired_sharpe_diff(&a, &b, 252.0, &cfg).unwrap();
        assert_eq!(p.prob_better, 1.0);
        assert!(p.ci.0 > 0.0 && p.difference > 0.0);
        let q = paired_sharpe_diff(&b, &a, 252.0, &cfg).unwrap();
        assert_eq!(q.prob_better, 0.0);
        assert!((q.difference + p.difference).abs() < 1e-12);
    }

    #[test]
    fn pairing_uses_the_same_indices_as_the_single_interval() {
        // With b = 0 everywhere, Sharpe(b) is 0 in every resample, so the difference
        // interval is exactly the single-series interval with the same seed.
        let a = series(120, 1.0);
        let zero = vec![0.0; a.len()];
        let cfg = BootstrapConfig {
            seed: 11,
            resamples: 300,
            ..Default::default()
        };
        let p = paired_sharpe_diff(&a, &zero, 252.0, &cfg).unwrap();
        assert_eq!(Some(p.ci), sharpe_ci(&a, 252.0, &cfg));
    }

    #[test]
    fn undefined_cases_are_none() {
        let cfg = BootstrapConfig::default();
        let r = series(50, 0.0);
        assert!(paired_sharpe_diff(&r, &r[1..], 252.0, &cfg).is_none());
        assert!(paired_sharpe_diff(&r[..9], &r[..9], 252.0, &cfg).is_none());
        let mut bad = r.clone();
        bad[4] = f64::INFINITY;
        assert!(paired_sharpe_diff(&bad, &r, 252.0, &cfg).is_none());
    }
}
