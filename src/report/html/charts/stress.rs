//! Stress charts: fan charts of value percentiles, histograms per scenario.

use super::*;

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
        legend(&mut ch, SeriesLabelPosition::UpperLeft, 12)?;
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
        legend(&mut ch, SeriesLabelPosition::UpperRight, 13)?;
        Ok(())
    })
}
