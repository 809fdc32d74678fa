//! The continuous account: one serial replay over the stitched out-of-sample
//! timeline.
//!
//! Timing: at the close of bar t the account is marked at the close (cash
//! plus shares x close), the strategy decides target weights with the model
//! of the fold whose test window holds t, and the account sends orders from
//! its drifted holdings toward `target x value at that close` through the
//! execution simulator ([`crate::strategy::execution`]): fills at the close,
//! with impact, half spread and venue fees charged in cash on each fill;
//! the shares are held to the next close. Every cost of the account is a
//! row of `trades` (nothing else is charged). The return of bar t + 1 is
//! `value(t + 1) / value(t) - 1`, where value(t) is before t's costs (they
//! show in the next bar's return). A sliced order's unfilled remainder
//! carries to the next bars under the same parent id: a bar whose target for
//! the asset is its drifted holding (a hold) keeps working toward the
//! order's goal; any other target replaces the goal (the same order while
//! the side is the same, else a new one). Positions, open orders, the
//! strategy's state and costs carry across fold boundaries; bars between
//! two test windows (step longer than the test window) hold the book and
//! belong to the earlier fold's segment. A trade smaller than 1e-9 of the
//! account's value is not made (float noise of a rebalance to the same book).
//!
//! A symbol whose close at t is forward-filled (stale) or missing is not
//! traded at t: no position is opened, increased or reduced at a price that
//! did not trade (its open order waits). A held symbol without a close at t
//! (it stopped trading past the fill limit) is sold at its last real close
//! less `delisting_haircut` (no fee), recorded as a trade with reason
//! `delisted`.

use ndarray::{Array2, ArrayView2};

use super::hedge::{HedgeOutcome, Hedger};

pub use super::trade::{Trade, TradeReason};
use crate::{
    config::{execution::ExecutionSpec, strategy::PortfolioSpec},
    data::Panel,
    strategy::{
        Book, Decision, DecisionRecord, Fold, Market, Strategy,
        execution::{Simulator, orders::Orders},
    },
};

/// A decision record with its bar and fold.
#[derive(Debug, Clone, PartialEq)]
pub struct DatedRecord {
    /// Bar of the decision.
    pub bar: usize,
    /// Fold of the decision.
    pub fold: usize,
    /// What the risk engine did.
    pub record: DecisionRecord,
}

/// What the execution simulator did over the replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionStats {
    /// (bar, asset) increases the no-trade band skipped.
    pub skipped_by_band: usize,
    /// Parent orders sent as slices.
    pub sliced_orders: usize,
    /// Remainders carried to a next bar, summed over bars (currency at each bar's close).
    pub carried_notional: f64,
    /// Orders that ended before their goal (replaced, dropped by the band or a
    /// delisting, or open after the last bar).
    pub unfilled_orders: usize,
    /// Their remainders (currency at the price when each ended).
    pub unfilled_notional: f64,
    /// Orders still open after the last out-of-sample bar.
    pub open_at_end: usize,
    /// Assets whose sigma_daily used `execution.default_sigma` at least once.
    pub default_sigma: Vec<usize>,
    /// Assets whose spread used `execution.default_spread` at least once.
    pub default_spread: Vec<usize>,
    /// Wall time spent in the simulator, seconds (logs only; not deterministic).
    pub seconds: f64,
}

