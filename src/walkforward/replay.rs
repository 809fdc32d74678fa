//! The continuous account: one serial replay over the stitched out-of-sample
//! timeline.
//!
//! Timing: at the close of bar t the account is marked at the close (cash
//! plus shares x close), the strategy decides target weights with the model
//! of the fold whose test window holds t, and the account trades from its
//! drifted holdings to `target x value at that close`, paying a flat fee of
//! `cost_bps` on the traded notional; the shares are held to the next close.
//! The return of bar t + 1 is `value(t + 1) / value(t) - 1`, where value(t)
//! is before the fee (the fee shows in the next bar's return). Positions,
//! the strategy's state and costs carry across fold boundaries; bars between
//! two test windows (step longer than the test window) hold the book and
//! belong to the earlier fold's segment. A trade smaller than 1e-9 of the
//! account's value is not made (float noise of a rebalance to the same book).
//!
//! A symbol whose close at t is forward-filled (stale) or missing is not
//! traded at t: no position is opened, increased or reduced at a price that
//! did not trade. A held symbol without a close at t (it stopped trading past
//! the fill limit) is sold at its last real close less `delisting_haircut`
//! (no fee), recorded as a trade with reason `delisted`.
//!
//! With `[hedge]`, a [`Hedger`] marks its short index positions into the
//! account's value at each close and re-hedges after the strategy's trades
//! (see [`super::hedge`]); its trades carry reason `hedge`.

use ndarray::Array2;

use super::hedge::{HedgeOutcome, Hedger};
use crate::{
    config::strategy::PortfolioSpec,
    data::Panel,
    strategy::{Book, Decision, DecisionRecord, Fold, Market, Strategy},
};

/// Why a trade happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeReason {
    /// Moving the holdings to the strategy's targets.
    Rebalance,
    /// The symbol stopped trading; sold at its last real close.
    Delisted,
    /// A hedge instrument's position moved to the hedge target.
    Hedge,
}

impl TradeReason {
    /// The name in trades.parquet.
    pub fn name(self) -> &'static str {
        match self {
            TradeReason::Rebalance => "rebalance",
            TradeReason::Delisted => "delisted",
            TradeReason::Hedge => "hedge",
        }
    }
}

/// One fill of the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Bar of the fill (at its close).
    pub bar: usize,
    /// Fold whose segment holds the bar.
    pub fold: usize,
    /// Asset index; `n_assets + j` is hedge instrument j ([`HedgeOutcome::symbols`]).
    pub asset: usize,
    /// Signed shares (positive buys).
    pub quantity: f64,
    /// Fill price.
    pub price: f64,
    /// `|quantity| x price`.
    pub notional: f64,
    /// Fee paid.
    pub fee: f64,
    /// `|quantity|` over the ADV in shares.
    pub participation: f64,
    /// Why.
    pub reason: TradeReason,
}

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
    /// Every fill, in (bar, asset) order.
    pub trades: Vec<Trade>,
    /// Risk-engine records, in (bar, asset) order.
    pub decisions: Vec<DatedRecord>,
    /// Fees paid (currency).
    pub fees: f64,
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

/// Causal ADV in shares of asset `i` at bar `t`: mean real volume over the
/// last `window` bars (t included); None without volume there.
fn adv_shares(panel: &Panel, t: usize, i: usize, window: usize) -> Option<f64> {
    if !panel.fields[i].has_volume {
        return None;
    }
    let (mut s, mut n) = (0.0, 0usize);
    for u in t.saturating_sub(window - 1)..=t {
        let v = panel.volume[[u, i]];
        if v.is_finite() && !panel.filled[[u, i]] {
            s += v;
            n += 1;
        }
    }
    (n > 0 && s > 0.0).then(|| s / n as f64)
}

/// Replays `strategy` over the test windows of `folds` (models in fold order),
/// then, when `deploy` is given, decides once more on its bar with its model
/// (the book held to that bar) without trading.
#[expect(
    clippy::too_many_arguments,
    reason = "the replay's inputs are independent"
)]
pub fn replay<'a, S: Strategy>(
    strategy: &mut S,
    panel: &'a Panel,
    returns: ndarray::ArrayView2<'a, f64>,
    folds: &[Fold],
    models: &[S::Model],
    deploy: Option<(Fold, &S::Model)>,
    portfolio: &PortfolioSpec,
    cost_bps: f64,
) -> Replay {
    replay_hedged(
        strategy, panel, returns, folds, models, deploy, portfolio, cost_bps, None,
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
    returns: ndarray::ArrayView2<'a, f64>,
    folds: &[Fold],
    models: &[S::Model],
    deploy: Option<(Fold, &S::Model)>,
    portfolio: &PortfolioSpec,
    cost_bps: f64,
    mut hedger: Option<Hedger<'_>>,
) -> Replay {
    let n = panel.n_assets();
    let start = folds[0].test_start;
    let end = folds[folds.len() - 1].test_end;
    let last = deploy.map_or(end + 1, |(f, _)| f.test_start.max(end + 1));
    let fee_rate = cost_bps / 1e4;
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
        decisions: Vec::new(),
        fees: 0.0,
        delisting_loss: 0.0,
        stale_blocked: 0,
        default_adv: Vec::new(),
        deployment: None,
        hedge: None,
    };
    let mut used_default = vec![false; n];
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
                let price = last_real[i] * (1.0 - portfolio.delisting_haircut);
                book.cash += q * price;
                out.delisting_loss += q * last_real[i] * portfolio.delisting_haircut;
                book.shares[i] = 0.0;
                if t <= end + 1 {
                    out.trades.push(Trade {
                        bar: t,
                        fold: folds[if t > end { folds.len() - 1 } else { k }].index,
                        asset: i,
                        quantity: -q,
                        price,
                        notional: (q * price).abs(),
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
        let mut traded = 0.0;
        for i in 0..n {
            let target = decision.target.get(i).copied().unwrap_or(0.0);
            let tradable = panel.available[[t, i]] && !panel.filled[[t, i]];
            let price = panel.close[[t, i]];
            if !tradable || price.is_nan() || price <= 0.0 {
                if target.abs() > book.weights[i].abs() {
                    out.stale_blocked += 1;
                }
                out.weights[[row, i]] = book.weights[i];
                continue;
            }
            out.weights[[row, i]] = target;
            let delta = target * value / price - book.shares[i];
            let notional = (delta * price).abs();
            if notional <= 1e-9 * value.abs() {
                out.weights[[row, i]] = book.weights[i];
                continue;
            }
            let fee = notional * fee_rate;
            let adv = adv_shares(panel, t, i, portfolio.adv_window).unwrap_or_else(|| {
                used_default[i] = true;
                portfolio.default_adv / price
            });
            book.cash -= delta * price + fee;
            book.shares[i] += delta;
            out.fees += fee;
            traded += notional;
            out.trades.push(Trade {
                bar: t,
                fold: f.index,
                asset: i,
                quantity: delta,
                price,
                notional,
                fee,
                participation: delta.abs() / adv,
                reason: TradeReason::Rebalance,
            });
        }
        if let Some(h) = hedger.as_mut() {
            let hedges = h.rebalance(
                t,
                f.index,
                out.weights.row(row),
                returns,
                value,
                fee_rate,
                &mut book.cash,
            );
            for tr in &hedges {
                out.fees += tr.fee;
                traded += tr.notional;
            }
            out.trades.extend(hedges);
        }
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
    out.default_adv = (0..n).filter(|&i| used_default[i]).collect();
    out.hedge = hedger.map(Hedger::finish);
    out
}
