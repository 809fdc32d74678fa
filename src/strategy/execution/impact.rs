//! Market impact models: the cost of a child order, as a fraction of its
//! price, from its participation in the average daily volume.

use crate::config::execution::{ExecutionSpec, ImpactForm};

/// Prices a child order's market impact.
pub trait ImpactModel: Send + Sync {
    /// Impact as a fraction of the price for `participation` (child shares
    /// over ADV shares) of an asset whose daily returns have std `sigma_daily`.
    fn impact(&self, participation: f64, sigma_daily: f64) -> f64;
}

/// The square-root law (Almgren et al. 2005; Toth et al. 2011):
/// `k x sigma_daily x sqrt(participation)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigmaSqrt {
    /// The coefficient k.
    pub k: f64,
}

impl ImpactModel for SigmaSqrt {
    fn impact(&self, participation: f64, sigma_daily: f64) -> f64 {
        self.k * sigma_daily * participation.max(0.0).sqrt()
    }
}

/// The seed plan's model: `0.1 x sqrt(participation)`, whatever the volatility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedImpact;

impl ImpactModel for SeedImpact {
    fn impact(&self, participation: f64, _sigma_daily: f64) -> f64 {
        0.1 * participation.max(0.0).sqrt()
    }
}

/// The impact model `[execution]` configures.
pub fn from_spec(spec: &ExecutionSpec) -> Box<dyn ImpactModel> {
    match spec.impact_form {
        ImpactForm::SigmaSqrt => Box::new(SigmaSqrt {
            k: spec.impact_coefficient,
        }),
        ImpactForm::Seed => Box::new(SeedImpact),
    }
}
