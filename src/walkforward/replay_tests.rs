//! The continuous account against hand computations: the textbook signals
//! replay, fees at fold boundaries, stale bars, delistings, the drawdown brake.

use ndarray::{Array2, array};

use super::{
    replay::{Replay, TradeReason, replay},
    *,
};
use crate::{
    config::{execution::ExecutionSpec, strategy::PortfolioSpec, walkforward::RawSizing},
    data::{SymbolFields, time::DAY_US},
    strategy::{
        Fold, RiskFirst, SignalStrategy, Strategy,
        classifier::EdgeFit,
        signals::{SignalKind, Signals},
    },
};

/// A close-only panel of the given closes `[bars, assets]`; NaN is unavailable.
fn panel(close: Array2<f64>) -> Panel {
    let (n, m) = close.dim();
    let nan = Array2::from_elem((n, m), f64::NAN);
    Panel {
        timestamps: (0..n as i64).map(|t| t * DAY_US).collect(),
        symbols: (0..m).map(|i| format!("S{i}")).collect(),
        open: nan.clone(),
        high: nan.clone(),
        low: nan.clone(),
        available: close.mapv(f64::is_finite),
        filled: Array2::from_elem((n, m), false),
        close,
        volume: nan,
        fields: vec![SymbolFields::default(); m],
        benchmark: None,
        bars_per_year: 252.0,
        bar_us: DAY_US,
    }
}

/// One-bar test windows `first..=last`, one fold each.
fn folds(first: usize, last: usize) -> Vec<Fold> {
    (first..=last)
        .enumerate()
        .map(|(index, t)| Fold {
            index,
            train_start: 0,
            train_end: 0,
            fit_end: 0,
            test_start: t,
            test_end: t,
        })
        .collect()
}

fn sizing() -> SizingSpec {
    SizingSpec::default()
}

/// Replays target weights `w[bar, asset]` (NaN rows: no signal) with a fee of `bps`.
fn replay_weights(p: &Panel, w: Array2<f64>, fs: &[Fold], capital: f64, bps: f64) -> Replay {
    let has_row = w
        .rows()
        .into_iter()
        .map(|r| r.iter().any(|x| x.is_finite()))
        .collect();
    let mut s = SignalStrategy::new(
        Signals {
            values: w,
            has_row,
            kind: SignalKind::Weight,
        },
        &sizing(),
    );
    let returns = p.returns();
    let (_, forward) = returns_and_forward(p, 1);
    let spec = WalkforwardSpec::default();
    let sz = sizing();
    let feats = ndarray::Array3::<f64>::zeros((p.n_bars(), p.n_assets(), 0));
    let state = Array2::<f64>::zeros((p.n_bars(), 2));
    let data = crate::strategy::FitData {
        features: feats.view(),
        state: state.view(),
        forward: forward.view(),
        returns: returns.view(),
        bars_per_year: 252.0,
        spec: &spec,
        sizing: &sz,
        seed: 0,
    };
    let models: Vec<_> = fs.iter().map(|&f| s.fit(&data, f).model).collect();
    let portfolio = PortfolioSpec {
        capital,
        ..PortfolioSpec::default()
    };
    replay(
        &mut s,
        p,
        returns.view(),
        fs,
        &models,
        None,
        &portfolio,
        &ExecutionSpec::flat(bps),
        None,
    )
}

