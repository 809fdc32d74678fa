//! summary.json from the stages' results: the typed structs of
//! [`crate::report::summary`] filled in, and a previous run's book read back.

use std::{collections::BTreeMap, path::Path};

use super::{LoadedJob, StressStage};
use crate::{
    config::walkforward::{ModelKind, REGIME_NAMES},
    data::{Loaded, Panel, time::format_us},
    error::ConfigError,
    metrics,
    report::summary::{
        BackendSummary, CostsSummary, DataSummary, DeploymentBook, ExecutionSummary, HashedFile,
        Importance, ModelSummary, Note, PortfolioSummary, RunInfo, SizingSummary, StageTimes,
        StressResult, StressSummary, SuccessMetrics, Summary, Target, VenueSummary, Versions,
        WalkforwardConfig, WalkforwardSummary,
    },
    stress::{BackendKind, summary::histogram_relative_error},
    walkforward::Walkforward,
};

/// The seed plan's targets (SUCCESS METRICS).
const TARGET_EDGE_PRECISION: f64 = 0.60;
const TARGET_MAX_DRAWDOWN: f64 = 0.15;
const TARGET_ASSETS: f64 = 50.0;
const TARGET_SHARPE_IMPROVEMENT: f64 = 0.25;

/// Non-zero weights of a book by symbol.
pub fn book_weights(symbols: &[String], weights: &[f64]) -> BTreeMap<String, f64> {
    symbols
        .iter()
        .zip(weights)
        .filter(|&(_, &w)| w != 0.0)
        .map(|(s, &w)| (s.clone(), w))
        .collect()
}

/// Reads `deployment_book.weights` of a previous run's summary.json (or the
/// `final_portfolio.weights` of summaries written before the runner).
pub fn read_deployment_book(path: &Path) -> Result<BTreeMap<String, f64>, ConfigError> {
    let key = "stress.portfolio.from_walkforward";
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {shown}: {e}")))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ConfigError::invalid(key, format!("{shown} is not valid JSON: {e}")))?;
    let weights = json
        .pointer("/deployment_book/weights")
        .or_else(|| json.pointer("/final_portfolio/weights"))
        .and_then(|w| w.as_object())
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                format!("{shown} has no deployment_book.weights (not a chloe summary.json of a walk-forward?)"),
            )
        })?;
    weights
        .iter()
        .map(|(s, v)| {
            v.as_f64().map(|w| (s.clone(), w)).ok_or_else(|| {
                ConfigError::invalid(
                    key,
                    format!("{shown}: deployment_book.weights.{s} is not a number"),
                )
            })
        })
        .collect()
}

/// Everything summary.json is built from.
pub struct Parts<'a> {
    pub job: &'a LoadedJob,
    pub data_files: Vec<HashedFile>,
    pub data_sha256: Option<String>,
    pub loaded: Option<&'a Loaded>,
    pub wf: Option<&'a Walkforward>,
    pub stress: Option<&'a StressStage>,
    pub notes: Vec<Note>,
    pub times: StageTimes,
}

fn lower(d: impl std::fmt::Debug) -> String {
    format!("{d:?}").to_lowercase()
}

