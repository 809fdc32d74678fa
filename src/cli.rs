//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::{
    data::commands::{CheckArgs, ImportArgs, SynthArgs},
    logging::LogFormat,
    strategy::optimize::OptimizeArgs,
    stress::BackendChoice,
};

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

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, import and generate price data.
    #[command(subcommand)]
    Data(Box<DataCommand>),
    /// Run a whole job: walk-forward, stress of the deployment book, reports, exit code.
    Run(Box<RunArgs>),
    /// Only the walk-forward validation of a job file.
    Walkforward(WalkforwardArgs),
    /// Only the liquidity-stress Monte Carlo of a job file's portfolio.
    Stress(StressArgs),
    /// List compute adapters and the one `--backend auto` would pick.
    Devices(DevicesArgs),
    /// Judge an existing output folder against the release gate (exit 0 pass, 1 fail).
    Gate(Box<GateArgs>),
    /// Risk-parity or minimum-variance weights of the symbols in a price file.
    Optimize(OptimizeArgs),
    /// Join the shards of a cluster run in DIR into the reports (exit: the gate's code).
    Merge(MergeArgs),
    /// Show how a job is cut into units and assigned to N shards.
    Plan(Box<PlanArgs>),
    /// Rebuild report.html from a finished run's output folder (its Parquet reports and summary.json).
    Report(ReportArgs),
}

/// `chloe report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run's output folder.
    pub out_dir: PathBuf,
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
    /// Release gate thresholds (override the job file's `[gate]`).
    #[command(flatten)]
    pub gate: GateFlags,
    /// The model in production to compare with.
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// Run shard I of N (0-based): only the units the plan assigns to it,
    /// written under OUT/shards/; `chloe merge OUT` writes the reports.
    /// Without it, SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm job
    /// arrays) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) choose the shard.
    #[arg(long, value_name = "I/N", help_heading = "Cluster")]
    pub shard: Option<crate::cluster::Shard>,
    /// Shard count with JOB_COMPLETION_INDEX (overrides the job's `[cluster] shards`).
    #[arg(long, value_name = "N", help_heading = "Cluster")]
    pub shards: Option<u32>,
}

/// `chloe merge`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output folder the shards wrote (holds shards/).
    pub dir: PathBuf,
    /// Merge stress units computed on different backends (CPU and GPU agree
    /// within tolerance, not bit for bit); recorded in summary.json.
    #[arg(long)]
    pub allow_mixed_backends: bool,
}

/// `chloe plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Job file, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Stress settings.
    #[command(flatten)]
    pub stress: StressOverrides,
    /// Number of shards to assign the units to.
    #[arg(long, default_value_t = 1)]
    pub shards: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `chloe devices`
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Run the CPU-vs-GPU canary on every adapter and print pass or fail
    /// with the figures (exit 1 when any adapter fails).
    #[arg(long)]
    pub check: bool,
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
