//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Walk-forward validation of the strategy in a job file.
    Walkforward(WalkforwardArgs),
    /// Liquidity-stress Monte Carlo of the portfolio in a job file.
    Stress(StressArgs),
    /// List compute adapters and the one `--backend auto` would pick.
    Devices,
    /// Judge an existing output folder against the release gate (exit 0 pass, 1 fail).
    Gate(Box<GateArgs>),
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

/// `chloe walkforward`
#[derive(Debug, Args)]
pub struct WalkforwardArgs {
    /// Job file (TOML).
    pub job: PathBuf,
    /// Output folder (overrides the job file).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Compute backend for the stress test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// GPU when an adapter is usable, else CPU.
    Auto,
    /// wgpu compute shaders; an error when no adapter is usable.
    Gpu,
    /// rayon on the CPU.
    Cpu,
}

/// `chloe stress`
#[derive(Debug, Args)]
pub struct StressArgs {
    /// Job file (TOML) with a [stress] section.
    pub job: PathBuf,
    /// Paths per scenario (overrides the job file).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Horizon in days (overrides the job file).
    #[arg(long)]
    pub horizon: Option<u32>,
    /// Compute backend.
    #[arg(long, value_enum, env = "CHLOE_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Output folder (overrides the job file).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `chloe gate`
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Output folder of a finished run.
    pub dir: PathBuf,
    /// Job file whose `[gate]` section gives the thresholds (default: `gate.spec` of
    /// the folder's summary.json, when the run wrote one).
    #[arg(long)]
    pub job: Option<PathBuf>,
    /// Gate thresholds (override the job file's).
    #[command(flatten)]
    pub thresholds: GateFlags,
    /// Baseline comparison.
    #[command(flatten)]
    pub baseline: BaselineArgs,
}

impl GateArgs {
    /// The request the gate command runs.
    pub fn request(&self) -> crate::job::gate::GateRequest {
        crate::job::gate::GateRequest {
            dir: self.dir.clone(),
            job: self.job.clone(),
            baseline: self.baseline.baseline.clone(),
            allow_different_data: self.baseline.allow_different_data,
            overrides: (&self.thresholds).into(),
        }
    }
}

/// `--baseline` and its safety switch, shared by `chloe gate` and `chloe run`.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Baseline comparison")]
pub struct BaselineArgs {
    /// A previous run's output folder to compare against (enables the baseline thresholds).
    #[arg(long, value_name = "OUT_DIR")]
    pub baseline: Option<PathBuf>,
    /// Compare with a baseline whose data hash or fold plan differs.
    #[arg(long, requires = "baseline")]
    pub allow_different_data: bool,
}

/// Gate threshold flags; each replaces the job file's `[gate]` value.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Gate thresholds")]
pub struct GateFlags {
    /// Lowest mean fold Sharpe ratio.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_avg_sharpe: Option<f64>,
    /// Lowest stitched out-of-sample Sharpe ratio.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_stitched_sharpe: Option<f64>,
    /// Highest max drawdown, worst fold and stitched replay (fraction).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_drawdown: Option<f64>,
    /// Lowest probabilistic Sharpe ratio.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_psr: Option<f64>,
    /// Lowest deflated Sharpe ratio.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_dsr: Option<f64>,
    /// Lowest edge precision (fraction).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_edge_precision: Option<f64>,
    /// Lowest edge precision minus base rate.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_precision_lift: Option<f64>,
    /// Lowest share of folds with a positive Sharpe ratio.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_consistency: Option<f64>,
    /// Highest stress drawdown-breach probability, worst scenario.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_stress_breach_probability: Option<f64>,
    /// Highest stress 99% VaR, worst scenario (loss fraction).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_stress_var_99: Option<f64>,
    /// Highest stress 99% CVaR, worst scenario (loss fraction).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_stress_cvar_99: Option<f64>,
    /// Most CRITICAL monitor alerts.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_critical_alerts: Option<f64>,
    /// Largest Sharpe drop against --baseline.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_sharpe_drop: Option<f64>,
    /// Largest max-drawdown increase against --baseline.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_drawdown_increase: Option<f64>,
    /// Largest edge-precision drop against --baseline.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub max_precision_drop: Option<f64>,
    /// Lowest share of paired bootstrap resamples where the candidate beats --baseline.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub min_prob_better: Option<f64>,
}

impl From<&GateFlags> for crate::config::gate::GateOverrides {
    fn from(f: &GateFlags) -> Self {
        Self {
            min_avg_sharpe: f.min_avg_sharpe,
            min_stitched_sharpe: f.min_stitched_sharpe,
            max_drawdown: f.max_drawdown,
            min_psr: f.min_psr,
            min_dsr: f.min_dsr,
            min_edge_precision: f.min_edge_precision,
            min_precision_lift: f.min_precision_lift,
            min_consistency: f.min_consistency,
            max_stress_breach_probability: f.max_stress_breach_probability,
            max_stress_var_99: f.max_stress_var_99,
            max_stress_cvar_99: f.max_stress_cvar_99,
            max_critical_alerts: f.max_critical_alerts,
            max_sharpe_drop: f.max_sharpe_drop,
            max_drawdown_increase: f.max_drawdown_increase,
            max_precision_drop: f.max_precision_drop,
            min_prob_better: f.min_prob_better,
        }
    }
}