#[test]
fn signals_replay_is_the_textbook_one() {
    // Two assets, decisions at bars 1 and 2 (two folds), 10 bps, capital 1000.
    let p = panel(array![
        [100.0, 50.0],
        [110.0, 50.0],
        [99.0, 55.0],
        [108.9, 44.0]
    ]);
    let nan = f64::NAN;
    let w = array![[nan, nan], [0.5, 0.5], [0.2, 0.6], [nan, nan]];
    let r = replay_weights(&p, w, &folds(1, 2), 1000.0, 10.0);
    // Bar 1: value 1000 in cash; buy 500/110 A and 500/50 B; fee 1.0 on 1000.
    let (a1, b1): (f64, f64) = (500.0 / 110.0, 10.0);
    let cash1: f64 = 1000.0 - 1000.0 - 1.0;
    // Bar 2: value at the close, then rebalance to 0.2 / 0.6 of it.
    let v2 = cash1 + a1 * 99.0 + b1 * 55.0;
    let (a2, b2) = (0.2 * v2 / 99.0, 0.6 * v2 / 55.0);
    let traded2 = (a2 - a1).abs() * 99.0 + (b2 - b1).abs() * 55.0;
    let cash2 = cash1 - (a2 - a1) * 99.0 - (b2 - b1) * 55.0 - traded2 * 1e-3;
    let v3 = cash2 + a2 * 108.9 + b2 * 44.0;
    assert!((v2 - 999.0).abs() < 1e-9);
    let want = [v2 / 1000.0 - 1.0, v3 / v2 - 1.0];
    for (got, want) in r.returns.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    assert!((r.values[1] - v3).abs() < 1e-9);
    assert!((r.fees - (1.0 + traded2 * 1e-3)).abs() < 1e-12);
    assert_eq!(r.trades.len(), 4);
    assert_eq!(r.segment, vec![0, 1]);
    assert!((r.turnover[1] - traded2 / v2).abs() < 1e-12);
}

#[test]
fn fold_boundaries_cost_only_their_real_trades() {
    // Flat prices, the same 0.4 / 0.4 target at every bar of five one-bar
    // folds. The entry (0.8 of the account) is paid once, at bar 1; at each
    // later fold's first bar the account only trades back the fee it paid
    // (0.8 x the value lost), never a fresh entry.
    let p = panel(Array2::from_elem((7, 2), 20.0));
    let mut w = Array2::from_elem((7, 2), 0.4);
    w.row_mut(0).fill(f64::NAN);
    let r = replay_weights(&p, w, &folds(1, 5), 1e6, 5.0);
    let (mut v, mut held, mut fees) = (1e6_f64, 0.0_f64, 0.0_f64);
    let mut traded = Vec::new();
    for _ in 1..=5 {
        let mut t = (0.8 * v - held).abs();
        // The account does not trade below 1e-9 of its value (float noise).
        if t <= 1e-9 * v {
            t = 0.0;
        }
        let fee = t * 5e-4;
        traded.push(t);
        fees += fee;
        if t > 0.0 {
            held = 0.8 * v;
        }
        v -= fee;
    }
    assert!((traded[0] - 0.8e6).abs() < 1e-6);
    assert!(traded[1..].iter().all(|&t| t < 400.0));
    assert!((r.fees - fees).abs() < 1e-9, "{} vs {fees}", r.fees);
    for (k, t) in traded.iter().enumerate() {
        let want = t / if k == 0 { 1e6 } else { r.values[k - 1] };
        assert!((r.turnover[k] - want).abs() < 1e-12);
    }
    // Without a fee and with a drift: asset 0 doubles at bar 3 (fold 2's
    // bar); rebalancing back to 0.4 is the only trade after the entry.
    let mut close = Array2::from_elem((7, 2), 20.0);
    close.slice_mut(ndarray::s![3.., 0]).fill(40.0);
    let p = panel(close);
    let mut w = Array2::from_elem((7, 2), 0.4);
    w.row_mut(0).fill(f64::NAN);
    let r = replay_weights(&p, w, &folds(1, 5), 1e6, 0.0);
    let bars: Vec<usize> = r.trades.iter().map(|t| t.bar).collect();
    assert_eq!(bars, vec![1, 1, 3, 3]);
}