/// What the replay produced.
#[derive(Debug, Clone)]
pub struct Replay {
    /// First decision bar (the first fold's test start).
    pub start: usize,
    /// Net return per bar, dated `start + 1 ..`.
    pub returns: Vec<f64>,
    /// Account value after each return (currency).
    pub values: Vec<f64>,
    /// Fold whose segment holds each decision bar (same length as `returns`).
    pub segment: Vec<usize>,
    /// Holdings after each decision bar's trades `[bars, assets]`, fractions of that close's value.
    pub weights: Array2<f64>,
    /// Traded notional over the account value per decision bar (one-way).
    pub turnover: Vec<f64>,
    /// Whether any position was held after each decision bar's trades.
    pub in_market: Vec<bool>,
    /// Every fill, in (bar, asset, venue) order.
    pub trades: Vec<Trade>,
    /// Venue names, indexed by [`Trade::venue`].
    pub venues: Vec<String>,
    /// Risk-engine records, in (bar, asset) order.
    pub decisions: Vec<DatedRecord>,
    /// Venue fees paid (currency).
    pub fees: f64,
    /// Market impact paid (currency).
    pub impact_cost: f64,
    /// Half spreads paid (currency).
    pub spread_cost: f64,
    /// What the simulator did.
    pub execution: ExecutionStats,
    /// Value lost to delisting haircuts (currency).
    pub delisting_loss: f64,
    /// Increases of a position refused because the bar was stale, (bar, asset) pairs.
    pub stale_blocked: usize,
    /// Assets whose ADV used `default_adv` at least once.
    pub default_adv: Vec<usize>,
    /// The decision on the deployment bar, when there is one.
    pub deployment: Option<Decision>,
    /// What the hedge did, when the replay was hedged.
    pub hedge: Option<HedgeOutcome>,
}

impl Replay {
    /// Every execution cost paid: fees, impact and half spreads (currency).
    pub fn costs(&self) -> f64 {
        self.fees + self.impact_cost + self.spread_cost
    }
}

/// Replays `strategy` over the test windows of `folds` (models in fold order),
/// then, when `deploy` is given, decides once more on its bar with its model
/// (the book held to that bar) without trading. Orders go through the
/// execution simulator of `execution`; `edge` holds the edge strength per
/// decision bar (row `t - start`) and asset, NaN without one, for the
/// no-trade band.
#[expect(
    clippy::too_many_arguments,
    reason = "the replay's inputs are independent"
)]
pub fn replay<'a, S: Strategy>(
    strategy: &mut S,
    panel: &'a Panel,
    returns: ArrayView2<'a, f64>,
    folds: &[Fold],
    models: &[S::Model],
    deploy: Option<(Fold, &S::Model)>,
    portfolio: &PortfolioSpec,
    execution: &ExecutionSpec,
    edge: Option<ArrayView2<'_, f64>>,
) -> Replay {
    replay_hedged(
        strategy, panel, returns, folds, models, deploy, portfolio, execution, edge, None,
    )
}

