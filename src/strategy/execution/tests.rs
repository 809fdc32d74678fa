//! The simulator's parts against hand computations and properties: impact
//! laws, causal estimates, routing, slicing, the no-trade band, reasons.

use ndarray::Array2;
use proptest::prelude::*;

use super::{
    impact::{ImpactModel, SeedImpact, SigmaSqrt},
    market, router, *,
};
use crate::{
    config::execution::{RawExecution, VenueSpec},
    data::{SymbolFields, time::DAY_US},
    strategy::DecisionRecord,
};

fn venue(name: &str, fee_bps: f64, liquidity_share: f64, min_size: f64) -> VenueSpec {
    VenueSpec {
        name: name.into(),
        fee_bps,
        liquidity_share: Some(liquidity_share),
        min_size,
    }
}

fn spec(text: &str) -> ExecutionSpec {
    toml::from_str::<RawExecution>(text)
        .unwrap()
        .validate(5.0)
        .unwrap()
}

fn conditions(price: f64, adv: f64, sigma: f64, half_spread: f64) -> Conditions {
    Conditions {
        price,
        adv,
        sigma,
        half_spread,
        default_adv: false,
        default_sigma: false,
        default_spread: false,
    }
}

#[test]
fn impact_forms_match_hand_computations() {
    // k 0.5, sigma 2%, participation 4%: 0.5 x 0.02 x 0.2 = 0.002; the seed: 0.1 x 0.2 = 0.02.
    assert!((SigmaSqrt { k: 0.5 }.impact(0.04, 0.02) - 0.002).abs() < 1e-15);
    assert!((SeedImpact.impact(0.04, 0.02) - 0.02).abs() < 1e-15);
    assert!((SeedImpact.impact(0.04, 0.5) - 0.02).abs() < 1e-15);
    // Through the simulator: 400 shares of an ADV of 10 000 is 4%.
    let c = conditions(50.0, 10_000.0, 0.02, 0.0);
    let s = Simulator::new(&spec("impact_coefficient = 0.5"), 20, 1e7);
    assert!((s.impact(400.0, &c) - 0.002).abs() < 1e-15);
    assert!((s.impact(-400.0, &c) - 0.002).abs() < 1e-15);
    let s = Simulator::new(&spec("impact_form = \"seed\""), 20, 1e7);
    assert!((s.impact(400.0, &c) - 0.02).abs() < 1e-15);
    // A fill of 400 shares at 50 on the default venue (5 bps), half spread 10 bps:
    // impact 0.02 x 20 000 = 400, spread 20, fee 10.
    let c = conditions(50.0, 10_000.0, 0.02, 0.001);
    let f = s.fill(400.0, &c);
    assert_eq!(f.len(), 1);
    assert!((f[0].impact_cost - 400.0).abs() < 1e-9);
    assert!((f[0].spread_cost - 20.0).abs() < 1e-9);
    assert!((f[0].fee - 10.0).abs() < 1e-9);
    assert!((f[0].participation - 0.04).abs() < 1e-15);
}

proptest! {
    #[test]
    fn prop_impact_is_monotone_and_concave_in_size(
        k in 0.1f64..3.0,
        sigma in 0.001f64..0.1,
        a in 1.0f64..1e6,
        h in 1.0f64..1e5,
    ) {
        let c = conditions(10.0, 1e6, sigma, 0.0);
        for form in ["sigma_sqrt", "seed"] {
            let s = Simulator::new(&spec(&format!("impact_form = \"{form}\"\nimpact_coefficient = {k}")), 20, 1e7);
            let (f0, f1, f2) = (s.impact(a, &c), s.impact(a + h, &c), s.impact(a + 2.0 * h, &c));
            prop_assert!(f1 > f0 && f2 > f1);
            // Concave: the second difference is not positive.
            prop_assert!(f2 - 2.0 * f1 + f0 <= 1e-15 * f2);
        }
    }

    #[test]
    fn prop_routing_conserves_quantity(
        size in 1.0f64..5e5,
        shares in proptest::collection::vec(0.05f64..0.5, 1..5),
        fees in proptest::collection::vec(0.0f64..10.0, 5),
    ) {
        let venues: Vec<VenueSpec> = shares
            .iter()
            .enumerate()
            .map(|(k, &s)| venue(&format!("v{k}"), fees[k], s, 0.0))
            .collect();
        let order = router::by_fee(&venues);
        let adv = 1e5;
        let a = router::route(size, 10.0, adv, &venues, &order);
        let filled: f64 = a.iter().map(|x| x.quantity).sum();
        let capacity: f64 = shares.iter().sum::<f64>() * adv;
        // Everything fills up to the venues' joint capacity, no venue above its own.
        prop_assert!((filled - size.min(capacity)).abs() <= 1e-9 * size);
        for x in &a {
            prop_assert!(x.quantity > 0.0 && x.quantity <= venues[x.venue].liquidity_share.unwrap() * adv * (1.0 + 1e-12));
        }
        // The simulator's fills carry the same quantity, signed.
        let sim = Simulator::new(&ExecutionSpec { venues, ..spec("") }, 20, 1e7);
        let c = conditions(10.0, adv, 0.02, 0.0);
        let f: f64 = sim.fill(-size, &c).iter().map(|f| f.quantity).sum();
        prop_assert!((f + filled).abs() <= 1e-9 * size);
    }
}