#[test]
fn stale_bars_open_nothing_and_delistings_are_realized() {
    let nan = f64::NAN;
    // Asset 1's close at bar 2 is forward-filled (stale); asset 0 stops
    // trading after bar 3 (no close from bar 4).
    let mut p = panel(array![
        [10.0, 10.0],
        [10.0, 10.0],
        [10.0, 10.0],
        [12.0, 10.0],
        [nan, 11.0],
        [nan, 11.0]
    ]);
    p.filled[[2, 1]] = true;
    let w = array![
        [nan, nan],
        [0.5, 0.0],
        [0.5, 0.5],
        [0.5, 0.5],
        [0.0, 0.5],
        [nan, nan]
    ];
    let mut portfolio_haircut = 0.25;
    let run = |haircut: f64| {
        let returns = p.returns();
        let mut s = SignalStrategy::new(
            Signals {
                has_row: w
                    .rows()
                    .into_iter()
                    .map(|r| r.iter().any(|x| x.is_finite()))
                    .collect(),
                values: w.clone(),
                kind: SignalKind::Weight,
            },
            &sizing(),
        );
        let fs = folds(1, 4);
        let models: Vec<_> = fs
            .iter()
            .map(|_| crate::strategy::builtin::SignalFit::empty(p.n_assets()))
            .collect();
        let portfolio = PortfolioSpec {
            capital: 100.0,
            delisting_haircut: haircut,
            ..PortfolioSpec::default()
        };
        replay(
            &mut s,
            &p,
            returns.view(),
            &fs,
            &models,
            None,
            &portfolio,
            &ExecutionSpec::flat(0.0),
            None,
        )
    };
    let r = run(portfolio_haircut);
    // Bar 2: asset 1 is stale, so its 0.5 is not bought then (weight stays 0).
    assert!(!r.trades.iter().any(|t| t.bar == 2 && t.asset == 1));
    assert_eq!(r.weights[[1, 1]], 0.0);
    assert_eq!(r.stale_blocked, 1);
    // It is bought at bar 3, on a real close.
    assert!(
        r.trades
            .iter()
            .any(|t| t.bar == 3 && t.asset == 1 && t.quantity > 0.0)
    );
    // Bar 4: asset 0 (held, worth 0.5 x value at bar 3) has no close; it is
    // sold at its last real close (12) less the haircut, as a delisting.
    let d: Vec<_> = r
        .trades
        .iter()
        .filter(|t| t.reason == TradeReason::Delisted)
        .collect();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].bar, d[0].asset), (4, 0));
    assert!((d[0].price - 12.0 * (1.0 - portfolio_haircut)).abs() < 1e-12);
    // Value at bar 3: 100 (no fee, flat until bar 3 for asset 0 and 1 priced 10)
    // -> asset 0 half of 100 at 10, up 20% at bar 3.
    let v3 = r.values[1];
    assert!((v3 - 110.0).abs() < 1e-9);
    let held0 = 0.5 * v3 / 12.0;
    assert!((r.delisting_loss - held0 * 12.0 * 0.25).abs() < 1e-9);
    // The loss is in the account: bar 4's return is asset 1's +10% on its
    // half minus the haircut on asset 0's half.
    let v4 = v3 - held0 * 12.0 * 0.25 + 0.5 * v3 * 0.1;
    assert!((r.values[2] - v4).abs() < 1e-9);
    portfolio_haircut = 0.0;
    let r0 = run(portfolio_haircut);
    assert!(r0.values[2] > r.values[2]);
}

#[test]
fn drawdown_brake_holds_the_limit_on_a_crash() {
    // One asset falls 2% a bar for 80 bars; the model is sure of an edge.
    let n = 100;
    let close = Array2::from_shape_fn((n, 1), |(t, _)| {
        100.0 * 0.98f64.powi(t.saturating_sub(10) as i32)
    });
    let p = panel(close);
    let returns = p.returns();
    let fs = vec![Fold {
        index: 0,
        train_start: 0,
        train_end: 0,
        fit_end: 0,
        test_start: 5,
        test_end: n - 2,
    }];
    let oos = n - 2 - 5 + 1;
    let model = EdgeFit {
        test_start: 5,
        probs: Array2::from_elem((oos, 1), 0.95),
        regimes: vec![crate::regime::Regime::Trending; oos],
        history_start: 5,
        history: vec![crate::regime::Regime::Trending; oos],
        odds: 2.0,
        insample: Array2::zeros((2, 1)),
    };
    let go = |text: &str| {
        let sz = toml::from_str::<RawSizing>(text)
            .unwrap()
            .validate()
            .unwrap();
        let mut s = RiskFirst::new(&sz);
        replay(
            &mut s,
            &p,
            returns.view(),
            &fs,
            std::slice::from_ref(&model),
            None,
            &PortfolioSpec::default(),
            &ExecutionSpec::flat(5.0),
            None,
        )
    };
    let base = "max_position = 1.0\nkelly_fraction = 1.0\nvol_target = 0\n";
    let braked = go(&format!("{base}brake_start = 0.10\nmax_drawdown = 0.15\n"));
    let dd = metrics::max_drawdown(&braked.returns);
    let exposure = braked.weights.iter().copied().fold(0.0, f64::max);
    assert!(dd <= 0.15 + 0.02 * exposure, "drawdown {dd}");
    assert!(dd > 0.10, "the brake only acts past brake_start: {dd}");
    // Without the brake the same path loses most of the account.
    let free = go(&format!("{base}brake_start = 0.98\nmax_drawdown = 0.99\n"));
    assert!(metrics::max_drawdown(&free.returns) > 0.5);
}

