use ndarray::{Array1, Array2};

use super::*;
use crate::config::{execution::ExecutionSpec, hedge::RawHedge};

/// A simulator charging a flat fee of `bps` and nothing else.
fn flat(bps: f64) -> Simulator {
    Simulator::new(&ExecutionSpec::flat(bps), 20, 1e7)
}

fn spec(text: &str) -> HedgeSpec {
    toml::from_str::<RawHedge>(&format!(
        "{text}\n[[instruments]]\npath = \"x.parquet\"\nsymbol = \"IDX\"\n"
    ))
    .unwrap()
    .validate(std::path::Path::new("/"))
    .unwrap()
}

#[test]
fn beta_and_correlation_by_hand() {
    // x = [1, -1, 2, 0] % ; book = 0.5 x + e with e = [0.1, 0.1, -0.1, -0.1] %.
    let x = vec![0.01, -0.01, 0.02, 0.0];
    let e = [0.001, 0.001, -0.001, -0.001];
    let book: Vec<f64> = x.iter().zip(e).map(|(x, e)| 0.5 * x + e).collect();
    // By hand (ddof 1 cancels in the ratios): mean x = 0.005;
    // Σ (x - x̄)² = 0.005² + 0.015² + 0.015² + 0.005² = 5e-4;
    // Σ (x - x̄)(e - ē) = 0.005·0.001 - 0.015·0.001 - 0.015·0.001 + 0.005·0.001 = -2e-5;
    // beta = 0.5 + (-2e-5) / 5e-4 = 0.46.
    let s = spec("correlation_threshold = 0.5");
    let ex = exposures(&book, std::slice::from_ref(&x), &s, 1.0).unwrap();
    assert!((ex[0].beta_before - 0.46).abs() < 1e-12, "{:?}", ex[0]);
    // var(book) = 0.25 · 5e-4 + 2 · 0.5 · (-2e-5) + 4e-6 = 1.09e-4 (sums of squares);
    // corr = (0.5 · 5e-4 - 2e-5) / sqrt(1.09e-4 · 5e-4).
    let corr = (0.5 * 5e-4 - 2e-5) / (1.09e-4f64 * 5e-4).sqrt();
    assert!(
        (ex[0].correlation - corr).abs() < 1e-12,
        "{:?} {corr}",
        ex[0]
    );
    // Hedged: weight = -0.46 x 0.3, beta after = 0.46 x (1 - 0.3).
    assert!((ex[0].weight + 0.46 * 0.3).abs() < 1e-12);
    assert!((ex[0].beta_after - 0.46 * 0.7).abs() < 1e-12);
    // Regime multiplier 2: twice the hedge.
    let ex2 = exposures(&book, std::slice::from_ref(&x), &s, 2.0).unwrap();
    assert!((ex2[0].weight + 0.46 * 0.6).abs() < 1e-12);
}

#[test]
fn no_hedge_while_the_correlation_is_under_the_threshold() {
    let x = vec![0.01, -0.01, 0.02, 0.0, 0.01, -0.02];
    // Noise large against the index: correlation well under 0.7.
    let noise = [0.03, -0.02, -0.03, 0.04, -0.01, 0.0];
    let book: Vec<f64> = x.iter().zip(noise).map(|(x, n)| 0.3 * x + n).collect();
    let s = spec("");
    let ex = exposures(&book, std::slice::from_ref(&x), &s, 1.0).unwrap();
    assert!(ex[0].correlation < 0.7, "{:?}", ex[0]);
    assert_eq!(ex[0].weight, 0.0);
    assert_eq!(ex[0].beta_after, ex[0].beta_before);
    // With the threshold below that correlation the same book is hedged.
    let low = spec(&format!(
        "correlation_threshold = {}",
        ex[0].correlation - 0.01
    ));
    let ex = exposures(&book, std::slice::from_ref(&x), &low, 1.0).unwrap();
    assert!(ex[0].weight != 0.0);
    // A flat book is never hedged.
    let ex = exposures(&[0.0; 6], std::slice::from_ref(&x), &s, 1.0).unwrap();
    assert_eq!(
        (ex[0].beta_before, ex[0].correlation, ex[0].weight),
        (0.0, 0.0, 0.0)
    );
    assert!(exposures(&book[..2], &[x[..2].to_vec()], &s, 1.0).is_none());
}

