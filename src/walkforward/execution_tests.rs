//! The replay through the execution simulator against hand computations:
//! slicing under one parent id, carried and unfilled remainders, the
//! no-trade band, venue routing, and every cost traced to a trade row.

use ndarray::{Array2, array};

use super::replay::{Replay, TradeReason, replay};
use crate::{
    config::{
        execution::{ExecutionSpec, RawExecution},
        strategy::PortfolioSpec,
        walkforward::SizingSpec,
    },
    data::{Panel, SymbolFields, time::DAY_US},
    strategy::{
        Fold, SignalStrategy,
        builtin::SignalFit,
        signals::{SignalKind, Signals},
    },
};

/// A panel of closes `[bars, assets]` with `volume` shares every bar and,
/// when `range` > 0, highs and lows `close x (1 +- range / 2)`.
fn panel(close: Array2<f64>, volume: f64, range: f64) -> Panel {
    let (n, m) = close.dim();
    let ohlc = range > 0.0;
    let nan = Array2::from_elem((n, m), f64::NAN);
    Panel {
        timestamps: (0..n as i64).map(|t| t * DAY_US).collect(),
        symbols: (0..m).map(|i| format!("S{i}")).collect(),
        open: if ohlc { close.clone() } else { nan.clone() },
        high: if ohlc {
            close.mapv(|c| c * (1.0 + range / 2.0))
        } else {
            nan.clone()
        },
        low: if ohlc {
            close.mapv(|c| c * (1.0 - range / 2.0))
        } else {
            nan
        },
        available: close.mapv(f64::is_finite),
        filled: Array2::from_elem((n, m), false),
        volume: Array2::from_elem((n, m), volume),
        close,
        fields: vec![
            SymbolFields {
                has_ohlc: ohlc,
                has_volume: true,
            };
            m
        ],
        benchmark: None,
        bars_per_year: 252.0,
        bar_us: DAY_US,
    }
}

/// One-bar test windows `first..=last`.
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

fn exec(text: &str) -> ExecutionSpec {
    toml::from_str::<RawExecution>(text)
        .unwrap()
        .validate(0.0)
        .unwrap()
}

/// Replays target weights `w` (NaN rows hold the book) over `fs`.
fn run(
    p: &Panel,
    w: Array2<f64>,
    fs: &[Fold],
    e: &ExecutionSpec,
    edge: Option<&Array2<f64>>,
) -> Replay {
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
        &SizingSpec::default(),
    );
    let models: Vec<_> = fs.iter().map(|_| SignalFit::empty(p.n_assets())).collect();
    let returns = p.returns();
    let portfolio = PortfolioSpec {
        capital: 1e6,
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
        e,
        edge.map(Array2::view),
    )
}

/// Weights with `rows` set at the given bars and NaN (hold) elsewhere.
fn weights(n: usize, m: usize, rows: &[(usize, &[f64])]) -> Array2<f64> {
    let mut w = Array2::from_elem((n, m), f64::NAN);
    for (t, r) in rows {
        for (i, &x) in r.iter().enumerate() {
            w[[*t, i]] = x;
        }
    }
    w
}

