//! The `data check` summary: what a person wants to know about a dataset.

use serde::Serialize;

use super::{
    bars::{Bars, Problems},
    panel::{FillStats, Panel},
    time::{DAY_US, format_us},
};

/// Per-symbol facts.
#[derive(Debug, Clone, Serialize)]
pub struct SymbolSummary {
    /// Symbol.
    pub symbol: String,
    /// Source rows.
    pub rows: usize,
    /// First bar.
    pub first: String,
    /// Last bar.
    pub last: String,
    /// Calendar bars missing inside the symbol's own range.
    pub gaps: usize,
    /// Closes forward-filled.
    pub filled: usize,
    /// Bars left unavailable because a gap was longer than the fill limit.
    pub unfilled: usize,
    /// Has open/high/low.
    pub ohlc: bool,
    /// Has volume.
    pub volume: bool,
}

/// One failed rule.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemSummary {
    /// The rule, naming the column.
    pub rule: String,
    /// Offending rows.
    pub count: usize,
    /// First few offending rows.
    pub examples: Vec<String>,
}

/// Everything `chloe data check` reports.
#[derive(Debug, Clone, Serialize)]
pub struct CheckSummary {
    /// Dataset path.
    pub path: String,
    /// Whether the data passed every rule.
    pub valid: bool,
    /// Rows after filters.
    pub rows: usize,
    /// Number of symbols.
    pub symbols: usize,
    /// First bar.
    pub start: Option<String>,
    /// Last bar.
    pub end: Option<String>,
    /// Typical bar spacing, e.g. `1d` or `1h`.
    pub bar: Option<String>,
    /// Calendar bars.
    pub calendar_bars: usize,
    /// Bars per year used to annualize.
    pub bars_per_year: Option<f64>,
    /// Per symbol.
    pub per_symbol: Vec<SymbolSummary>,
    /// Failed rules.
    pub problems: Vec<ProblemSummary>,
    /// Things a job using this data must know (mixed calendars, fallbacks).
    pub notes: Vec<String>,
}

/// Formats a bar spacing in the largest whole unit.
pub fn format_spacing(us: i64) -> String {
    for (unit, name) in [
        (7 * DAY_US, "w"),
        (DAY_US, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "m"),
    ] {
        if us >= unit && us % unit == 0 {
            return format!("{}{name}", us / unit);
        }
    }
    format!("{}s", us as f64 / 1e6)
}

/// Builds the summary from the checked bars and, when valid, the panel.
pub fn summarize(
    path: &str,
    bars: &Bars,
    problems: &Problems,
    panel: Option<(&Panel, &FillStats)>,
) -> CheckSummary {
    let n = bars.symbols.len();
    let mut rows = vec![0usize; n];
    let mut first = vec![i64::MAX; n];
    let mut last = vec![i64::MIN; n];
    for r in 0..bars.len() {
        let s = bars.symbol[r] as usize;
        rows[s] += 1;
        first[s] = first[s].min(bars.timestamp[r]);
        last[s] = last[s].max(bars.timestamp[r]);
    }
    let per_symbol = (0..n)
        .filter(|&i| rows[i] > 0)
        .map(|i| {
            let pi = panel.and_then(|(p, _)| p.symbols.iter().position(|s| s == &bars.symbols[i]));
            let (gaps, filled, unfilled, ohlc, volume) = match (panel, pi) {
                (Some((p, f)), Some(j)) => (
                    f.gaps[j],
                    f.filled[j],
                    f.unfilled[j],
                    p.fields[j].has_ohlc,
                    p.fields[j].has_volume,
                ),
                _ => (0, 0, 0, false, false),
            };
            SymbolSummary {
                symbol: bars.symbols[i].clone(),
                rows: rows[i],
                first: format_us(first[i]),
                last: format_us(last[i]),
                gaps,
                filled,
                unfilled,
                ohlc,
                volume,
            }
        })
        .collect();
    let start = bars.timestamp.iter().min().map(|&t| format_us(t));
    let end = bars.timestamp.iter().max().map(|&t| format_us(t));
    CheckSummary {
        path: path.to_string(),
        valid: problems.is_empty() && !bars.is_empty(),
        rows: bars.len(),
        symbols: per_symbol_count(&rows),
        start,
        end,
        bar: panel.map(|(p, _)| format_spacing(p.bar_us)),
        calendar_bars: panel.map_or(0, |(p, _)| p.n_bars()),
        bars_per_year: panel.map(|(p, _)| p.bars_per_year),
        per_symbol,
        problems: problems
            .list()
            .into_iter()
            .map(|(rule, count, examples)| ProblemSummary {
                rule,
                count,
                examples,
            })
            .collect(),
        notes: Vec::new(),
    }
}

fn per_symbol_count(rows: &[usize]) -> usize {
    rows.iter().filter(|&&r| r > 0).count()
}

impl CheckSummary {
    /// Renders the summary as text for a person.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "dataset   {}", self.path);
        let _ = writeln!(
            s,
            "status    {}",
            if self.valid { "valid" } else { "INVALID" }
        );
        let _ = writeln!(
            s,
            "rows      {}   symbols {}   range {} .. {}",
            self.rows,
            self.symbols,
            self.start.as_deref().unwrap_or("-"),
            self.end.as_deref().unwrap_or("-")
        );
        if let Some(bar) = &self.bar {
            let _ = writeln!(
                s,
                "bars      {} calendar bars of {bar}, {} per year",
                self.calendar_bars,
                self.bars_per_year.map_or("-".into(), |b| format!("{b}"))
            );
        }
        if !self.per_symbol.is_empty() {
            let _ = writeln!(
                s,
                "\n{:<10} {:>8} {:<12} {:<12} {:>6} {:>7} {:>8}  fields",
                "symbol", "rows", "first", "last", "gaps", "filled", "unfilled"
            );
            for p in &self.per_symbol {
                let fields = match (p.ohlc, p.volume) {
                    (true, true) => "ohlcv",
                    (true, false) => "ohlc",
                    (false, true) => "close+volume",
                    (false, false) => "close",
                };
                let _ = writeln!(
                    s,
                    "{:<10} {:>8} {:<12} {:<12} {:>6} {:>7} {:>8}  {fields}",
                    p.symbol, p.rows, p.first, p.last, p.gaps, p.filled, p.unfilled
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nnotes:");
            for n in &self.notes {
                let _ = writeln!(s, "  {n}");
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(s, "\nproblems:");
            for p in &self.problems {
                let _ = writeln!(
                    s,
                    "  {}: {} row(s), first: {}",
                    p.rule,
                    p.count,
                    p.examples.join("; ")
                );
            }
        }
        s
    }
}
