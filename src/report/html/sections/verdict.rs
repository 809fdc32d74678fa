//! The gate verdict, headline numbers and the seed plan's success metrics.

use super::*;

impl Run {
    pub(super) fn verdict(&self) -> String {
        let sm = &self.summary;
        let mut body = String::from("<div class=\"verdict\">");
        let n_checks = self
            .gate
            .as_ref()
            .and_then(|g| get(g, "checks"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        match self.gate.as_ref().and_then(|g| s(g, "verdict")) {
            Some(_) if n_checks == 0 => body.push_str(
                "<div class=\"big none\">NO GATE</div><div>no thresholds configured \
                 (no [gate] in the job, no flags): the run passes by default</div>",
            ),
            Some(v) => {
                let counts = self.gate.as_ref().and_then(|g| get(g, "counts"));
                let c = |k: &str| {
                    counts
                        .and_then(|c| c.get(k))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                let class = if v == "pass" { "pass" } else { "fail" };
                let _ = write!(
                    body,
                    "<div class=\"big {class}\">GATE {}</div><div>{} passed, {} failed, {} skipped</div>",
                    esc(&v.to_uppercase()),
                    c("passed"),
                    c("failed"),
                    c("skipped")
                );
            }
            None => body.push_str(
                "<div class=\"big none\">NO GATE</div><div>gate.json is not in this folder</div>",
            ),
        }
        body.push_str("</div><div class=\"tiles\">");
        let crit = f(sm, "monitor.alerts.CRITICAL");
        let warn = f(sm, "monitor.alerts.WARNING");
        let mut tiles = vec![
            (
                "stitched Sharpe",
                num(f(sm, "walkforward.aggregate.stitched_sharpe")),
            ),
            (
                "worst drawdown",
                pct(f(sm, "walkforward.stitched_max_drawdown")),
            ),
            (
                "total return",
                pct(get(sm, "walkforward.strategies")
                    .and_then(|v| v.get(0))
                    .and_then(|v| v.get("total_return"))
                    .and_then(Value::as_f64)),
            ),
            ("PSR", num(f(sm, "walkforward.aggregate.psr"))),
            (
                "edge precision",
                pct(f(sm, "walkforward.aggregate.edge_precision")),
            ),
            ("base rate", pct(f(sm, "walkforward.aggregate.base_rate"))),
            ("CRITICAL alerts", num(crit)),
            ("WARNING alerts", num(warn)),
        ];
        if get(sm, "walkforward").is_none() {
            // A stress-only run: the replay's tiles would all be null.
            tiles.drain(..6);
        }
        for (k, v) in tiles {
            let _ = write!(
                body,
                "<div class=\"tile\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
                esc(k),
                esc(&v)
            );
        }
        body.push_str("</div>");
        if let Some(checks) = self
            .gate
            .as_ref()
            .and_then(|g| get(g, "checks"))
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
        {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    let st = s(c, "status").unwrap_or("?");
                    let b = match st {
                        "passed" => "<span class=\"badge ok\">passed</span>".to_string(),
                        "failed" => "<span class=\"badge bad\">failed</span>".to_string(),
                        other => format!("<span class=\"badge skip\">{}</span>", esc(other)),
                    };
                    vec![
                        esc(s(c, "name").unwrap_or("")),
                        b,
                        num(f(c, "value")),
                        num(f(c, "limit")),
                        esc(s(c, "why").unwrap_or("")),
                    ]
                })
                .collect();
            body.push_str("<h3>Gate thresholds</h3>");
            body.push_str(&table(&["check", "status", "value", "limit", "why"], &rows));
        }
        if let Some(Value::Object(m)) = get(sm, "success_metrics") {
            let mut rows = Vec::new();
            let mut push = |name: String, t: &Value| {
                rows.push(vec![
                    esc(&name),
                    esc(&format!(
                        "{} {}",
                        s(t, "comparison").unwrap_or(""),
                        num(f(t, "target"))
                    )),
                    num(f(t, "measured")),
                    match t.get("met").and_then(Value::as_bool) {
                        Some(ok) => badge(ok, "met", "missed"),
                        None => "<span class=\"badge skip\">n/a</span>".into(),
                    },
                ]);
            };
            for (k, v) in m {
                if v.get("target").is_some() {
                    push(k.clone(), v);
                } else if let Value::Object(sub) = v {
                    for (k2, v2) in sub {
                        push(format!("{k} ({k2})"), v2);
                    }
                }
            }
            body.push_str("<h3>The seed plan's success metrics</h3>");
            body.push_str(&table(&["metric", "target", "measured", ""], &rows));
        }
        section("verdict", "Release verdict", &body)
    }
}
