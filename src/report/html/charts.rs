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
    } else if a < 1.0 {
        format!("{:.1}%", v * 100.0)
    } else {
        format!("{:.0}%", v * 100.0)
    }
}

/// One line of a time chart.
pub struct Line {
    /// Legend name.
    pub name: String,
    /// Color.
    pub color: RGBColor,
    /// Stroke width.
    pub width: u32,
    /// (fractional year, value), sorted by x.
    pub points: Vec<(f64, f64)>,
    /// Fill between the line and 0.
    pub fill: bool,
}

/// A horizontal reference line.
pub struct HLine {
    /// Legend name.
    pub name: String,
    /// Value.
    pub y: f64,
    /// Color.
    pub color: RGBColor,
}

/// A time chart: lines over a date axis, with shaded spans, vertical
/// markers, reference levels and point marks.
pub struct TimeChart {
    /// Title.
    pub title: String,
    /// Y axis description, with its unit.
    pub y_desc: String,
    /// Size in pixels.
    pub size: (u32, u32),
    /// Lines, drawn in order.
    pub lines: Vec<Line>,
    /// Shaded x spans (x0, x1, color).
    pub spans: Vec<(f64, f64, RGBColor)>,
    /// Thin vertical markers (fold boundaries).
    pub vlines: Vec<f64>,
    /// Reference levels.
    pub hlines: Vec<HLine>,
    /// Point marks (x, y, color), e.g. alerts.
    pub marks: Vec<(f64, f64, RGBColor)>,
    /// Log-scale y axis (values > 0).
    pub log_y: bool,
    /// Y values are fractions shown as percent.
    pub pct: bool,
    /// Fixed y range.
    pub y_range: Option<(f64, f64)>,
    /// Legend corner.
    pub legend: SeriesLabelPosition,
}

impl TimeChart {
    /// A chart with no lines yet.
    pub fn new(title: &str, y_desc: &str, size: (u32, u32)) -> Self {
        Self {
            title: title.into(),
            y_desc: y_desc.into(),
            size,
            lines: Vec::new(),
            spans: Vec::new(),
            vlines: Vec::new(),
            hlines: Vec::new(),
            marks: Vec::new(),
            log_y: false,
            pct: false,
            y_range: None,
            legend: SeriesLabelPosition::UpperLeft,
        }
    }

    /// Draws the chart.
    pub fn draw(mut self) -> anyhow::Result<String> {
        let plot_w = self.size.0.saturating_sub(90).max(50) as usize;
        for l in &mut self.lines {
            // Segments between gaps (non-finite values) are thinned apart;
            // one NaN between them keeps the gap when drawn.
            let mut out = Vec::new();
            for seg in l.points.split(|p| !p.1.is_finite()) {
                if seg.is_empty() {
                    continue;
                }
                if !out.is_empty() {
                    out.push((seg[0].0, f64::NAN));
                }
                out.extend(thin::min_max(seg, plot_w));
            }
            l.points = out;
        }
        let xs = self.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let (x0, x1) = bounds(xs);
        let (x0, x1) = if x1 > x0 {
            (x0, x1)
        } else {
            (x0 - 0.5, x0 + 0.5)
        };
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let ys = self
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1))
                .chain(self.hlines.iter().map(|h| h.y))
                .chain(self.lines.iter().filter(|l| l.fill).map(|_| 0.0));
            let (lo, hi) = bounds(ys);
            pad(lo, hi, self.log_y)
        });
        let span = x1 - x0;
        let c = &self;
        svg(c.size.0, c.size.1, |root| {
            let mut b = ChartBuilder::on(root);
            b.caption(&c.title, (FONT, 17).into_font().color(&INK))
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(64);
            if c.log_y {
                let mut ch = b.build_cartesian_2d(x0..x1, (y0..y1).log_scale().base(2.0))?;
                ch.configure_mesh()
                    .light_line_style(GRID)
                    .bold_line_style(GRID)
                    .x_labels(10)
                    .y_labels(8)
                    .x_label_formatter(&|v| year_label(*v, span))
                    .y_label_formatter(&|v| format!("{v:.2}"))
                    .y_desc(&c.y_desc)
                    .label_style((FONT, 13).into_font().color(&INK))
                    .axis_desc_style((FONT, 13).into_font().color(&INK))
                    .draw()?;
                body(&mut ch, c, y0, y1)
            } else {
                let mut ch = b.build_cartesian_2d(x0..x1, y0..y1)?;
                let pct = c.pct;
                ch.configure_mesh()
                    .light_line_style(GRID)
                    .bold_line_style(GRID)
                    .x_labels(10)
                    .y_labels(7)
                    .x_label_formatter(&|v| year_label(*v, span))
                    .y_label_formatter(&|v| {
                        if pct {
                            pct_label(*v)
                        } else {
                            format!("{v:.2}")
                        }
                    })
                    .y_desc(&c.y_desc)
                    .label_style((FONT, 13).into_font().color(&INK))
                    .axis_desc_style((FONT, 13).into_font().color(&INK))
                    .draw()?;
                body(&mut ch, c, y0, y1)
            }
        })
    }
}

