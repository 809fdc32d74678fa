//! The risk engine: decides what is traded and how much, behind [`RiskEngine`].
//!
//! [`KellyRisk`] is the seed plan's engine: assets whose edge probability is
//! below `min_edge` are skipped; the rest get a fraction of the Kelly (1956)
//! bet `f* = (b p - q) / b` (q = 1 - p, odds b estimated in-sample), times the
//! regime's multiplier; then the constraints cut the book in a fixed order:
//! max position per asset, max positions held, max gross, max net, the
//! portfolio volatility target (in-sample covariance) and the drawdown brake.
//! Every cut is recorded per asset ([`DecisionRecord`]).

use ndarray::{ArrayView1, ArrayView2};

use super::{Book, Decision};
use crate::{config::walkforward::SizingSpec, regime::Regime};

/// A constraint of the risk engine, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Largest weight of one asset.
    MaxPosition,
    /// Largest number of positions (the smallest sizes are dropped).
    MaxPositions,
    /// Largest sum of absolute weights.
    MaxGross,
    /// Largest absolute sum of weights.
    MaxNet,
    /// Annualized volatility target.
    VolTarget,
    /// Exposure scaled down with the account's running drawdown.
    DrawdownBrake,
}

/// Every constraint, in application order (the order of [`DecisionRecord::cuts`]).
pub const CONSTRAINTS: [Constraint; 6] = [
    Constraint::MaxPosition,
    Constraint::MaxPositions,
    Constraint::MaxGross,
    Constraint::MaxNet,
    Constraint::VolTarget,
    Constraint::DrawdownBrake,
];

impl Constraint {
    /// The name in reports (`cut_<name>` in decisions.parquet).
    pub fn name(self) -> &'static str {
        match self {
            Constraint::MaxPosition => "max_position",
            Constraint::MaxPositions => "max_positions",
            Constraint::MaxGross => "max_gross",
            Constraint::MaxNet => "max_net",
            Constraint::VolTarget => "vol_target",
            Constraint::DrawdownBrake => "drawdown_brake",
        }
    }
}

/// How the risk engine sized one asset at one bar.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// Asset index.
    pub asset: usize,
    /// Edge probability (NaN when the asset had none but was held).
    pub edge_probability: f64,
    /// `kelly_fraction x f*`, before the regime multiplier (may be negative).
    pub kelly_fraction: f64,
    /// The regime's multiplier.
    pub regime_multiplier: f64,
    /// `max(0, kelly_fraction x regime_multiplier)`.
    pub size_before: f64,
    /// Target weight after every constraint.
    pub size_after: f64,
    /// Weight each constraint removed, in [`CONSTRAINTS`] order (0 when not binding).
    pub cuts: [f64; 6],
}

/// What the risk engine sees at one bar.
#[derive(Debug, Clone, Copy)]
pub struct RiskInput<'a> {
    /// Edge probability per asset, None without a prediction.
    pub probs: &'a [Option<f64>],
    /// The bar's regime, None when the strategy has no detector (multiplier 1).
    pub regime: Option<Regime>,
    /// Kelly odds b.
    pub odds: f64,
    /// In-sample demeaned one-bar returns `[bars, assets]` for the volatility target.
    pub insample: Option<ArrayView2<'a, f64>>,
    /// This bar's one-bar returns (NaN where undefined), for the brake's shadow book.
    pub returns: ArrayView1<'a, f64>,
    /// Bars per year, to annualize the volatility.
    pub bars_per_year: f64,
}

/// Turns edge probabilities into target weights given the book.
pub trait RiskEngine: Send {
    /// Target weights and the record of every sized asset at one bar; called
    /// once per bar, in time order (state such as a drawdown brake carries).
    fn size(&mut self, input: &RiskInput<'_>, book: &Book) -> Decision;
}

/// The full Kelly fraction `(b p - (1 - p)) / b` for win probability `p` at odds `b`.
pub fn kelly(p: f64, b: f64) -> f64 {
    (b * p - (1.0 - p)) / b
}

/// Drawdown brake: exposure 1 up to a running drawdown of `start`, falling
/// linearly to 0 at `limit`; at `limit` it trips (flat) until the unbraked
/// book (the shadow) has recovered by `reentry` from its trough, and then the
/// drawdown is measured afresh from the account's value at re-entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawdownBrake {
    start: f64,
    limit: f64,
    reentry: f64,
    peak: f64,
    tripped: bool,
    shadow: f64,
    trough: f64,
}

