//! Fallbacks are never silent: every documented fallback a run used, as a
//! [`Note`] with counts and symbols, for summary.json and the log.

use crate::{
    data::Loaded,
    features::FeatureSet,
    report::summary::Note,
    stress::Estimate,
    walkforward::{Deployment, Walkforward},
};

fn note(kind: &str, scope: &str, message: String, count: usize, symbols: Vec<String>) -> Note {
    Note {
        kind: kind.into(),
        scope: scope.into(),
        message,
        count,
        symbols,
    }
}

fn symbols_where(loaded: &Loaded, keep: impl Fn(usize) -> bool) -> Vec<String> {
    (0..loaded.panel.n_assets())
        .filter(|&i| keep(i))
        .map(|i| loaded.panel.symbols[i].clone())
        .collect()
}

/// Data fallbacks: close-only symbols, no volume, benchmark gaps, forward-filled
/// bars, bars left unavailable, mixed calendars.
pub fn data(loaded: &Loaded) -> Vec<Note> {
    let p = &loaded.panel;
    let n = p.n_assets();
    let mut out = Vec::new();
    let close_only = symbols_where(loaded, |i| !p.fields[i].has_ohlc);
    if !close_only.is_empty() {
        out.push(note(
            "close_only",
            "data",
            format!(
                "{} of {n} symbols are close-only: range-based volatility falls back to close-to-close, spreads to defaults",
                close_only.len()
            ),
            close_only.len(),
            close_only,
        ));
    }
    let no_volume = symbols_where(loaded, |i| !p.fields[i].has_volume);
    if !no_volume.is_empty() {
        out.push(note(
            "no_volume",
            "data",
            format!(
                "{} of {n} symbols have no volume: volume features are 0 and ADV uses the default",
                no_volume.len()
            ),
            no_volume.len(),
            no_volume,
        ));
    }
    if let Some(b) = &p.benchmark {
        {
            let missing = b.available.iter().filter(|a| !**a).count();
            if missing > 0 {
                out.push(note(
                    "benchmark_gaps",
                    "data",
                    format!(
                        "benchmark {} has no value on {missing} of {} bars",
                        b.symbol,
                        p.n_bars()
                    ),
                    missing,
                    vec![b.symbol.clone()],
                ));
            }
        }
    }
    let filled: usize = loaded.fills.filled.iter().sum();
    if filled > 0 {
        let syms = symbols_where(loaded, |i| {
            loaded.fills.filled.get(i).is_some_and(|&f| f > 0)
        });
        out.push(note(
            "forward_filled",
            "data",
            format!(
                "{filled} bars of {} symbols have a forward-filled close (at most max_fill_days bars each)",
                syms.len()
            ),
            filled,
            syms,
        ));
    }
    let unfilled: usize = loaded.fills.unfilled.iter().sum();
    if unfilled > 0 {
        let syms = symbols_where(loaded, |i| {
            loaded.fills.unfilled.get(i).is_some_and(|&f| f > 0)
        });
        out.push(note(
            "unavailable_bars",
            "data",
            format!(
                "{unfilled} bars of {} symbols stay unavailable (gap longer than max_fill_days): those symbols sit out those bars",
                syms.len()
            ),
            unfilled,
            syms,
        ));
    }
    for m in loaded.notes.iter().filter(|m| m.contains("calendar")) {
        out.push(note("mixed_calendars", "data", m.clone(), 0, Vec::new()));
    }
    // The loader leaves a benchmark stored among the traded symbols out of
    // the universe (`data.symbols = "all"`): a dropped symbol, said here.
    for m in loaded.notes.iter().filter(|m| m.contains("not traded")) {
        let symbol = m.split_whitespace().nth(1).unwrap_or_default().to_string();
        out.push(note("symbols_dropped", "data", m.clone(), 1, vec![symbol]));
    }
    out
}

/// Feature fallbacks: no benchmark, close-to-close volatility, zero volume features.
pub fn features(fs: &FeatureSet, loaded: &Loaded) -> Vec<Note> {
    let p = &loaded.panel;
    fs.notes
        .iter()
        .map(|m| {
            let (kind, symbols) = if m.contains("no benchmark") {
                ("no_benchmark", Vec::new())
            } else if m.contains("close-only") {
                (
                    "feature_fallback",
                    symbols_where(loaded, |i| !p.fields[i].has_ohlc),
                )
            } else if m.contains("volume") {
                (
                    "feature_fallback",
                    symbols_where(loaded, |i| !p.fields[i].has_volume),
                )
            } else {
                ("feature_fallback", Vec::new())
            };
            note(kind, "features", m.clone(), symbols.len(), symbols)
        })
        .collect()
}

