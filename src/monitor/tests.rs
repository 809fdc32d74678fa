//! The rules on crafted inputs whose alerts are known by hand.

use ndarray::Array2;

use super::*;
use crate::config::monitor::RawMonitor;

const DAY: i64 = 86_400_000_000;

/// 3 assets over 100 bars: x = (+1, -1, +1, -1, ...) x 1%, z = (+1, +1, -1, -1, ...) x 1%;
/// asset 0 = x, asset 1 = x + z (correlation 1/sqrt(2) over any 8-bar window),
/// asset 2 = -x (correlation -1 with asset 0).
fn market() -> Array2<f64> {
    let mut r = Array2::zeros((100, 3));
    for t in 0..100 {
        let x = if t % 2 == 0 { 0.01 } else { -0.01 };
        let z = if (t / 2) % 2 == 0 { 0.01 } else { -0.01 };
        r[[t, 0]] = x;
        r[[t, 1]] = x + z;
        r[[t, 2]] = -x;
    }
    r
}

fn spec(text: &str) -> MonitorSpec {
    toml::from_str::<RawMonitor>(text)
        .unwrap()
        .validate()
        .unwrap()
}

#[test]
fn drawdown_and_correlation_alerts_on_known_days() {
    let symbols: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
    let ts: Vec<i64> = (0..100).map(|t| t * DAY).collect();
    let start = 20;
    let n = 60;
    // Flat account, then -20% on the return dated start + 1 + 29 = bar 50.
    let mut returns = vec![0.0; n];
    returns[29] = -0.2;
    // Holds A and C (correlation -1) until decision k = 40, then A and B.
    let mut w = Array2::zeros((n, 3));
    for k in 0..n {
        w[[k, 0]] = 0.05;
        w[[k, if k < 40 { 2 } else { 1 }]] = 0.05;
    }
    let inputs = Inputs {
        symbols: &symbols,
        timestamps: &ts,
        asset_returns: market(),
        replay: Some(ReplayView {
            start,
            returns: &returns,
            weights: w.view(),
            regimes: vec![None; n],
        }),
        folds: Vec::new(),
        stress: Vec::new(),
        stress_timestamp: None,
    };
    let m = run(&spec("correlation = { window = 8 }"), &inputs);
    let got: Vec<_> = m
        .alerts
        .iter()
        .map(|a| (a.timestamp.unwrap() / DAY, a.severity, a.rule))
        .collect();
    assert_eq!(
        got,
        vec![
            (50, Severity::Critical, "drawdown"),
            (60, Severity::Warning, "correlation"),
        ]
    );
    let dd = &m.alerts[0];
    assert!((dd.value - 0.2).abs() < 1e-12 && dd.limit == Some(0.15));
    let c = &m.alerts[1];
    assert!(
        (c.value - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12,
        "{}",
        c.value
    );
    assert_eq!(c.limit, Some(0.7));
    // The track: 60 decision bars, gross 10%, correlation -1 then 1/sqrt(2).
    assert_eq!(m.track.timestamps.len(), n);
    assert!((m.track.gross[0] - 0.1).abs() < 1e-12);
    assert!((m.track.avg_correlation[39].unwrap() + 1.0).abs() < 1e-12);
    assert_eq!(m.track.n_held[45], 2);
    assert_eq!(m.counts()["CRITICAL"], 1);
    // The held-asset matrix covers the three assets.
    assert_eq!(m.correlation.assets, vec![0, 1, 2]);
    assert!((m.correlation.matrix[[0, 2]] + 1.0).abs() < 1e-12);
}

#[test]
fn regime_single_name_stress_and_edge_rules() {
    let symbols: Vec<String> = ["A", "B"].iter().map(|s| s.to_string()).collect();
    let ts: Vec<i64> = (0..20).map(|t| t * DAY).collect();
    let returns = vec![0.0; 10];
    let mut w = Array2::zeros((10, 2));
    for k in 0..10 {
        // B grows to 25% at k = 5 (critical above 20%), A stays at 5%.
        w[[k, 0]] = 0.05;
        w[[k, 1]] = if k >= 5 { 0.25 } else { 0.05 };
    }
    let mut regimes = vec![Some(("STABLE", 0.9)); 10];
    regimes[3] = Some(("VOLATILE", 0.8));
    regimes[4] = Some(("VOLATILE", 0.7));
    regimes[7] = Some(("CRISIS", 0.6));
    let fold = |index, p: Option<f64>, b| FoldEdge {
        index,
        test_end: (10 + index as i64) * DAY,
        precision: p,
        base_rate: Some(b),
    };
    let inputs = Inputs {
        symbols: &symbols,
        timestamps: &ts,
        asset_returns: Array2::from_elem((20, 2), f64::NAN),
        replay: Some(ReplayView {
            start: 0,
            returns: &returns,
            weights: w.view(),
            regimes,
        }),
        // Below the base rate in folds 0, 1, (2 has no calls), 3: three in a row -> WARNING at fold 3.
        folds: vec![
            fold(0, Some(0.3), 0.4),
            fold(1, Some(0.35), 0.4),
            fold(2, None, 0.4),
            fold(3, Some(0.2), 0.4),
            fold(4, Some(0.5), 0.4),
        ],
        stress: vec![ScenarioRisk {
            scenario: "crash".into(),
            prob_drawdown_breach: 0.02,
            var_99: 0.30,
        }],
        stress_timestamp: Some(19 * DAY),
    };
    let m = run(&spec("rearm_bars = 1"), &inputs);
    let got: Vec<_> = m
        .alerts
        .iter()
        .map(|a| {
            (
                a.timestamp.unwrap() / DAY,
                a.severity,
                a.rule,
                a.symbol.clone(),
            )
        })
        .collect();
    use Severity::*;
    assert_eq!(
        got,
        vec![
            (3, Warning, "regime", None),
            (5, Critical, "single_name", Some("B".into())),
            (7, Critical, "regime", None),
            (13, Warning, "edge_decay", None),
            (
                19,
                Warning,
                "stress_breach_probability",
                Some("crash".into())
            ),
            (19, Critical, "stress_var_99", Some("crash".into())),
        ]
    );
    assert_eq!(m.alerts[0].value, 0.8);
    assert_eq!(m.alerts[3].value, 3.0);
}

#[test]
fn a_flickering_regime_alerts_once_within_rearm_bars() {
    let symbols = vec!["A".to_string()];
    let ts: Vec<i64> = (0..40).map(|t| t * DAY).collect();
    let returns = vec![0.0; 30];
    let w = Array2::zeros((30, 1));
    // VOLATILE at bars 2, 4, 6 (gaps of 1 bar), then again at 25 (18 bars later).
    let mut regimes = vec![Some(("STABLE", 1.0)); 30];
    for k in [2, 4, 6, 25] {
        regimes[k] = Some(("VOLATILE", 1.0));
    }
    let inputs = Inputs {
        symbols: &symbols,
        timestamps: &ts,
        asset_returns: Array2::from_elem((40, 1), f64::NAN),
        replay: Some(ReplayView {
            start: 0,
            returns: &returns,
            weights: w.view(),
            regimes,
        }),
        folds: Vec::new(),
        stress: Vec::new(),
        stress_timestamp: None,
    };
    let days = |text: &str| -> Vec<i64> {
        run(&spec(text), &inputs)
            .alerts
            .iter()
            .map(|a| a.timestamp.unwrap() / DAY)
            .collect()
    };
    assert_eq!(days("rearm_bars = 0"), vec![2, 4, 6, 25]);
    assert_eq!(days("rearm_bars = 5"), vec![2, 25]);
    assert_eq!(days("rearm_bars = 21"), vec![2]);
}
