//! `summary.json` as typed structs, serialized with serde.
//!
//! Everything but [`Summary::run`] is a function of the job file, the data,
//! the seed and the backend kind; `run` holds what differs between two runs of
//! the same job (wall times, threads, host, adapter, the backend's "why").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    stress::{BackendKind, summary::ScenarioSummary},
    walkforward::Aggregate,
};

/// The whole summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Job name.
    pub job: String,
    /// chloe version and the git revision of the build, when known.
    pub versions: Versions,
    /// Job file and input data files with their SHA-256.
    pub inputs: Inputs,
    /// The run's seed.
    pub seed: u64,
    /// Stress backend kind and what ran (cpu when the run did no stress).
    pub backend: BackendSummary,
    /// The panel, when the run read data.
    pub data: Option<DataSummary>,
    /// Walk-forward results, when the stage ran.
    pub walkforward: Option<WalkforwardSummary>,
    /// The strategy's book after the last bar, when the walk-forward ran.
    pub deployment_book: Option<DeploymentBook>,
    /// Stress results, or why the stage was skipped; null when the job has no `[stress]`.
    pub stress: Option<StressSummary>,
    /// Every fallback the run used, with counts and symbols.
    pub notes: Vec<Note>,
    /// The seed plan's targets beside the measured values.
    pub success_metrics: SuccessMetrics,
    /// The release gate's thresholds as the run applied them (`chloe gate`
    /// reuses them); the verdict is in gate.json.
    pub gate: Option<GateSection>,
    /// Stress units of different backend kinds merged with
    /// `chloe merge --allow-mixed-backends` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixed_backends: Option<MixedBackends>,
    /// The risk monitor's alert counts and rules.
    pub monitor: Option<MonitorSection>,
    /// What differs between runs of the same job.
    pub run: RunInfo,
}

/// Which backend kinds computed a merged run's stress units.
#[derive(Debug, Clone, Serialize)]
pub struct MixedBackends {
    /// Stress units per backend kind.
    pub units: std::collections::BTreeMap<String, usize>,
    /// What it means for the numbers.
    pub note: String,
}

/// summary.json `monitor`: alert counts per severity and per rule, and the rules applied.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorSection {
    /// Alerts per severity (`CRITICAL`, `WARNING`).
    pub alerts: std::collections::BTreeMap<&'static str, usize>,
    /// Alerts per rule.
    pub by_rule: std::collections::BTreeMap<&'static str, usize>,
    /// The validated `[monitor]` rules.
    pub rules: crate::config::monitor::MonitorSpec,
}

/// The gate settings of a run.
#[derive(Debug, Clone, Serialize)]
pub struct GateSection {
    /// The validated `[gate]` thresholds, command-line flags applied.
    pub spec: crate::config::gate::GateSpec,
}

/// Versions of what produced the reports.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// `CARGO_PKG_VERSION`.
    pub chloe: String,
    /// Git revision the binary was built from, when the build knew it.
    pub git_revision: Option<String>,
}

/// One hashed input file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HashedFile {
    /// Path as read.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

/// The run's inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// The job file.
    pub job_file: HashedFile,
    /// SHA-256 over the data files' hashes in path order; null without data.
    pub data_sha256: Option<String>,
    /// Every input data file, sorted by path.
    pub data_files: Vec<HashedFile>,
}

/// Which backend computed the stress paths.
#[derive(Debug, Clone, Serialize)]
pub struct BackendSummary {
    /// `cpu` or `gpu`: the primary backend's kind.
    pub kind: BackendKind,
    /// Backends that ran chunks (`cpu`, `gpu`, `gpu+cpu`).
    pub used: String,
    /// Chunks the primary backend failed and the CPU re-ran.
    pub fallback_chunks: u64,
    /// First device error, when a fallback happened.
    pub fallback_reason: Option<String>,
}

/// The panel the run used.
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    /// Bars in the calendar.
    pub bars: usize,
    /// Symbols.
    pub assets: usize,
    /// Symbol names in panel order.
    pub symbols: Vec<String>,
    /// First bar.
    pub first: Option<String>,
    /// Last bar.
    pub last: Option<String>,
    /// Bars per year used to annualize.
    pub bars_per_year: f64,
    /// Source rows read after filters.
    pub rows: usize,
    /// Bars skipped for feature warm-up (walk-forward runs only).
    pub warmup_bars: Option<usize>,
}