fn body<'a, 'b: 'a, Y>(
    ch: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    c: &TimeChart,
    y0: f64,
    y1: f64,
) -> Res
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for &(a, b, color) in &c.spans {
        ch.draw_series(std::iter::once(Rectangle::new(
            [(a, y0), (b, y1)],
            color.mix(0.13).filled(),
        )))?;
    }
    ch.draw_series(c.vlines.iter().map(|&x| {
        PathElement::new(
            vec![(x, y0), (x, y1)],
            RGBColor(200, 203, 210).stroke_width(1),
        )
    }))?;
    for h in &c.hlines {
        let color = h.color;
        ch.draw_series(DashedLineSeries::new(
            vec![(c_lo(c), h.y), (c_hi(c), h.y)],
            6,
            4,
            color.stroke_width(2),
        ))?
        .label(&h.name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    for l in &c.lines {
        let color = l.color;
        let width = l.width;
        let segments: Vec<&[(f64, f64)]> = l
            .points
            .split(|p| !p.1.is_finite())
            .filter(|s| !s.is_empty())
            .collect();
        for (k, seg) in segments.iter().enumerate() {
            if l.fill {
                ch.draw_series(AreaSeries::new(seg.iter().copied(), 0.0, color.mix(0.25)))?;
            }
            let drawn = ch.draw_series(LineSeries::new(
                seg.iter().copied(),
                color.stroke_width(width),
            ))?;
            if k == 0 {
                drawn.label(&l.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
            }
        }
    }
    ch.draw_series(
        c.marks
            .iter()
            .map(|&(x, y, color)| Circle::new((x, y), 4, color.filled())),
    )?;
    ch.configure_series_labels()
        .position(c.legend.clone())
        .label_font((FONT, 13).into_font().color(&INK))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 203, 210))
        .draw()?;
    Ok(())
}

fn c_lo(c: &TimeChart) -> f64 {
    bounds(c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0))).0
}

fn c_hi(c: &TimeChart) -> f64 {
    bounds(c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0))).1
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

/// Vertical bars per fold (Sharpe), green when positive, red when negative.
pub fn fold_bars(
    title: &str,
    y_desc: &str,
    folds: &[(i32, Option<f64>)],
    size: (u32, u32),
) -> anyhow::Result<String> {
    let (lo, hi) = bounds(folds.iter().filter_map(|f| f.1));
    let (lo, hi) = pad(lo.min(0.0), hi.max(0.0), false);
    let first = folds.first().map_or(0, |f| f.0);
    let last = folds.last().map_or(1, |f| f.0) + 1;
    svg(size.0, size.1, |root| {
        let mut ch = ChartBuilder::on(root)
            .caption(title, (FONT, 17).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d((first..last).into_segmented(), lo..hi)?;
        ch.configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(12)
            .x_desc("fold")
            .y_desc(y_desc)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => i.to_string(),
                SegmentValue::Last => String::new(),
            })
            .label_style((FONT, 13).into_font().color(&INK))
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .draw()?;
        ch.draw_series(folds.iter().filter_map(|&(i, v)| {
            let v = v?;
            let color = if v >= 0.0 { PALETTE[3] } else { RED };
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), v),
                ],
                color.mix(0.85).filled(),
            );
            r.set_margin(0, 0, 1, 1);
            Some(r)
        }))?;
        ch.draw_series(std::iter::once(PathElement::new(
            vec![
                (SegmentValue::Exact(first), 0.0),
                (SegmentValue::Exact(last), 0.0),
            ],
            INK.stroke_width(1),
        )))?;
        Ok(())
    })
}

