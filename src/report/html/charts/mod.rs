//! The page's charts, drawn with plotters into SVG strings.
//!
//! Each function takes plain numbers (already read from the reports) and
//! returns one `<svg>` element. Long time series are thinned min/max per
//! pixel column ([`super::thin`]).

use plotters::{
    coord::{Shift, ranged1d::SegmentValue, types::RangedCoordf64},
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::thin;

mod bars;
mod heatmap;
mod stress;
mod time;

pub use self::{
    bars::{fold_bars, hbars, precision},
    heatmap::heatmap,
    stress::{Fan, fan, histograms},
    time::{HLine, Line, TimeChart},
};

/// Chart font.
const FONT: &str = "sans-serif";
/// Colors of the page, shared with its CSS.
pub const INK: RGBColor = RGBColor(40, 44, 52);
/// Grid lines.
const GRID: RGBColor = RGBColor(232, 234, 238);
/// Warning level (amber).
pub const AMBER: RGBColor = RGBColor(214, 140, 0);
/// Critical level (red).
pub const RED: RGBColor = RGBColor(200, 40, 40);
/// Series palette: the replayed strategy first.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 78, 145),
    RGBColor(230, 120, 20),
    RGBColor(120, 120, 120),
    RGBColor(46, 150, 80),
    RGBColor(150, 60, 170),
    RGBColor(0, 150, 170),
    RGBColor(180, 90, 60),
    RGBColor(200, 60, 120),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Res = Result<(), Box<dyn std::error::Error>>;

fn svg(w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> Res) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("drawing a chart: {e}"))?;
        draw(&root).map_err(|e| anyhow::anyhow!("drawing a chart: {e}"))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing a chart: {e}"))?;
    }
    Ok(buf)
}

/// Draws the chart's legend in the page's style (font size `size`) at `position`.
fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    ch: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Res {
    ch.configure_series_labels()
        .position(position)
        .label_font((FONT, size).into_font().color(&INK))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 203, 210))
        .draw()?;
    Ok(())
}

/// Fractional year of a timestamp in microseconds (the time axes' unit).
pub fn year(us: i64) -> f64 {
    1970.0 + us as f64 / (365.2425 * 86_400e6)
}

/// Axis label of a fractional year: the year on long axes, year-month on short ones.
fn year_label(v: f64, span: f64) -> String {
    if span >= 4.0 {
        format!("{:.0}", v)
    } else {
        let y = v.floor();
        let m = ((v - y) * 12.0).floor() as i32 + 1;
        format!("{:.0}-{:02}", y, m.clamp(1, 12))
    }
}

fn pct_label(v: f64) -> String {
    let a = (v * 100.0).abs();
    if a < 1e-9 {
        "0%".into()
    } else if a < 10.0 && (a - a.round()).abs() > 1e-6 {
        // 1.5% stays 1.5% (not "2%" beside a "2%" tick).
        format!("{:.1}%", v * 100.0)
    } else {
        format!("{:.0}%", v * 100.0)
    }
}

fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in v.filter(|x| x.is_finite()) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

fn pad(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let (lo, hi) = (lo.max(1e-6), hi.max(lo.max(1e-6) * 1.01));
        return (lo / 1.05, hi * 1.05);
    }
    let d = (hi - lo).abs().max(1e-9);
    (lo - 0.05 * d, hi + 0.05 * d)
}
