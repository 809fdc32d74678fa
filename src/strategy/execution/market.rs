//! Causal liquidity estimates at one bar: ADV, the daily volatility behind
//! the impact law and the bid-ask spread. Every estimate at bar t reads bars
//! `<= t` only (the account trades at t's close, when t's bar is known).

use ndarray::ArrayView2;

use crate::data::Panel;

/// Mean real volume (shares) of asset `i` over the last `window` bars, t
/// included; None without volume there.
pub fn adv_shares(panel: &Panel, t: usize, i: usize, window: usize) -> Option<f64> {
    if !panel.fields[i].has_volume {
        return None;
    }
    let (mut s, mut n) = (0.0, 0usize);
    for u in t.saturating_sub(window.max(1) - 1)..=t {
        let v = panel.volume[[u, i]];
        if v.is_finite() && !panel.filled[[u, i]] {
            s += v;
            n += 1;
        }
    }
    (n > 0 && s > 0.0).then(|| s / n as f64)
}

/// Sample standard deviation (ddof 1) of asset `i`'s one-bar returns over the
/// last `window` bars, t included; None with fewer than 2 defined returns.
pub fn sigma_daily(returns: ArrayView2<'_, f64>, t: usize, i: usize, window: usize) -> Option<f64> {
    let lo = (t + 1).saturating_sub(window);
    let (mut n, mut mean, mut m2) = (0usize, 0.0, 0.0);
    for u in lo..=t {
        let r = returns[[u, i]];
        if r.is_finite() {
            // Welford's update.
            n += 1;
            let d = r - mean;
            mean += d / n as f64;
            m2 += d * (r - mean);
        }
    }
    (n >= 2).then(|| (m2 / (n - 1) as f64).sqrt())
}

/// Fewest two-bar high-low pairs behind a spread estimate.
pub const MIN_SPREAD_PAIRS: usize = 5;

/// Corwin and Schultz (2012) two-bar high-low estimate of asset `i`'s full
/// bid-ask spread (fraction of price), averaged over the pairs of bars ending
/// in the last `window` bars (t included), negative estimates set to 0,
/// capped at 0.5; None with fewer than [`MIN_SPREAD_PAIRS`] usable pairs.
pub fn corwin_schultz(panel: &Panel, t: usize, i: usize, window: usize) -> Option<f64> {
    if !panel.fields[i].has_ohlc {
        return None;
    }
    let (mut sum, mut n) = (0.0, 0usize);
    for u in (t + 1).saturating_sub(window).max(1)..=t {
        if let Some(s) = crate::metrics::corwin_schultz_pair(
            panel.high[[u - 1, i]],
            panel.low[[u - 1, i]],
            panel.high[[u, i]],
            panel.low[[u, i]],
        ) {
            sum += s;
            n += 1;
        }
    }
    (n >= MIN_SPREAD_PAIRS).then(|| (sum / n as f64).min(0.5))
}
