//! Time charts: lines over a date axis with shaded spans, markers and levels.

use super::*;

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
    legend(ch, c.legend.clone(), 13)?;
    Ok(())
}

fn c_lo(c: &TimeChart) -> f64 {
    bounds(c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0))).0
}

fn c_hi(c: &TimeChart) -> f64 {
    bounds(c.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0))).1
}
