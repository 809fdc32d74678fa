//! Dynamic hedging of the replayed book (the seed plan's priority 7).
//!
//! At the close of each decision bar t, after the strategy's trades, the
//! book's one-bar return series over the rolling window (bars
//! `t - window + 1 ..= t` where every instrument has a return) is the
//! held weights times each asset's returns (0 where undefined). Against each
//! instrument j: `beta_j = cov(book, x_j) / var(x_j)` and the correlation
//! `rho_j`. The hedge weight is `h_j = -beta_j x hedge_ratio x m(regime at t)`
//! while `rho_j > correlation_threshold`, else 0. The beta after hedging is
//! `cov(book + Σ_k h_k x_k, x_j) / var(x_j)`. The account then trades each
//! instrument from its held shares to `h_j x value / close_j(t)` at that
//! close, paying the same fee as every trade (`sizing.cost_bps`), shown in
//! trades.parquet with reason `hedge`. A flat book has beta 0 and
//! correlation 0 (no hedge). An instrument without a close at t keeps its
//! position; positions are marked at the instrument's last known close.

use ndarray::{ArrayView1, ArrayView2};

use super::trade::{Trade, TradeReason};
use crate::{
    config::hedge::HedgeSpec,
    data::Benchmark,
    regime::Regime,
    strategy::execution::{Conditions, Simulator, orders::Orders},
};

/// What the job supplies for hedging: the settings and the instruments'
/// closes aligned to the panel calendar (in `spec.instruments` order).
#[derive(Debug, Clone)]
pub struct Hedging {
    /// `[hedge]`.
    pub spec: HedgeSpec,
    /// One aligned series per instrument.
    pub instruments: Vec<Benchmark>,
}

/// The book's exposure to one instrument at one bar, and its hedge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exposure {
    /// Beta of the book to the instrument before hedging.
    pub beta_before: f64,
    /// Beta of the hedged book.
    pub beta_after: f64,
    /// Correlation of the book to the instrument.
    pub correlation: f64,
    /// Hedge weight (fraction of the account's value, negative is short).
    pub weight: f64,
}

/// One bar of one instrument's hedge (hedges.parquet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeRow {
    /// Decision bar.
    pub bar: usize,
    /// Instrument index, in `[[hedge.instruments]]` order.
    pub instrument: usize,
    /// The exposure and the hedge.
    pub exposure: Exposure,
}

/// What the hedge did over the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeOutcome {
    /// Instrument symbols, in `[[hedge.instruments]]` order (trades of
    /// instrument j carry asset index `n_assets + j`).
    pub symbols: Vec<String>,
    /// Per decision bar and instrument, in (bar, instrument) order.
    pub rows: Vec<HedgeRow>,
    /// Fees paid on each instrument's trades (currency).
    pub costs: Vec<f64>,
}

/// Exposures of a book whose per-bar returns are `book` to instruments whose
/// returns on the same bars are `x[j]`, hedged per `spec` with regime
/// multiplier `mult`. None when an instrument has no variance or fewer than
/// 3 bars are given.
pub fn exposures(
    book: &[f64],
    x: &[Vec<f64>],
    spec: &HedgeSpec,
    mult: f64,
) -> Option<Vec<Exposure>> {
    let n = book.len();
    if n < 3 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let cov = |a: &[f64], b: &[f64]| {
        let (ma, mb) = (mean(a), mean(b));
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - ma) * (q - mb))
            .sum::<f64>()
            / (n - 1) as f64
    };
    let var_book = cov(book, book);
    let mut out = Vec::with_capacity(x.len());
    for xj in x {
        let var = cov(xj, xj);
        if var <= 0.0 {
            return None;
        }
        let c = cov(book, xj);
        let correlation = if var_book > 0.0 {
            c / (var_book * var).sqrt()
        } else {
            0.0
        };
        let beta = c / var;
        let weight = if correlation > spec.correlation_threshold {
            -beta * spec.hedge_ratio * mult
        } else {
            0.0
        };
        out.push(Exposure {
            beta_before: beta,
            beta_after: beta,
            correlation,
            weight,
        });
    }
    let hedged: Vec<f64> = (0..n)
        .map(|t| {
            book[t]
                + x.iter()
                    .zip(&out)
                    .map(|(xk, e)| e.weight * xk[t])
                    .sum::<f64>()
        })
        .collect();
    for (xj, e) in x.iter().zip(out.iter_mut()) {
        e.beta_after = cov(&hedged, xj) / cov(xj, xj);
    }
    Some(out)
}

/// The hedge book carried through the replay.
#[derive(Debug, Clone)]
pub struct Hedger<'a> {
    hedging: &'a Hedging,
    returns: Vec<Vec<f64>>,
    regimes: Vec<Option<Regime>>,
    shares: Vec<f64>,
    last_price: Vec<f64>,
    out: HedgeOutcome,
}

