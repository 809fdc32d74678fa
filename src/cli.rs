//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::stress::BackendChoice;

/// Risk-first strategy validation and liquidity stress testing.
#[derive(Debug, Parser)]
#[command(name = "chloe", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Worker threads for parallel stages (default: all cores). Results do not depend on it.
    #[arg(long, global = true, env = "CHLOE_THREADS")]
    pub threads: Option<usize>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (warnings and errors only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, import and generate price data.
    #[command(subcommand)]
    Data(Box<DataCommand>),
    /// Run a whole job: walk-forward, stress of the deployment book, reports, exit code.
    Run(RunArgs),
    /// Only the walk-forward validation of a job file.
    Walkforward(WalkforwardArgs),
    /// Only the liquidity-stress Monte Carlo of a job file's portfolio.
    Stress(StressArgs),
    /// List compute adapters and the one `--backend auto` would pick.
    Devices,
}

/// `chloe data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Validate a dataset and print a summary (exit 0 when valid, 2 when not).
    Check(CheckArgs),
    /// Convert CSV price history to chloe's Parquet schema.
    Import(ImportArgs),
    /// Write a synthetic market (factor structure, volatility clustering, regimes, jumps).
    Synth(SynthArgs),
}

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

/// `chloe data import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file with a header row.
    pub input: PathBuf,
    /// Parquet file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Timestamp column in the CSV.
    #[arg(long, default_value = "timestamp")]
    pub timestamp_col: String,
    /// Symbol column in the CSV (omit with --symbol for a single-symbol file).
    #[arg(long, default_value = "symbol")]
    pub symbol_col: String,
    /// Symbol for every row, when the CSV has no symbol column.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Open column.
    #[arg(long, default_value = "open")]
    pub open_col: String,
    /// High column.
    #[arg(long, default_value = "high")]
    pub high_col: String,
    /// Low column.
    #[arg(long, default_value = "low")]
    pub low_col: String,
    /// Close column.
    #[arg(long, default_value = "close")]
    pub close_col: String,
    /// Volume column.
    #[arg(long, default_value = "volume")]
    pub volume_col: String,
    /// Time zone of naive timestamps: UTC or a fixed offset like +08:00.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// strftime format of the timestamp column (default: ISO dates and times).
    #[arg(long)]
    pub format: Option<String>,
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

/// Command-line overrides shared by the job commands.
#[derive(Debug, Args, Clone)]
pub struct JobArgs {
    /// Job file (TOML).
    pub job: PathBuf,
    /// Output folder (overrides the job file); replaced whole when the run succeeds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed (overrides job.seed).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Stress overrides shared by `chloe run` and `chloe stress`.
#[derive(Debug, Args, Clone)]
pub struct StressOverrides {
    /// Paths per scenario (overrides stress.paths).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Horizon in days (overrides stress.horizon).
    #[arg(long)]
    pub horizon: Option<u32>,
    /// Compute backend for the stress test.
    #[arg(long, value_enum, env = "CHLOE_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// `chloe run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job file, output folder, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Stress settings.
    #[command(flatten)]
    pub stress: StressOverrides,
}

/// `chloe walkforward`
#[derive(Debug, Args)]
pub struct WalkforwardArgs {
    /// Job file, output folder, seed.
    #[command(flatten)]
    pub job: JobArgs,
}

/// `chloe stress`
#[derive(Debug, Args)]
pub struct StressArgs {
    /// Job file (with a [stress] section), output folder, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Stress settings.
    #[command(flatten)]
    pub stress: StressOverrides,
}
