//! Trading activity statistics: win rate, turnover and trade count.
//!
//! Definitions from chloe's DESIGN.md ("Metric definitions"), following common
//! practice (e.g. Pardo, "The Evaluation and Optimization of Trading Strategies",
//! 2008, ch. 9): win rate over bars in the market, one-way turnover as the mean
//! absolute weight change per bar, and trades as (bar, symbol) position changes.

use ndarray::ArrayView2;

/// Weight changes smaller than this count as no trade (float noise from rebalancing).
pub const TRADE_EPS: f64 = 1e-12;

/// Share of bars with `r > 0` among bars where `in_market` is true; None when there are none.
///
/// `in_market[t]` is whether any position was non-zero at bar t; the slices must
/// have the same length (extra entries of the longer one are ignored).
pub fn win_rate(r: &[f64], in_market: &[bool]) -> Option<f64> {
    let (mut active, mut wins) = (0usize, 0usize);
    for (&x, &m) in r.iter().zip(in_market) {
        if m {
            active += 1;
            wins += usize::from(x > 0.0);
        }
    }
    (active > 0).then(|| wins as f64 / active as f64)
}

/// Mean over bars of `sum_i |w[t,i] - w[t-1,i]|`, the first bar measured against zero
/// weights; weights are `[bars, assets]`, NaN counts as 0. None when there are no bars.
pub fn turnover(weights: ArrayView2<'_, f64>) -> Option<f64> {
    let bars = weights.nrows();
    if bars == 0 {
        return None;
    }
    let mut total = 0.0;
    for_each_change(weights, |d| total += d);
    Some(total / bars as f64)
}

/// Number of (bar, symbol) pairs where the weight changed (first bar against zero).
pub fn n_trades(weights: ArrayView2<'_, f64>) -> usize {
    let mut n = 0usize;
    for_each_change(weights, |d| n += usize::from(d > TRADE_EPS));
    n
}

fn for_each_change(weights: ArrayView2<'_, f64>, mut f: impl FnMut(f64)) {
    let clean = |x: f64| if x.is_nan() { 0.0 } else { x };
    let mut prev = vec![0.0; weights.ncols()];
    for row in weights.rows() {
        for (p, &w) in prev.iter_mut().zip(row.iter()) {
            let w = clean(w);
            f((w - *p).abs());
            *p = w;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn win_rate_hand_computed() {
        // In-market bars: 0 (+), 2 (-), 3 (0) -> 1 win of 3; bar 1 ignored.
        let r = [0.01, 0.05, -0.02, 0.0];
        let m = [true, false, true, true];
        assert!((win_rate(&r, &m).unwrap() - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(win_rate(&r, &[false; 4]), None);
    }

    #[test]
    fn turnover_and_trades_hand_computed() {
        // w = [[0.5, 0], [0.5, 0.25], [0, 0.25]]
        // changes: bar0 |0.5|+0 = 0.5; bar1 0+0.25 = 0.25; bar2 0.5+0 = 0.5
        // turnover = 1.25 / 3; trades = bar0 A, bar1 B, bar2 A = 3
        let w = array![[0.5, 0.0], [0.5, 0.25], [0.0, 0.25]];
        assert!((turnover(w.view()).unwrap() - 1.25 / 3.0).abs() < 1e-15);
        assert_eq!(n_trades(w.view()), 3);
        let empty = ndarray::Array2::<f64>::zeros((0, 2));
        assert_eq!(turnover(empty.view()), None);
        assert_eq!(n_trades(empty.view()), 0);
    }
}