impl<'a> Hedger<'a> {
    /// A flat hedge book; `regimes[t]` is the regime at bar t (None: multiplier 1).
    pub fn new(hedging: &'a Hedging, regimes: Vec<Option<Regime>>) -> Self {
        let k = hedging.instruments.len();
        Self {
            hedging,
            returns: hedging.instruments.iter().map(Benchmark::returns).collect(),
            regimes,
            shares: vec![0.0; k],
            last_price: vec![f64::NAN; k],
            out: HedgeOutcome {
                symbols: hedging
                    .instruments
                    .iter()
                    .map(|b| b.symbol.clone())
                    .collect(),
                rows: Vec::new(),
                costs: vec![0.0; k],
            },
        }
    }

    /// Value of the hedge positions at the close of bar `t` (last known closes).
    pub fn mark(&mut self, t: usize) -> f64 {
        let mut v = 0.0;
        for (j, b) in self.hedging.instruments.iter().enumerate() {
            if b.available[t] && b.close[t] > 0.0 {
                self.last_price[j] = b.close[t];
            }
            if self.shares[j] != 0.0 {
                v += self.shares[j] * self.last_price[j];
            }
        }
        v
    }

    /// Hedges the book `weights` (held after bar t's trades) at the close of
    /// bar `t`, with account value `value`: returns the hedge trades, filled
    /// through `sim` as one-bar orders (an index has no volume: no impact,
    /// no participation cap), their costs already taken from `cash`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the replay's state at one bar, passed as is"
    )]
    pub fn rebalance(
        &mut self,
        t: usize,
        fold: usize,
        weights: ArrayView1<'_, f64>,
        asset_returns: ArrayView2<'_, f64>,
        value: f64,
        sim: &Simulator,
        orders: &mut Orders,
        cash: &mut f64,
    ) -> Vec<Trade> {
        let spec = &self.hedging.spec;
        let rows: Vec<usize> = (t + 1 - spec.window.min(t + 1)..=t)
            .filter(|&s| self.returns.iter().all(|r| r[s].is_finite()))
            .collect();
        let held: Vec<(usize, f64)> = weights
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, w)| w != 0.0)
            .collect();
        let book: Vec<f64> = rows
            .iter()
            .map(|&s| {
                held.iter()
                    .map(|&(i, w)| {
                        let r = asset_returns[[s, i]];
                        if r.is_finite() { w * r } else { 0.0 }
                    })
                    .sum()
            })
            .collect();
        let x: Vec<Vec<f64>> = self
            .returns
            .iter()
            .map(|r| rows.iter().map(|&s| r[s]).collect())
            .collect();
        let mult = self
            .regimes
            .get(t)
            .copied()
            .flatten()
            .map_or(1.0, |r| spec.multiplier(r.name()));
        let exp = exposures(&book, &x, spec, mult);
        let n_assets = weights.len();
        let mut trades = Vec::new();
        for (j, b) in self.hedging.instruments.iter().enumerate() {
            let target = exp.as_ref().map_or(0.0, |e| e[j].weight);
            if let Some(e) = &exp {
                self.out.rows.push(HedgeRow {
                    bar: t,
                    instrument: j,
                    exposure: e[j],
                });
            }
            let price = b.close[t];
            if !(b.available[t] && price > 0.0) || value <= 0.0 {
                continue;
            }
            let delta = target * value / price - self.shares[j];
            let notional = (delta * price).abs();
            if notional <= 1e-9 * value {
                continue;
            }
            let c = Conditions {
                price,
                adv: f64::INFINITY,
                sigma: 0.0,
                half_spread: sim.spec().default_spread / 2.0,
                default_adv: false,
                default_sigma: false,
                default_spread: false,
            };
            let parent_id = orders.new_id();
            for fill in sim.fill(delta, &c) {
                *cash -= fill.quantity * price + fill.cost();
                self.shares[j] += fill.quantity;
                self.out.costs[j] += fill.cost();
                trades.push(Trade {
                    bar: t,
                    fold,
                    asset: n_assets + j,
                    requested: delta,
                    quantity: fill.quantity,
                    price,
                    notional: fill.notional,
                    venue: Some(fill.venue),
                    parent_id,
                    slice: 0,
                    impact_cost: fill.impact_cost,
                    spread_cost: fill.spread_cost,
                    fee: fill.fee,
                    participation: 0.0,
                    reason: TradeReason::Hedge,
                });
            }
        }
        trades
    }

    /// What the hedge did.
    pub fn finish(self) -> HedgeOutcome {
        self.out
    }
}

#[cfg(test)]
#[path = "hedge_tests.rs"]
mod tests;