/// Edge precision per fold (points) against the fold's base rate (line).
pub fn precision(
    folds: &[(i32, Option<f64>, Option<f64>)],
    size: (u32, u32),
) -> anyhow::Result<String> {
    let ys = folds.iter().flat_map(|f| [f.1, f.2]).flatten();
    let (lo, hi) = bounds(ys);
    let (lo, hi) = pad(lo, hi, false);
    let first = folds.first().map_or(0, |f| f.0);
    let last = folds.last().map_or(1, |f| f.0) + 1;
    svg(size.0, size.1, |root| {
        let mut ch = ChartBuilder::on(root)
            .caption(
                "Edge precision against the base rate, per fold",
                (FONT, 17).into_font().color(&INK),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d((first..last).into_segmented(), lo..hi)?;
        ch.configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(12)
            .x_desc("fold")
            .y_desc("share of calls / labels that were right")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => i.to_string(),
                SegmentValue::Last => String::new(),
            })
            .y_label_formatter(&|v| pct_label(*v))
            .label_style((FONT, 13).into_font().color(&INK))
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .draw()?;
        let base: Vec<_> = folds
            .iter()
            .filter_map(|&(i, _, b)| Some((SegmentValue::CenterOf(i), b?)))
            .collect();
        ch.draw_series(LineSeries::new(base, PALETTE[2].stroke_width(2)))?
            .label("base rate (share of true labels)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], PALETTE[2].stroke_width(3))
            });
        ch.draw_series(folds.iter().filter_map(|&(i, p, b)| {
            let p = p?;
            let color = if b.is_some_and(|b| p < b) {
                RED
            } else {
                PALETTE[0]
            };
            Some(Circle::new(
                (SegmentValue::CenterOf(i), p),
                4,
                color.filled(),
            ))
        }))?
        .label("edge precision (red: below the base rate)")
        .legend(|(x, y)| Circle::new((x + 9, y), 4, PALETTE[0].filled()));
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13).into_font().color(&INK))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 203, 210))
            .draw()?;
        Ok(())
    })
}

/// Horizontal bars, one per label, with an optional limit line.
pub fn hbars(
    title: &str,
    x_desc: &str,
    rows: &[(String, f64, RGBColor)],
    limit: Option<(String, f64)>,
    pct: bool,
    size: (u32, u32),
) -> anyhow::Result<String> {
    let n = rows.len() as i32;
    let (lo, hi) = bounds(rows.iter().map(|r| r.1).chain(limit.iter().map(|l| l.1)));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let (lo, hi) = if hi - lo < 1e-12 {
        (lo, lo + 0.01)
    } else {
        (lo, hi + 0.08 * (hi - lo))
    };
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let label_w = labels.iter().map(|l| l.len()).max().unwrap_or(4) as u32 * 8 + 16;
    svg(size.0, size.1, |root| {
        let mut ch = ChartBuilder::on(root)
            .caption(title, (FONT, 17).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(label_w.clamp(60, 200))
            .build_cartesian_2d(lo..hi, (0..n).into_segmented())?;
        ch.configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(6)
            .y_labels(n.max(1) as usize)
            .x_desc(x_desc)
            .x_label_formatter(&|v| {
                if pct {
                    pct_label(*v)
                } else {
                    format!("{v:.2}")
                }
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, 13).into_font().color(&INK))
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .draw()?;
        ch.draw_series(rows.iter().enumerate().map(|(i, r)| {
            let i = i as i32;
            let mut rect = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (r.1, SegmentValue::Exact(i + 1)),
                ],
                r.2.mix(0.85).filled(),
            );
            rect.set_margin(5, 5, 0, 0);
            rect
        }))?;
        ch.draw_series(rows.iter().enumerate().map(|(i, r)| {
            let text = if pct {
                format!("{:.2}%", r.1 * 100.0)
            } else {
                format!("{:.3}", r.1)
            };
            Text::new(
                text,
                (
                    r.1.max(0.0) + 0.01 * (hi - lo),
                    SegmentValue::CenterOf(i as i32),
                ),
                (FONT, 12)
                    .into_font()
                    .color(&INK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
        if let Some((name, x)) = &limit {
            let x = *x;
            ch.draw_series(DashedLineSeries::new(
                vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Exact(n))],
                6,
                4,
                RED.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
            ch.configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT, 13).into_font().color(&INK))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 203, 210))
                .draw()?;
        }
        Ok(())
    })
}

