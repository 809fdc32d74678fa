//! The deployment book, risk contributions, hedge, stress test and correlation heatmap.

use super::*;

impl Run {
    pub(super) fn book(&self) -> anyhow::Result<String> {
        let sm = &self.summary;
        let mut body = String::new();
        match get(sm, "deployment_book") {
            Some(b) => {
                let _ = write!(
                    body,
                    "<p>The book after the last bar ({}), regime {}: gross {}.</p>",
                    esc(s(b, "timestamp").unwrap_or("?")),
                    esc(s(b, "regime").unwrap_or("unknown")),
                    pct(f(b, "gross"))
                );
                if let Some(Value::Object(w)) = b.get("weights") {
                    let mut rows: Vec<(String, f64, RGBColor)> = w
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?, PALETTE[0])))
                        .collect();
                    rows.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
                    if !rows.is_empty() {
                        let h = (60 + 28 * rows.len() as u32).min(700);
                        body.push_str(&charts::hbars(
                            "Deployment book weights",
                            "weight (fraction of equity)",
                            &rows,
                            None,
                            true,
                            (HALF.0, h.max(160)),
                        )?);
                    }
                }
            }
            None => body.push_str(&absent("deployment book")),
        }
        body.push_str("<h3>Risk contributions</h3>");
        match get(sm, "deployment_book.risk_contributions") {
            Some(Value::Object(rc)) if !rc.is_empty() => {
                let mut rows: Vec<(String, f64, RGBColor)> = rc
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?, PALETTE[4])))
                    .collect();
                rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let h = (60 + 28 * rows.len() as u32).min(700);
                body.push_str(&charts::hbars(
                    "Share of portfolio risk per symbol",
                    "risk contribution (fraction of portfolio volatility)",
                    &rows,
                    None,
                    true,
                    (HALF.0, h.max(160)),
                )?);
            }
            _ => body.push_str(&absent(
                "risk contributions (deployment_book.risk_contributions)",
            )),
        }
        body.push_str("<h3>Hedge: beta before and after</h3>");
        match get(sm, "walkforward.hedge") {
            Some(Value::Array(hs)) if !hs.is_empty() => body.push_str(&self.hedge(hs)?),
            _ => body.push_str(&absent("hedge (walkforward.hedge)")),
        }
        Ok(section(
            "book",
            "Deployment book, risk contributions and hedge",
            &body,
        ))
    }

    /// Per instrument: the betas before and after, how often and at what
    /// cost the book was hedged; and the betas per decision bar (hedges.parquet).
    fn hedge(&self, hs: &[Value]) -> anyhow::Result<String> {
        let mut body = String::new();
        let rows: Vec<Vec<String>> = hs
            .iter()
            .map(|h| {
                vec![
                    esc(s(h, "symbol").unwrap_or("?")),
                    num(f(h, "mean_beta_before")),
                    num(f(h, "mean_beta_after")),
                    num(f(h, "last_beta_before")),
                    num(f(h, "last_beta_after")),
                    pct(f(h, "share_hedged")),
                    num(f(h, "n_trades")),
                    num(f(h, "costs")),
                ]
            })
            .collect();
        body.push_str(&table(
            &[
                "instrument",
                "mean beta before",
                "mean beta after",
                "last beta before",
                "last beta after",
                "bars hedged",
                "hedge trades",
                "hedge costs",
            ],
            &rows,
        ));
        let Some(t) = &self.hedges else {
            return Ok(body);
        };
        let x: Vec<f64> = t
            .ts("timestamp")?
            .iter()
            .map(|v| year(v.unwrap_or(0)))
            .collect();
        let inst = t.strs("instrument")?;
        let (before, after) = (t.f64s("beta_before")?, t.f64s("beta_after")?);
        let mut chart = TimeChart::new(
            "Beta of the book to each hedge instrument, before and after the hedge",
            "beta (rolling window)",
            WIDE,
        );
        let pts: Vec<(f64, f64, f64)> = x
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(&x, (b, a))| (x, b.unwrap_or(f64::NAN), a.unwrap_or(f64::NAN)))
            .collect();
        for (k, (name, p)) in group(&inst, pts).into_iter().enumerate() {
            for (label, color, pick) in [
                ("before", PALETTE[(2 * k + 1) % PALETTE.len()], 0),
                ("after", PALETTE[(2 * k + 3) % PALETTE.len()], 1),
            ] {
                chart.lines.push(Line {
                    name: format!("{name} {label}"),
                    color,
                    width: 1,
                    points: p
                        .iter()
                        .map(|&(x, b, a)| (x, if pick == 0 { b } else { a }))
                        .collect(),
                    fill: false,
                });
            }
        }
        chart.hlines.push(HLine {
            name: "zero".into(),
            y: 0.0,
            color: charts::INK,
        });
        body.push_str(&chart.draw()?);
        body.push_str(
            "<p class=\"note\">Beta of the held book's one-bar returns to the instrument over the \
             hedge window, at each decision bar; the hedge (short beta x hedge_ratio x the regime \
             multiplier) is on only while the book's correlation to the instrument exceeds the \
             threshold, so the lines meet where the book is not hedged.</p>",
        );
        Ok(body)
    }

    pub(super) fn stress(&self) -> anyhow::Result<String> {
        let sm = &self.summary;
        let Some(st) = get(sm, "stress") else {
            return Ok(section(
                "stress",
                "Stress test",
                &absent("stress test (the job has no [stress])"),
            ));
        };
        if let Some(why) = s(st, "skipped") {
            return Ok(section(
                "stress",
                "Stress test",
                &format!("<p>Skipped: {}</p>", esc(why)),
            ));
        }
        let capital = f(st, "capital").unwrap_or(1.0);
        let horizon = f(st, "horizon");
        let limit = f(st, "drawdown_limit").or_else(|| {
            get(sm, "success_metrics.max_drawdown_stress")
                .and_then(|m| m.as_object()?.values().next().and_then(|t| f(t, "target")))
        });
        let mut body = String::new();
        let _ = write!(
            body,
            "<p>{} paths per scenario over {} days on a capital of {}; book from {}.</p>",
            num(f(st, "paths")),
            num(horizon),
            num(Some(capital)),
            esc(s(st, "portfolio_source").unwrap_or("?"))
        );
        let scen = get(st, "result.scenarios")
            .or_else(|| get(st, "scenarios"))
            .and_then(Value::as_array);
        if let Some(sc) = scen {
            let rows: Vec<Vec<String>> = sc
                .iter()
                .map(|x| {
                    vec![
                        esc(s(x, "scenario").unwrap_or("")),
                        pct(f(x, "var_95")),
                        pct(f(x, "var_99")),
                        pct(f(x, "cvar_99")),
                        pct(f(x, "prob_drawdown_breach")),
                        pct(f(x, "mean_max_drawdown")),
                        num(f(x, "mean_liquidation_cost")),
                        esc(s(x, "backend").unwrap_or("")),
                    ]
                })
                .collect();
            body.push_str(&table(
                &[
                    "scenario",
                    "VaR 95",
                    "VaR 99",
                    "CVaR 99",
                    "P(drawdown breach)",
                    "mean max drawdown",
                    "mean liquidation cost",
                    "backend",
                ],
                &rows,
            ));
            let bars: Vec<(String, f64, RGBColor)> = sc
                .iter()
                .enumerate()
                .map(|(k, x)| {
                    (
                        s(x, "scenario").unwrap_or("").to_string(),
                        f(x, "prob_drawdown_breach").unwrap_or(0.0),
                        PALETTE[k % PALETTE.len()],
                    )
                })
                .collect();
            let gate_lim = f(sm, "gate.spec.max_stress_breach_probability");
            body.push_str(&charts::hbars(
                "Probability of breaching the drawdown limit, per scenario",
                "share of paths",
                &bars,
                gate_lim.map(|l| (format!("gate limit {:.1}%", l * 100.0), l)),
                true,
                (WIDE.0, 70 + 40 * bars.len() as u32),
            )?);
        }
        match &self.bands {
            Some(b) => {
                let sc = b.strs("scenario")?;
                let day = b.f64s("day")?;
                let cols: Vec<Vec<Option<f64>>> = ["p01", "p05", "p50", "p95", "p99"]
                    .iter()
                    .map(|c| b.f64s(c))
                    .collect::<Result<_, _>>()?;
                let rows: Vec<(f64, [f64; 5])> = (0..b.len())
                    .map(|i| {
                        let r = |k: usize| cols[k][i].map_or(f64::NAN, |v| v / capital - 1.0);
                        (day[i].unwrap_or(0.0), [r(0), r(1), r(2), r(3), r(4)])
                    })
                    .collect();
                let fans: Vec<Fan> = group(&sc, rows)
                    .into_iter()
                    .map(|(scenario, rows)| Fan { scenario, rows })
                    .collect();
                let ys = fans
                    .iter()
                    .flat_map(|f| f.rows.iter().flat_map(|r| r.1))
                    .chain(limit.map(|l| -l))
                    .filter(|v| v.is_finite());
                let (lo, hi) = ys.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
                let pad = 0.05 * (hi - lo).max(1e-6);
                body.push_str("<h3>Portfolio value percentiles over the horizon (fan charts, same axes)</h3><div class=\"grid2\">");
                for fan in &fans {
                    body.push_str(&charts::fan(fan, (lo - pad, hi + pad), limit, HALF)?);
                }
                body.push_str("</div>");
            }
            None => body.push_str(&absent("stress_bands.parquet")),
        }
        match &self.paths {
            Some(p) => {
                // Up to millions of rows: scenario names interned, not one string per row.
                let sc = p.keys("scenario")?;
                let term: Vec<f64> = p
                    .f64s("terminal_value")?
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| v / capital - 1.0))
                    .collect();
                let mdd: Vec<f64> = p
                    .f64s("max_drawdown")?
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect();
                body.push_str("<div class=\"grid2\">");
                body.push_str(&charts::histograms(
                    "Terminal return per path",
                    "terminal return on capital",
                    &group_keys(sc.clone(), term),
                    None,
                    HALF,
                )?);
                body.push_str(&charts::histograms(
                    "Maximum drawdown per path",
                    "max drawdown",
                    &group_keys(sc, mdd),
                    limit.map(|l| (format!("drawdown limit {:.0}%", l * 100.0), l)),
                    HALF,
                )?);
                body.push_str("</div>");
            }
            None => body.push_str(&absent("stress_paths.parquet")),
        }
        Ok(section(
            "stress",
            "Stress test of the deployment book",
            &body,
        ))
    }

    pub(super) fn correlation_section(&self) -> anyhow::Result<String> {
        let Some(t) = &self.correlation else {
            return Ok(section(
                "correlation",
                "Correlation of held assets",
                &absent("correlation.parquet"),
            ));
        };
        let a = t.strs("symbol_a")?;
        let b = t.strs("symbol_b")?;
        let v = t.f64s("correlation")?;
        let mut syms: Vec<String> = Vec::new();
        for x in a.iter().flatten() {
            if !syms.contains(x) {
                syms.push(x.clone());
            }
        }
        if syms.len() < 2 {
            return Ok(section(
                "correlation",
                "Correlation of held assets",
                &absent("a correlation matrix (fewer than two assets were ever held)"),
            ));
        }
        let pos = |s: &Option<String>| s.as_ref().and_then(|s| syms.iter().position(|x| x == s));
        let mut m = vec![vec![None; syms.len()]; syms.len()];
        for ((x, y), c) in a.iter().zip(&b).zip(&v) {
            if let (Some(i), Some(j)) = (pos(x), pos(y)) {
                m[i][j] = *c;
            }
        }
        let size = (200 + 28 * syms.len() as u32).clamp(420, 760);
        let mut body = charts::heatmap(
            "Correlation of daily returns over the out-of-sample span",
            &syms,
            &m,
            size,
        )?;
        let _ = write!(
            body,
            "<p class=\"note\">The {} assets the replay held at some bar; pairwise over the bars where both have a return. \
             The monitor's rolling version (average over the book held at each bar) is under Exposure.</p>",
            syms.len()
        );
        Ok(section("correlation", "Correlation of held assets", &body))
    }
}
