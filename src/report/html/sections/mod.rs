//! The page's sections, each from the reports that hold its numbers:
//! [`verdict`], the replay ([`replay`], [`folds`]), risk ([`risk`]) and the
//! tables ([`tables`]).

mod folds;
mod replay;
mod risk;
mod tables;
mod verdict;

use std::{collections::BTreeMap, fmt::Write, path::Path};

use plotters::{prelude::SeriesLabelPosition, style::RGBColor};
use serde_json::Value;

use super::{
    charts::{self, AMBER, Fan, HLine, Line, PALETTE, RED, TimeChart, year},
    page::{absent, badge, esc, flatten, num, pct, scalar, section, table},
    read::{self, Table, group, group_keys},
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
    hedges: Option<Table>,
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
            hedges: read::table(
                dir,
                "hedges.parquet",
                &["timestamp", "instrument", "beta_before", "beta_after"],
            )?,
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
}