#[test]
fn compared_strategies_are_replayed_on_the_same_data_and_costs() {
    let (p, feats) = super::tests::planted(600, 8, 0.004, 2);
    let names = vec!["signal".to_string(), "noise".to_string()];
    let spec = super::tests::small_spec();
    let sz = sizing();
    let portfolio = PortfolioSpec::default();
    let execution = ExecutionSpec::flat(sz.cost_bps);
    let go = |kind, compare: Vec<StrategyKind>| {
        let strategy = StrategySpec {
            kind,
            compare,
            signals: None,
            rebalance: 10,
        };
        run_with(
            &p,
            FeatureInput {
                names: &names,
                values: feats.view(),
                warmup: 1,
            },
            &Settings {
                spec: &spec,
                sizing: &sz,
                strategy: &strategy,
                portfolio: &portfolio,
                execution: &execution,
                signals: None,
                hedge: None,
            },
            3,
            None,
        )
        .unwrap()
    };
    let all = go(
        StrategyKind::RiskFirst,
        vec![
            StrategyKind::PredictionFirst,
            StrategyKind::BuyAndHold,
            StrategyKind::EqualWeight,
        ],
    );
    let names: Vec<&str> = all.strategies.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "risk_first",
            "prediction_first",
            "buy_and_hold",
            "equal_weight"
        ]
    );
    // Each compared strategy's numbers are those of its own run.
    for (k, kind) in [
        (1, StrategyKind::PredictionFirst),
        (2, StrategyKind::BuyAndHold),
        (3, StrategyKind::EqualWeight),
    ] {
        let alone = go(kind, Vec::new());
        assert_eq!(alone.strategies[0], all.strategies[k]);
        assert_eq!(alone.replay.returns.len(), all.replay.returns.len());
    }
    // Buy and hold trades once per asset (no delistings here), paying the fee on its notional.
    let bh = &all.strategies[2];
    assert_eq!(bh.n_trades, 8);
    assert!((bh.costs - portfolio.capital * sz.cost_bps / 1e4).abs() < 1e-6);
}

#[test]
fn edge_probability_signals_go_through_the_risk_engine() {
    // p = 0.6 on asset 0 and 0.5 (below min_edge 0.55) on asset 1, no regime
    // (multiplier 1), too few in-sample outcomes: odds 2, quarter Kelly
    // (2 x 0.6 - 0.4) / 2 x 0.25 = 0.1, at the max_position cap 0.10.
    let p = panel(Array2::from_elem((4, 2), 10.0));
    let nan = f64::NAN;
    let values = array![[nan, nan], [0.6, 0.5], [nan, nan], [nan, nan]];
    let mut s = SignalStrategy::new(
        Signals {
            has_row: vec![false, true, false, false],
            values,
            kind: SignalKind::EdgeProbability,
        },
        &sizing(),
    );
    let returns = p.returns();
    let fs = folds(1, 2);
    let models: Vec<_> = fs
        .iter()
        .map(|_| crate::strategy::builtin::SignalFit::empty(2))
        .collect();
    let r = replay(
        &mut s,
        &p,
        returns.view(),
        &fs,
        &models,
        None,
        &PortfolioSpec::default(),
        &ExecutionSpec::flat(0.0),
        None,
    );
    assert!((r.weights[[0, 0]] - 0.1).abs() < 1e-12);
    assert_eq!(r.weights[[0, 1]], 0.0);
    assert_eq!(r.decisions.len(), 1);
    let d = &r.decisions[0].record;
    assert!((d.kelly_fraction - 0.1).abs() < 1e-12 && d.regime_multiplier == 1.0);
    // Bar 2 has no rows: the book is held, no trade.
    assert!(r.trades.iter().all(|t| t.bar == 1));
}
