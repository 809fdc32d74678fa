//! `[data]` section: where the prices are and which slice of them the job uses.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{resolve, time};
use crate::error::ConfigError;

/// `[data]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// File, folder, glob or hive-partitioned folder.
    pub path: String,
    /// `"all"` or a list of symbols.
    #[serde(default)]
    pub symbols: Option<RawSymbols>,
    /// First date kept (inclusive), `YYYY-MM-DD` or RFC 3339.
    pub start: Option<String>,
    /// Last date kept (inclusive).
    pub end: Option<String>,
    /// Resample to this bar size (`1d`, `4h`, `15m`); absent keeps bars as stored.
    pub bar: Option<String>,
    /// Column names in the files.
    #[serde(default)]
    pub columns: ColumnMap,
    /// Longest run of missing bars a close is forward-filled over.
    pub max_fill_days: Option<i64>,
    /// Bars per year for annualizing; inferred from the calendar when absent.
    pub bars_per_year: Option<f64>,
    /// How to join calendars that differ (equities 5-day with crypto 7-day).
    pub calendar: Option<CalendarMode>,
    /// Benchmark series, aligned to the panel calendar.
    pub benchmark: Option<RawBenchmark>,
}

/// `symbols = "all"` or `symbols = ["A", "B"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSymbols {
    /// The string `"all"`.
    All(String),
    /// An explicit list.
    List(Vec<String>),
}

/// Which symbols to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolSelection {
    /// Every symbol in the dataset.
    All,
    /// Only these, in this order.
    List(Vec<String>),
}

impl SymbolSelection {
    /// Whether `s` is selected.
    pub fn contains(&self, s: &str) -> bool {
        match self {
            Self::All => true,
            Self::List(v) => v.iter().any(|x| x == s),
        }
    }
}

/// How calendars of different symbols are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarMode {
    /// Every timestamp any symbol has.
    Union,
    /// Only timestamps every symbol has.
    Intersection,
}

/// Column names in the input files (`[data.columns]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnMap {
    /// Timestamp column.
    pub timestamp: String,
    /// Symbol column.
    pub symbol: String,
    /// Open price column.
    pub open: String,
    /// High price column.
    pub high: String,
    /// Low price column.
    pub low: String,
    /// Close price column.
    pub close: String,
    /// Volume column.
    pub volume: String,
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self {
            timestamp: "timestamp".into(),
            symbol: "symbol".into(),
            open: "open".into(),
            high: "high".into(),
            low: "low".into(),
            close: "close".into(),
            volume: "volume".into(),
        }
    }
}

/// `[data.benchmark]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBenchmark {
    /// Dataset holding the benchmark; defaults to `data.path`.
    pub path: Option<String>,
    /// Benchmark symbol.
    pub symbol: String,
    /// Column names, when they differ from `data.columns`.
    pub columns: Option<ColumnMap>,
}

/// Validated benchmark reference.
#[derive(Debug, Clone)]
pub struct BenchmarkSpec {
    /// Dataset path.
    pub path: PathBuf,
    /// Symbol in that dataset.
    pub symbol: String,
    /// Column names.
    pub columns: ColumnMap,
}

/// Validated `[data]`.
#[derive(Debug, Clone)]
pub struct DataSpec {
    /// Dataset path (file, folder or glob), resolved.
    pub path: PathBuf,
    /// Symbols to load.
    pub symbols: SymbolSelection,
    /// First timestamp kept, microseconds UTC, inclusive.
    pub start: Option<i64>,
    /// Last timestamp kept, microseconds UTC, inclusive.
    pub end: Option<i64>,
    /// Resample bar size in microseconds.
    pub bar: Option<i64>,
    /// Column names.
    pub columns: ColumnMap,
    /// Longest forward fill, in bars.
    pub max_fill_days: usize,
    /// Bars per year, when given.
    pub bars_per_year: Option<f64>,
    /// Calendar join mode, when given.
    pub calendar: Option<CalendarMode>,
    /// Benchmark, when given.
    pub benchmark: Option<BenchmarkSpec>,
}

impl RawData {
    /// Checks values and resolves paths against `base`.
    pub fn validate(self, base: &Path) -> Result<DataSpec, ConfigError> {
        if self.path.trim().is_empty() {
            return Err(ConfigError::invalid("data.path", "must not be empty"));
        }
        let symbols = match self.symbols {
            None => SymbolSelection::All,
            Some(RawSymbols::All(s)) if s == "all" => SymbolSelection::All,
            Some(RawSymbols::All(s)) => {
                return Err(ConfigError::invalid(
                    "data.symbols",
                    format!("must be \"all\" or a list of symbols, got \"{s}\""),
                ));
            }
            Some(RawSymbols::List(v)) => {
                if v.is_empty() {
                    return Err(ConfigError::invalid(
                        "data.symbols",
                        "must not be an empty list",
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for s in &v {
                    if !seen.insert(s) {
                        return Err(ConfigError::invalid(
                            "data.symbols",
                            format!("lists \"{s}\" twice"),
                        ));
                    }
                }
                SymbolSelection::List(v)
            }
        };
        let start = self
            .start
            .as_deref()
            .map(|s| time::parse_date(s, false).map_err(|m| ConfigError::invalid("data.start", m)))
            .transpose()?;
        let end = self
            .end
            .as_deref()
            .map(|s| time::parse_date(s, true).map_err(|m| ConfigError::invalid("data.end", m)))
            .transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(ConfigError::invalid(
                "data.end",
                "must not be before data.start".to_string(),
            ));
        }
        let bar = self
            .bar
            .as_deref()
            .map(|b| time::parse_duration(b).map_err(|m| ConfigError::invalid("data.bar", m)))
            .transpose()?;
        let max_fill_days = match self.max_fill_days {
            None => 5,
            Some(v) if (0..=10_000).contains(&v) => v as usize,
            Some(v) => {
                return Err(ConfigError::invalid(
                    "data.max_fill_days",
                    format!("must be in 0..=10000, got {v}"),
                ));
            }
        };
        if let Some(b) = self.bars_per_year
            && !(b.is_finite() && b > 0.0 && b <= 1.0e7)
        {
            return Err(ConfigError::invalid(
                "data.bars_per_year",
                format!("must be in (0, 1e7], got {b}"),
            ));
        }
        let path = resolve(base, &self.path);
        let benchmark = self.benchmark.map(|b| BenchmarkSpec {
            path: b
                .path
                .as_deref()
                .map_or_else(|| path.clone(), |p| resolve(base, p)),
            symbol: b.symbol,
            columns: b.columns.unwrap_or_else(|| self.columns.clone()),
        });
        if let (Some(b), SymbolSelection::List(v)) = (&benchmark, &symbols)
            && b.path == path
            && v.contains(&b.symbol)
        {
            return Err(ConfigError::invalid(
                "data.benchmark.symbol",
                format!(
                    "\"{}\" is also in data.symbols; the benchmark is not traded",
                    b.symbol
                ),
            ));
        }
        Ok(DataSpec {
            path,
            symbols,
            start,
            end,
            bar,
            columns: self.columns,
            max_fill_days,
            bars_per_year: self.bars_per_year,
            calendar: self.calendar,
            benchmark,
        })
    }
}