impl DrawdownBrake {
    /// A brake that has seen nothing.
    pub fn new(start: f64, limit: f64, reentry: f64) -> Self {
        Self {
            start,
            limit,
            reentry,
            peak: f64::NAN,
            tripped: false,
            shadow: 1.0,
            trough: 1.0,
        }
    }

    /// Whether the brake holds the book flat.
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// The exposure scale at a close with account value `equity`, where the
    /// unbraked book earned `shadow_return` over the bar.
    pub fn scale(&mut self, equity: f64, shadow_return: f64) -> f64 {
        if self.tripped {
            self.shadow *= 1.0 + shadow_return;
            self.trough = self.trough.min(self.shadow);
            if self.shadow >= self.trough * (1.0 + self.reentry) {
                self.tripped = false;
                self.peak = equity;
            } else {
                return 0.0;
            }
        }
        if self.peak.is_nan() || self.peak < equity {
            self.peak = equity;
        }
        let dd = 1.0 - equity / self.peak;
        if dd >= self.limit {
            self.tripped = true;
            self.shadow = 1.0;
            self.trough = 1.0;
            0.0
        } else if dd <= self.start {
            1.0
        } else {
            (self.limit - dd) / (self.limit - self.start)
        }
    }
}

/// The seed plan's engine: fractional Kelly, regime multipliers, constraints.
#[derive(Debug, Clone)]
pub struct KellyRisk {
    spec: SizingSpec,
    brake: DrawdownBrake,
    /// The previous bar's weights before the brake (the shadow book).
    unbraked: Vec<f64>,
}

impl KellyRisk {
    /// The engine configured by `[sizing]`.
    pub fn new(spec: &SizingSpec) -> Self {
        Self {
            spec: spec.clone(),
            brake: DrawdownBrake::new(spec.brake_start, spec.max_drawdown, spec.reentry),
            unbraked: Vec::new(),
        }
    }

    /// The brake's state.
    pub fn brake(&self) -> &DrawdownBrake {
        &self.brake
    }
}

/// Scales every weight by `k` and books the cut on `records`' column `c`.
fn scale_all(w: &mut [f64], k: f64, records: &mut [DecisionRecord], c: usize) {
    if k >= 1.0 {
        return;
    }
    for r in records.iter_mut() {
        let before = w[r.asset];
        w[r.asset] = before * k;
        r.cuts[c] += before - w[r.asset];
    }
}