/// Walk-forward section.
#[derive(Debug, Clone, Serialize)]
pub struct WalkforwardSummary {
    /// Settings the replay ran with.
    pub config: WalkforwardConfig,
    /// Aggregate statistics over folds and the stitched series.
    pub aggregate: Aggregate,
    /// Maximum drawdown of the stitched out-of-sample equity.
    pub stitched_max_drawdown: Option<f64>,
    /// Mean feature importance over folds, largest first.
    pub feature_importance: Vec<Importance>,
    /// The replayed strategy (`[strategy] kind`).
    pub strategy: String,
    /// The account the replay traded.
    pub portfolio: PortfolioSummary,
    /// The execution simulator's settings (`[execution]`).
    pub execution: ExecutionSummary,
    /// What the replayed strategy's orders cost, every part from trades.parquet.
    pub costs: CostsSummary,
    /// The replayed strategy's numbers, then each compared strategy's, on the
    /// same folds, data and costs.
    pub strategies: Vec<crate::walkforward::StrategyStats>,
    /// Per hedge instrument, what the dynamic hedge did (null without `[hedge]`).
    pub hedge: Option<Vec<HedgeSummary>>,
}

/// One hedge instrument over the replay (summary.json `walkforward.hedge`).
#[derive(Debug, Clone, Serialize)]
pub struct HedgeSummary {
    /// The instrument's symbol.
    pub symbol: String,
    /// Mean beta of the book to the instrument before hedging, over decision bars.
    pub mean_beta_before: Option<f64>,
    /// Mean beta of the hedged book.
    pub mean_beta_after: Option<f64>,
    /// Beta before hedging at the last decision bar.
    pub last_beta_before: Option<f64>,
    /// Beta after hedging at the last decision bar.
    pub last_beta_after: Option<f64>,
    /// Share of out-of-sample decision bars with a non-zero hedge target.
    pub share_hedged: Option<f64>,
    /// Fees paid on the instrument's trades (currency).
    pub costs: f64,
    /// Trades in the instrument.
    pub n_trades: usize,
}

/// `[portfolio]` as run.
#[derive(Debug, Clone, Serialize)]
pub struct PortfolioSummary {
    /// Starting capital, in the data's currency.
    pub capital: f64,
    /// Bars behind the causal ADV.
    pub adv_window: usize,
    /// ADV (currency) of symbols without volume.
    pub default_adv: f64,
    /// Fraction lost when a held symbol stops trading.
    pub delisting_haircut: f64,
    /// Execution costs paid by the replayed strategy (currency; the parts are in `costs`).
    pub fees: f64,
    /// Account value after the last out-of-sample bar (currency).
    pub final_value: Option<f64>,
    /// How the risk engine's exposure was distributed (`risk_parity`, `kelly`, `equal`).
    pub mode: String,
    /// Bars behind the risk-parity covariance (`window` or `regime`).
    pub covariance: String,
    /// Bars in the covariance window.
    pub covariance_days: usize,
}

/// `[execution]` as run.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionSummary {
    /// `sigma_sqrt` or `seed`.
    pub impact_form: String,
    /// k of the square-root law.
    pub impact_coefficient: f64,
    /// Estimated impact above which an order is sliced.
    pub slice_threshold: f64,
    /// Child-order cap of a sliced order, fraction of ADV per bar.
    pub max_participation: f64,
    /// Full spread without a high-low estimate.
    pub default_spread: f64,
    /// Whether the no-trade band was on.
    pub no_trade_band: bool,
    /// Venues (the default `close` venue charges `sizing.cost_bps`).
    pub venues: Vec<VenueSummary>,
}

/// One venue as run.
#[derive(Debug, Clone, Serialize)]
pub struct VenueSummary {
    /// Name.
    pub name: String,
    /// Fee, basis points.
    pub fee_bps: f64,
    /// Share of the market's volume (null: unlimited, the default venue).
    pub liquidity_share: Option<f64>,
    /// Smallest fill, currency.
    pub min_size: f64,
}

/// The replayed strategy's execution costs (currency unless said).
#[derive(Debug, Clone, Serialize)]
pub struct CostsSummary {
    /// Venue fees.
    pub fees: f64,
    /// Market impact.
    pub impact: f64,
    /// Half spreads.
    pub spread: f64,
    /// Fees, impact and spread.
    pub total: f64,
    /// `total` over the starting capital.
    pub total_fraction: f64,
    /// Orders that ended before their goal.
    pub unfilled_orders: usize,
    /// Their remainders, at the price when each ended.
    pub unfilled_notional: f64,
    /// Remainders carried to a next bar, summed over bars.
    pub carried_notional: f64,
    /// Orders still open after the last bar.
    pub open_orders_at_end: usize,
    /// Orders sent as slices.
    pub sliced_orders: usize,
    /// (bar, symbol) increases skipped by the no-trade band.
    pub skipped_by_band: usize,
}