fn walkforward_summary(p: &Parts<'_>, wf: &Walkforward) -> WalkforwardSummary {
    let spec = &p.job.spec.walkforward;
    let sizing = &p.job.spec.sizing;
    let mut importance: Vec<Importance> = wf
        .columns
        .iter()
        .zip(&wf.importance)
        .map(|(f, &v)| Importance {
            feature: f.clone(),
            importance: v,
        })
        .collect();
    importance.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then(a.feature.cmp(&b.feature))
    });
    let stitched: Vec<f64> = wf
        .folds
        .iter()
        .flat_map(|f| f.returns.iter().copied())
        .collect();
    WalkforwardSummary {
        config: WalkforwardConfig {
            in_sample_days: spec.in_sample,
            out_of_sample_days: spec.out_of_sample,
            step_days: spec.step,
            mode: lower(spec.mode),
            lookahead_days: spec.lookahead,
            purge_days: spec.purge,
            embargo_days: spec.embargo,
            edge_percentile: spec.edge_quantile * 100.0,
            label_scope: lower(spec.label_scope),
            model: match spec.model {
                ModelKind::Logistic { l2 } => ModelSummary::Logistic { l2 },
                ModelKind::Trees { n_trees, max_depth } => {
                    ModelSummary::Trees { n_trees, max_depth }
                }
            },
            regime_method: lower(spec.regime_method),
            regime_states: spec.regime_states,
            n_trials: spec.n_trials,
            trials_sharpe_std: spec.trials_sharpe_std,
            sizing: SizingSummary {
                rule: "kelly_risk".into(),
                min_edge: sizing.min_edge,
                max_position: sizing.max_position,
                cost_bps: sizing.cost_bps,
                max_gross: sizing.max_gross,
                max_net: sizing.max_net,
                kelly_fraction: sizing.kelly_fraction,
                max_positions: sizing.max_positions,
                vol_target: sizing.vol_target,
                brake_start: sizing.brake_start,
                max_drawdown: sizing.max_drawdown,
                reentry: sizing.reentry,
                regime_multipliers: REGIME_NAMES
                    .iter()
                    .zip(sizing.regime_multipliers)
                    .map(|(n, m)| (n.to_string(), m))
                    .collect(),
            },
        },
        aggregate: wf.aggregate.clone(),
        stitched_max_drawdown: (!stitched.is_empty()).then(|| metrics::max_drawdown(&stitched)),
        feature_importance: importance,
        strategy: wf.strategy.clone(),
        portfolio: PortfolioSummary {
            capital: p.job.spec.portfolio.capital,
            adv_window: p.job.spec.portfolio.adv_window,
            default_adv: p.job.spec.portfolio.default_adv,
            delisting_haircut: p.job.spec.portfolio.delisting_haircut,
            fees: wf.replay.costs(),
            final_value: wf.replay.values.last().copied(),
            mode: p.job.spec.portfolio.mode.name().into(),
            covariance: p.job.spec.portfolio.covariance.name().into(),
            covariance_days: p.job.spec.portfolio.covariance_days,
        },
        execution: execution_summary(&p.job.spec.execution),
        costs: costs_summary(&wf.replay, p.job.spec.portfolio.capital),
        strategies: wf.strategies.clone(),
        hedge: wf.replay.hedge.as_ref().map(|h| hedge_summary(h, wf)),
    }
}

fn execution_summary(e: &crate::config::execution::ExecutionSpec) -> ExecutionSummary {
    ExecutionSummary {
        impact_form: e.impact_form.name().into(),
        impact_coefficient: e.impact_coefficient,
        slice_threshold: e.slice_threshold,
        max_participation: e.max_participation,
        default_spread: e.default_spread,
        no_trade_band: e.no_trade_band,
        venues: e
            .venues
            .iter()
            .map(|v| VenueSummary {
                name: v.name.clone(),
                fee_bps: v.fee_bps,
                liquidity_share: v.liquidity_share,
                min_size: v.min_size,
            })
            .collect(),
    }
}

fn costs_summary(r: &crate::walkforward::Replay, capital: f64) -> CostsSummary {
    let x = &r.execution;
    CostsSummary {
        fees: r.fees,
        impact: r.impact_cost,
        spread: r.spread_cost,
        total: r.costs(),
        total_fraction: r.costs() / capital,
        unfilled_orders: x.unfilled_orders,
        unfilled_notional: x.unfilled_notional,
        carried_notional: x.carried_notional,
        open_orders_at_end: x.open_at_end,
        sliced_orders: x.sliced_orders,
        skipped_by_band: x.skipped_by_band,
    }
}

