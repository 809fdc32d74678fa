//! `chloe data check | import | synth`: their arguments (clap derives them;
//! `cli` re-exports them) and handlers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

pub use super::import::ImportArgs;
use super::{
    load::{Selection, load_bars},
    panel::Panel,
    time::parse_date,
    validate::summarize,
};
use crate::{
    config::{CalendarMode, ColumnMap, DataSpec, JobSpec, SymbolSelection},
    error::{DataError, Exit, UsageError},
};

/// `chloe data check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Parquet file, folder, glob or hive-partitioned folder; or a job file (.toml).
    pub path: PathBuf,
    /// Only these symbols (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Option<Vec<String>>,
    /// First date kept (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub start: Option<String>,
    /// Last date kept, inclusive.
    #[arg(long)]
    pub end: Option<String>,
    /// Resample to this bar size first (1d, 4h, 15m).
    #[arg(long)]
    pub bar: Option<String>,
    /// Longest forward fill of a missing close, in bars.
    #[arg(long, default_value_t = 5)]
    pub max_fill_days: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `chloe data synth`
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of assets.
    #[arg(long, default_value_t = 20)]
    pub assets: usize,
    /// Number of weekday bars.
    #[arg(long, default_value_t = 2520)]
    pub days: usize,
    /// Seed; the same seed gives the same file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// First date.
    #[arg(long, default_value = "2000-01-03")]
    pub start: String,
    /// Parquet file to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Builds the data selection for `data check` from a path or a job file.
fn check_spec(args: &CheckArgs) -> anyhow::Result<DataSpec> {
    let is_job = args.path.extension().is_some_and(|e| e == "toml");
    let mut spec = if is_job {
        let job = JobSpec::load(&args.path)?;
        job.data.ok_or_else(|| {
            UsageError(format!(
                "{}: the job file has no [data] section",
                args.path.display()
            ))
        })?
    } else {
        DataSpec {
            path: args.path.clone(),
            symbols: SymbolSelection::All,
            start: None,
            end: None,
            bar: None,
            columns: ColumnMap::default(),
            max_fill_days: args.max_fill_days,
            bars_per_year: None,
            calendar: None,
            benchmark: None,
        }
    };
    let usage = |k: &str, m: String| UsageError(format!("--{k}: {m}"));
    if let Some(s) = &args.symbols {
        spec.symbols = SymbolSelection::List(s.clone());
    }
    if let Some(s) = &args.start {
        spec.start = Some(parse_date(s, false).map_err(|m| usage("start", m))?);
    }
    if let Some(e) = &args.end {
        spec.end = Some(parse_date(e, true).map_err(|m| usage("end", m))?);
    }
    if let Some(b) = &args.bar {
        spec.bar = Some(super::time::parse_duration(b).map_err(|m| usage("bar", m))?);
    }
    Ok(spec)
}

/// `chloe data check`: validates and prints a summary; exit 2 when invalid.
pub fn check(args: &CheckArgs) -> anyhow::Result<Exit> {
    let spec = check_spec(args)?;
    let sel = Selection {
        symbols: &spec.symbols,
        start: spec.start,
        end: spec.end,
        columns: &spec.columns,
    };
    let label = spec.path.display().to_string();
    let (bars, problems) = load_bars(&spec.path, &sel, spec.bar)?;
    // The full build also checks symbols, calendars and the benchmark.
    let full = (problems.is_empty() && !bars.is_empty())
        .then(|| super::load::panel_from_bars(&spec, &bars, &problems));
    // When the full build fails (calendars, symbols), still show gaps per symbol.
    let fallback = match &full {
        Some(Err(_)) => Some(Panel::from_bars(
            &bars,
            CalendarMode::Union,
            spec.max_fill_days,
            spec.bars_per_year,
        )),
        _ => None,
    };
    let view = match (&full, &fallback) {
        (Some(Ok(l)), _) => Some((&l.panel, &l.fills)),
        (_, Some((p, f))) => Some((p, f)),
        _ => None,
    };
    let mut summary = summarize(&label, &bars, &problems, view);
    match &full {
        Some(Ok(l)) => summary.notes = l.notes.clone(),
        Some(Err(e)) => {
            summary.valid = false;
            summary.notes.push(e.to_string());
        }
        None => {}
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.render_text());
    }
    if !problems.is_empty() {
        return Err(DataError::Invalid {
            path: label,
            problems: problems.render(),
        }
        .into());
    }
    if bars.is_empty() {
        return Err(DataError::Empty {
            path: label,
            filters: "as given".into(),
        }
        .into());
    }
    if let Some(Err(e)) = full {
        return Err(e.into());
    }
    Ok(Exit::Ok)
}

/// `chloe data import`: CSV to chloe's Parquet schema.
pub fn import(args: &ImportArgs) -> anyhow::Result<Exit> {
    let n = super::import::import_csv(args)?;
    tracing::info!("wrote {} rows to {}", n, args.output.display());
    Ok(Exit::Ok)
}

/// `chloe data synth`: writes a synthetic market.
pub fn synth(args: &SynthArgs) -> anyhow::Result<Exit> {
    if args.assets == 0 || args.days < 2 {
        return Err(UsageError("--assets must be >= 1 and --days >= 2".into()).into());
    }
    let start = parse_date(&args.start, false).map_err(|m| UsageError(format!("--start: {m}")))?;
    let params = super::synth::SynthParams {
        assets: args.assets,
        days: args.days,
        seed: args.seed,
        start,
    };
    let t = std::time::Instant::now();
    let batch = super::synth::generate(&params);
    super::synth::write(Path::new(&args.output), &batch)
        .with_context(|| format!("writing {}", args.output.display()))?;
    tracing::info!(
        "wrote {} assets x {} days to {} in {:.2}s",
        args.assets,
        args.days,
        args.output.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(Exit::Ok)
}
