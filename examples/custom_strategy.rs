//! A library user's strategy replayed through chloe's walk-forward, account
//! and reports' numbers: long the assets whose in-sample Sharpe ratio is
//! positive, equal weights, rebalanced monthly; compared with buy-and-hold.
//!
//! Run from the repository root: `cargo run --example custom_strategy`.

use std::path::Path;

use anyhow::Context;
use chloe::{
    config::{JobSpec, strategy::StrategyKind},
    features,
    strategy::{Book, Decision, Fit, FitData, FitReport, Fold, Market, Strategy},
    walkforward::{self, FeatureInput, Settings},
};

/// Long the assets with a positive in-sample Sharpe ratio.
struct InSampleWinners {
    rebalance_every: usize,
    decisions: usize,
}

impl Strategy for InSampleWinners {
    /// Which assets to hold (learnt in-sample).
    type Model = Vec<bool>;

    fn name(&self) -> &str {
        "in_sample_winners"
    }

    fn fit(&self, data: &FitData<'_>, fold: Fold) -> Fit<Vec<bool>> {
        // In-sample only: one-bar returns of the training window.
        let r = data
            .returns
            .slice(ndarray::s![fold.train_start..=fold.train_end, ..]);
        let keep = r
            .columns()
            .into_iter()
            .map(|c| {
                let v: Vec<f64> = c.iter().copied().filter(|x| x.is_finite()).collect();
                chloe::metrics::sharpe(&v, data.bars_per_year).is_some_and(|s| s > 0.0)
            })
            .collect();
        Fit {
            model: keep,
            report: FitReport::default(),
        }
    }

    fn decide(&mut self, keep: &Vec<bool>, market: &Market<'_>, book: &Book) -> Decision {
        let rebalance = self.decisions.is_multiple_of(self.rebalance_every);
        self.decisions += 1;
        if !rebalance {
            return Decision::hold(book);
        }
        let chosen: Vec<usize> = (0..market.n_assets())
            .filter(|&i| keep[i] && market.tradable(i))
            .collect();
        let mut target = vec![0.0; market.n_assets()];
        for &i in &chosen {
            target[i] = 1.0 / chosen.len() as f64;
        }
        Decision {
            target,
            records: Vec::new(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut job = JobSpec::load(Path::new("jobs/nightly.toml")).context("reading the job")?;
    job.strategy.compare = vec![StrategyKind::BuyAndHold];
    let data = job.data.as_ref().context("the job has a [data] section")?;
    let loaded = chloe::data::load_panel(data)?;
    let fs = features::compute(&loaded.panel, &job.features);
    let wf = walkforward::run_strategy(
        InSampleWinners {
            rebalance_every: 21,
            decisions: 0,
        },
        &loaded.panel,
        FeatureInput {
            names: &fs.names,
            values: fs.values.view(),
            warmup: fs.warmup,
        },
        &Settings {
            spec: &job.walkforward,
            sizing: &job.sizing,
            strategy: &job.strategy,
            portfolio: &job.portfolio,
            execution: &job.execution,
            signals: None,
            hedge: None,
        },
        job.seed,
        None,
    )?;
    for s in &wf.strategies {
        println!(
            "{:>18}: Sharpe {:>6.3}, max drawdown {:.3}, turnover {:.4}, costs {:.0}",
            s.name,
            s.sharpe.unwrap_or(f64::NAN),
            s.max_drawdown.unwrap_or(f64::NAN),
            s.turnover.unwrap_or(f64::NAN),
            s.costs
        );
    }
    Ok(())
}
