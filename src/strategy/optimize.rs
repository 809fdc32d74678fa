//! `chloe optimize`: risk-parity or minimum-variance weights of the symbols in
//! a price file or a returns file (long or wide, see [`super::returns_file`]),
//! from the Ledoit-Wolf covariance of their one-bar returns.

use std::{collections::BTreeMap, path::PathBuf};

use clap::{Args, ValueEnum};
use ndarray::{Array1, Array2};

use super::{
    covariance::ledoit_wolf,
    portfolio::{Allocation, SolveOptions, min_variance, risk_parity},
    returns_file::Layout,
};
use crate::{
    config::{ColumnMap, DataSpec, SymbolSelection},
    error::{DataError, Exit, UsageError},
};

/// Portfolio construction method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Equal (or budgeted) risk contributions.
    RiskParity,
    /// Long-only minimum variance.
    MinVariance,
}

impl Method {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::RiskParity => "risk-parity",
            Self::MinVariance => "min-variance",
        }
    }
}

/// `chloe optimize`
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// Construction method.
    #[arg(long, value_enum, default_value_t = Method::RiskParity)]
    pub method: Method,
    /// Parquet file: prices in chloe's schema (returns from closes), or returns,
    /// long (`timestamp, symbol, return`) or wide (`timestamp` and one column per symbol).
    #[arg(long)]
    pub returns: PathBuf,
    /// Risk budgets, `SYM=B,...` (risk parity only); relative, symbols not
    /// listed get 1.
    #[arg(long, value_delimiter = ',')]
    pub budgets: Option<Vec<String>>,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One symbol's line of the result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    /// Symbol.
    pub symbol: String,
    /// Weight (fraction).
    pub weight: f64,
    /// Share of portfolio variance.
    pub risk_contribution: f64,
    /// Normalized risk budget (risk parity only).
    pub budget: Option<f64>,
}

/// What `chloe optimize` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Method used.
    pub method: Method,
    /// File read.
    pub file: String,
    /// `prices`, `long_returns` or `wide_returns`.
    pub input: String,
    /// Return observations used (bars where every symbol has a return).
    pub observations: usize,
    /// Ledoit-Wolf shrinkage intensity.
    pub shrinkage: f64,
    /// Solver iterations.
    pub iterations: usize,
    /// Annualized portfolio volatility.
    pub volatility: f64,
    /// Per symbol, in the file's symbol order.
    pub symbols: Vec<Line>,
}

/// Parses `SYM=B` pairs into budgets aligned with `symbols` (unlisted get 1).
pub fn parse_budgets(pairs: &[String], symbols: &[String]) -> Result<Array1<f64>, UsageError> {
    let mut given = BTreeMap::new();
    for p in pairs {
        let (sym, val) = p
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--budgets: \"{p}\" is not SYM=B")))?;
        let (sym, val) = (sym.trim(), val.trim());
        let b: f64 = val
            .parse()
            .map_err(|_| UsageError(format!("--budgets: {sym}: \"{val}\" is not a number")))?;
        if !(b.is_finite() && b > 0.0) {
            return Err(UsageError(format!(
                "--budgets: {sym}: budget must be positive, got {val}"
            )));
        }
        if !symbols.iter().any(|s| s == sym) {
            return Err(UsageError(format!(
                "--budgets: unknown symbol \"{sym}\" (the file has {})",
                symbols.join(", ")
            )));
        }
        if given.insert(sym.to_string(), b).is_some() {
            return Err(UsageError(format!("--budgets: {sym} given twice")));
        }
    }
    Ok(symbols
        .iter()
        .map(|s| given.get(s).copied().unwrap_or(1.0))
        .collect())
}

/// Runs the optimizer on `args` and returns what to print.
pub fn optimize(args: &OptimizeArgs) -> anyhow::Result<Report> {
    if args.budgets.is_some() && args.method != Method::RiskParity {
        return Err(UsageError("--budgets applies only to --method risk-parity".into()).into());
    }
    let label = args.returns.display().to_string();
    let layout = super::returns_file::layout(&args.returns)?;
    let (symbols, all, bars_per_year) = if layout == Layout::Prices {
        let spec = DataSpec {
            path: args.returns.clone(),
            symbols: SymbolSelection::All,
            start: None,
            end: None,
            bar: None,
            columns: ColumnMap::default(),
            max_fill_days: 5,
            bars_per_year: None,
            calendar: None,
            benchmark: None,
        };
        let panel = crate::data::load_panel(&spec)?.panel;
        (panel.symbols.clone(), panel.returns(), panel.bars_per_year)
    } else {
        let m = super::returns_file::read(&args.returns, layout)?;
        let a = crate::data::panel::infer_bars_per_year(&m.timestamps);
        (m.symbols, m.values, a)
    };
    let rows: Vec<usize> = (0..all.nrows())
        .filter(|&t| all.row(t).iter().all(|v| v.is_finite()))
        .collect();
    if rows.len() < 2 {
        return Err(DataError::TooShort {
            message: format!(
                "{label}: {} bar(s) where every symbol has a return, need at least 2",
                rows.len()
            ),
        }
        .into());
    }
    let r = Array2::from_shape_fn((rows.len(), all.ncols()), |(k, j)| all[[rows[k], j]]);
    let shrunk = ledoit_wolf(r.view());
    let opts = SolveOptions::default();
    let (alloc, budgets): (Allocation, Option<Array1<f64>>) = match args.method {
        Method::RiskParity => {
            let b = match &args.budgets {
                Some(p) => parse_budgets(p, &symbols)?,
                None => Array1::ones(symbols.len()),
            };
            let b = &b / b.sum();
            (
                risk_parity(shrunk.covariance.view(), Some(b.view()), &opts)?,
                Some(b),
            )
        }
        Method::MinVariance => (min_variance(shrunk.covariance.view(), &opts)?, None),
    };
    let lines = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            symbol: s.clone(),
            weight: alloc.weights[i],
            risk_contribution: alloc.risk_contributions[i],
            budget: budgets.as_ref().map(|b| b[i]),
        })
        .collect();
    Ok(Report {
        method: args.method,
        file: label,
        input: match layout {
            Layout::Prices => "prices",
            Layout::Long => "long_returns",
            Layout::Wide => "wide_returns",
        }
        .into(),
        observations: rows.len(),
        shrinkage: shrunk.shrinkage,
        iterations: alloc.iterations,
        volatility: (alloc.variance * bars_per_year).sqrt(),
        symbols: lines,
    })
}

impl Report {
    /// The text table.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "{} on {}: {} observations, Ledoit-Wolf shrinkage {:.4}, {} iterations, volatility {:.4} a year\n",
            self.method.name(),
            self.file,
            self.observations,
            self.shrinkage,
            self.iterations,
            self.volatility
        );
        out.push_str(&format!(
            "{:<12} {:>14} {:>18} {:>14}\n",
            "symbol", "weight", "risk_contribution", "budget"
        ));
        for l in &self.symbols {
            let budget = l.budget.map_or("-".into(), |b| format!("{b:.12}"));
            out.push_str(&format!(
                "{:<12} {:>14.12} {:>18.12} {:>14}\n",
                l.symbol, l.weight, l.risk_contribution, budget
            ));
        }
        out
    }
}

/// `chloe optimize`: prints the weights and risk contributions.
pub fn command(args: &OptimizeArgs) -> anyhow::Result<Exit> {
    let report = optimize(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(Exit::Ok)
}