/// Deterministic pseudo-random numbers in [-0.5, 0.5).
fn noise(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

#[test]
fn the_hedger_trades_the_instrument_short_and_cuts_the_beta() {
    let t_len = 80;
    let idx_r: Vec<f64> = noise(1, t_len).iter().map(|v| v * 0.02).collect();
    let mut close = vec![100.0];
    for t in 1..t_len {
        close.push(close[t - 1] * (1.0 + idx_r[t]));
    }
    let eps = noise(2, t_len);
    // Two assets: 1.2 x index + small noise, and pure noise.
    let assets = Array2::from_shape_fn((t_len, 2), |(t, i)| {
        if t == 0 {
            f64::NAN
        } else if i == 0 {
            1.2 * idx_r[t] + 0.002 * eps[t]
        } else {
            0.01 * eps[(t * 7) % t_len]
        }
    });
    let hedging = Hedging {
        spec: spec("window = 40"),
        instruments: vec![Benchmark {
            symbol: "IDX".into(),
            close: Array1::from(close.clone()),
            available: Array1::from_elem(t_len, true),
        }],
    };
    let mut h = Hedger::new(&hedging, vec![None; t_len]);
    let w = Array1::from(vec![0.5, 0.2]);
    let mut cash = 0.0;
    let t = 60;
    assert_eq!(h.mark(t), 0.0);
    let trades = h.rebalance(
        t,
        3,
        w.view(),
        assets.view(),
        1000.0,
        &flat(10.0),
        &mut Orders::new(2),
        &mut cash,
    );
    assert_eq!(trades.len(), 1);
    let tr = &trades[0];
    assert_eq!((tr.asset, tr.fold, tr.reason), (2, 3, TradeReason::Hedge));
    assert!(tr.quantity < 0.0, "a hedge of a long book is short");
    let out = h.clone().finish();
    let e = out.rows[0].exposure;
    // Beta of the book ≈ 0.5 x 1.2 = 0.6; hedge = -0.3 x beta of the account.
    assert!((e.beta_before - 0.6).abs() < 0.05, "{e:?}");
    assert!(e.beta_after.abs() < e.beta_before.abs());
    assert!((e.beta_after - 0.7 * e.beta_before).abs() < 1e-12);
    assert!((tr.notional - e.weight.abs() * 1000.0).abs() < 1e-9);
    assert!((tr.fee - tr.notional * 0.001).abs() < 1e-12);
    // Cash: proceeds of the short sale less the fee; the position marks at the close.
    assert!((cash - (tr.notional - tr.fee)).abs() < 1e-9);
    assert!((h.mark(t) + tr.notional).abs() < 1e-9);
    assert_eq!(out.costs, vec![tr.fee]);
    // The same target at the same value trades nothing more.
    let again = h.rebalance(
        t,
        3,
        w.view(),
        assets.view(),
        1000.0,
        &flat(10.0),
        &mut Orders::new(2),
        &mut cash,
    );
    assert!(again.is_empty());
}

#[test]
fn beta_uses_rows_up_to_t_only() {
    let t_len = 60;
    let idx_r: Vec<f64> = noise(5, t_len).iter().map(|v| v * 0.02).collect();
    let close: Vec<f64> = idx_r
        .iter()
        .scan(100.0, |c, r| {
            *c *= 1.0 + r;
            Some(*c)
        })
        .collect();
    let assets = Array2::from_shape_fn((t_len, 1), |(t, _)| 0.8 * idx_r[t] + 0.001);
    let mk = |close: Vec<f64>| Hedging {
        spec: spec("window = 20"),
        instruments: vec![Benchmark {
            symbol: "IDX".into(),
            close: Array1::from(close),
            available: Array1::from_elem(t_len, true),
        }],
    };
    let (a, mut later) = (mk(close.clone()), close);
    for c in later.iter_mut().skip(41) {
        *c *= 1.5;
    }
    let b = mk(later);
    let mut later_assets = assets.clone();
    later_assets.slice_mut(ndarray::s![41.., ..]).fill(0.3);
    let w = Array1::from(vec![1.0]);
    let run = |h: &Hedging, x: &Array2<f64>| {
        let mut hd = Hedger::new(h, vec![None; t_len]);
        let mut cash = 0.0;
        hd.rebalance(
            40,
            0,
            w.view(),
            x.view(),
            1.0,
            &flat(0.0),
            &mut Orders::new(1),
            &mut cash,
        );
        hd.finish().rows[0].exposure
    };
    assert_eq!(run(&a, &assets), run(&b, &later_assets));
}

#[test]
fn a_hedged_replay_earns_the_book_plus_the_hedge_less_fees() {
    use crate::{
        config::{strategy::PortfolioSpec, walkforward::SizingSpec},
        data::{Panel, SymbolFields, time::DAY_US},
        strategy::{
            Fold, SignalStrategy,
            builtin::SignalFit,
            signals::{SignalKind, Signals},
        },
    };
    let (n, m) = (90usize, 2usize);
    let idx_r: Vec<f64> = noise(11, n).iter().map(|v| v * 0.03).collect();
    let eps = noise(12, n * m);
    let idx_close: Vec<f64> = idx_r
        .iter()
        .enumerate()
        .scan(100.0, |c, (t, r)| {
            if t > 0 {
                *c *= 1.0 + r;
            }
            Some(*c)
        })
        .collect();
    let mut close = Array2::zeros((n, m));
    for i in 0..m {
        let mut c = 50.0;
        for t in 0..n {
            if t > 0 {
                let beta = if i == 0 { 1.1 } else { 0.2 };
                c *= 1.0 + beta * idx_r[t] + 0.004 * eps[t * m + i];
            }
            close[[t, i]] = c;
        }
    }
    let nan = Array2::from_elem((n, m), f64::NAN);
    let p = Panel {
        timestamps: (0..n as i64).map(|t| t * DAY_US).collect(),
        symbols: vec!["A".into(), "B".into()],
        open: nan.clone(),
        high: nan.clone(),
        low: nan.clone(),
        available: Array2::from_elem((n, m), true),
        filled: Array2::from_elem((n, m), false),
        close,
        volume: nan,
        fields: vec![SymbolFields::default(); m],
        benchmark: None,
        bars_per_year: 252.0,
        bar_us: DAY_US,
    };
    // Weights that move a little every bar, so the book and its hedge trade.
    let w = Array2::from_shape_fn((n, m), |(t, i)| {
        if i == 0 {
            0.5 + 0.1 * ((t % 5) as f64 / 5.0)
        } else {
            0.3
        }
    });
    let mut s = SignalStrategy::new(
        Signals {
            values: w,
            has_row: vec![true; n],
            kind: SignalKind::Weight,
        },
        &SizingSpec::default(),
    );
    let folds = [Fold {
        index: 0,
        train_start: 0,
        train_end: 0,
        fit_end: 0,
        test_start: 45,
        test_end: n - 2,
    }];
    let hedging = Hedging {
        spec: spec("correlation_threshold = 0.0\nwindow = 30"),
        instruments: vec![Benchmark {
            symbol: "IDX".into(),
            close: Array1::from(idx_close),
            available: Array1::from_elem(n, true),
        }],
    };
    let returns = p.returns();
    let bps = 10.0;
    let rep = super::super::replay::replay_hedged(
        &mut s,
        &p,
        returns.view(),
        &folds,
        &[SignalFit::empty(m)],
        None,
        &PortfolioSpec {
            capital: 1000.0,
            ..PortfolioSpec::default()
        },
        &ExecutionSpec::flat(bps),
        None,
        Some(Hedger::new(&hedging, vec![None; n])),
    );
    let h = rep.hedge.as_ref().unwrap();
    let start = rep.start;
    assert!(
        h.rows.iter().all(|r| r.exposure.weight < 0.0),
        "always hedged short here"
    );
    let hedge_trades = rep
        .trades
        .iter()
        .filter(|t| t.reason == TradeReason::Hedge)
        .count();
    assert!(hedge_trades > 10);
    assert!(
        (h.costs[0]
            - rep
                .trades
                .iter()
                .filter(|t| t.asset == m)
                .map(|t| t.fee)
                .sum::<f64>())
        .abs()
            < 1e-12
    );
    for (k, &r) in rep.returns.iter().enumerate() {
        let t = start + 1 + k;
        let prev = t - 1;
        let value_prev = if k == 0 { 1000.0 } else { rep.values[k - 1] };
        let book: f64 = (0..m)
            .map(|i| rep.weights[[prev - start, i]] * returns[[t, i]])
            .sum();
        let hw = h
            .rows
            .iter()
            .find(|x| x.bar == prev)
            .unwrap()
            .exposure
            .weight;
        let fees: f64 = rep
            .trades
            .iter()
            .filter(|x| x.bar == prev)
            .map(|x| x.fee)
            .sum();
        let want = book + hw * idx_r[t] - fees / value_prev;
        assert!((r - want).abs() < 1e-9, "bar {t}: {r} vs {want}");
    }
}