/// Walk-forward settings as reported.
#[derive(Debug, Clone, Serialize)]
pub struct WalkforwardConfig {
    /// Training window, bars.
    pub in_sample_days: usize,
    /// Test window, bars.
    pub out_of_sample_days: usize,
    /// Bars between fold starts.
    pub step_days: usize,
    /// `rolling` or `anchored`.
    pub mode: String,
    /// Label horizon, bars.
    pub lookahead_days: usize,
    /// Training samples dropped at the end of the training window.
    pub purge_days: usize,
    /// Bars between training and test windows.
    pub embargo_days: usize,
    /// Label percentile, 0-100.
    pub edge_percentile: f64,
    /// `asset` or `pooled`.
    pub label_scope: String,
    /// Edge classifier.
    pub model: ModelSummary,
    /// `gmm` or `threshold`.
    pub regime_method: String,
    /// Regime count.
    pub regime_states: usize,
    /// Configurations tried, for the deflated Sharpe ratio.
    pub n_trials: usize,
    /// Std of their annualized Sharpe ratios.
    pub trials_sharpe_std: f64,
    /// Sizing of the replay.
    pub sizing: SizingSummary,
}

/// Edge classifier settings.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelSummary {
    /// Logistic regression.
    Logistic {
        /// L2 penalty.
        l2: f64,
    },
    /// Bagged trees.
    Trees {
        /// Trees.
        n_trees: usize,
        /// Depth.
        max_depth: usize,
    },
}

/// Sizing settings.
#[derive(Debug, Clone, Serialize)]
pub struct SizingSummary {
    /// `kelly_risk` (the risk engine of `risk_first` and of `signals` edge
    /// probabilities); other strategies do not size with it.
    pub rule: String,
    /// Smallest edge probability that trades.
    pub min_edge: f64,
    /// Largest weight per asset.
    pub max_position: f64,
    /// Fee of the default `close` venue, basis points (unused with `[[execution.venues]]`).
    pub cost_bps: f64,
    /// Largest gross weight.
    pub max_gross: f64,
    /// Largest net exposure.
    pub max_net: f64,
    /// Share of the full Kelly fraction.
    pub kelly_fraction: f64,
    /// Largest number of positions.
    pub max_positions: usize,
    /// Annualized volatility target (0 is off).
    pub vol_target: f64,
    /// Drawdown where the brake starts.
    pub brake_start: f64,
    /// Drawdown where exposure reaches 0.
    pub max_drawdown: f64,
    /// Recovery of the unbraked book that re-opens a tripped brake.
    pub reentry: f64,
    /// Regime multipliers.
    pub regime_multipliers: BTreeMap<String, f64>,
}

/// One feature's importance.
#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    /// Column name.
    pub feature: String,
    /// Mean importance over folds.
    pub importance: f64,
}

/// The strategy's book after the last bar of data.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentBook {
    /// The decision bar (the last bar of data).
    pub timestamp: String,
    /// Regime at that bar.
    pub regime: String,
    /// First bar of the training window.
    pub train_start: String,
    /// Last bar of the training window.
    pub train_end: String,
    /// Last bar whose sample (features and known label) was fitted.
    pub fit_end: String,
    /// Non-zero weights by symbol (fraction of equity); the rest is cash.
    pub weights: BTreeMap<String, f64>,
    /// Share of the book's variance per held symbol (sums to 1), under the
    /// Ledoit-Wolf covariance of the last `portfolio.covariance_days` bars.
    pub risk_contributions: BTreeMap<String, f64>,
    /// Sum of |weights|.
    pub gross: f64,
    /// Whether the book holds nothing.
    pub all_cash: bool,
}

/// Stress section: results, or why the stage was skipped.
#[derive(Debug, Clone, Serialize)]
pub struct StressSummary {
    /// Why the stage did not run (e.g. the deployment book is all cash);
    /// absent when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Results, when it ran.
    #[serde(flatten)]
    pub result: Option<StressResult>,
}