#[test]
fn router_takes_the_cheapest_venue_that_fills_and_splits_otherwise() {
    let venues = vec![
        venue("lit", 2.0, 0.5, 0.0),
        venue("dark", 1.0, 0.2, 0.0),
        venue("mid", 1.5, 0.6, 0.0),
    ];
    let order = router::by_fee(&venues);
    assert_eq!(order, vec![1, 2, 0]);
    let route = |size| router::route(size, 10.0, 1000.0, &venues, &order);
    let one = |venue, quantity| vec![router::Allocation { venue, quantity }];
    // 150 fits the cheapest (capacity 200); 300 does not, the next one (600) takes it.
    assert_eq!(route(150.0), one(1, 150.0));
    assert_eq!(route(300.0), one(2, 300.0));
    // 700: no venue alone; cheapest first, 200 + 500.
    let a = route(700.0);
    assert_eq!(
        a.iter().map(|x| (x.venue, x.quantity)).collect::<Vec<_>>(),
        vec![(1, 200.0), (2, 500.0)]
    );
    // 2000: every venue full (200 + 600 + 500 = 1300), 700 unfilled.
    let filled: f64 = route(2000.0).iter().map(|x| x.quantity).sum();
    assert_eq!(filled, 1300.0);
    // A minimum size of 5000 currency on the cheapest: 150 shares x 10 is too small for it.
    let venues = vec![
        venue("big", 0.5, 1.0, 5000.0),
        venue("small", 3.0, 1.0, 0.0),
    ];
    let order = router::by_fee(&venues);
    assert_eq!(router::route(150.0, 10.0, 1e4, &venues, &order)[0].venue, 1);
    assert_eq!(router::route(600.0, 10.0, 1e4, &venues, &order)[0].venue, 0);
    // Fees are charged per venue on each part.
    let sim = Simulator::new(
        &ExecutionSpec {
            venues: vec![venue("a", 1.0, 0.2, 0.0), venue("b", 4.0, 0.25, 0.0)],
            ..spec("")
        },
        20,
        1e7,
    );
    let f = sim.fill(500.0, &conditions(10.0, 1000.0, 0.0, 0.0));
    assert_eq!(f.len(), 2);
    assert!((f[0].fee - 200.0 * 10.0 * 1e-4).abs() < 1e-12);
    assert!((f[1].fee - 250.0 * 10.0 * 4e-4).abs() < 1e-12);
    assert_eq!(f.iter().map(|f| f.quantity).sum::<f64>(), 450.0);
}

#[test]
fn slicing_caps_children_at_the_participation_cap() {
    // sigma 2%, k 1: one-bar impact of 20% of ADV is 0.02 x 0.447 = 0.0089 < 0.01
    // (not sliced); 30% is 0.011 (sliced into children of 10% of ADV).
    let s = Simulator::new(&spec(""), 20, 1e7);
    let c = conditions(10.0, 1000.0, 0.02, 0.0);
    assert!(!s.slices(200.0, &c));
    assert!(s.slices(300.0, &c));
    assert_eq!(s.child(300.0, true, &c), 100.0);
    assert_eq!(s.child(-300.0, true, &c), -100.0);
    assert_eq!(s.child(60.0, true, &c), 60.0);
    assert_eq!(s.child(300.0, false, &c), 300.0);
    // The expected cost of the sliced order prices its children's impact:
    // 300 x 10 x (0.02 x sqrt(0.1) + 5 bps).
    let want = 3000.0 * (0.02 * 0.1f64.sqrt() + 5e-4);
    assert!((s.expected_cost(300.0, &c) - want).abs() < 1e-9);
}

#[test]
fn band_skips_when_cost_exceeds_the_expected_gain() {
    // 1000 shares at 100 of an ADV of 1e6: impact 0.02 x sqrt(0.001) = 6.32e-4,
    // half spread 5 bps, fee 5 bps: cost 1.632e-3 of the notional.
    let s = Simulator::new(&spec(""), 20, 1e7);
    let c = conditions(100.0, 1e6, 0.02, 5e-4);
    let rate = 0.02 * 0.001f64.sqrt() + 5e-4 + 5e-4;
    assert!((s.expected_cost(1000.0, &c) - 1e5 * rate).abs() < 1e-9);
    // The band weighs the round trip, 3.264e-3, against the edge.
    assert!(s.band_skips(1000.0, &c, Some(0.0032)));
    assert!(!s.band_skips(1000.0, &c, Some(0.0033)));
    // No edge estimate, or the band off: never skipped.
    assert!(!s.band_skips(1000.0, &c, None));
    assert!(!s.band_skips(1000.0, &c, Some(f64::NAN)));
    let off = Simulator::new(&spec("no_trade_band = false"), 20, 1e7);
    assert!(!off.band_skips(1000.0, &c, Some(0.0)));
}

