//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::{
    data::commands::{CheckArgs, ImportArgs, SynthArgs},
    logging::LogFormat,
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
    Run(RunArgs),
    /// Only the walk-forward validation of a job file.
    Walkforward(WalkforwardArgs),
    /// Only the liquidity-stress Monte Carlo of a job file's portfolio.
    Stress(StressArgs),
    /// List compute adapters and the one `--backend auto` would pick.
    Devices(DevicesArgs),
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