/// What a stress run produced.
#[derive(Debug, Clone, Serialize)]
pub struct StressResult {
    /// Where the book came from: `weights`, `deployment_book` or a summary.json path.
    pub portfolio_source: String,
    /// The stressed weights by symbol.
    pub weights: BTreeMap<String, f64>,
    /// Paths per scenario.
    pub paths: u64,
    /// Days per path.
    pub horizon: u32,
    /// Starting value.
    pub capital: f64,
    /// Chunks run.
    pub chunks: u64,
    /// Full Cholesky or a k-factor model.
    pub correlation_model: String,
    /// Exact percentiles or histogram bands.
    pub bands: String,
    /// One summary per scenario (the `stress_summary.parquet` rows).
    pub scenarios: Vec<ScenarioSummary>,
    /// Largest 99% CVaR over scenarios.
    pub worst_cvar_99: Option<f64>,
    /// Largest drawdown-breach probability over scenarios.
    pub max_prob_drawdown_breach: Option<f64>,
}

/// A fallback or data fix-up the run used.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Note {
    /// Stable identifier (`close_only`, `no_volume`, `no_benchmark`, ...).
    pub kind: String,
    /// Where: `data`, `features`, `walkforward`, `fold 3`, `deployment`, `stress`.
    pub scope: String,
    /// What happened and what chloe did instead.
    pub message: String,
    /// How many (symbols, bars or rows: see `message`).
    pub count: usize,
    /// Symbols concerned, when it is about symbols.
    pub symbols: Vec<String>,
}

/// A target of the seed plan beside the measured value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    /// The plan's value.
    pub target: f64,
    /// `>=` or `<=`: how `measured` must compare with `target`.
    pub comparison: &'static str,
    /// Measured value; null when not measured by this run.
    pub measured: Option<f64>,
    /// Whether the target is met; null when not measured.
    pub met: Option<bool>,
}

impl Target {
    /// `measured >= target`.
    pub fn at_least(target: f64, measured: Option<f64>) -> Self {
        Self {
            target,
            comparison: ">=",
            measured,
            met: measured.map(|m| m >= target),
        }
    }

    /// `measured <= target`.
    pub fn at_most(target: f64, measured: Option<f64>) -> Self {
        Self {
            target,
            comparison: "<=",
            measured,
            met: measured.map(|m| m <= target),
        }
    }
}

/// The seed plan's success metrics.
#[derive(Debug, Clone, Serialize)]
pub struct SuccessMetrics {
    /// Edge precision of the out-of-sample predictions, target 0.60.
    pub edge_precision: Target,
    /// Largest drawdown of the replay (worst fold and stitched), target 0.15.
    pub max_drawdown_replay: Target,
    /// Mean path maximum drawdown per stress scenario, target 0.15 in every one.
    pub max_drawdown_stress: BTreeMap<String, Target>,
    /// Assets in the run's panel (or stressed book), target 50.
    pub assets_handled: Target,
    /// Sharpe improvement of the risk-first layer over the prediction-first
    /// baseline, target +25%; filled by the risk-first work.
    pub sharpe_improvement_risk_first: Target,
}

/// Wall times per stage, seconds; null for stages that did not run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// Reading and validating the job file.
    pub job_s: f64,
    /// Hashing the job and data files.
    pub hash_s: f64,
    /// Loading and validating the data.
    pub load_s: Option<f64>,
    /// Computing features.
    pub features_s: Option<f64>,
    /// Folds and the deployment fold.
    pub walkforward_s: Option<f64>,
    /// Market estimate and scenario preparation.
    pub stress_plan_s: Option<f64>,
    /// Simulating paths (streaming their Parquet file).
    pub stress_s: Option<f64>,
    /// Writing the other reports.
    pub report_s: f64,
    /// The risk monitor's checks and its Parquet reports.
    pub monitor_s: Option<f64>,
    /// Building report.html.
    pub html_s: Option<f64>,
    /// The whole run.
    pub total_s: f64,
}

/// The part of summary.json that differs between runs of the same job.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Shards a merged run's units came from (absent for a single run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<u32>,
    /// Wall times.
    pub wall_times: StageTimes,
    /// Worker threads.
    pub threads: usize,
    /// Host name, when known.
    pub host: Option<String>,
    /// GPU adapter, when the stress ran on one.
    pub adapter: Option<String>,
    /// Why this stress backend was picked.
    pub backend_why: Option<String>,
    /// A warning about the backend: a GPU the CPU-vs-GPU canary refused.
    pub backend_warning: Option<String>,
    /// The canary's figures (per scenario differences, wall time), when it ran.
    pub canary: Option<crate::stress::canary::CanaryReport>,
}