#[test]
fn a_sliced_order_fills_over_bars_under_one_parent() {
    // Capital 1e6, price 100, ADV 10 000 shares: half the account is 5000
    // shares, 50% of ADV; the seed law prices it at 0.1 x sqrt(0.5) = 7% >
    // 1%, so it goes in children of 10% of ADV (1000 shares) over 5 bars,
    // each paying 0.1 x sqrt(0.1) on 100 000. No fee, no spread.
    let p = panel(Array2::from_elem((10, 1), 100.0), 10_000.0, 0.0);
    let e = exec("impact_form = \"seed\"\ndefault_spread = 0");
    let r = run(&p, weights(10, 1, &[(1, &[0.5])]), &folds(1, 8), &e, None);
    assert_eq!(r.trades.len(), 5);
    for (k, t) in r.trades.iter().enumerate() {
        assert_eq!((t.bar, t.parent_id, t.slice), (1 + k, 0, k as u32));
        assert_eq!(t.reason, TradeReason::Rebalance);
        assert!((t.requested - (5000.0 - 1000.0 * k as f64)).abs() < 1e-6);
        assert!((t.quantity - 1000.0).abs() < 1e-9);
        assert!((t.participation - 0.1).abs() < 1e-12);
        assert!((t.impact_cost - 0.1 * 0.1f64.sqrt() * 1e5).abs() < 1e-6);
        assert_eq!((t.fee, t.spread_cost), (0.0, 0.0));
    }
    let filled: f64 = r.trades.iter().map(|t| t.quantity).sum();
    assert!((filled - 5000.0).abs() < 1e-6);
    let x = &r.execution;
    assert_eq!(
        (x.sliced_orders, x.unfilled_orders, x.open_at_end),
        (1, 0, 0)
    );
    assert!((x.carried_notional - (4000.0 + 3000.0 + 2000.0 + 1000.0) * 100.0).abs() < 1e-3);
    assert!((r.impact_cost - 5.0 * 0.1 * 0.1f64.sqrt() * 1e5).abs() < 1e-6);
    // The book holds what was filled: 1000 shares after bar 1 (0.1 of the value).
    assert!((r.weights[[0, 0]] - 1e5 / 1e6).abs() < 1e-12);
}

#[test]
fn unfilled_remainders_carry_then_end_when_the_target_turns() {
    let p = panel(Array2::from_elem((10, 1), 100.0), 10_000.0, 0.0);
    let e = exec("impact_form = \"seed\"\ndefault_spread = 0");
    // Buy 5000 from bar 1; at bar 3 (2000 filled) the target is 0: the buy ends
    // with 3000 unfilled, and a sell of 2000 (20% of ADV, impact 4.5%: sliced)
    // starts as parent 1 and fills over bars 3 and 4.
    let r = run(
        &p,
        weights(10, 1, &[(1, &[0.5]), (3, &[0.0])]),
        &folds(1, 8),
        &e,
        None,
    );
    let x = &r.execution;
    assert_eq!(x.unfilled_orders, 1);
    assert!((x.unfilled_notional - 3000.0 * 100.0).abs() < 1e-3);
    let sells: Vec<_> = r.trades.iter().filter(|t| t.quantity < 0.0).collect();
    assert_eq!(sells.len(), 2);
    assert!(sells.iter().all(|t| t.parent_id == 1));
    assert_eq!(
        (sells[0].bar, sells[0].slice, sells[1].bar, sells[1].slice),
        (3, 0, 4, 1)
    );
    let held: f64 = r.trades.iter().map(|t| t.quantity).sum();
    assert!(held.abs() < 1e-6);
    // Cut short by the end of the replay: 3 of 5 children fill, the rest is
    // open at the end and unfilled.
    let r = run(&p, weights(10, 1, &[(1, &[0.5])]), &folds(1, 3), &e, None);
    let x = &r.execution;
    assert_eq!(
        (r.trades.len(), x.open_at_end, x.unfilled_orders),
        (3, 1, 1)
    );
    assert!((x.unfilled_notional - 2000.0 * 100.0).abs() < 1e-3);
}

#[test]
fn the_band_skips_an_increase_whose_cost_exceeds_its_gain() {
    // Flat prices (sigma 0: no impact), spread 20 bps (half: 10), fee 5 bps on
    // the default venue: an increase costs 15 bps of its notional, its round
    // trip 30 bps.
    // Decisions from bar 3, so sigma_daily is the std of real (zero) returns.
    let p = panel(Array2::from_elem((8, 1), 100.0), 1e6, 0.0);
    let e = toml::from_str::<RawExecution>("default_spread = 0.002")
        .unwrap()
        .validate(5.0)
        .unwrap();
    let w = weights(8, 1, &[(3, &[0.5]), (4, &[0.2])]);
    let fs = folds(3, 5);
    let edge = |v: f64| Array2::from_elem((3, 1), v);
    // Edge strength 29 bps < 30 bps: bar 3's buy is skipped; bar 4's (0.2) too.
    let r = run(&p, w.clone(), &fs, &e, Some(&edge(0.0029)));
    assert_eq!((r.trades.len(), r.execution.skipped_by_band), (0, 2));
    assert_eq!(r.costs(), 0.0);
    // 31 bps > 30 bps: both trades go.
    let r = run(&p, w.clone(), &fs, &e, Some(&edge(0.0031)));
    assert_eq!((r.trades.len(), r.execution.skipped_by_band), (2, 0));
    let buy = &r.trades[0];
    assert_eq!(buy.impact_cost, 0.0);
    assert!((buy.spread_cost - 0.001 * buy.notional).abs() < 1e-9);
    assert!((buy.fee - 5e-4 * buy.notional).abs() < 1e-9);
    // A reduction is never banded: no edge at bar 4 does not stop the sell.
    let mut e2 = edge(0.0031);
    e2[[1, 0]] = 0.0;
    let r = run(&p, w.clone(), &fs, &e, Some(&e2));
    assert_eq!((r.trades.len(), r.execution.skipped_by_band), (2, 0));
    assert!(r.trades[1].quantity < 0.0);
    // Without an edge estimate (None) the band does not apply.
    let r = run(&p, w, &fs, &e, None);
    assert_eq!((r.trades.len(), r.execution.skipped_by_band), (2, 0));
}

