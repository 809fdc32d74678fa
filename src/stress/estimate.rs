//! Market inputs estimated from a panel, and bootstrap return tables.

use super::correlation;
use crate::{
    config::stress::MarketInputs,
    data::Panel,
    error::{ConfigError, DataError},
};

/// Market inputs estimated from data, with the fallbacks the estimate used.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The inputs.
    pub inputs: MarketInputs,
    /// Days with a return for every symbol that the moments came from.
    pub days: usize,
    /// Symbols whose ADV is `default_adv` (no volume in the window).
    pub default_adv: Vec<String>,
    /// Symbols whose spread is `default_spread` (no usable high/low).
    pub default_spread: Vec<String>,
    /// Shrinkage toward the identity that repaired the correlation, if any.
    pub correlation_repair: Option<f64>,
}

fn columns(panel: &Panel, symbols: &[String], key: &str) -> Result<Vec<usize>, ConfigError> {
    symbols
        .iter()
        .map(|s| {
            panel.symbols.iter().position(|p| p == s).ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}.{s}"),
                    "names a symbol that is not in the job's data",
                )
            })
        })
        .collect()
}

/// Daily log returns of `cols` on bars `rows` where every symbol has a real
/// (not forward-filled) close on both days: `[days, cols]` row-major.
fn complete_returns(panel: &Panel, cols: &[usize], rows: std::ops::Range<usize>) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for t in rows.start.max(1)..rows.end {
        let ok = cols.iter().all(|&j| {
            panel.available[[t, j]]
                && panel.available[[t - 1, j]]
                && !panel.filled[[t, j]]
                && panel.close[[t, j]] > 0.0
                && panel.close[[t - 1, j]] > 0.0
        });
        if ok {
            out.push(
                cols.iter()
                    .map(|&j| (panel.close[[t, j]] / panel.close[[t - 1, j]]).ln())
                    .collect(),
            );
        }
    }
    out
}

/// Corwin and Schultz (2012) two-day high-low spread estimate, negatives set to 0, averaged.
fn corwin_schultz(panel: &Panel, j: usize, rows: std::ops::Range<usize>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for t in rows.start.max(1)..rows.end {
        if let Some(s) = crate::metrics::corwin_schultz_pair(
            panel.high[[t - 1, j]],
            panel.low[[t - 1, j]],
            panel.high[[t, j]],
            panel.low[[t, j]],
        ) {
            sum += s;
            n += 1;
        }
    }
    (n >= 10).then(|| sum / n as f64)
}

/// Estimates mu, sigma, correlation, ADV and spread of `symbols` from the last `days` bars.
pub fn estimate_market(
    panel: &Panel,
    symbols: &[String],
    days: usize,
    default_spread: f64,
    default_adv: f64,
    max_repair: f64,
) -> anyhow::Result<Estimate> {
    let cols = columns(panel, symbols, "stress.portfolio.weights")?;
    let end = panel.n_bars();
    let rows = end.saturating_sub(days)..end;
    let r = complete_returns(panel, &cols, rows.clone());
    if r.len() < 20 {
        return Err(DataError::TooShort {
            message: format!(
                "stress.market.estimation_days: {} days with a return for every one of {} symbols in the last {days} bars, need at least 20",
                r.len(),
                symbols.len()
            ),
        }
        .into());
    }
    let n = cols.len();
    let nd = r.len() as f64;
    let mean: Vec<f64> = (0..n)
        .map(|i| r.iter().map(|x| x[i]).sum::<f64>() / nd)
        .collect();
    let cov = |i: usize, j: usize| {
        r.iter()
            .map(|x| (x[i] - mean[i]) * (x[j] - mean[j]))
            .sum::<f64>()
            / (nd - 1.0)
    };
    let sigma: Vec<f64> = (0..n).map(|i| cov(i, i).sqrt()).collect();
    let correlation: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        1.0
                    } else if sigma[i] > 0.0 && sigma[j] > 0.0 {
                        (cov(i, j) / (sigma[i] * sigma[j])).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let (correlation, correlation_repair) = correlation::repair(correlation, max_repair.max(0.01))?;
    let mu = (0..n)
        .map(|i| mean[i] + sigma[i] * sigma[i] / 2.0)
        .collect();
    let mut adv = Vec::with_capacity(n);
    let mut spread = Vec::with_capacity(n);
    let (mut default_advs, mut default_spreads) = (Vec::new(), Vec::new());
    for &j in &cols {
        let f = panel.fields[j];
        let traded: Vec<f64> = rows
            .clone()
            .filter(|&t| !panel.filled[[t, j]])
            .map(|t| panel.close[[t, j]] * panel.volume[[t, j]])
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        adv.push(if f.has_volume && !traded.is_empty() {
            traded.iter().sum::<f64>() / traded.len() as f64
        } else {
            default_advs.push(panel.symbols[j].clone());
            default_adv
        });
        let cs = f
            .has_ohlc
            .then(|| corwin_schultz(panel, j, rows.clone()))
            .flatten();
        if cs.is_none() {
            default_spreads.push(panel.symbols[j].clone());
        }
        spread.push(cs.unwrap_or(default_spread).min(0.5));
    }
    Ok(Estimate {
        inputs: MarketInputs {
            symbols: symbols.to_vec(),
            mu,
            sigma,
            adv,
            spread,
            correlation,
        },
        days: r.len(),
        default_adv: default_advs,
        default_spread: default_spreads,
        correlation_repair,
    })
}

/// Daily log returns of `symbols` inside [start, end] (complete days only), row-major.
pub fn bootstrap_table(
    panel: &Panel,
    symbols: &[String],
    start: Option<i64>,
    end: Option<i64>,
    key: &str,
) -> anyhow::Result<Vec<f32>> {
    let cols = columns(panel, symbols, "stress.portfolio.weights")?;
    let a = panel
        .timestamps
        .partition_point(|&t| t < start.unwrap_or(i64::MIN));
    let b = panel
        .timestamps
        .partition_point(|&t| t <= end.unwrap_or(i64::MAX));
    let r = complete_returns(panel, &cols, a..b);
    if r.len() < 2 {
        return Err(ConfigError::invalid(
            key,
            format!(
                "window holds {} day(s) with returns for every symbol, need at least 2",
                r.len()
            ),
        )
        .into());
    }
    Ok(r.into_iter().flatten().map(|v| v as f32).collect())
}
