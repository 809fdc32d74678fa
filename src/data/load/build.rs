//! From validated bars to the [`Panel`] a job asks for: symbols, calendar, fields, benchmark.

use std::{borrow::Cow, path::Path};

use super::{Selection, load_bars};
use crate::{
    config::{CalendarMode, DataSpec, SymbolSelection},
    data::{
        Loaded,
        bars::{Bars, Problems},
        panel::Panel,
        time::{format_us, weekday},
    },
    error::DataError,
};

fn filters_text(spec_symbols: &SymbolSelection, start: Option<i64>, end: Option<i64>) -> String {
    let mut f = Vec::new();
    if let SymbolSelection::List(v) = spec_symbols {
        f.push(format!("symbols {}", v.join(",")));
    }
    if let Some(s) = start {
        f.push(format!("start {}", format_us(s)));
    }
    if let Some(e) = end {
        f.push(format!("end {}", format_us(e)));
    }
    if f.is_empty() {
        "none".into()
    } else {
        f.join(", ")
    }
}

/// Checks that the selected symbols all exist; returns an error naming the missing ones.
fn check_symbols(path: &Path, bars: &Bars, symbols: &SymbolSelection) -> Result<(), DataError> {
    if let SymbolSelection::List(v) = symbols {
        let missing: Vec<&str> = v
            .iter()
            .filter(|s| !bars.symbols.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let mut avail: Vec<&str> = bars.symbols.iter().map(String::as_str).take(10).collect();
            if bars.symbols.len() > 10 {
                avail.push("...");
            }
            return Err(DataError::UnknownSymbols {
                path: path.display().to_string(),
                missing: missing.join(", "),
                available: if avail.is_empty() {
                    "no rows in range".into()
                } else {
                    avail.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// Share of a symbol's bars that fall on Saturday or Sunday.
fn weekend_share(bars: &Bars) -> Vec<f64> {
    let n = bars.symbols.len();
    let mut wk = vec![0usize; n];
    let mut all = vec![0usize; n];
    for r in 0..bars.len() {
        let s = bars.symbol[r] as usize;
        all[s] += 1;
        if weekday(bars.timestamp[r]) >= 5 {
            wk[s] += 1;
        }
    }
    (0..n)
        .map(|i| wk[i] as f64 / all[i].max(1) as f64)
        .collect()
}

/// Loads the panel a `[data]` section describes, with its benchmark.
pub fn load_panel(spec: &DataSpec) -> Result<Loaded, DataError> {
    let sel = Selection {
        symbols: &spec.symbols,
        start: spec.start,
        end: spec.end,
        columns: &spec.columns,
    };
    let (bars, problems) = load_bars(&spec.path, &sel, spec.bar)?;
    panel_from_bars(spec, &bars, &problems)
}

/// Builds the panel from bars already read for `spec` (see [`load_panel`]).
pub fn panel_from_bars(
    spec: &DataSpec,
    bars: &Bars,
    problems: &Problems,
) -> Result<Loaded, DataError> {
    let label = spec.path.display().to_string();
    if !problems.is_empty() {
        return Err(DataError::Invalid {
            path: label,
            problems: problems.render(),
        });
    }
    check_symbols(&spec.path, bars, &spec.symbols)?;
    let mut notes = Vec::new();
    let bars = traded_universe(spec, bars, &mut notes);
    if bars.is_empty() {
        return Err(DataError::Empty {
            path: label,
            filters: filters_text(&spec.symbols, spec.start, spec.end),
        });
    }
    let calendar = choose_calendar(spec, &bars, &label, &mut notes)?;
    let rows = bars.len();
    let (mut panel, fills) =
        Panel::from_bars(&bars, calendar, spec.max_fill_days, spec.bars_per_year);
    field_notes(&panel, &mut notes);
    attach_benchmark(spec, &mut panel, &mut notes)?;
    // The callers report these (the runner as structured notes in the log
    // and summary.json, `data check` in its summary): debug here, not twice.
    for n in &notes {
        tracing::debug!("{n}");
    }
    Ok(Loaded {
        panel,
        fills,
        rows,
        notes,
    })
}

/// The bars of the traded symbols, every one with a row.
fn traded_universe<'a>(spec: &DataSpec, bars: &'a Bars, notes: &mut Vec<String>) -> Cow<'a, Bars> {
    // With symbols = "all", a benchmark stored in the traded dataset was read with
    // it: it is the yardstick, not a position (explicit lists are refused at validation).
    let benchmark_in_universe = spec.benchmark.as_ref().filter(|b| {
        spec.symbols == SymbolSelection::All
            && b.path == spec.path
            && bars.symbols.contains(&b.symbol)
    });
    if let Some(b) = benchmark_in_universe {
        let mut c = bars.clone();
        let rows = c.remove_symbol(&b.symbol);
        notes.push(format!(
            "benchmark {} is in the traded dataset and data.symbols = \"all\": not traded ({rows} rows left out of the universe)",
            b.symbol
        ));
        Cow::Owned(c)
    } else if bars.all_symbols_used() {
        Cow::Borrowed(bars)
    } else {
        // Readers intern a symbol only with its first row; copy only if one has none.
        let mut b = bars.clone();
        b.compact_symbols();
        Cow::Owned(b)
    }
}

/// The calendar join: an explicit `data.calendar`, or union unless symbols
/// trade on different calendars (some on weekends, some never), which needs a choice.
fn choose_calendar(
    spec: &DataSpec,
    bars: &Bars,
    label: &str,
    notes: &mut Vec<String>,
) -> Result<CalendarMode, DataError> {
    let shares = weekend_share(bars);
    let seven: Vec<&str> = shares
        .iter()
        .zip(&bars.symbols)
        .filter(|(s, _)| **s > 0.1)
        .map(|(_, n)| n.as_str())
        .collect();
    let five: Vec<&str> = shares
        .iter()
        .zip(&bars.symbols)
        .filter(|(s, _)| **s < 0.01)
        .map(|(_, n)| n.as_str())
        .collect();
    if seven.is_empty() || five.is_empty() {
        return Ok(spec.calendar.unwrap_or(CalendarMode::Union));
    }
    match spec.calendar {
        None => Err(DataError::Calendar {
            message: format!(
                "{label}: symbols trade on different calendars (7-day: {}; weekdays only: {}); set data.calendar = \"union\" or \"intersection\"",
                seven.join(", "),
                five.join(", ")
            ),
        }),
        Some(mode) => {
            let msg = format!(
                "mixing a 7-day calendar ({}) with a weekday one ({}): calendar = {mode:?}",
                seven.join(", "),
                five.join(", ")
            );
            tracing::warn!("{msg}");
            notes.push(msg);
            Ok(mode)
        }
    }
}

/// Notes on symbols without open/high/low or without volume.
fn field_notes(panel: &Panel, notes: &mut Vec<String>) {
    let close_only = panel.fields.iter().filter(|f| !f.has_ohlc).count();
    if close_only > 0 {
        notes.push(format!(
            "{close_only} of {} symbols are close-only: range-based volatility falls back to close-to-close",
            panel.n_assets()
        ));
    }
    let no_volume = panel.fields.iter().filter(|f| !f.has_volume).count();
    if no_volume > 0 {
        notes.push(format!(
            "{no_volume} of {} symbols have no volume: liquidity features and ADV use configured defaults",
            panel.n_assets()
        ));
    }
}

/// Reads `data.benchmark`, when there is one, and aligns it to the panel calendar.
fn attach_benchmark(
    spec: &DataSpec,
    panel: &mut Panel,
    notes: &mut Vec<String>,
) -> Result<(), DataError> {
    let Some(b) = &spec.benchmark else {
        return Ok(());
    };
    let series = load_aligned(spec, &b.path, &b.symbol, &b.columns, panel)?;
    let missing = series.available.iter().filter(|a| !**a).count();
    panel.benchmark = Some(series);
    if missing > 0 {
        notes.push(format!(
            "benchmark {} has no value on {missing} of {} bars",
            b.symbol,
            panel.n_bars()
        ));
    }
    Ok(())
}

/// Reads the closes of `symbol` from the dataset at `path` (with `data`'s
/// date filters and bar size) and aligns them to the panel calendar, forward
/// filled within `data.max_fill_days` (a benchmark or a hedge instrument).
pub fn load_aligned(
    spec: &DataSpec,
    path: &Path,
    symbol: &str,
    columns: &crate::config::ColumnMap,
    panel: &Panel,
) -> Result<crate::data::Benchmark, DataError> {
    let syms = SymbolSelection::List(vec![symbol.to_string()]);
    let sel = Selection {
        symbols: &syms,
        start: spec.start,
        end: spec.end,
        columns,
    };
    let (bars, problems) = load_bars(path, &sel, spec.bar)?;
    if !problems.is_empty() {
        return Err(DataError::Invalid {
            path: path.display().to_string(),
            problems: problems.render(),
        });
    }
    check_symbols(path, &bars, &syms)?;
    Ok(panel.align(symbol, &bars.timestamp, &bars.close, spec.max_fill_days))
}