/// Percentile bands of one stress scenario's portfolio value over the horizon.
pub struct Fan {
    /// Scenario name.
    pub scenario: String,
    /// Day, then p01, p05, p50, p95, p99 as returns on capital.
    pub rows: Vec<(f64, [f64; 5])>,
}

/// Fan chart of value percentiles over the horizon, with the drawdown limit as a loss line.
pub fn fan(
    f: &Fan,
    y_range: (f64, f64),
    limit: Option<f64>,
    size: (u32, u32),
) -> anyhow::Result<String> {
    let (x0, x1) = bounds(f.rows.iter().map(|r| r.0));
    let x1 = x1.max(x0 + 1.0);
    let c = PALETTE[0];
    svg(size.0, size.1, |root| {
        let mut ch = ChartBuilder::on(root)
            .caption(
                format!("Stress: {}", f.scenario),
                (FONT, 16).into_font().color(&INK),
            )
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y_range.0..y_range.1)?;
        ch.configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(6)
            .y_labels(6)
            .x_desc("day of the horizon")
            .y_desc("return on capital")
            .y_label_formatter(&|v| pct_label(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 12).into_font().color(&INK))
            .axis_desc_style((FONT, 12).into_font().color(&INK))
            .draw()?;
        for (lo, hi, alpha, name) in [(0, 4, 0.18, "p01-p99"), (1, 3, 0.35, "p05-p95")] {
            let mut pts: Vec<(f64, f64)> = f.rows.iter().map(|r| (r.0, r.1[hi])).collect();
            pts.extend(f.rows.iter().rev().map(|r| (r.0, r.1[lo])));
            ch.draw_series(std::iter::once(Polygon::new(pts, c.mix(alpha).filled())))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], c.mix(alpha).filled())
                });
        }
        ch.draw_series(LineSeries::new(
            f.rows.iter().map(|r| (r.0, r.1[2])),
            c.stroke_width(2),
        ))?
        .label("median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        if let Some(l) = limit {
            ch.draw_series(DashedLineSeries::new(
                vec![(x0, -l), (x1, -l)],
                6,
                4,
                RED.stroke_width(2),
            ))?
            .label("drawdown limit as a loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 12).into_font().color(&INK))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 203, 210))
            .draw()?;
        Ok(())
    })
}

/// Histograms (frequency polygons, share of paths) of one value per scenario.
pub fn histograms(
    title: &str,
    x_desc: &str,
    groups: &[(String, Vec<f64>)],
    vline: Option<(String, f64)>,
    size: (u32, u32),
) -> anyhow::Result<String> {
    const BINS: usize = 40;
    let (lo, hi) = bounds(
        groups
            .iter()
            .flat_map(|g| g.1.iter().copied())
            .chain(vline.iter().map(|v| v.1)),
    );
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.01, hi + 0.01)
    };
    let w = (hi - lo) / BINS as f64;
    let polys: Vec<Vec<(f64, f64)>> = groups
        .iter()
        .map(|(_, v)| {
            let mut counts = [0usize; BINS];
            for &x in v.iter().filter(|x| x.is_finite()) {
                counts[(((x - lo) / w) as usize).min(BINS - 1)] += 1;
            }
            let n = v.len().max(1) as f64;
            counts
                .iter()
                .enumerate()
                .map(|(b, &c)| (lo + (b as f64 + 0.5) * w, c as f64 / n))
                .collect()
        })
        .collect();
    let ymax = bounds(polys.iter().flatten().map(|p| p.1)).1 * 1.1;
    svg(size.0, size.1, |root| {
        let mut ch = ChartBuilder::on(root)
            .caption(title, (FONT, 17).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0..ymax.max(0.01))?;
        ch.configure_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(6)
            .x_desc(x_desc)
            .y_desc("share of paths")
            .x_label_formatter(&|v| pct_label(*v))
            .y_label_formatter(&|v| pct_label(*v))
            .label_style((FONT, 13).into_font().color(&INK))
            .axis_desc_style((FONT, 13).into_font().color(&INK))
            .draw()?;
        for (k, ((name, _), pts)) in groups.iter().zip(&polys).enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            ch.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
        if let Some((name, x)) = &vline {
            let x = *x;
            ch.draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, ymax)],
                6,
                4,
                RED.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13).into_font().color(&INK))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 203, 210))
            .draw()?;
        Ok(())
    })
}

