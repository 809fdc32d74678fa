//! Level tracking: when a rule's value enters a level, and when it leaves.
//!
//! Alert storms are avoided by raising an alert only when a rule *enters* a
//! higher level (OK -> WARNING, OK or WARNING -> CRITICAL), never on each bar
//! it stays there. A level is left only when the value falls back below
//! `rearm x level` (hysteresis), so a value hovering at a limit raises one
//! alert, not one per crossing.

use serde::Serialize;

use crate::config::monitor::Levels;

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// A level worth a look.
    Warning,
    /// A limit breached.
    Critical,
}

impl Severity {
    /// The name in alerts.parquet.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// Float noise allowed above a limit before it counts as exceeded (a book
/// capped at exactly 1.0 gross sums to 1.0000000000000002).
const EPS: f64 = 1e-9;

/// How a value compares with a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The level is exceeded when `value > level` (fractions).
    Above,
    /// The level is reached when `value >= level` (counts).
    AtLeast,
}

/// One rule's current level for one key (the rule, or the rule and a symbol).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracker {
    level: u8,
}

impl Tracker {
    /// Feeds one value; returns the severity of the level just entered, if any.
    pub fn step(&mut self, value: f64, l: Levels, cmp: Compare, rearm: f64) -> Option<Severity> {
        if !value.is_finite() {
            return None;
        }
        let limit = |lvl: u8| if lvl == 2 { l.critical } else { l.warning };
        let over = |lvl: u8| match cmp {
            Compare::Above => value > limit(lvl) + EPS,
            Compare::AtLeast => value >= limit(lvl),
        };
        let target = if over(2) {
            2
        } else if over(1) {
            1
        } else {
            0
        };
        let mut keep = self.level;
        while keep > 0 {
            let lim = limit(keep);
            let rearm_at = lim - (1.0 - rearm) * lim.abs();
            let still = match cmp {
                Compare::Above => value > rearm_at,
                Compare::AtLeast => value >= lim,
            };
            if still {
                break;
            }
            keep -= 1;
        }
        let new = target.max(keep);
        let entered = new > self.level;
        self.level = new;
        match (entered, new) {
            (true, 2) => Some(Severity::Critical),
            (true, _) => Some(Severity::Warning),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Levels = Levels {
        warning: 0.10,
        critical: 0.15,
    };

    fn run(values: &[f64], rearm: f64) -> Vec<Option<Severity>> {
        let mut t = Tracker::default();
        values
            .iter()
            .map(|&v| t.step(v, L, Compare::Above, rearm))
            .collect()
    }

    #[test]
    fn alerts_on_entry_only() {
        use Severity::*;
        let got = run(&[0.05, 0.11, 0.12, 0.16, 0.17, 0.12, 0.16, 0.02, 0.11], 0.9);
        assert_eq!(
            got,
            vec![
                None,
                Some(Warning),
                None,
                Some(Critical),
                None,
                // 0.12 is below 0.9 x 0.15 = 0.135: back to WARNING, silently.
                None,
                Some(Critical),
                None,
                Some(Warning),
            ]
        );
        // Hysteresis: 0.14 stays above 0.9 x 0.15, so the return to 0.16 is no new alert.
        assert_eq!(
            run(&[0.16, 0.14, 0.16], 0.9),
            vec![Some(Critical), None, None]
        );
        // Without hysteresis it is.
        assert_eq!(
            run(&[0.16, 0.14, 0.16], 1.0),
            vec![Some(Critical), None, Some(Critical)]
        );
        // The limit itself is not exceeded; float noise above it neither.
        assert_eq!(run(&[0.15 + 1e-12], 1.0), vec![Some(Warning)]);
    }

    #[test]
    fn counts_reach_their_level() {
        let l = Levels {
            warning: 2.0,
            critical: 3.0,
        };
        let mut t = Tracker::default();
        let got: Vec<_> = [1.0, 2.0, 3.0, 0.0, 2.0]
            .iter()
            .map(|&v| t.step(v, l, Compare::AtLeast, 0.9))
            .collect();
        use Severity::*;
        assert_eq!(
            got,
            vec![None, Some(Warning), Some(Critical), None, Some(Warning)]
        );
    }
}
