//! Bar charts: per fold, and horizontal bars per label.

use super::*;

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
        legend(&mut ch, SeriesLabelPosition::UpperRight, 13)?;
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
            legend(&mut ch, SeriesLabelPosition::LowerRight, 13)?;
        }
        Ok(())
    })
}
