//! Walk-forward validation: fold plan, per-fold fit and out-of-sample replay.

use crate::{cli::WalkforwardArgs, error::Exit};

/// `chloe walkforward JOB`.
pub fn command(args: &WalkforwardArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("walkforward is not built yet ({})", args.job.display())
}