/// A one-asset panel with the given closes, highs and lows.
fn ohlc_panel(close: &[f64], high: &[f64], low: &[f64]) -> crate::data::Panel {
    let n = close.len();
    let col = |v: &[f64]| Array2::from_shape_vec((n, 1), v.to_vec()).unwrap();
    crate::data::Panel {
        timestamps: (0..n as i64).map(|t| t * DAY_US).collect(),
        symbols: vec!["A".into()],
        open: col(close),
        high: col(high),
        low: col(low),
        close: col(close),
        volume: Array2::from_elem((n, 1), 1000.0),
        available: Array2::from_elem((n, 1), true),
        filled: Array2::from_elem((n, 1), false),
        fields: vec![SymbolFields {
            has_ohlc: true,
            has_volume: true,
        }],
        benchmark: None,
        bars_per_year: 252.0,
        bar_us: DAY_US,
    }
}

#[test]
fn estimates_are_causal_and_match_hand_values() {
    // Returns 1%, -1%, 3% over a window of 3: mean 1%, deviations 0, -2%, 2%:
    // variance 8e-4 / 2, std 0.02.
    let r = Array2::from_shape_vec((4, 1), vec![f64::NAN, 0.01, -0.01, 0.03]).unwrap();
    assert!((market::sigma_daily(r.view(), 3, 0, 3).unwrap() - 0.02).abs() < 1e-12);
    assert_eq!(market::sigma_daily(r.view(), 1, 0, 3), None);
    // Constant range: high/low = e^x every bar, same levels: beta = 2x^2,
    // gamma = x^2, alpha = (2 - sqrt 2) x / k - x / sqrt k, S = 2 (e^a - 1) / (1 + e^a).
    let x: f64 = 0.02;
    let n = 12;
    let (h, l) = (100.0 * x.exp(), 100.0);
    let p = ohlc_panel(&vec![100.0; n], &vec![h; n], &vec![l; n]);
    let k = 3.0 - 2.0 * 2f64.sqrt();
    let a = (2.0 - 2f64.sqrt()) * x / k - x / k.sqrt();
    let want = (2.0 * (a.exp() - 1.0) / (1.0 + a.exp())).max(0.0);
    let got = market::corwin_schultz(&p, n - 1, 0, 10).unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // Fewer than 5 pairs: no estimate.
    assert_eq!(market::corwin_schultz(&p, 4, 0, 10), None);
    // A later bar changes nothing at t.
    let mut later = p.clone();
    later.high[[n - 1, 0]] = 200.0;
    later.volume[[n - 1, 0]] = 1e9;
    assert_eq!(
        market::corwin_schultz(&later, n - 2, 0, 10),
        market::corwin_schultz(&p, n - 2, 0, 10)
    );
    assert_eq!(market::adv_shares(&later, n - 2, 0, 5), Some(1000.0));
    assert!(market::adv_shares(&later, n - 1, 0, 5).unwrap() > 1000.0);
}

fn record(edge_probability: f64, size_before: f64, size_after: f64) -> DecisionRecord {
    let mut cuts = [0.0; 6];
    cuts[5] = size_before - size_after;
    DecisionRecord {
        asset: 0,
        edge_probability,
        kelly_fraction: size_before,
        regime_multiplier: 1.0,
        size_before,
        size_after,
        cuts,
    }
}

#[test]
fn reasons_follow_the_decision_record() {
    use TradeReason::*;
    let r = record(0.6, 0.1, 0.1);
    // Opening on an edge, growing with the edge: signal; a top-up of drift: rebalance.
    assert_eq!(TradeReason::classify(0.1, 0.0, 0.0, Some(&r)), Signal);
    assert_eq!(TradeReason::classify(0.1, 0.05, 0.08, Some(&r)), Signal);
    assert_eq!(TradeReason::classify(0.1, 0.09, 0.1, Some(&r)), Rebalance);
    // Without a record (no risk engine): rebalance.
    assert_eq!(TradeReason::classify(0.1, 0.0, 0.0, None), Rebalance);
    // The brake cuts 0.1 -> 0.02 while the position is 0.1: brake.
    let braked = record(0.6, 0.1, 0.02);
    assert_eq!(TradeReason::classify(0.02, 0.1, 0.1, Some(&braked)), Brake);
    // The edge fell (size before 0.03) and the brake cut 0.03 -> 0.02 on a 0.1
    // position: 0.07 by the edge, 0.01 by the brake: rebalance.
    let faded = record(0.6, 0.03, 0.02);
    assert_eq!(
        TradeReason::classify(0.02, 0.1, 0.1, Some(&faded)),
        Rebalance
    );
    assert_eq!(Hedge.name(), "hedge");
    assert_eq!(Delisted.name(), "delisted");
}
