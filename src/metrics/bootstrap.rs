//! Stationary-bootstrap confidence interval of the annualized Sharpe ratio.
//!
//! D. N. Politis and J. P. Romano, "The Stationary Bootstrap", JASA 89 (1994):
//! resample blocks of geometric length (mean `L`, restart probability `p = 1/L`)
//! starting at uniform positions, wrapping circularly, so the resampled series stays
//! stationary and keeps short-range dependence. The interval is the percentile
//! interval of the resampled Sharpe ratios (numpy's default linear interpolation).
//!
//! Default mean block length `L = n^(1/3)` (at least 1): the rate of the optimal
//! block length in Politis & White, "Automatic Block-Length Selection for the
//! Dependent Bootstrap", Econometric Reviews 23 (2004).
//!
//! Randomness is a pure function of `(seed, resample, draw)` (SplitMix64 on a
//! counter), so the interval is identical across runs and thread counts.

use rayon::prelude::*;

use super::{quantile::quantile_sorted, sharpe::sharpe};
use crate::splitmix::{GOLDEN_GAMMA, splitmix64};

/// Fewest bars for which an interval is reported.
pub const MIN_BOOTSTRAP_BARS: usize = 10;

/// Settings of the stationary bootstrap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapConfig {
    /// Number of resamples B.
    pub resamples: usize,
    /// Mean block length L in bars; None picks `n^(1/3)`.
    pub mean_block: Option<f64>,
    /// Two-sided confidence level, e.g. 0.95.
    pub level: f64,
    /// Seed of the counter-based generator.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 1000,
            mean_block: None,
            level: 0.95,
            seed: 0,
        }
    }
}

/// Percentile confidence interval `(lo, hi)` of the annualized Sharpe ratio.
///
/// None when fewer than [`MIN_BOOTSTRAP_BARS`] bars, no resamples, a level outside
/// (0, 1), or a non-finite return.
pub fn sharpe_ci(r: &[f64], bars_per_year: f64, cfg: &BootstrapConfig) -> Option<(f64, f64)> {
    let n = r.len();
    if n < MIN_BOOTSTRAP_BARS
        || cfg.resamples == 0
        || !(cfg.level > 0.0 && cfg.level < 1.0)
        || r.iter().any(|x| !x.is_finite())
    {
        return None;
    }
    let walk = Stationary::new(n, cfg);
    let mut stats: Vec<f64> = (0..cfg.resamples as u64)
        .into_par_iter()
        .map_init(
            || (vec![0; n], vec![0.0; n]),
            |(idx, buf), b| {
                walk.indices(b, idx);
                for (slot, &i) in buf.iter_mut().zip(idx.iter()) {
                    *slot = r[i];
                }
                sharpe(buf, bars_per_year).unwrap_or(0.0)
            },
        )
        .collect();
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - cfg.level) / 2.0;
    Some((
        quantile_sorted(&stats, alpha),
        quantile_sorted(&stats, 1.0 - alpha),
    ))
}

/// SplitMix64 over `(key, stream, counter)`.
struct Counter {
    base: u64,
    ctr: u64,
}