/// [`replay`], with the book hedged by `hedger` when one is given.
#[expect(
    clippy::too_many_arguments,
    reason = "the replay's inputs are independent"
)]
#[expect(
    clippy::needless_range_loop,
    reason = "the per-asset loops read the book, the panel and side arrays by the same index"
)]
pub fn replay_hedged<'a, S: Strategy>(
    strategy: &mut S,
    panel: &'a Panel,
    returns: ArrayView2<'a, f64>,
    folds: &[Fold],
    models: &[S::Model],
    deploy: Option<(Fold, &S::Model)>,
    portfolio: &PortfolioSpec,
    execution: &ExecutionSpec,
    edge: Option<ArrayView2<'_, f64>>,
    mut hedger: Option<Hedger<'_>>,
) -> Replay {
    let n = panel.n_assets();
    let start = folds[0].test_start;
    let end = folds[folds.len() - 1].test_end;
    let last = deploy.map_or(end + 1, |(f, _)| f.test_start.max(end + 1));
    let sim = Simulator::new(execution, portfolio.adv_window, portfolio.default_adv);
    let market = |t: usize| Market {
        t,
        timestamps: &panel.timestamps,
        close: panel.close.view(),
        available: panel.available.view(),
        filled: panel.filled.view(),
        returns,
        bars_per_year: panel.bars_per_year,
    };
    let mut book = Book::flat(portfolio.capital, n);
    let mut last_real = vec![f64::NAN; n];
    for t in 0..start {
        for (i, lr) in last_real.iter_mut().enumerate() {
            if panel.available[[t, i]] && !panel.filled[[t, i]] {
                *lr = panel.close[[t, i]];
            }
        }
    }
    let oos = end + 1 - start;
    let mut out = Replay {
        start,
        returns: Vec::with_capacity(oos),
        values: Vec::with_capacity(oos),
        segment: Vec::with_capacity(oos),
        weights: Array2::zeros((oos, n)),
        turnover: Vec::with_capacity(oos),
        in_market: Vec::with_capacity(oos),
        trades: Vec::new(),
        venues: execution.venues.iter().map(|v| v.name.clone()).collect(),
        decisions: Vec::new(),
        fees: 0.0,
        impact_cost: 0.0,
        spread_cost: 0.0,
        execution: ExecutionStats::default(),
        delisting_loss: 0.0,
        stale_blocked: 0,
        default_adv: Vec::new(),
        deployment: None,
        hedge: None,
    };
    let mut orders = Orders::new(n);
    let mut previous = vec![0.0; n];
    let mut record_of = vec![usize::MAX; n];
    let mut used = vec![[false; 3]; n];
    let mut k = 0usize;
    let mut prev_value = portfolio.capital;
    for t in start..=last {
        while k + 1 < folds.len() && folds[k + 1].test_start <= t {
            k += 1;
        }
        for (i, lr) in last_real.iter_mut().enumerate() {
            if panel.available[[t, i]] && !panel.filled[[t, i]] {
                *lr = panel.close[[t, i]];
            }
        }
        // Delistings: held symbols without a close at t.
        for i in 0..n {
            if book.shares[i] != 0.0 && !panel.available[[t, i]] {
                let q = book.shares[i];
                orders.close(i, q, last_real[i]);
                let price = last_real[i] * (1.0 - portfolio.delisting_haircut);
                book.cash += q * price;
                out.delisting_loss += q * last_real[i] * portfolio.delisting_haircut;
                book.shares[i] = 0.0;
                if t <= end + 1 {
                    out.trades.push(Trade {
                        bar: t,
                        fold: folds[if t > end { folds.len() - 1 } else { k }].index,
                        asset: i,
                        requested: -q,
                        quantity: -q,
                        price,
                        notional: (q * price).abs(),
                        venue: None,
                        parent_id: orders.new_id(),
                        slice: 0,
                        impact_cost: 0.0,
                        spread_cost: 0.0,
                        fee: 0.0,
                        participation: 0.0,
                        reason: TradeReason::Delisted,
                    });
                }
            }
        }
        let mut value = book.cash + hedger.as_mut().map_or(0.0, |h| h.mark(t));
        for i in 0..n {
            if book.shares[i] != 0.0 {
                value += book.shares[i] * panel.close[[t, i]];
            }
        }
        if t > start && t <= end + 1 {
            out.returns.push(value / prev_value - 1.0);
            out.values.push(value);
        }
        book.equity = value;
        book.peak = book.peak.max(value);
        for i in 0..n {
            book.weights[i] = if book.shares[i] != 0.0 {
                book.shares[i] * panel.close[[t, i]] / value
            } else {
                0.0
            };
        }
        prev_value = value;
        if t > end {
            if let (true, Some((_, model))) = (t == last, deploy) {
                out.deployment = Some(strategy.decide(model, &market(t), &book));
            }
            continue;
        }
        let f = folds[k];
        let decision = if t <= f.test_end {
            strategy.decide(&models[k], &market(t), &book)
        } else {
            Decision::hold(&book)
        };
        let row = t - start;
        let started = std::time::Instant::now();
        let mut traded = 0.0;
        record_of.fill(usize::MAX);
        for (k, r) in decision.records.iter().enumerate() {
            if r.asset < n {
                record_of[r.asset] = k;
            }
        }
        for i in 0..n {
            let target = decision.target.get(i).copied().unwrap_or(0.0);
            let record = decision.records.get(record_of[i]);
            let tradable = panel.available[[t, i]] && !panel.filled[[t, i]];
            let price = panel.close[[t, i]];
            out.weights[[row, i]] = book.weights[i];
            if !tradable || price.is_nan() || price <= 0.0 {
                if target.abs() > book.weights[i].abs() {
                    out.stale_blocked += 1;
                }
                continue;
            }
            let held = book.shares[i];
            // A hold (the strategy kept the drifted weight) keeps an open order's goal.
            let hold = target.to_bits() == book.weights[i].to_bits();
            let goal = match orders.get(i) {
                Some(p) if hold => p.goal,
                _ => target * value / price,
            };
            let want = goal - held;
            if (want * price).abs() <= 1e-9 * value.abs() {
                orders.close(i, held, price);
                if !hold {
                    previous[i] = target;
                }
                continue;
            }
            let c = sim.conditions(panel, returns, t, i);
            for (u, d) in used[i]
                .iter_mut()
                .zip([c.default_adv, c.default_sigma, c.default_spread])
            {
                *u |= d;
            }
            let reason = match orders.get(i) {
                Some(p) if hold => p.reason,
                _ => TradeReason::classify(target, book.weights[i], previous[i], record),
            };
            if !hold {
                previous[i] = target;
            }
            // A new goal on the other side ends the open order.
            if orders.get(i).is_some_and(|p| (p.goal - held) * want <= 0.0) {
                orders.close(i, held, price);
            }
            if !hold && matches!(reason, TradeReason::Signal | TradeReason::Rebalance) {
                let increase = goal.abs() > held.abs() && goal * held >= 0.0;
                let e = edge.and_then(|e| e.get([row, i]).copied());
                if increase && sim.band_skips(want, &c, e) {
                    out.execution.skipped_by_band += 1;
                    orders.close(i, held, price);
                    continue;
                }
            }
            let parent = match orders.get_mut(i) {
                Some(p) => {
                    if !hold {
                        p.goal = goal;
                        p.reason = reason;
                    }
                    *p
                }
                None => {
                    let sliced = sim.slices(want, &c);
                    out.execution.sliced_orders += usize::from(sliced);
                    *orders.open(i, goal, sliced, reason)
                }
            };
            let fills = sim.fill(sim.child(want, parent.sliced, &c), &c);
            for fill in &fills {
                book.cash -= fill.quantity * price + fill.cost();
                book.shares[i] += fill.quantity;
                out.fees += fill.fee;
                out.impact_cost += fill.impact_cost;
                out.spread_cost += fill.spread_cost;
                traded += fill.notional;
                out.trades.push(Trade {
                    bar: t,
                    fold: f.index,
                    asset: i,
                    requested: want,
                    quantity: fill.quantity,
                    price,
                    notional: fill.notional,
                    venue: Some(fill.venue),
                    parent_id: parent.id,
                    slice: parent.slices,
                    impact_cost: fill.impact_cost,
                    spread_cost: fill.spread_cost,
                    fee: fill.fee,
                    participation: fill.participation,
                    reason: parent.reason,
                });
            }
            let left = goal - book.shares[i];
            // At its goal the holding is the target (up to the rounding of shares).
            out.weights[[row, i]] = if hold { goal * price / value } else { target };
            if (left * price).abs() <= 1e-9 * value.abs() {
                orders.done(i);
            } else {
                out.weights[[row, i]] = book.shares[i] * price / value;
                out.execution.carried_notional += (left * price).abs();
                if let (Some(p), false) = (orders.get_mut(i), fills.is_empty()) {
                    p.slices += 1;
                }
            }
        }
        if let Some(h) = hedger.as_mut() {
            let hedges = h.rebalance(
                t,
                f.index,
                out.weights.row(row),
                returns,
                value,
                &sim,
                &mut orders,
                &mut book.cash,
            );
            for tr in &hedges {
                out.fees += tr.fee;
                out.impact_cost += tr.impact_cost;
                out.spread_cost += tr.spread_cost;
                traded += tr.notional;
            }
            out.trades.extend(hedges);
        }
        out.execution.seconds += started.elapsed().as_secs_f64();
        out.turnover
            .push(if value > 0.0 { traded / value } else { 0.0 });
        out.in_market.push(book.shares.iter().any(|&s| s != 0.0));
        out.segment.push(f.index);
        out.decisions
            .extend(decision.records.into_iter().map(|record| DatedRecord {
                bar: t,
                fold: f.index,
                record,
            }));
    }
    let open: Vec<usize> = orders.open_assets().collect();
    out.execution.open_at_end = open.len();
    for i in open {
        orders.close(i, book.shares[i], last_real[i]);
    }
    out.execution.unfilled_orders = orders.unfilled.orders;
    out.execution.unfilled_notional = orders.unfilled.notional;
    let flagged = |k: usize| (0..n).filter(|&i| used[i][k]).collect::<Vec<_>>();
    out.default_adv = flagged(0);
    out.execution.default_sigma = flagged(1);
    out.execution.default_spread = flagged(2);
    out.hedge = hedger.map(Hedger::finish);
    out
}