/// Blue (-1) - white (0) - red (+1).
fn diverging(c: f64) -> RGBColor {
    let c = c.clamp(-1.0, 1.0);
    let (r, g, b) = if c >= 0.0 {
        (200.0, 40.0, 40.0)
    } else {
        (31.0, 78.0, 145.0)
    };
    let t = c.abs();
    let mix = |x: f64| (255.0 + (x - 255.0) * t).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// Correlation heatmap with symbols on both axes; the value in each cell when few.
pub fn heatmap(
    title: &str,
    symbols: &[String],
    m: &[Vec<Option<f64>>],
    size: u32,
) -> anyhow::Result<String> {
    let n = symbols.len() as i32;
    let show_values = n <= 12;
    let label_w = symbols.iter().map(|s| s.len()).max().unwrap_or(4) as u32 * 8 + 14;
    svg(size + 90, size + 40, |root| {
        let (main, key) = root.split_horizontally(size);
        let mut ch = ChartBuilder::on(&main)
            .caption(title, (FONT, 16).into_font().color(&INK))
            .margin(10)
            .x_label_area_size(label_w)
            .y_label_area_size(label_w)
            .build_cartesian_2d((0..n).into_segmented(), (0..n).into_segmented())?;
        let name = |v: &SegmentValue<i32>| match v {
            // Rotated labels start at the tick: no-break spaces move them off the axis.
            SegmentValue::CenterOf(i) => symbols
                .get(*i as usize)
                .map_or_else(String::new, |s| format!("\u{a0}\u{a0}{s}")),
            _ => String::new(),
        };
        ch.configure_mesh()
            .disable_mesh()
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_label_formatter(&name)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => symbols
                    .get((n - 1 - *i) as usize)
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style(
                (FONT, 12)
                    .into_font()
                    .color(&INK)
                    .transform(FontTransform::Rotate90)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
            .y_label_style((FONT, 12).into_font().color(&INK))
            .draw()?;
        for (i, row) in m.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let (x, y) = (j as i32, n - 1 - i as i32);
                let color = v.map_or(RGBColor(235, 235, 235), diverging);
                ch.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )))?;
                if show_values && let Some(v) = v {
                    let ink = if v.abs() > 0.6 { WHITE } else { INK };
                    ch.draw_series(std::iter::once(Text::new(
                        format!("{v:.2}"),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        (FONT, 11)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))?;
                }
            }
        }
        // Color key: -1 .. +1.
        let (kw, kh) = (18i32, size as i32 - 120);
        let top = 50;
        for s in 0..kh {
            let c = 1.0 - 2.0 * s as f64 / kh as f64;
            key.draw(&Rectangle::new(
                [(14, top + s), (14 + kw, top + s + 1)],
                diverging(c).filled(),
            ))?;
        }
        let style = (FONT, 12).into_font().color(&INK);
        key.draw(&Text::new("+1", (14 + kw + 4, top), style.clone()))?;
        key.draw(&Text::new(
            "0",
            (14 + kw + 4, top + kh / 2 - 6),
            style.clone(),
        ))?;
        key.draw(&Text::new("-1", (14 + kw + 4, top + kh - 12), style))?;
        Ok(())
    })
}