/// Walk-forward fallbacks: training rows dropped for undefined features per
/// fold, model and regime fallbacks per fold.
pub fn walkforward(wf: &Walkforward) -> Vec<Note> {
    let mut out = Vec::new();
    for f in &wf.folds {
        let scope = format!("fold {}", f.fold.index);
        if f.dropped_train > 0 {
            out.push(note(
                "training_rows_dropped",
                &scope,
                format!(
                    "{} training rows dropped for an undefined feature ({} used)",
                    f.dropped_train, f.n_train
                ),
                f.dropped_train,
                Vec::new(),
            ));
        }
        for m in &f.notes {
            out.push(note("model_fallback", &scope, m.clone(), 0, Vec::new()));
        }
    }
    for m in &wf.strategy_notes {
        out.push(note(
            "portfolio_fallback",
            "walkforward",
            m.clone(),
            0,
            Vec::new(),
        ));
    }
    if let Some(h) = &wf.replay.hedge {
        out.push(note(
            "hedged_replay",
            "walkforward",
            format!(
                "the replayed strategy's book is hedged with {} ([hedge]); the compared strategies are not",
                h.symbols.join(", ")
            ),
            0,
            h.symbols.clone(),
        ));
    }
    out
}

/// A hedge instrument without a value on some bars of the panel calendar.
pub fn hedge_gaps(symbol: &str, missing: usize, bars: usize) -> Note {
    note(
        "hedge_instrument_gaps",
        "data",
        format!(
            "hedge instrument {symbol} has no value on {missing} of {bars} bars (no hedge trade on them)"
        ),
        missing,
        vec![symbol.to_string()],
    )
}

/// The continuous account's fallbacks: the default venue, ADV, volatility
/// and spread defaults, orders left unfilled, refused stale-bar trades,
/// delistings.
pub fn account(
    wf: &Walkforward,
    symbols: &[String],
    portfolio: &crate::config::strategy::PortfolioSpec,
    execution: &crate::config::execution::ExecutionSpec,
) -> Vec<Note> {
    let r = &wf.replay;
    let names = |v: &[usize]| v.iter().map(|&i| symbols[i].clone()).collect::<Vec<_>>();
    let mut out = Vec::new();
    if execution.default_venue {
        out.push(note(
            "execution_default_venue",
            "walkforward",
            format!(
                "no [[execution.venues]]: orders fill on one venue \"close\" with fee sizing.cost_bps = {} \
                 and the whole ADV available",
                execution.venues[0].fee_bps
            ),
            0,
            Vec::new(),
        ));
    }
    let x = &r.execution;
    if !x.default_sigma.is_empty() {
        out.push(note(
            "impact_default_sigma",
            "walkforward",
            format!(
                "{} symbols had fewer than 2 returns in the volatility window of a trade: impact uses \
                 execution.default_sigma = {}",
                x.default_sigma.len(),
                execution.default_sigma
            ),
            x.default_sigma.len(),
            names(&x.default_sigma),
        ));
    }
    if !x.default_spread.is_empty() {
        out.push(note(
            "execution_default_spread",
            "walkforward",
            format!(
                "{} symbols had no high-low spread estimate at a trade (no OHLC or fewer than {} \
                 two-bar pairs in the window): trades pay half of execution.default_spread = {}",
                x.default_spread.len(),
                crate::strategy::execution::market::MIN_SPREAD_PAIRS,
                execution.default_spread
            ),
            x.default_spread.len(),
            names(&x.default_spread),
        ));
    }
    if x.unfilled_orders > 0 {
        out.push(note(
            "orders_unfilled",
            "walkforward",
            format!(
                "{} orders ended before their goal ({} still open after the last bar): {:.2} of \
                 notional never filled",
                x.unfilled_orders, x.open_at_end, x.unfilled_notional
            ),
            x.unfilled_orders,
            Vec::new(),
        ));
    }
    if !r.default_adv.is_empty() {
        out.push(note(
            "participation_default_adv",
            "walkforward",
            format!(
                "{} symbols have no volume in the ADV window of a trade: participation uses \
                 portfolio.default_adv = {}",
                r.default_adv.len(),
                portfolio.default_adv
            ),
            r.default_adv.len(),
            r.default_adv.iter().map(|&i| symbols[i].clone()).collect(),
        ));
    }
    if r.stale_blocked > 0 {
        out.push(note(
            "stale_bar_not_traded",
            "walkforward",
            format!(
                "{} (bar, symbol) position increases were not made because the close was forward-filled or missing",
                r.stale_blocked
            ),
            r.stale_blocked,
            Vec::new(),
        ));
    }
    let delisted: Vec<String> = r
        .trades
        .iter()
        .filter(|t| t.reason == crate::walkforward::TradeReason::Delisted)
        .map(|t| symbols[t.asset].clone())
        .collect();
    if !delisted.is_empty() {
        out.push(note(
            "delisted",
            "walkforward",
            format!(
                "{} held positions stopped trading and were closed at their last real close less \
                 portfolio.delisting_haircut = {} (loss {:.2})",
                delisted.len(),
                portfolio.delisting_haircut,
                r.delisting_loss
            ),
            delisted.len(),
            delisted,
        ));
    }
    out
}

