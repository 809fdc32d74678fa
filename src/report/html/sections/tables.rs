//! Alerts, costs and turnover, provenance.

use super::*;

impl Run {
    pub(super) fn alerts_section(&self) -> anyhow::Result<String> {
        let Some(t) = &self.alerts else {
            return Ok(section(
                "alerts",
                "Alerts",
                &absent("alerts.parquet (the monitor did not run)"),
            ));
        };
        const MAX_ROWS: usize = 200;
        let ts = t.ts("timestamp")?;
        let sev = t.strs("severity")?;
        let rule = t.strs("rule")?;
        let val = t.f64s("value")?;
        let lim = t.f64s("limit")?;
        let sym = t.strs("symbol")?;
        let msg = t.strs("message")?;
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (r, s) in rule.iter().zip(&sev) {
            *counts
                .entry((r.clone().unwrap_or_default(), s.clone().unwrap_or_default()))
                .or_default() += 1;
        }
        let mut body = String::new();
        if t.is_empty() {
            body.push_str("<p><span class=\"badge ok\">no alerts</span> No rule of the monitor entered a warning or critical level.</p>");
        } else {
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|((r, s), n)| vec![esc(r), sev_badge(s), num(Some(*n as f64))])
                .collect();
            body.push_str(&table(&["rule", "severity", "alerts"], &rows));
        }
        let mut order: Vec<usize> = (0..t.len()).collect();
        // CRITICAL first, then time order.
        order.sort_by_key(|&i| {
            (
                sev[i].as_deref() != Some("CRITICAL"),
                ts[i].is_none(),
                ts[i],
            )
        });
        let rows: Vec<Vec<String>> = order
            .iter()
            .take(MAX_ROWS)
            .map(|&i| {
                let when = ts[i]
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map_or("-".into(), |d| d.format("%Y-%m-%d").to_string());
                vec![
                    esc(&when),
                    sev_badge(sev[i].as_deref().unwrap_or("")),
                    esc(rule[i].as_deref().unwrap_or("")),
                    num(val[i]),
                    lim[i].map_or("&mdash;".into(), |l| num(Some(l))),
                    esc(sym[i].as_deref().unwrap_or("")),
                    esc(msg[i].as_deref().unwrap_or("")),
                ]
            })
            .collect();
        if !rows.is_empty() {
            body.push_str(&table(
                &[
                    "date",
                    "severity",
                    "rule",
                    "value",
                    "limit",
                    "symbol / scenario",
                    "message",
                ],
                &rows,
            ));
        }
        if t.len() > MAX_ROWS {
            let _ = write!(
                body,
                "<p class=\"note\">First {MAX_ROWS} of {} alerts shown; all are in alerts.parquet.</p>",
                t.len()
            );
        }
        body.push_str("<p class=\"note\">An alert is raised when a rule enters a level, not on every bar it stays there.</p>");
        Ok(section("alerts", "Alerts", &body))
    }

    pub(super) fn costs(&self) -> anyhow::Result<String> {
        let sm = &self.summary;
        let mut body = String::new();
        if let Some(t) = &self.trades {
            let sum = |c: &str| -> anyhow::Result<Option<f64>> {
                Ok(if t.has(c) {
                    Some(t.f64s(c)?.iter().flatten().sum())
                } else {
                    None
                })
            };
            let cap = f(sm, "walkforward.portfolio.capital");
            let (notional, fees, impact) = (sum("notional")?, sum("fees")?, sum("impact_cost")?);
            let frac = |v: Option<f64>| pct(v.zip(cap).map(|(v, c)| v / c));
            let rows = vec![
                vec!["fills".into(), num(Some(t.len() as f64)), String::new()],
                vec!["traded notional".into(), num(notional), frac(notional)],
                vec!["fees".into(), num(fees), frac(fees)],
                vec!["market impact".into(), num(impact), frac(impact)],
            ];
            body.push_str("<h3>Trading costs of the replayed strategy (trades.parquet)</h3>");
            body.push_str(&table(
                &["", "amount (currency)", "of starting capital"],
                &rows,
            ));
            if t.has("venue") {
                let venues = t.strs("venue")?;
                let mut by: BTreeMap<String, usize> = BTreeMap::new();
                for v in venues.into_iter().flatten() {
                    *by.entry(v).or_default() += 1;
                }
                let rows: Vec<Vec<String>> = by
                    .iter()
                    .map(|(v, n)| vec![esc(v), num(Some(*n as f64))])
                    .collect();
                body.push_str(&table(&["venue", "fills"], &rows));
            }
        } else {
            body.push_str(&absent("trades.parquet"));
        }
        body.push_str("<h3>Costs breakdown (summary.json walkforward.costs)</h3>");
        match get(sm, "walkforward.costs") {
            Some(c) => {
                let mut flat = Vec::new();
                flatten("", c, &mut flat);
                let rows: Vec<Vec<String>> =
                    flat.iter().map(|(k, v)| vec![esc(k), esc(v)]).collect();
                body.push_str(&table(&["key", "value"], &rows));
            }
            None => body.push_str(&absent("a costs breakdown (walkforward.costs)")),
        }
        if let Some(t) = &self.folds {
            let idx: Vec<i32> = t
                .i64s("fold")?
                .iter()
                .map(|v| v.unwrap_or(0) as i32)
                .collect();
            let turn = t.f64s("turnover")?;
            let bars: Vec<(i32, Option<f64>)> = idx.into_iter().zip(turn).collect();
            body.push_str(&charts::fold_bars(
                "Mean one-way turnover per bar, per fold",
                "fraction of equity per bar",
                &bars,
                WIDE,
            )?);
        }
        Ok(section("costs", "Costs and turnover", &body))
    }

    pub(super) fn provenance(&self) -> String {
        let sm = &self.summary;
        let mut rows = vec![
            vec!["job".into(), esc(&self.job())],
            vec![
                "job file".into(),
                format!(
                    "{} <code>sha256 {}</code>",
                    esc(s(sm, "inputs.job_file.path").unwrap_or("?")),
                    esc(s(sm, "inputs.job_file.sha256").unwrap_or("?"))
                ),
            ],
            vec![
                "data hash".into(),
                format!(
                    "<code>{}</code>",
                    esc(s(sm, "inputs.data_sha256").unwrap_or("none"))
                ),
            ],
        ];
        if let Some(Value::Array(files)) = get(sm, "inputs.data_files") {
            for x in files {
                rows.push(vec![
                    "data file".into(),
                    format!(
                        "{} ({} bytes) <code>sha256 {}</code>",
                        esc(s(x, "path").unwrap_or("?")),
                        num(f(x, "bytes")),
                        esc(s(x, "sha256").unwrap_or("?"))
                    ),
                ]);
            }
        }
        rows.push(vec![
            "version".into(),
            esc(&format!(
                "chloe {}{}",
                s(sm, "versions.chloe").unwrap_or("?"),
                s(sm, "versions.git_revision").map_or(String::new(), |r| format!(" ({r})"))
            )),
        ]);
        rows.push(vec!["seed".into(), num(f(sm, "seed"))]);
        rows.push(vec![
            "stress backend".into(),
            esc(&format!(
                "{} (ran: {}; chunks re-run on the CPU: {})",
                s(sm, "backend.kind").unwrap_or("?"),
                s(sm, "backend.used").unwrap_or("?"),
                get(sm, "backend.fallback_chunks").map_or("?".into(), scalar)
            )),
        ]);
        if let Some(why) = s(sm, "run.backend_why") {
            rows.push(vec!["why this backend".into(), esc(why)]);
        }
        if let Some(w) = s(sm, "run.backend_warning") {
            rows.push(vec!["backend warning".into(), esc(w)]);
        }
        let mut body = table(&["", ""], &rows);
        if let Some(Value::Array(notes)) = get(sm, "notes") {
            let _ = write!(
                body,
                "<details><summary>{} notes on fallbacks the run used</summary>",
                notes.len()
            );
            let rows: Vec<Vec<String>> = notes
                .iter()
                .map(|n| {
                    vec![
                        esc(s(n, "scope").unwrap_or("")),
                        esc(s(n, "kind").unwrap_or("")),
                        esc(s(n, "message").unwrap_or("")),
                    ]
                })
                .collect();
            body.push_str(&table(&["scope", "kind", "message"], &rows));
            body.push_str("</details>");
        }
        section("provenance", "Provenance", &body)
    }
}

fn sev_badge(s: &str) -> String {
    match s {
        "CRITICAL" => "<span class=\"badge bad\">CRITICAL</span>".into(),
        "WARNING" => "<span class=\"badge warn\">WARNING</span>".into(),
        other => esc(other),
    }
}
