//! The page's sections, each from the reports that hold its numbers.

use std::{collections::BTreeMap, fmt::Write, path::Path};

use plotters::{prelude::SeriesLabelPosition, style::RGBColor};
use serde_json::Value;

use super::{
    charts::{self, AMBER, Fan, HLine, Line, PALETTE, RED, TimeChart, year},
    page::{absent, badge, esc, flatten, num, pct, scalar, section, table},
    read::{self, Table, group},
};

const WIDE: (u32, u32) = (1180, 420);

/// The replay's equity points (fractional year, equity), timestamps and folds.
type OosPoints = (Vec<(f64, f64)>, Vec<i64>, Vec<i64>);
/// Shaded regime spans and the regimes' names in order of appearance.
type RegimeSpans = (Vec<(f64, f64, RGBColor)>, Vec<String>);
const HALF: (u32, u32) = (580, 340);

/// Everything the page draws, read from one output folder.
pub struct Run {
    summary: Value,
    gate: Option<Value>,
    oos: Option<Table>,
    folds: Option<Table>,
    predictions: Option<Table>,
    regimes: Option<Table>,
    strategies: Option<Table>,
    track: Option<Table>,
    correlation: Option<Table>,
    alerts: Option<Table>,
    bands: Option<Table>,
    paths: Option<Table>,
    trades: Option<Table>,
    decisions: Option<Table>,
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

fn f(v: &Value, path: &str) -> Option<f64> {
    get(v, path).and_then(Value::as_f64)
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

fn regime_color(name: &str) -> RGBColor {
    match name {
        "STABLE" => RGBColor(80, 170, 90),
        "TRENDING" => RGBColor(70, 120, 210),
        "VOLATILE" => RGBColor(240, 150, 30),
        "CRISIS" => RGBColor(210, 40, 40),
        _ => RGBColor(150, 150, 150),
    }
}

impl Run {
    /// Reads the reports of `dir` the page needs.
    pub fn read(dir: &Path, summary: Value) -> anyhow::Result<Self> {
        Ok(Self {
            gate: read::json(dir, "gate.json")?,
            oos: read::table(dir, "oos_returns.parquet", &["timestamp", "fold", "equity"])?,
            folds: read::table(
                dir,
                "folds.parquet",
                &[
                    "fold",
                    "test_start",
                    "test_end",
                    "sharpe",
                    "edge_precision",
                    "turnover",
                    "n_trades",
                ],
            )?,
            predictions: read::table(dir, "predictions.parquet", &["fold", "label"])?,
            regimes: read::table(dir, "regimes.parquet", &["timestamp", "regime"])?,
            strategies: read::table(
                dir,
                "strategies.parquet",
                &["timestamp", "strategy", "equity"],
            )?,
            track: read::table(
                dir,
                "monitor.parquet",
                &[
                    "timestamp",
                    "gross",
                    "net",
                    "max_single_name",
                    "avg_correlation",
                ],
            )?,
            correlation: read::table(
                dir,
                "correlation.parquet",
                &["symbol_a", "symbol_b", "correlation"],
            )?,
            alerts: read::table(
                dir,
                "alerts.parquet",
                &[
                    "timestamp",
                    "severity",
                    "rule",
                    "value",
                    "limit",
                    "symbol",
                    "message",
                ],
            )?,
            bands: read::table(
                dir,
                "stress_bands.parquet",
                &["scenario", "day", "p01", "p05", "p50", "p95", "p99"],
            )?,
            paths: read::table(
                dir,
                "stress_paths.parquet",
                &["scenario", "terminal_value", "max_drawdown"],
            )?,
            trades: read::table(
                dir,
                "trades.parquet",
                &["notional", "fees", "impact_cost", "venue"],
            )?,
            decisions: read::table(
                dir,
                "decisions.parquet",
                &[
                    "cut_max_position",
                    "cut_max_positions",
                    "cut_max_gross",
                    "cut_max_net",
                    "cut_vol_target",
                    "cut_drawdown_brake",
                ],
            )?,
            summary,
        })
    }

    /// The job's name.
    pub fn job(&self) -> String {
        s(&self.summary, "job").unwrap_or("?").to_string()
    }

    /// The page body.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        let sm = &self.summary;
        let span = match (s(sm, "data.first"), s(sm, "data.last")) {
            (Some(a), Some(b)) => format!("data {a} to {b}, {} assets", num(f(sm, "data.assets"))),
            _ => "no price data".into(),
        };
        let _ = writeln!(
            out,
            "<header><h1>{}</h1><div class=\"sub\">risk report of job <b>{}</b> &middot; {} &middot; chloe {} &middot; seed {}</div></header>",
            esc(&format!("chloe report: {}", self.job())),
            esc(&self.job()),
            esc(&span),
            esc(s(sm, "versions.chloe").unwrap_or("?")),
            num(f(sm, "seed")),
        );
        out.push_str(
            "<nav><a href=\"#verdict\">Verdict</a><a href=\"#performance\">Performance</a>\
             <a href=\"#folds\">Folds</a><a href=\"#exposure\">Exposure</a><a href=\"#book\">Book</a>\
             <a href=\"#stress\">Stress</a><a href=\"#correlation\">Correlation</a>\
             <a href=\"#alerts\">Alerts</a><a href=\"#costs\">Costs</a><a href=\"#provenance\">Provenance</a></nav>\n<main>\n",
        );
        out.push_str(&self.verdict());
        out.push_str(&self.performance()?);
        out.push_str(&self.folds_section()?);
        out.push_str(&self.exposure()?);
        out.push_str(&self.book()?);
        out.push_str(&self.stress()?);
        out.push_str(&self.correlation_section()?);
        out.push_str(&self.alerts_section()?);
        out.push_str(&self.costs()?);
        out.push_str(&self.provenance());
        out.push_str("</main>\n");
        Ok(out)
    }

    fn verdict(&self) -> String {
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

    fn oos_points(&self) -> anyhow::Result<Option<OosPoints>> {
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

    fn regime_spans(&self) -> anyhow::Result<RegimeSpans> {
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

    fn performance(&self) -> anyhow::Result<String> {
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

    fn folds_section(&self) -> anyhow::Result<String> {
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

    fn exposure(&self) -> anyhow::Result<String> {
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

    fn book(&self) -> anyhow::Result<String> {
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
            Some(h) => {
                let mut flat = Vec::new();
                flatten("", h, &mut flat);
                let before_after: Vec<(String, f64, RGBColor)> = flat
                    .iter()
                    .filter(|(k, _)| k.contains("beta"))
                    .filter_map(|(k, v)| {
                        Some((
                            k.clone(),
                            v.parse::<f64>().ok()?,
                            if k.contains("after") {
                                PALETTE[3]
                            } else {
                                PALETTE[1]
                            },
                        ))
                    })
                    .collect();
                if !before_after.is_empty() && before_after.len() <= 40 {
                    let hgt = (60 + 24 * before_after.len() as u32).min(900);
                    body.push_str(&charts::hbars(
                        "Portfolio beta before and after the hedge",
                        "beta",
                        &before_after,
                        None,
                        false,
                        (HALF.0 + 200, hgt.max(160)),
                    )?);
                }
                let rows: Vec<Vec<String>> =
                    flat.iter().map(|(k, v)| vec![esc(k), esc(v)]).collect();
                body.push_str(&table(&["walkforward.hedge", "value"], &rows));
            }
            None => body.push_str(&absent("hedge (walkforward.hedge)")),
        }
        Ok(section(
            "book",
            "Deployment book, risk contributions and hedge",
            &body,
        ))
    }

    fn stress(&self) -> anyhow::Result<String> {
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
                let sc = p.strs("scenario")?;
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
                    &group(&sc, term),
                    None,
                    HALF,
                )?);
                body.push_str(&charts::histograms(
                    "Maximum drawdown per path",
                    "max drawdown",
                    &group(&sc, mdd),
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

    fn correlation_section(&self) -> anyhow::Result<String> {
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

    fn alerts_section(&self) -> anyhow::Result<String> {
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

    fn costs(&self) -> anyhow::Result<String> {
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

    fn provenance(&self) -> String {
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
