//! The row rules of the input contract: a fast check, and the slow path that says
//! which rule a row breaks and where.

use arrow::array::{Array, Float64Array};

use super::arrays::{Micros, NO_SYMBOL};
use crate::{
    config::ColumnMap,
    data::{bars::Problems, time::format_us},
};

/// One decoded batch, for validation.
pub(super) struct Batch<'a> {
    pub(super) file_name: String,
    pub(super) names: &'a ColumnMap,
    pub(super) symbols: &'a [String],
    pub(super) ts: &'a Micros,
    pub(super) sym_ids: &'a [u32],
    pub(super) close: &'a Float64Array,
    pub(super) ohlc: Option<&'a (Float64Array, Float64Array, Float64Array)>,
    pub(super) volume: Option<&'a Float64Array>,
}

impl Batch<'_> {
    /// Whether row `r` passes every rule (the fast path).
    pub(super) fn row_ok(&self, r: usize) -> bool {
        if self.ts.get(r).is_none() || self.sym_ids[r] == NO_SYMBOL || !self.close.is_valid(r) {
            return false;
        }
        let c = self.close.value(r);
        if !(c.is_finite() && c > 0.0) {
            return false;
        }
        if let Some((o, h, l)) = self.ohlc {
            let nvalid = o.is_valid(r) as u8 + h.is_valid(r) as u8 + l.is_valid(r) as u8;
            if nvalid == 3 {
                let (o, h, l) = (o.value(r), h.value(r), l.value(r));
                if !(o.is_finite()
                    && h.is_finite()
                    && l.is_finite()
                    && o > 0.0
                    && h > 0.0
                    && l > 0.0)
                {
                    return false;
                }
                let tol = 1e-9 * h.abs().max(l.abs());
                if h < l - tol || c < l - tol || c > h + tol || o < l - tol || o > h + tol {
                    return false;
                }
            } else if nvalid != 0 {
                return false;
            }
        }
        if let Some(v) = self.volume
            && v.is_valid(r)
        {
            let v = v.value(r);
            if !(v.is_finite() && v >= 0.0) {
                return false;
            }
        }
        true
    }

    /// Records every rule row `r` breaks; returns false when the row cannot
    /// be placed at all (null timestamp or symbol).
    pub(super) fn record_problems(&self, r: usize, row: u64, problems: &mut Problems) -> bool {
        let names = self.names;
        let file_name = &self.file_name;
        let (ts, sym) = (
            self.ts.get(r),
            Some(self.sym_ids[r]).filter(|&s| s != NO_SYMBOL),
        );
        let ex = |t: Option<i64>| {
            format!(
                "{} {} ({file_name} row {row})",
                sym.map_or("<null>".to_string(), |i| self.symbols[i as usize].clone()),
                t.map_or("<null>".into(), format_us)
            )
        };
        let Some(t) = ts else {
            problems.add(&format!("column \"{}\" is null", names.timestamp), || {
                ex(ts)
            });
            if sym.is_none() {
                problems.add(&format!("column \"{}\" is null", names.symbol), || ex(ts));
            }
            return false;
        };
        if sym.is_none() {
            problems.add(&format!("column \"{}\" is null", names.symbol), || ex(ts));
            return false;
        }
        let c = if self.close.is_valid(r) {
            self.close.value(r)
        } else {
            f64::NAN
        };
        if !c.is_finite() {
            problems.add(
                &format!("column \"{}\" is null, NaN or infinite", names.close),
                || ex(Some(t)),
            );
        } else if c <= 0.0 {
            problems.add(
                &format!("column \"{}\" is not positive", names.close),
                || format!("{} = {c}", ex(Some(t))),
            );
        }
        if let Some(ohlc) = self.ohlc {
            let ex = || ex(Some(t));
            self.record_ohlc_problems(r, c, ohlc, &ex, problems);
        }
        if let Some(vv) = self.volume
            && vv.is_valid(r)
        {
            let v = vv.value(r);
            if !v.is_finite() {
                problems.add(
                    &format!("column \"{}\" is NaN or infinite", names.volume),
                    || ex(Some(t)),
                );
            } else if v < 0.0 {
                problems.add(&format!("column \"{}\" is negative", names.volume), || {
                    format!("{} = {v}", ex(Some(t)))
                });
            }
        }
        true
    }

    /// Records the open/high/low rules row `r` (with close `c`) breaks;
    /// `ex` describes the row.
    fn record_ohlc_problems(
        &self,
        r: usize,
        c: f64,
        (ov, hv, lv): &(Float64Array, Float64Array, Float64Array),
        ex: &dyn Fn() -> String,
        problems: &mut Problems,
    ) {
        let names = self.names;
        let valid = [ov.is_valid(r), hv.is_valid(r), lv.is_valid(r)];
        let nvalid = valid.iter().filter(|&&v| v).count();
        if nvalid == 3 {
            let (o, h, l) = (ov.value(r), hv.value(r), lv.value(r));
            let mut bad = false;
            for (name, v) in [(&names.open, o), (&names.high, h), (&names.low, l)] {
                if !v.is_finite() {
                    problems.add(&format!("column \"{name}\" is NaN or infinite"), ex);
                    bad = true;
                } else if v <= 0.0 {
                    problems.add(&format!("column \"{name}\" is not positive"), || {
                        format!("{} = {v}", ex())
                    });
                    bad = true;
                }
            }
            if !bad && c.is_finite() && c > 0.0 {
                let tol = 1e-9 * h.abs().max(l.abs());
                if h < l - tol {
                    problems.add(
                        &format!("\"{}\" below \"{}\"", names.high, names.low),
                        || format!("{} high {h} low {l}", ex()),
                    );
                } else {
                    if c < l - tol || c > h + tol {
                        problems.add(&format!("\"{}\" outside [low, high]", names.close), || {
                            format!("{} close {c} low {l} high {h}", ex())
                        });
                    }
                    if o < l - tol || o > h + tol {
                        problems.add(&format!("\"{}\" outside [low, high]", names.open), || {
                            format!("{} open {o} low {l} high {h}", ex())
                        });
                    }
                }
            }
        } else if nvalid > 0 {
            problems.add(
                &format!(
                    "\"{}\", \"{}\", \"{}\" partly null on one bar (all three null is a close-only bar)",
                    names.open, names.high, names.low
                ),
                ex,
            );
        }
    }
}