/// Per instrument: betas before and after, share of bars hedged, costs.
fn hedge_summary(
    h: &crate::walkforward::HedgeOutcome,
    wf: &Walkforward,
) -> Vec<crate::report::summary::HedgeSummary> {
    let n_assets = wf.replay.weights.ncols();
    let decision_bars = wf.replay.segment.len();
    (0..h.symbols.len())
        .map(|j| {
            let rows: Vec<_> = h
                .rows
                .iter()
                .filter(|r| r.instrument == j)
                .map(|r| r.exposure)
                .collect();
            let before: Vec<f64> = rows.iter().map(|e| e.beta_before).collect();
            let after: Vec<f64> = rows.iter().map(|e| e.beta_after).collect();
            crate::report::summary::HedgeSummary {
                symbol: h.symbols[j].clone(),
                mean_beta_before: metrics::mean(&before),
                mean_beta_after: metrics::mean(&after),
                last_beta_before: before.last().copied(),
                last_beta_after: after.last().copied(),
                share_hedged: (decision_bars > 0).then(|| {
                    rows.iter().filter(|e| e.weight != 0.0).count() as f64 / decision_bars as f64
                }),
                costs: h.costs[j],
                n_trades: wf
                    .replay
                    .trades
                    .iter()
                    .filter(|t| t.asset == n_assets + j)
                    .count(),
            }
        })
        .collect()
}

fn deployment_book(panel: &Panel, wf: &Walkforward) -> Option<DeploymentBook> {
    let d = wf.deployment.as_ref()?;
    let weights = book_weights(&panel.symbols, &d.weights);
    let ts = |bar: usize| format_us(panel.timestamps[bar]);
    Some(DeploymentBook {
        timestamp: ts(d.fold.test_start),
        regime: d.regime.map_or("none", |r| r.name()).into(),
        train_start: ts(d.fold.train_start),
        train_end: ts(d.fold.train_end),
        fit_end: ts(d.fold.fit_end),
        gross: weights.values().fold(0.0, |g, w| g + w.abs()),
        risk_contributions: d
            .risk_contributions
            .iter()
            .map(|&(i, rc)| (panel.symbols[i].clone(), rc))
            .collect(),
        all_cash: weights.is_empty(),
        weights,
    })
}

fn stress_summary(s: &StressStage) -> StressSummary {
    let r = match s {
        StressStage::Skipped(why) => {
            return StressSummary {
                skipped: Some(why.clone()),
                result: None,
            };
        }
        StressStage::Ran(r) => r,
    };
    let o = &r.outcome;
    let max = |f: fn(&crate::stress::summary::ScenarioSummary) -> f64| {
        o.summaries
            .iter()
            .map(f)
            .filter(|v| v.is_finite())
            .reduce(f64::max)
    };
    StressSummary {
        skipped: None,
        result: Some(StressResult {
            portfolio_source: match &r.spec.portfolio {
                crate::config::stress::PortfolioSource::Weights => "weights".into(),
                crate::config::stress::PortfolioSource::Deployment => "deployment_book".into(),
                crate::config::stress::PortfolioSource::Summary(p) => p.display().to_string(),
            },
            weights: r.spec.weights.clone(),
            paths: r.spec.paths,
            horizon: r.spec.horizon,
            capital: r.spec.capital,
            chunks: o.chunks,
            correlation_model: match r.spec.factors {
                Some(k) => format!("{k}-factor model (top eigenvectors; parametric scenarios)"),
                None => "full Cholesky".into(),
            },
            bands: if o.exact_bands {
                "exact".into()
            } else {
                format!(
                    "histogram, relative error <= {:.2e}",
                    histogram_relative_error()
                )
            },
            scenarios: o.summaries.clone(),
            worst_cvar_99: max(|s| s.cvar_99),
            max_prob_drawdown_breach: max(|s| s.prob_drawdown_breach),
        }),
    }
}