/// Deployment-book fallbacks: symbols without a close on the last bar, dropped
/// training rows, model fallbacks; or why there is no book.
pub fn deployment(d: Option<&Deployment>, symbols: &[String]) -> Vec<Note> {
    let Some(d) = d else {
        return vec![note(
            "no_deployment_fold",
            "deployment",
            "the panel is too short for a training window ending before the last bar: no deployment book".into(),
            0,
            Vec::new(),
        )];
    };
    let mut out = Vec::new();
    let missing: Vec<String> = d
        .probabilities
        .iter()
        .zip(symbols)
        .filter(|(p, _)| p.is_none())
        .map(|(_, s)| s.clone())
        .collect();
    if !missing.is_empty() {
        out.push(note(
            "not_predicted_on_last_bar",
            "deployment",
            format!(
                "{} symbols have no prediction on the last bar (no close there or an undefined feature) and hold no position",
                missing.len()
            ),
            missing.len(),
            missing,
        ));
    }
    if d.dropped_train > 0 {
        out.push(note(
            "training_rows_dropped",
            "deployment",
            format!(
                "{} training rows dropped for an undefined feature ({} used)",
                d.dropped_train, d.n_train
            ),
            d.dropped_train,
            Vec::new(),
        ));
    }
    for m in &d.notes {
        out.push(note(
            "model_fallback",
            "deployment",
            m.clone(),
            0,
            Vec::new(),
        ));
    }
    out
}

/// Stress-estimate fallbacks: default ADV or spread per symbol, correlation repair.
pub fn stress(estimate: Option<&Estimate>, correlation_repair: Option<f64>) -> Vec<Note> {
    let mut out = Vec::new();
    if let Some(e) = estimate {
        if !e.default_adv.is_empty() {
            out.push(note(
                "default_adv",
                "stress",
                format!(
                    "{} of {} symbols have no volume in the estimation window: ADV is stress.market.default_adv",
                    e.default_adv.len(),
                    e.inputs.symbols.len()
                ),
                e.default_adv.len(),
                e.default_adv.clone(),
            ));
        }
        if !e.default_spread.is_empty() {
            out.push(note(
                "default_spread",
                "stress",
                format!(
                    "{} of {} symbols have too few high/low bars for a Corwin-Schultz spread: spread is stress.market.default_spread",
                    e.default_spread.len(),
                    e.inputs.symbols.len()
                ),
                e.default_spread.len(),
                e.default_spread.clone(),
            ));
        }
    }
    if let Some(l) = correlation_repair {
        out.push(note(
            "correlation_repaired",
            "stress",
            format!(
                "the correlation matrix is not positive semi-definite: shrunk {l:.4} toward the identity"
            ),
            0,
            Vec::new(),
        ));
    }
    out
}

/// Logs every note once.
pub fn log(notes: &[Note]) {
    for n in notes {
        if n.symbols.is_empty() {
            tracing::warn!("{}: {}", n.scope, n.message);
        } else {
            let shown = n
                .symbols
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = n.symbols.len().saturating_sub(10);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            tracing::warn!("{}: {} ({shown}{more})", n.scope, n.message);
        }
    }
}
