//! Position sizing for the out-of-sample replay, behind [`SizingRule`].
//!
//! Until the risk engine lands, the replay uses the seed plan's quarter-Kelly
//! rule ([`QuarterKelly`]); the risk engine will implement [`SizingRule`] and
//! replace it without touching the walk-forward runner.

use crate::{config::walkforward::SizingSpec, regime::Regime};

/// Turns edge probabilities into target weights for one bar.
pub trait SizingRule: Send + Sync {
    /// Target weight of one asset (fraction of equity, long only) given its edge
    /// probability and the bar's regime.
    fn weight(&self, edge_probability: f64, regime: Regime) -> f64;

    /// Target weights of the whole book; `probs[i]` is None for assets without a
    /// prediction. The default sizes each asset with [`SizingRule::weight`].
    fn book(&self, probs: &[Option<f64>], regime: Regime) -> Vec<f64> {
        probs
            .iter()
            .map(|p| p.map_or(0.0, |p| self.weight(p, regime)))
            .collect()
    }
}

/// Quarter Kelly at 2:1 odds with regime multipliers, as in the seed plan.
///
/// Kelly (1956): for win probability p and odds b the growth-optimal fraction is
/// `f* = (b p - (1 - p)) / b`. The seed plan takes b = 2 (2% expected win over 1%
/// expected loss), a quarter of f*, x0.5 in VOLATILE, x1.2 in STABLE, and caps the
/// result at `max_position`. Below `min_edge` no position is taken. CRISIS is
/// treated like VOLATILE. The book's sum of weights is scaled down to `max_gross`
/// when it exceeds it, so many small edges never add up to leverage.
#[derive(Debug, Clone)]
pub struct QuarterKelly {
    /// Edge probability below which the weight is 0.
    pub min_edge: f64,
    /// Weight cap per asset.
    pub max_position: f64,
    /// Cap on the sum of weights.
    pub max_gross: f64,
}

/// Odds b of the seed plan: 2% average win over 1% average loss.
pub const ODDS: f64 = 2.0;
/// Share of the full Kelly fraction.
pub const KELLY_FRACTION: f64 = 0.25;

impl QuarterKelly {
    /// The rule configured by `[sizing]`.
    pub fn new(spec: &SizingSpec) -> Self {
        Self {
            min_edge: spec.min_edge,
            max_position: spec.max_position,
            max_gross: spec.max_gross,
        }
    }
}

impl SizingRule for QuarterKelly {
    fn weight(&self, p: f64, regime: Regime) -> f64 {
        if !p.is_finite() || p < self.min_edge {
            return 0.0;
        }
        let full = (ODDS * p - (1.0 - p)) / ODDS;
        let mult = match regime {
            Regime::Volatile | Regime::Crisis => 0.5,
            Regime::Stable => 1.2,
            Regime::Trending => 1.0,
        };
        (full * KELLY_FRACTION * mult).clamp(0.0, self.max_position)
    }

    fn book(&self, probs: &[Option<f64>], regime: Regime) -> Vec<f64> {
        let mut w: Vec<f64> = probs
            .iter()
            .map(|p| p.map_or(0.0, |p| self.weight(p, regime)))
            .collect();
        let gross: f64 = w.iter().sum();
        if gross > self.max_gross && gross > 0.0 {
            let k = self.max_gross / gross;
            w.iter_mut().for_each(|x| *x *= k);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> QuarterKelly {
        QuarterKelly::new(&SizingSpec::default())
    }

    #[test]
    fn hand_computed_weights() {
        let r = rule();
        // p = 0.6: f* = (1.2 - 0.4) / 2 = 0.4; quarter = 0.1; STABLE x1.2 = 0.12 -> cap 0.10.
        assert!((r.weight(0.6, Regime::Trending) - 0.1).abs() < 1e-12);
        assert!((r.weight(0.6, Regime::Stable) - 0.1).abs() < 1e-12);
        assert!((r.weight(0.6, Regime::Volatile) - 0.05).abs() < 1e-12);
        // p = 0.56: f* = (1.12 - 0.44) / 2 = 0.34; quarter 0.085.
        assert!((r.weight(0.56, Regime::Trending) - 0.085).abs() < 1e-12);
        assert_eq!(r.weight(0.54, Regime::Stable), 0.0);
        assert_eq!(r.weight(f64::NAN, Regime::Stable), 0.0);
    }

    #[test]
    fn book_is_scaled_to_max_gross() {
        let r = rule();
        let w = r.book(&vec![Some(0.9); 20], Regime::Trending);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let w = r.book(&[Some(0.9), None, Some(0.1)], Regime::Trending);
        assert_eq!(w, vec![0.1, 0.0, 0.0]);
    }
}
