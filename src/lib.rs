//! chloe: risk-first strategy validation and liquidity stress testing.
//!
//! The binary is a thin shell over [`run`]; everything else lives here so
//! tests and benches can use it. See DESIGN.md for the data flow.

pub mod atomic;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod data;
pub mod edge;
pub mod error;
pub mod features;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod progress;
pub mod regime;
pub mod report;
pub mod splitmix;
pub mod strategy;
pub mod stress;
pub mod walkforward;

use anyhow::Context;

use crate::{
    cli::{Cli, Command, DataCommand},
    error::Exit,
};

/// Runs one command line and returns the exit code to use.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    logging::init(cli.global.log_format, cli.global.verbose, cli.global.quiet);
    if let Some(n) = cli.global.threads {
        if n == 0 {
            return Err(error::UsageError("--threads must be at least 1".into()).into());
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("starting the worker thread pool")?;
    }
    match cli.command {
        Command::Gate(args) => job::gate::command(&args.request()),
        Command::Data(d) => match *d {
            DataCommand::Check(args) => data::commands::check(&args),
            DataCommand::Import(args) => data::commands::import(&args),
            DataCommand::Synth(args) => data::commands::synth(&args),
        },
        Command::Run(args) => job::run_command(
            &job_options(
                &args.job,
                Some(&args.stress),
                Some((&args.gate, &args.baseline)),
            ),
            args.shard,
            args.shards,
        ),
        Command::Merge(a) => cluster::merge::command(&a.dir, a.allow_mixed_backends),
        Command::Plan(a) => cluster::merge::plan_command(
            &job_options(&a.job, Some(&a.stress), None),
            a.shards,
            a.json,
        ),
        Command::Walkforward(args) => job::command(
            &job_options(&args.job, None, None),
            job::Stages::Walkforward,
        ),
        Command::Stress(args) => job::command(
            &job_options(&args.job, Some(&args.stress), None),
            job::Stages::Stress,
        ),
        Command::Devices(a) => stress::devices_command(a.check),
        Command::Optimize(a) => strategy::optimize::command(&a),
        Command::Report(a) => report::html::command(&a.out_dir),
    }
}

/// The runner's options from the job commands' flags.
fn job_options(
    j: &cli::JobArgs,
    s: Option<&cli::StressOverrides>,
    g: Option<(&cli::GateFlags, &cli::BaselineArgs)>,
) -> job::Options {
    job::Options {
        job: j.job.clone(),
        out: j.out.clone(),
        overrides: config::Overrides {
            seed: j.seed,
            paths: s.and_then(|s| s.paths),
            horizon: s.and_then(|s| s.horizon),
            gate: g.map(|(f, _)| f.into()).unwrap_or_default(),
        },
        backend: s.map_or(stress::BackendChoice::Auto, |s| s.backend),
        baseline: g.and_then(|(_, b)| b.baseline.clone()),
        allow_different_data: g.is_some_and(|(_, b)| b.allow_different_data),
    }
}