impl RiskEngine for KellyRisk {
    fn size(&mut self, inp: &RiskInput<'_>, book: &Book) -> Decision {
        let s = &self.spec;
        let n = inp.probs.len();
        let mult = inp.regime.map_or(1.0, |r| s.multiplier(r.name()));
        let mut w = vec![0.0; n];
        let mut records = Vec::new();
        for (i, p) in inp.probs.iter().enumerate() {
            let p = p.filter(|p| p.is_finite());
            let candidate = p.is_some_and(|p| p >= s.min_edge);
            if !candidate && book.shares[i] == 0.0 {
                continue;
            }
            let kf = if candidate {
                kelly(p.unwrap_or(0.0), inp.odds) * s.kelly_fraction
            } else {
                0.0
            };
            let before = (kf * mult).max(0.0);
            w[i] = before.min(s.max_position);
            let mut cuts = [0.0; 6];
            cuts[0] = before - w[i];
            records.push(DecisionRecord {
                asset: i,
                edge_probability: p.unwrap_or(f64::NAN),
                kelly_fraction: kf,
                regime_multiplier: mult,
                size_before: before,
                size_after: 0.0,
                cuts,
            });
        }
        // Max positions: keep the largest sizes (lower asset index on ties).
        let mut held: Vec<usize> = records
            .iter()
            .map(|r| r.asset)
            .filter(|&i| w[i] > 0.0)
            .collect();
        if held.len() > s.max_positions {
            held.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
            for &i in &held[s.max_positions..] {
                if let Some(r) = records.iter_mut().find(|r| r.asset == i) {
                    r.cuts[1] += w[i];
                }
                w[i] = 0.0;
            }
        }
        let gross: f64 = w.iter().map(|x| x.abs()).sum();
        if gross > s.max_gross {
            scale_all(&mut w, s.max_gross / gross, &mut records, 2);
        }
        let net: f64 = w.iter().sum();
        if net.abs() > s.max_net {
            scale_all(&mut w, s.max_net / net.abs(), &mut records, 3);
        }
        if let (Some(x), true) = (inp.insample, s.vol_target > 0.0) {
            let vol = annual_vol(x, &w, inp.bars_per_year);
            if vol > s.vol_target {
                scale_all(&mut w, s.vol_target / vol, &mut records, 4);
            }
        }
        let shadow: f64 = self
            .unbraked
            .iter()
            .zip(inp.returns.iter())
            .filter(|(_, r)| r.is_finite())
            .map(|(w, r)| w * r)
            .sum();
        self.unbraked = w.clone();
        let k = self.brake.scale(book.equity, shadow);
        scale_all(&mut w, k, &mut records, 5);
        for r in &mut records {
            r.size_after = w[r.asset];
        }
        Decision { target: w, records }
    }
}

/// Annualized volatility of weights `w` under the sample covariance of the
/// demeaned returns `x` (`||x w||^2 / (T - 1)`, from the held assets only).
pub fn annual_vol(x: ArrayView2<'_, f64>, w: &[f64], bars_per_year: f64) -> f64 {
    let t = x.nrows();
    if t < 2 {
        return 0.0;
    }
    let held: Vec<(usize, f64)> = w
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, v)| v != 0.0)
        .collect();
    let mut ss = 0.0;
    for row in x.rows() {
        let r: f64 = held.iter().map(|&(i, v)| row[i] * v).sum();
        ss += r * r;
    }
    (ss / (t - 1) as f64 * bars_per_year).sqrt()
}

#[cfg(test)]
mod tests {
    use ndarray::Array1;

    use super::*;