#[test]
fn the_router_splits_a_child_the_cheapest_venue_cannot_fill() {
    // ADV 10 000 shares; "dark" (1 bps) offers 10%, "lit" (3 bps) 20%.
    // 0.05 of 1e6 at 100 is 500 shares: dark fills it alone. 0.35 is 3000
    // more: neither alone, dark takes 1000, lit 2000, one child, two rows.
    // 0.5 is 1500 more: lit alone (dark cannot).
    let p = panel(Array2::from_elem((5, 1), 100.0), 10_000.0, 0.0);
    let e = exec(
        "default_spread = 0\nimpact_coefficient = 0\n\
         [[venues]]\nname = \"lit\"\nfee_bps = 3\nliquidity_share = 0.2\n\
         [[venues]]\nname = \"dark\"\nfee_bps = 1\nliquidity_share = 0.1\n",
    );
    let r = run(
        &p,
        weights(5, 1, &[(1, &[0.05]), (2, &[0.35]), (3, &[0.5])]),
        &folds(1, 3),
        &e,
        None,
    );
    let rows: Vec<_> = r
        .trades
        .iter()
        .map(|t| {
            (
                t.bar,
                r.venues[t.venue.unwrap()].as_str(),
                t.quantity.round(),
                t.parent_id,
                t.slice,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "dark", 500.0, 0, 0),
            (2, "dark", 1000.0, 1, 0),
            (2, "lit", 2000.0, 1, 0),
            (3, "lit", 1500.0, 2, 0)
        ]
    );
    // Each row pays its venue's fee on its notional (the targets are of the
    // value after earlier fees, so quantities are a hair under the round ones).
    let fees = (500.0 + 1000.0) * 100.0 * 1e-4 + (2000.0 + 1500.0) * 100.0 * 3e-4;
    assert!((r.fees - fees).abs() < 0.05, "{}", r.fees);
    for t in &r.trades {
        let bps = if r.venues[t.venue.unwrap()] == "dark" {
            1.0
        } else {
            3.0
        };
        assert!((t.fee - t.notional * bps * 1e-4).abs() < 1e-9);
    }
    // Requested is the parent's want, on both rows of the split bar.
    assert_eq!(r.trades[1].requested, r.trades[2].requested);
    // Bar 2's value is 1e6 less bar 1's fee (500 x 100 x 1 bps = 5).
    let want = 0.35 * (1e6 - 5.0) / 100.0 - 500.0;
    assert!((r.trades[1].requested - want).abs() < 1e-6);
}

/// Three assets, prices on a zigzag, a high-low range, two venues, thin volume
/// on asset 2 (sliced orders), several rebalances.
fn busy() -> (Panel, Array2<f64>, ExecutionSpec) {
    let n = 40;
    let close = Array2::from_shape_fn((n, 3), |(t, i)| {
        100.0 * (1.0 + 0.01 * (i as f64 + 1.0) * ((t * (i + 2)) % 5) as f64)
    });
    let mut p = panel(close, 50_000.0, 0.01);
    p.volume.column_mut(2).fill(2_000.0);
    let w = weights(
        n,
        3,
        &[
            (2, &[0.3, 0.2, 0.4]),
            (9, &[0.1, 0.4, 0.1]),
            (15, &[0.35, 0.0, 0.3]),
            (23, &[0.2, 0.3, 0.45]),
        ],
    );
    let e = exec(
        "[[venues]]\nname = \"a\"\nfee_bps = 2\nliquidity_share = 0.05\n\
         [[venues]]\nname = \"b\"\nfee_bps = 4\nliquidity_share = 0.95\nmin_size = 1000\n",
    );
    (p, w, e)
}

