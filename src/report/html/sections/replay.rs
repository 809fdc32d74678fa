//! The out-of-sample replay: equity against the compared strategies, drawdown.

use super::*;

impl Run {
    pub(super) fn oos_points(&self) -> anyhow::Result<Option<OosPoints>> {
        let Some(t) = &self.oos else { return Ok(None) };
        let ts = t.ts("timestamp")?;
        let eq = t.f64s("equity")?;
        let fold = t.i64s("fold")?;
        let pts: Vec<(f64, f64)> = ts
            .iter()
            .zip(&eq)
            .filter_map(|(t, e)| Some((year((*t)?), (*e)?)))
            .collect();
        Ok(Some((
            pts,
            ts.iter().map(|t| t.unwrap_or(0)).collect(),
            fold.iter().map(|f| f.unwrap_or(0)).collect(),
        )))
    }

    pub(super) fn regime_spans(&self) -> anyhow::Result<RegimeSpans> {
        let Some(t) = &self.regimes else {
            return Ok((Vec::new(), Vec::new()));
        };
        let ts = t.ts("timestamp")?;
        let rg = t.strs("regime")?;
        let mut spans = Vec::new();
        let mut names = Vec::new();
        let mut k = 0;
        while k < ts.len() {
            let name = rg[k].clone().unwrap_or_default();
            let mut j = k;
            while j + 1 < ts.len() && rg[j + 1].as_deref() == Some(name.as_str()) {
                j += 1;
            }
            let end = ts.get(j + 1).copied().flatten().or(ts[j]).unwrap_or(0);
            spans.push((year(ts[k].unwrap_or(0)), year(end), regime_color(&name)));
            if !names.contains(&name) {
                names.push(name);
            }
            k = j + 1;
        }
        Ok((spans, names))
    }

    pub(super) fn performance(&self) -> anyhow::Result<String> {
        let Some((pts, ts, fold)) = self.oos_points()? else {
            return Ok(section(
                "performance",
                "Out-of-sample replay",
                &absent("oos_returns.parquet (no walk-forward)"),
            ));
        };
        let main = s(&self.summary, "walkforward.strategy")
            .unwrap_or("strategy")
            .to_string();
        let mut chart = TimeChart::new(
            "Equity of the out-of-sample replay (log scale), compared strategies on the same axes",
            "equity (start = 1.0)",
            WIDE,
        );
        chart.log_y = true;
        let (spans, regime_names) = self.regime_spans()?;
        chart.spans = spans;
        chart.vlines = fold_starts(&ts, &fold);
        let mut compared = Vec::new();
        if let Some(t) = &self.strategies {
            let st = t.strs("strategy")?;
            let pts2: Vec<(f64, f64)> = t
                .ts("timestamp")?
                .iter()
                .zip(t.f64s("equity")?)
                .map(|(t, e)| (year(t.unwrap_or(0)), e.unwrap_or(f64::NAN)))
                .collect();
            for (k, (name, p)) in group(&st, pts2).into_iter().enumerate() {
                if k == 0 && name == main {
                    continue;
                }
                compared.push(name.clone());
                chart.lines.push(Line {
                    name,
                    color: PALETTE[(k % (PALETTE.len() - 1)).max(1)],
                    width: 1,
                    points: p,
                    fill: false,
                });
            }
        }
        chart.lines.push(Line {
            name: format!("{main} (replayed)"),
            color: PALETTE[0],
            width: 3,
            points: pts.clone(),
            fill: false,
        });
        let mut body = chart.draw()?;
        let mut key = String::from("<div class=\"key\">shaded: regime of the bar &nbsp;");
        for r in &regime_names {
            let c = regime_color(r);
            let _ = write!(
                key,
                "<span><i style=\"background:rgba({},{},{},0.3)\"></i>{}</span>",
                c.0,
                c.1,
                c.2,
                esc(r)
            );
        }
        key.push_str("<span><i style=\"background:#c8cbd2;width:2px\"></i>fold boundary (test window start)</span></div>");
        body.push_str(&key);
        if compared.is_empty() {
            body.push_str(&absent("compared strategies' equity (strategies.parquet)"));
        }

        let mut peak = 1.0f64;
        let dd: Vec<(f64, f64)> = pts
            .iter()
            .map(|&(x, e)| {
                peak = peak.max(e);
                (x, -(1.0 - e / peak))
            })
            .collect();
        let mut chart = TimeChart::new(
            "Drawdown of the continuous account",
            "drawdown from the running peak",
            WIDE,
        );
        chart.pct = true;
        chart.legend = SeriesLabelPosition::LowerLeft;
        let lo = dd.iter().map(|p| p.1).fold(0.0, f64::min);
        let levels = get(&self.summary, "monitor.rules.drawdown");
        let (w, c) = (
            levels.and_then(|l| f(l, "warning")),
            levels.and_then(|l| f(l, "critical")),
        );
        chart.y_range = Some((lo.min(-c.unwrap_or(0.0)) * 1.1 - 0.005, 0.005));
        chart.lines.push(Line {
            name: "drawdown".into(),
            color: RED,
            width: 1,
            points: dd,
            fill: true,
        });
        if let Some(w) = w {
            chart.hlines.push(HLine {
                name: format!("monitor warning {:.0}%", w * 100.0),
                y: -w,
                color: AMBER,
            });
        }
        if let Some(c) = c {
            chart.hlines.push(HLine {
                name: format!("monitor critical {:.0}%", c * 100.0),
                y: -c,
                color: RED,
            });
        }
        if let Some(a) = &self.alerts {
            let rule = a.strs("rule")?;
            let sev = a.strs("severity")?;
            for ((t, v), (r, sv)) in a
                .ts("timestamp")?
                .iter()
                .zip(a.f64s("value")?)
                .zip(rule.iter().zip(&sev))
            {
                if let (Some(t), Some(v), Some("drawdown")) = (t, v, r.as_deref()) {
                    let color = if sv.as_deref() == Some("CRITICAL") {
                        RED
                    } else {
                        AMBER
                    };
                    chart.marks.push((year(*t), -v, color));
                }
            }
        }
        body.push_str(&chart.draw()?);
        body.push_str("<p class=\"note\">Dots: drawdown alerts of the monitor (amber WARNING, red CRITICAL).</p>");

        if let Some(Value::Array(st)) = get(&self.summary, "walkforward.strategies") {
            let rows: Vec<Vec<String>> = st
                .iter()
                .map(|x| {
                    vec![
                        esc(s(x, "name").unwrap_or("")),
                        num(f(x, "sharpe")),
                        pct(f(x, "max_drawdown")),
                        pct(f(x, "total_return")),
                        pct(f(x, "turnover")),
                        pct(f(x, "costs_fraction")),
                        num(f(x, "n_trades")),
                    ]
                })
                .collect();
            body.push_str("<h3>Strategies on the same folds, data and costs</h3>");
            body.push_str(&table(
                &[
                    "strategy",
                    "Sharpe",
                    "max drawdown",
                    "total return",
                    "turnover / bar",
                    "costs / capital",
                    "trades",
                ],
                &rows,
            ));
        }
        Ok(section("performance", "Out-of-sample replay", &body))
    }
}

/// Fractional years where a fold's rows start (fold boundaries).
fn fold_starts(ts: &[i64], fold: &[i64]) -> Vec<f64> {
    let mut out = Vec::new();
    for k in 1..fold.len() {
        if fold[k] != fold[k - 1] {
            out.push(year(ts[k]));
        }
    }
    out
}