    fn spec(text: &str) -> SizingSpec {
        toml::from_str::<crate::config::walkforward::RawSizing>(text)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn size(engine: &mut KellyRisk, probs: &[Option<f64>], regime: Regime, odds: f64) -> Decision {
        let r = Array1::zeros(probs.len());
        let book = Book::flat(1.0, probs.len());
        engine.size(
            &RiskInput {
                probs,
                regime: Some(regime),
                odds,
                insample: None,
                returns: r.view(),
                bars_per_year: 252.0,
            },
            &book,
        )
    }

    #[test]
    fn kelly_closed_form() {
        // b = 2, p = 0.6: (1.2 - 0.4) / 2 = 0.4. b = 1, p = 0.55: 0.1. Fair bet: 0.
        assert!((kelly(0.6, 2.0) - 0.4).abs() < 1e-12);
        assert!((kelly(0.55, 1.0) - 0.1).abs() < 1e-12);
        assert!(kelly(1.0 / 3.0, 2.0).abs() < 1e-12);
        assert!(kelly(0.3, 2.0) < 0.0);
    }

    #[test]
    fn quarter_kelly_multipliers_and_clipping() {
        let mut e = KellyRisk::new(&spec("max_position = 1.0\nmax_gross = 10\nmax_net = 10"));
        // p = 0.6, b = 3: f* = (1.8 - 0.4) / 3 = 0.4667; quarter 0.11667.
        let q = (3.0 * 0.6 - 0.4) / 3.0 * 0.25;
        for (regime, m) in [
            (Regime::Trending, 1.0),
            (Regime::Stable, 1.2),
            (Regime::Volatile, 0.5),
            (Regime::Crisis, 0.0),
        ] {
            let d = size(&mut e, &[Some(0.6)], regime, 3.0);
            assert!((d.target[0] - q * m).abs() < 1e-12, "{regime:?}");
            assert!((d.records[0].kelly_fraction - q).abs() < 1e-12);
            assert_eq!(d.records[0].regime_multiplier, m);
        }
        // Clipping: below min_edge nothing; negative Kelly (p = 0.56 at b = 0.5) is 0;
        // max_position 0.05 cuts 0.11667 - 0.05.
        let mut e = KellyRisk::new(&spec("max_position = 0.05"));
        let d = size(
            &mut e,
            &[Some(0.54), Some(0.56), Some(0.6)],
            Regime::Trending,
            0.5,
        );
        assert_eq!(d.target[..2], [0.0, 0.0]);
        let d = size(&mut e, &[Some(0.6)], Regime::Trending, 3.0);
        assert!((d.target[0] - 0.05).abs() < 1e-12);
        assert!((d.records[0].cuts[0] - (q - 0.05)).abs() < 1e-12);
        // Job-file multipliers replace the defaults.
        let mut e = KellyRisk::new(&spec(
            "max_position = 1\n[regime_multipliers]\nVOLATILE = 0.25",
        ));
        let d = size(&mut e, &[Some(0.6)], Regime::Volatile, 3.0);
        assert!((d.target[0] - q * 0.25).abs() < 1e-12);
    }

    #[test]
    fn constraints_cut_in_order_and_record_it() {
        // Five assets at p = 0.9, b = 2: f* = 0.85, quarter 0.2125, capped at 0.3 (not binding).
        // max_positions 4 drops asset 4 (ties by index); gross 0.85 > 0.5 scales by 0.5/0.85.
        let mut e = KellyRisk::new(&spec(
            "max_position = 0.3\nmax_positions = 4\nmax_gross = 0.5",
        ));
        let d = size(&mut e, &[Some(0.9); 5], Regime::Trending, 2.0);
        assert_eq!(d.target[4], 0.0);
        assert!((d.records[4].cuts[1] - 0.2125).abs() < 1e-12);
        let total: f64 = d.target.iter().sum();
        assert!((total - 0.5).abs() < 1e-12);
        assert!((d.records[0].cuts[2] - (0.2125 - 0.125)).abs() < 1e-12);
        for r in &d.records {
            let cut: f64 = r.cuts.iter().sum();
            assert!((r.size_before - cut - r.size_after).abs() < 1e-12);
        }
    }

    #[test]
    fn volatility_target_scales_to_the_target() {
        // One asset alternating +-1%: sample std 0.01 * sqrt(T / (T - 1)); weight 1.
        let x = ndarray::Array2::from_shape_fn(
            (100, 1),
            |(t, _)| if t % 2 == 0 { 0.01 } else { -0.01 },
        );
        let vol = annual_vol(x.view(), &[1.0], 252.0);
        assert!((vol - 0.01 * (100.0f64 / 99.0 * 252.0).sqrt()).abs() < 1e-12);
        assert!((annual_vol(x.view(), &[0.5], 252.0) - vol / 2.0).abs() < 1e-12);
    }

    #[test]
    fn brake_scales_linearly_trips_and_reenters() {
        let mut b = DrawdownBrake::new(0.10, 0.20, 0.05);
        assert_eq!(b.scale(100.0, 0.0), 1.0);
        assert_eq!(b.scale(90.0, 0.0), 1.0);
        assert!((b.scale(85.0, 0.0) - 0.5).abs() < 1e-12);
        assert_eq!(b.scale(79.0, 0.0), 0.0);
        assert!(b.tripped());
        // The shadow falls 10% then recovers 4%: still flat; 6% more: re-entry, fresh peak.
        assert_eq!(b.scale(80.0, -0.10), 0.0);
        assert_eq!(b.scale(80.0, 0.04), 0.0);
        assert_eq!(b.scale(80.0, 0.06), 1.0);
        assert!(!b.tripped());
        assert!((b.scale(76.0, 0.0) - 1.0).abs() < 1e-12);
        assert_eq!(b.scale(63.0, 0.0), 0.0);
        assert!(b.tripped());
    }
}
