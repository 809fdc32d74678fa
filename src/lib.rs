//! chloe: risk-first strategy validation and liquidity stress testing.
//!
//! The binary is a thin shell over [`run`]; everything else lives here so
//! tests and benches can use it. See DESIGN.md for the data flow.

pub mod atomic;
pub mod cli;
pub mod config;
pub mod data;
pub mod edge;
pub mod error;
pub mod features;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod progress;
pub mod regime;
pub mod report;
pub mod sizing;
pub mod stress;
pub mod walkforward;

use anyhow::Context;

use crate::{
    cli::{Cli, Command, DataCommand},
    error::Exit,
};

/// Runs one command line and returns the exit code to use.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    logging::init(&cli.global);
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
        Command::Walkforward(args) => walkforward::command(&args),
        Command::Stress(args) => stress::command(&args),
        Command::Devices => stress::devices_command(),
    }
}
