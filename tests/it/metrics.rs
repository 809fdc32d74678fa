//! Metrics through the public API: a return series a person can check by hand.

use chloe::metrics::{
    BootstrapConfig, annual_to_per_bar, dsr, max_drawdown, psr, sharpe, sharpe_ci, sortino,
    total_return,
};

/// Alternating +2% / -1% for 100 bars: mean 0.005, std(ddof=1) = 0.015 * sqrt(100/99).
#[test]
fn alternating_series_statistics_agree() {
    let r: Vec<f64> = (0..100)
        .map(|i| if i % 2 == 0 { 0.02 } else { -0.01 })
        .collect();
    let want = 0.005 / (0.015 * (100.0f64 / 99.0).sqrt()) * 252f64.sqrt();
    let s = sharpe(&r, 252.0).unwrap();
    assert!((s - want).abs() < 1e-10, "{s} vs {want}");
    // Downside: half the bars at -0.01 -> sqrt(0.5 * 1e-4) = 0.0070710678
    let so = sortino(&r, 252.0).unwrap();
    assert!(
        (so - 0.005 / 5e-5f64.sqrt() * 252f64.sqrt()).abs() < 1e-10,
        "{so}"
    );
    // Worst drawdown is a single -1% bar after a new high.
    assert!((max_drawdown(&r) - 0.01).abs() < 1e-12);
    assert!((total_return(&r) - (1.02f64 * 0.99).powi(50) + 1.0).abs() < 1e-12);
    // One trial: DSR is PSR against zero; more trials can only lower it.
    let p0 = psr(&r, 0.0).unwrap();
    assert_eq!(dsr(&r, 1, 0.0), Some(p0));
    let deflated = dsr(&r, 50, annual_to_per_bar(1.0, 252.0)).unwrap();
    assert!(deflated < p0 && p0 > 0.99);
    let (lo, hi) = sharpe_ci(&r, 252.0, &BootstrapConfig::default()).unwrap();
    assert!(lo <= s && s <= hi, "[{lo}, {hi}] vs {s}");
}
