//! Resampling bars to a coarser bar size: open first, high max, low min,
//! close last, volume sum.

use super::bars::Bars;

/// Start of the bucket of size `bar` (microseconds) holding `t`, aligned to the Unix epoch (UTC).
pub fn bucket(t: i64, bar: i64) -> i64 {
    t.div_euclid(bar) * bar
}

/// Aggregates sorted, validated bars into buckets of `bar` microseconds.
///
/// A bucket is close-only when any of its bars is close-only, and has no
/// volume when none of its bars has one. The bucket timestamp is its start.
pub fn resample(bars: &Bars, bar: i64) -> Bars {
    let mut out = Bars {
        symbols: bars.symbols.clone(),
        files: bars.files.clone(),
        ..Bars::default()
    };
    let mut r = 0;
    while r < bars.len() {
        let sym = bars.symbol[r];
        let b = bucket(bars.timestamp[r], bar);
        let (mut o, mut h, mut l) = (bars.open[r], bars.high[r], bars.low[r]);
        let mut c = bars.close[r];
        let mut v = bars.volume[r];
        let origin = bars.origin[r];
        let mut close_only = o.is_nan();
        let mut k = r + 1;
        while k < bars.len() && bars.symbol[k] == sym && bucket(bars.timestamp[k], bar) == b {
            if bars.open[k].is_nan() {
                close_only = true;
            } else {
                h = h.max(bars.high[k]);
                l = l.min(bars.low[k]);
                if o.is_nan() {
                    o = bars.open[k];
                }
            }
            c = bars.close[k];
            if !bars.volume[k].is_nan() {
                v = if v.is_nan() {
                    bars.volume[k]
                } else {
                    v + bars.volume[k]
                };
            }
            k += 1;
        }
        if close_only {
            (o, h, l) = (f64::NAN, f64::NAN, f64::NAN);
        }
        out.timestamp.push(b);
        out.symbol.push(sym);
        out.open.push(o);
        out.high.push(h);
        out.low.push(l);
        out.close.push(c);
        out.volume.push(v);
        out.origin.push(origin);
        r = k;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{bars::Origin, time::DAY_US};

    #[test]
    fn minutes_to_days_by_hand() {
        // Two days of three one-minute bars each for one symbol.
        let m = 60_000_000;
        let ts = vec![0, m, 2 * m, DAY_US, DAY_US + m, DAY_US + 2 * m];
        let n = ts.len();
        let bars = Bars {
            symbols: vec!["X".into()],
            symbol: vec![0; n],
            open: vec![10.0, 11.0, 12.0, 20.0, 19.0, 18.0],
            high: vec![11.0, 13.0, 12.5, 21.0, 19.5, 18.5],
            low: vec![9.5, 10.5, 11.0, 19.0, 18.0, 17.0],
            close: vec![11.0, 12.0, 12.2, 19.5, 18.2, 17.5],
            volume: vec![100.0, 200.0, 300.0, 5.0, f64::NAN, 7.0],
            origin: vec![Origin::default(); n],
            timestamp: ts,
            files: vec![],
        };
        let d = resample(&bars, DAY_US);
        assert_eq!(d.timestamp, vec![0, DAY_US]);
        assert_eq!(d.open, vec![10.0, 20.0]);
        assert_eq!(d.high, vec![13.0, 21.0]);
        assert_eq!(d.low, vec![9.5, 17.0]);
        assert_eq!(d.close, vec![12.2, 17.5]);
        assert_eq!(d.volume, vec![600.0, 12.0]);
    }
}