fn success_metrics(p: &Parts<'_>, wf: Option<&WalkforwardSummary>) -> SuccessMetrics {
    let replay_dd = wf.and_then(|w| {
        [w.aggregate.worst_drawdown, w.stitched_max_drawdown]
            .into_iter()
            .flatten()
            .reduce(f64::max)
    });
    let mut stress_dd = BTreeMap::new();
    if let Some(StressStage::Ran(r)) = p.stress {
        for s in &r.outcome.summaries {
            stress_dd.insert(
                s.scenario.clone(),
                Target::at_most(
                    TARGET_MAX_DRAWDOWN,
                    s.mean_max_drawdown
                        .is_finite()
                        .then_some(s.mean_max_drawdown),
                ),
            );
        }
    }
    let assets = p.loaded.map(|l| l.panel.n_assets()).or(match p.stress {
        Some(StressStage::Ran(r)) => Some(r.spec.weights.len()),
        _ => None,
    });
    SuccessMetrics {
        edge_precision: Target::at_least(
            TARGET_EDGE_PRECISION,
            wf.and_then(|w| w.aggregate.edge_precision),
        ),
        max_drawdown_replay: Target::at_most(TARGET_MAX_DRAWDOWN, replay_dd),
        max_drawdown_stress: stress_dd,
        assets_handled: Target::at_least(TARGET_ASSETS, assets.map(|a| a as f64)),
        sharpe_improvement_risk_first: Target::at_least(
            TARGET_SHARPE_IMPROVEMENT,
            wf.and_then(|w| sharpe_improvement(&w.strategies)),
        ),
    }
}

/// Relative Sharpe improvement of `risk_first` over `prediction_first`
/// (`(S_rf - S_pf) / |S_pf|`), when both were replayed and `S_pf != 0`.
pub fn sharpe_improvement(strategies: &[crate::walkforward::StrategyStats]) -> Option<f64> {
    let sharpe = |name: &str| {
        strategies
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.sharpe)
    };
    let (rf, pf) = (sharpe("risk_first")?, sharpe("prediction_first")?);
    (pf != 0.0).then(|| (rf - pf) / pf.abs())
}

/// Builds summary.json.
pub fn build(p: Parts<'_>) -> Summary {
    let spec = &p.job.spec;
    let wf = p.wf.map(|w| walkforward_summary(&p, w));
    let (backend, (adapter, canary, warning), why) = match p.stress {
        Some(StressStage::Ran(r)) => {
            let o = &r.outcome;
            let used = if o.fallback_chunks > 0 {
                format!("{}+cpu", r.kind.as_str())
            } else {
                r.kind.as_str().to_string()
            };
            (
                BackendSummary {
                    kind: r.kind,
                    used,
                    fallback_chunks: o.fallback_chunks,
                    fallback_reason: o.fallback_reason.clone(),
                },
                (r.adapter.clone(), r.canary.clone(), r.warning.clone()),
                Some(r.why.clone()),
            )
        }
        _ => (
            BackendSummary {
                kind: BackendKind::Cpu,
                used: "cpu".into(),
                fallback_chunks: 0,
                fallback_reason: None,
            },
            (None, None, None),
            Some("no stress test in this run; the walk-forward runs on the CPU (rayon)".into()),
        ),
    };
    Summary {
        job: spec.name.clone(),
        versions: Versions {
            chloe: env!("CARGO_PKG_VERSION").into(),
            git_revision: super::provenance::git_revision(),
        },
        inputs: crate::report::summary::Inputs {
            job_file: p.job.file.clone(),
            data_sha256: p.data_sha256.clone(),
            data_files: p.data_files.clone(),
        },
        seed: spec.seed,
        backend,
        data: p.loaded.map(|l| DataSummary {
            bars: l.panel.n_bars(),
            assets: l.panel.n_assets(),
            symbols: l.panel.symbols.clone(),
            first: l.panel.timestamps.first().map(|&t| format_us(t)),
            last: l.panel.timestamps.last().map(|&t| format_us(t)),
            bars_per_year: l.panel.bars_per_year,
            rows: l.rows,
            warmup_bars: p.wf.map(|w| w.warmup),
        }),
        deployment_book: p
            .wf
            .zip(p.loaded)
            .and_then(|(w, l)| deployment_book(&l.panel, w)),
        stress: p.stress.map(stress_summary),
        success_metrics: success_metrics(&p, wf.as_ref()),
        gate: spec
            .gate
            .clone()
            .map(|spec| crate::report::summary::GateSection { spec }),
        walkforward: wf,
        notes: p.notes.clone(),
        mixed_backends: None,
        monitor: None,
        run: RunInfo {
            merged_shards: None,
            wall_times: p.times.clone(),
            threads: rayon::current_num_threads(),
            host: super::provenance::host(),
            adapter,
            backend_why: why,
            backend_warning: warning,
            canary,
        },
    }
}
