//! The correlation heatmap.

use super::*;

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