#[test]
fn every_cost_of_the_account_is_a_trade_row() {
    let (p, w, e) = busy();
    let fs = folds(2, 37);
    let r = run(&p, w, &fs, &e, None);
    assert!(r.execution.sliced_orders > 0 && r.impact_cost > 0.0 && r.spread_cost > 0.0);
    assert!(r.trades.iter().any(|t| t.slice > 0));
    let rows: f64 = r
        .trades
        .iter()
        .map(|t| t.fee + t.impact_cost + t.spread_cost)
        .sum();
    assert!(
        (rows - r.costs()).abs() < 1e-9 * r.costs(),
        "{rows} vs {}",
        r.costs()
    );
    // The account rebuilt from the trade rows alone: cash pays each fill's
    // notional and its costs, nothing else.
    let (mut cash, mut shares) = (1e6, [0.0; 3]);
    let mut k = 0;
    for t in fs[0].test_start..=fs[fs.len() - 1].test_end + 1 {
        let value = cash + (0..3).map(|i| shares[i] * p.close[[t, i]]).sum::<f64>();
        if t > fs[0].test_start {
            let got = r.values[t - fs[0].test_start - 1];
            assert!((got - value).abs() < 1e-6, "bar {t}: {got} vs {value}");
        }
        while k < r.trades.len() && r.trades[k].bar == t {
            let x = &r.trades[k];
            cash -= x.quantity * x.price + x.cost();
            shares[x.asset] += x.quantity;
            k += 1;
        }
    }
    assert_eq!(k, r.trades.len());
}

#[test]
fn costs_are_the_equity_gap_to_a_costless_replay() {
    // Bought once (no slicing: ample volume), held: the two accounts hold the
    // same shares, so their gap is the cash the costs took.
    let (mut p, _, e) = busy();
    p.volume.fill(1e7);
    let w = weights(40, 3, &[(2, &[0.3, 0.2, 0.4])]);
    let fs = folds(2, 37);
    let r = run(&p, w.clone(), &fs, &e, None);
    let free = run(&p, w, &fs, &ExecutionSpec::flat(0.0), None);
    assert_eq!(r.execution.sliced_orders, 0);
    assert!(r.costs() > 0.0 && free.costs() == 0.0);
    let gap = free.values.last().unwrap() - r.values.last().unwrap();
    assert!((gap - r.costs()).abs() < 1e-6, "{gap} vs {}", r.costs());
}

#[test]
fn hand_checked_costs_on_one_trade() {
    // Returns +1%, -1%, +1%, -1% up to bar 4 (window 4): sigma (ddof 1) =
    // sqrt(4e-4 / 3); half of a 10 bps spread; fee 5 bps; k = 1.
    let close = array![
        [100.0],
        [101.0],
        [99.99],
        [100.9899],
        [99.980001],
        [99.980001],
        [99.980001]
    ];
    let p = panel(close, 100_000.0, 0.0);
    let e = toml::from_str::<RawExecution>("sigma_window = 4\ndefault_spread = 0.001")
        .unwrap()
        .validate(5.0)
        .unwrap();
    let r = run(&p, weights(7, 1, &[(4, &[0.5])]), &folds(4, 5), &e, None);
    let t = &r.trades[0];
    let sigma = (4.0f64 * 1e-4 / 3.0).sqrt();
    let q = 0.5 * 1e6 / 99.980001;
    let pi = q / 100_000.0;
    assert!((t.participation - pi).abs() < 1e-12);
    assert!(
        (t.impact_cost - sigma * pi.sqrt() * t.notional).abs() < 1e-6,
        "{}",
        t.impact_cost
    );
    assert!((t.spread_cost - 0.0005 * t.notional).abs() < 1e-9);
    assert!((t.fee - 0.0005 * t.notional).abs() < 1e-9);
}