impl Counter {
    fn new(key: u64, stream: u64) -> Self {
        Self {
            base: splitmix64(key ^ splitmix64(stream)),
            ctr: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.ctr += 1;
        splitmix64(self.base.wrapping_add(self.ctr.wrapping_mul(GOLDEN_GAMMA)))
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform index in [0, n) by multiply-shift (bias below n / 2^64).
    fn index(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// The index walk of the stationary bootstrap for series of length `n`.
///
/// Resample `b` is a pure function of `(seed, b)`, so two series resampled with
/// the same walk get the same indices (a paired bootstrap).
pub(super) struct Stationary {
    key: u64,
    n: usize,
    p: f64,
}

impl Stationary {
    /// Walk with the config's mean block length (default `n^(1/3)`) and seed.
    pub(super) fn new(n: usize, cfg: &BootstrapConfig) -> Self {
        let block = cfg.mean_block.unwrap_or((n as f64).cbrt()).max(1.0);
        Self {
            key: splitmix64(cfg.seed ^ 0x6368_6c6f_655f_6273), // "chloe_bs"
            n,
            p: 1.0 / block,
        }
    }

    /// Fills `out` (length `n`) with the indices of resample `b`.
    pub(super) fn indices(&self, b: u64, out: &mut [usize]) {
        let n = self.n;
        let mut rng = Counter::new(self.key, b);
        let mut i = rng.index(n);
        for slot in out.iter_mut() {
            *slot = i;
            i = if rng.unit() < self.p {
                rng.index(n)
            } else {
                (i + 1) % n
            };
        }
    }
}

/// Percentile interval `(lo, hi)` at two-sided `level` of sorted resampled statistics.
pub(super) fn percentile_interval(sorted: &[f64], level: f64) -> (f64, f64) {
    let alpha = (1.0 - level) / 2.0;
    (
        quantile_sorted(sorted, alpha),
        quantile_sorted(sorted, 1.0 - alpha),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<f64> {
        // Deterministic wiggly series with positive drift.
        (0..n)
            .map(|i| 0.001 + 0.01 * ((i as f64) * 1.7).sin())
            .collect()
    }

    #[test]
    fn deterministic_and_brackets_point_estimate() {
        let r = series(500);
        let cfg = BootstrapConfig {
            seed: 7,
            ..Default::default()
        };
        let a = sharpe_ci(&r, 252.0, &cfg).unwrap();
        let b = sharpe_ci(&r, 252.0, &cfg).unwrap();
        assert_eq!(a, b);
        let s = sharpe(&r, 252.0).unwrap();
        assert!(a.0 < s && s < a.1, "{a:?} vs {s}");
        let c = sharpe_ci(&r, 252.0, &BootstrapConfig { seed: 8, ..cfg }).unwrap();
        assert_ne!(a, c);
    }

    /// The interval as computed before the index walk was shared with the paired
    /// bootstrap: the walk must draw the same numbers in the same order.
    fn sharpe_ci_reference(r: &[f64], cfg: &BootstrapConfig) -> (f64, f64) {
        let n = r.len();
        let p = 1.0 / cfg.mean_block.unwrap_or((n as f64).cbrt()).max(1.0);
        let key = splitmix64(cfg.seed ^ 0x6368_6c6f_655f_6273);
        let mut stats: Vec<f64> = (0..cfg.resamples as u64)
            .map(|b| {
                let mut rng = Counter::new(key, b);
                let mut i = rng.index(n);
                let mut buf = vec![0.0; n];
                for slot in buf.iter_mut() {
                    *slot = r[i];
                    i = if rng.unit() < p {
                        rng.index(n)
                    } else {
                        (i + 1) % n
                    };
                }
                sharpe(&buf, 252.0).unwrap_or(0.0)
            })
            .collect();
        stats.sort_by(f64::total_cmp);
        percentile_interval(&stats, cfg.level)
    }

    #[test]
    fn shared_walk_gives_the_same_interval_as_before() {
        for (n, seed, block) in [(10, 0, None), (77, 3, None), (400, 9, Some(5.0))] {
            let cfg = BootstrapConfig {
                resamples: 200,
                mean_block: block,
                level: 0.95,
                seed,
            };
            let r = series(n);
            assert_eq!(
                sharpe_ci(&r, 252.0, &cfg),
                Some(sharpe_ci_reference(&r, &cfg))
            );
        }
    }

    #[test]
    fn thread_count_does_not_matter() {
        let r = series(300);
        let cfg = BootstrapConfig::default();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| sharpe_ci(&r, 252.0, &cfg));
        assert_eq!(a, sharpe_ci(&r, 252.0, &cfg));
    }

    #[test]
    fn too_short_or_bad_input_is_none() {
        let cfg = BootstrapConfig::default();
        assert_eq!(sharpe_ci(&series(9), 252.0, &cfg), None);
        let mut r = series(50);
        r[3] = f64::NAN;
        assert_eq!(sharpe_ci(&r, 252.0, &cfg), None);
        assert_eq!(
            sharpe_ci(&series(50), 252.0, &BootstrapConfig { level: 1.0, ..cfg }),
            None
        );
    }
}
