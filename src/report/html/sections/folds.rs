//! Per-fold Sharpe and edge precision; exposure, correlation and risk limits.

use super::*;

impl Run {
    pub(super) fn folds_section(&self) -> anyhow::Result<String> {
        let Some(t) = &self.folds else {
            return Ok(section(
                "folds",
                "Folds",
                &absent("folds.parquet (no walk-forward)"),
            ));
        };
        let idx: Vec<i32> = t
            .i64s("fold")?
            .iter()
            .map(|v| v.unwrap_or(0) as i32)
            .collect();
        let sharpe = t.f64s("sharpe")?;
        let prec = t.f64s("edge_precision")?;
        let mut base: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        if let Some(p) = &self.predictions {
            for (fo, l) in p.i64s("fold")?.iter().zip(p.bools("label")?) {
                if let (Some(fo), Some(l)) = (fo, l) {
                    let e = base.entry(*fo).or_default();
                    e.0 += usize::from(l);
                    e.1 += 1;
                }
            }
        }
        let rate = |i: i32| base.get(&(i as i64)).map(|&(t, n)| t as f64 / n as f64);
        let bars: Vec<(i32, Option<f64>)> =
            idx.iter().copied().zip(sharpe.iter().copied()).collect();
        let pr: Vec<(i32, Option<f64>, Option<f64>)> = idx
            .iter()
            .zip(&prec)
            .map(|(&i, &p)| (i, p, rate(i)))
            .collect();
        let mut body = String::from("<div class=\"grid2\">");
        body.push_str(&charts::fold_bars(
            "Sharpe ratio per fold (annualized)",
            "Sharpe ratio",
            &bars,
            HALF,
        )?);
        body.push_str(&charts::precision(&pr, HALF)?);
        body.push_str("</div>");
        let flat = sharpe.iter().filter(|v| **v == Some(0.0)).count();
        let _ = write!(
            body,
            "<p class=\"note\">{} folds; {} with a Sharpe ratio of 0 (no return variance: the book \
             stayed in cash). Precision is shown only for folds with edge calls (p &ge; min_edge).</p>",
            idx.len(),
            flat
        );
        Ok(section("folds", "Folds", &body))
    }

    pub(super) fn exposure(&self) -> anyhow::Result<String> {
        let Some(t) = &self.track else {
            return Ok(section(
                "exposure",
                "Exposure and limits",
                &absent("monitor.parquet (no walk-forward replay)"),
            ));
        };
        let xs: Vec<f64> = t
            .ts("timestamp")?
            .iter()
            .map(|t| year(t.unwrap_or(0)))
            .collect();
        let col = |name: &str| -> anyhow::Result<Vec<(f64, f64)>> {
            Ok(xs
                .iter()
                .zip(t.f64s(name)?)
                .map(|(&x, v)| (x, v.unwrap_or(f64::NAN)))
                .collect())
        };
        let rules = get(&self.summary, "monitor.rules");
        let lvl = |rule: &str, k: &str| rules.and_then(|r| f(r, &format!("{rule}.{k}")));
        let mut chart = TimeChart::new(
            "Exposure after each bar's trades",
            "fraction of equity",
            HALF,
        );
        chart.pct = true;
        chart.legend = SeriesLabelPosition::UpperRight;
        chart.lines.push(Line {
            name: "gross".into(),
            color: PALETTE[0],
            width: 1,
            points: col("gross")?,
            fill: true,
        });
        chart.lines.push(Line {
            name: "net".into(),
            color: PALETTE[3],
            width: 1,
            points: col("net")?,
            fill: false,
        });
        chart.lines.push(Line {
            name: "largest single name".into(),
            color: PALETTE[1],
            width: 1,
            points: col("max_single_name")?,
            fill: false,
        });
        if let Some(c) = lvl("gross_exposure", "critical") {
            chart.hlines.push(HLine {
                name: format!("gross critical {:.0}%", c * 100.0),
                y: c,
                color: RED,
            });
        }
        let mut body = String::from("<div class=\"grid2\">");
        body.push_str(&chart.draw()?);
        let corr = col("avg_correlation")?;
        if corr.iter().all(|p| !p.1.is_finite()) {
            body.push_str(&absent(
                "average correlation (the book never held two assets at once)",
            ));
        } else {
            let window = rules.and_then(|r| f(r, "correlation_window"));
            let mut chart = TimeChart::new(
                &format!(
                    "Average pairwise correlation of the held book ({} bars)",
                    window.map_or("?".into(), |w| format!("{w:.0}"))
                ),
                "correlation",
                HALF,
            );
            chart.y_range = Some((-1.0, 1.0));
            chart.legend = SeriesLabelPosition::LowerRight;
            chart.lines.push(Line {
                name: "avg pairwise correlation".into(),
                color: PALETTE[4],
                width: 1,
                points: corr,
                fill: false,
            });
            if let Some(w) = lvl("correlation", "warning") {
                chart.hlines.push(HLine {
                    name: format!("warning {w}"),
                    y: w,
                    color: AMBER,
                });
            }
            if let Some(c) = lvl("correlation", "critical") {
                chart.hlines.push(HLine {
                    name: format!("critical {c}"),
                    y: c,
                    color: RED,
                });
            }
            body.push_str(&chart.draw()?);
        }
        body.push_str("</div>");
        if let Some(d) = &self.decisions {
            let mut rows = Vec::new();
            let n = d.len();
            for c in [
                "max_position",
                "max_positions",
                "max_gross",
                "max_net",
                "vol_target",
                "drawdown_brake",
            ] {
                let name = format!("cut_{c}");
                if !d.has(&name) {
                    continue;
                }
                let v = d.f64s(&name)?;
                let bound = v.iter().filter(|x| x.is_some_and(|x| x > 0.0)).count();
                let cut: f64 = v.iter().flatten().filter(|x| **x > 0.0).sum();
                rows.push(vec![
                    esc(c),
                    num(Some(bound as f64)),
                    pct((n > 0).then(|| bound as f64 / n as f64)),
                    pct((bound > 0).then(|| cut / bound as f64)),
                ]);
            }
            body.push_str("<h3>Risk limits: how often each constraint bound</h3>");
            body.push_str(&table(
                &[
                    "constraint",
                    "sized decisions it cut",
                    "share of decisions",
                    "mean weight cut when binding",
                ],
                &rows,
            ));
        }
        Ok(section("exposure", "Exposure and limits", &body))
    }
}
