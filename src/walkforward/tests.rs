//! Engine tests on small hand-built panels: planted edge, noise, no look-ahead,
//! thread-count determinism.

use ndarray::{Array2, Array3};
use rand::Rng;
use rand_xoshiro::{Xoshiro256Plus, rand_core::SeedableRng};

use super::*;
use crate::{
    config::walkforward::{RawWalkforward, SizingSpec},
    data::{Panel, SymbolFields, time::DAY_US},
    features::{self, FeatureSpec},
};

/// The walk-forward with a flat fee of `sizing.cost_bps` (no impact, spread
/// or band): these tests are about folds and models; the execution simulator
/// has its own (`strategy::execution`, `replay_tests`).
fn run(
    panel: &Panel,
    features: FeatureInput<'_>,
    spec: &WalkforwardSpec,
    sizing: &SizingSpec,
    seed: u64,
    progress: Option<&Progress>,
) -> anyhow::Result<Walkforward> {
    let (strategy, portfolio) = (StrategySpec::default(), PortfolioSpec::default());
    let execution = ExecutionSpec::flat(sizing.cost_bps);
    run_with(
        panel,
        features,
        &Settings {
            spec,
            sizing,
            strategy: &strategy,
            portfolio: &portfolio,
            execution: &execution,
            signals: None,
            hedge: None,
        },
        seed,
        progress,
    )
}

fn normal(rng: &mut Xoshiro256Plus) -> f64 {
    let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A close-only panel from per-bar returns `[bars, assets]`.
fn panel_from_returns(ret: &Array2<f64>) -> Panel {
    let (n, m) = ret.dim();
    let mut close = Array2::zeros((n, m));
    for i in 0..m {
        let mut c = 100.0;
        for t in 0..n {
            if t > 0 {
                c *= 1.0 + ret[[t, i]];
            }
            close[[t, i]] = c;
        }
    }
    let nan = Array2::from_elem((n, m), f64::NAN);
    Panel {
        timestamps: (0..n as i64)
            .map(|t| 946_684_800_000_000 + t * DAY_US)
            .collect(),
        symbols: (0..m).map(|i| format!("S{i:02}")).collect(),
        open: nan.clone(),
        high: nan.clone(),
        low: nan.clone(),
        close,
        volume: nan,
        available: Array2::from_elem((n, m), true),
        filled: Array2::from_elem((n, m), false),
        fields: vec![
            SymbolFields {
                has_ohlc: false,
                has_volume: false
            };
            m
        ],
        benchmark: None,
        bars_per_year: 252.0,
        bar_us: DAY_US,
    }
}

/// Returns with a signal: `r[t+1, i] = 0.01 e + k s[t, i]`; feature 0 is `s`,
/// feature 1 is unrelated noise.
pub(super) fn planted(n: usize, m: usize, k: f64, seed: u64) -> (Panel, Array3<f64>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let s = Array2::from_shape_fn((n, m), |_| normal(&mut rng));
    let mut ret = Array2::zeros((n, m));
    for t in 1..n {
        for i in 0..m {
            ret[[t, i]] = 0.01 * normal(&mut rng) + k * s[[t - 1, i]];
        }
    }
    let feats = Array3::from_shape_fn((n, m, 2), |(t, i, f)| {
        if f == 0 {
            s[[t, i]]
        } else {
            ((t * 31 + i * 17) % 97) as f64 / 97.0
        }
    });
    (panel_from_returns(&ret), feats)
}

pub(super) fn small_spec() -> WalkforwardSpec {
    toml::from_str::<RawWalkforward>(
        "in_sample_days = 120\nout_of_sample_days = 40\nlookahead_days = 1\nbootstrap_resamples = 50",
    )
    .unwrap()
    .validate()
    .unwrap()
}

fn run_planted(k: f64, seed: u64) -> Walkforward {
    let (panel, feats) = planted(600, 12, k, seed);
    let names = vec!["signal".to_string(), "noise".to_string()];
    let input = FeatureInput {
        names: &names,
        values: feats.view(),
        warmup: 1,
    };
    run(
        &panel,
        input,
        &small_spec(),
        &SizingSpec::default(),
        3,
        None,
    )
    .unwrap()
}

#[test]
fn recovers_a_planted_edge() {
    let wf = run_planted(0.004, 1);
    let a = &wf.aggregate;
    assert!(a.n_folds >= 10, "{a:?}");
    let (prec, base) = (a.edge_precision.unwrap(), a.base_rate.unwrap());
    assert!((base - 0.4).abs() < 0.05, "{a:?}");
    assert!(prec > base + 0.2, "precision {prec} vs base rate {base}");
    assert!(a.avg_sharpe.unwrap() > 1.0, "{a:?}");
    // The signal column matters far more than the noise column.
    assert!(
        wf.importance[0] > 5.0 * wf.importance[1],
        "{:?}",
        wf.importance
    );
    assert_eq!(wf.columns[..2], ["signal".to_string(), "noise".to_string()]);
}

/// Area under the ROC curve of out-of-sample probabilities against labels
/// (Mann-Whitney: the chance a random edge outranks a random non-edge, ties half).
fn auc(wf: &Walkforward) -> (f64, usize) {
    let mut scored: Vec<(f64, bool)> = wf
        .folds
        .iter()
        .flat_map(|f| &f.predictions)
        .filter_map(|p| p.label.map(|y| (p.edge_probability, y)))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut n_pos, mut i) = (0.0, 0usize, 0);
    while i < scored.len() {
        let j = (i..scored.len())
            .find(|&j| scored[j].0 != scored[i].0)
            .unwrap_or(scored.len());
        let mid = (i + j + 1) as f64 / 2.0;
        for s in &scored[i..j] {
            if s.1 {
                rank_sum += mid;
                n_pos += 1;
            }
        }
        i = j;
    }
    let n_neg = scored.len() - n_pos;
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    (u / (n_pos * n_neg) as f64, scored.len())
}

#[test]
fn finds_no_edge_in_noise() {
    // On noise the classifier ranks edges no better than chance, over every
    // labelled out-of-sample prediction (not only the rare calls above min_edge).
    let (noise, n) = auc(&run_planted(0.0, 2));
    assert!(n > 4000, "{n} labelled predictions");
    assert!((noise - 0.5).abs() < 0.03, "AUC on noise {noise}");
    // The same measure sees the planted edge: the test can fail.
    let (edge, _) = auc(&run_planted(0.004, 1));
    assert!(edge > 0.6, "AUC with a planted edge {edge}");
}

#[test]
fn folds_are_reported_in_order_with_metrics() {
    let wf = run_planted(0.004, 1);
    for (k, f) in wf.folds.iter().enumerate() {
        assert_eq!(f.fold.index, k);
        assert_eq!(f.returns.len(), 40);
        assert_eq!(f.regimes.len(), 40);
        assert!(f.fold.fit_end + 1 < f.fold.test_start);
        assert!(
            f.predictions
                .iter()
                .all(|p| p.bar >= f.fold.test_start && p.bar <= f.fold.test_end)
        );
        assert!(
            f.predictions
                .iter()
                .all(|p| (0.0..=1.0).contains(&p.edge_probability))
        );
        let m = &f.metrics;
        assert!(m.sharpe.is_some() && m.turnover.is_some());
        assert!(m.max_drawdown >= 0.0);
    }
    let a = &wf.aggregate;
    assert_eq!(a.oos_bars, 40 * a.n_folds);
    assert!(a.psr.is_some() && a.sharpe_ci.is_some());
    // One trial: DSR equals PSR against zero.
    assert!((a.dsr.unwrap() - a.psr.unwrap()).abs() < 1e-12);
}

/// Full pipeline (causal features from `features::compute`) on a panel whose
/// closes from bar `cut`, inside a fold's test window, are perturbed: nothing
/// dated before `cut - lookahead` may change. A fit that peeked into its own
/// test window would change that fold's early predictions.
#[test]
fn no_look_ahead() {
    let (panel, _) = planted(520, 8, 0.003, 5);
    let mut perturbed = panel.clone();
    let spec = toml::from_str::<RawWalkforward>(
        "in_sample_days = 100\nout_of_sample_days = 20\nlookahead_days = 5\nbootstrap_resamples = 10",
    )
    .unwrap()
    .validate()
    .unwrap();
    let go = |p: &Panel| {
        let fs = features::compute(p, &FeatureSpec::default());
        let input = FeatureInput {
            names: &fs.names,
            values: fs.values.view(),
            warmup: fs.warmup,
        };
        run(p, input, &spec, &SizingSpec::default(), 0, None).unwrap()
    };
    let a = go(&panel);
    // Twelve bars into a late fold's test window.
    let inside = &a.folds[a.folds.len() * 3 / 4].fold;
    let cut = inside.test_start + 12;
    assert!(cut < inside.test_end);
    let mut rng = Xoshiro256Plus::seed_from_u64(9);
    for t in cut..panel.n_bars() {
        for i in 0..panel.n_assets() {
            perturbed.close[[t, i]] *= 1.0 + 0.05 * normal(&mut rng);
        }
    }
    let b = go(&perturbed);
    let limit = cut - spec.lookahead;
    let same_fold = a.folds[inside.index]
        .predictions
        .iter()
        .filter(|p| p.bar < limit)
        .count();
    assert!(
        same_fold > 0,
        "the cut fold's early predictions are compared"
    );
    let (mut preds, mut rets) = (0, 0);
    for (fa, fb) in a.folds.iter().zip(&b.folds) {
        let pa: Vec<_> = fa.predictions.iter().filter(|p| p.bar < limit).collect();
        let pb: Vec<_> = fb.predictions.iter().filter(|p| p.bar < limit).collect();
        assert_eq!(pa, pb, "fold {}", fa.fold.index);
        preds += pa.len();
        for k in 0..fa.returns.len() {
            if fa.fold.test_start + 1 + k < limit {
                assert_eq!(
                    fa.returns[k], fb.returns[k],
                    "fold {} bar {k}",
                    fa.fold.index
                );
                rets += 1;
            }
        }
    }
    assert!(
        preds > 500 && rets > 100,
        "{preds} predictions, {rets} returns compared"
    );
    // The perturbation does reach later predictions.
    let later = |w: &Walkforward| -> Vec<f64> {
        w.folds
            .iter()
            .flat_map(|f| {
                f.predictions
                    .iter()
                    .filter(|p| p.bar >= cut)
                    .map(|p| p.edge_probability)
            })
            .collect()
    };
    assert_ne!(later(&a), later(&b));
}

#[test]
fn thread_count_does_not_change_results() {
    let go = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_planted(0.004, 4))
    };
    let (a, b) = (go(1), go(2));
    assert_eq!(a.aggregate, b.aggregate);
    for (fa, fb) in a.folds.iter().zip(&b.folds) {
        assert_eq!(fa.predictions, fb.predictions);
        assert_eq!(fa.returns, fb.returns);
        assert_eq!(fa.regime_probs, fb.regime_probs);
    }
    assert_eq!(a.replay.trades, b.replay.trades);
    assert_eq!(a.replay.decisions, b.replay.decisions);
    assert_eq!(a.replay.returns, b.replay.returns);
    assert!(
        !a.replay.decisions.is_empty(),
        "the risk engine decided something"
    );
}

#[test]
fn too_little_data_says_how_much_is_needed() {
    let (panel, feats) = planted(150, 3, 0.0, 1);
    let names = vec!["signal".to_string(), "noise".to_string()];
    let input = FeatureInput {
        names: &names,
        values: feats.view(),
        warmup: 1,
    };
    let e = run(
        &panel,
        input,
        &small_spec(),
        &SizingSpec::default(),
        0,
        None,
    )
    .unwrap_err();
    assert!(crate::error::exit_code(&e) == crate::error::Exit::BadInput);
    assert!(format!("{e:#}").contains("at least 221 bars"), "{e:#}");
}

#[test]
fn deployment_book_is_the_fold_decision_on_the_last_bar() {
    // Independent truth: a fold's first decision, at test_start, uses data up
    // to test_start only. Cut the panel after that bar: the deployment book of
    // the shorter panel is fitted on the same windows, so it must equal that
    // fold's first row of weights.
    let (panel, feats) = planted(600, 12, 0.004, 1);
    let names = vec!["signal".to_string(), "noise".to_string()];
    let spec = small_spec();
    let sizing = SizingSpec::default();
    let full = run(
        &panel,
        FeatureInput {
            names: &names,
            values: feats.view(),
            warmup: 1,
        },
        &spec,
        &sizing,
        3,
        None,
    )
    .unwrap();
    // A fold whose first decision trades, so the comparison is not 0 == 0.
    let f = full
        .folds
        .iter()
        .find(|f| f.fold.index > 0 && f.weights.row(0).iter().any(|&w| w > 0.0))
        .expect("a planted edge trades")
        .clone();
    let cut = f.fold.test_start + 1;
    let mut short = panel.clone();
    short.timestamps.truncate(cut);
    let rows = ndarray::s![..cut, ..];
    for m in [
        &mut short.open,
        &mut short.high,
        &mut short.low,
        &mut short.close,
        &mut short.volume,
    ] {
        *m = m.slice(rows).to_owned();
    }
    short.available = short.available.slice(rows).to_owned();
    short.filled = short.filled.slice(rows).to_owned();
    let short_feats = feats.slice(ndarray::s![..cut, .., ..]).to_owned();
    let wf = run(
        &short,
        FeatureInput {
            names: &names,
            values: short_feats.view(),
            warmup: 1,
        },
        &spec,
        &sizing,
        3,
        None,
    )
    .unwrap();
    let d = wf
        .deployment
        .as_ref()
        .expect("long enough for a deployment fold");
    assert_eq!(d.fold.test_start, cut - 1);
    assert_eq!(
        (d.fold.train_start, d.fold.train_end, d.fold.fit_end),
        (f.fold.train_start, f.fold.train_end, f.fold.fit_end)
    );
    // The shorter panel plans the folds before f, so the deployment fold has
    // f's index again: same windows, same seed, so the same decision.
    assert_eq!(d.fold.index, f.fold.index);
    assert_eq!(d.weights, f.weights.row(0).to_vec());
    assert!(d.weights.iter().sum::<f64>() <= sizing.max_gross + 1e-12);
}

#[test]
fn dropped_training_rows_are_counted_per_fold() {
    // Blank feature 1 of asset 0 on bars 150..160: rows of fold 0's training
    // window (whose samples end at fit_end) with a known label are dropped.
    let (panel, mut feats) = planted(600, 12, 0.004, 1);
    for t in 150..160 {
        feats[[t, 0, 1]] = f64::NAN;
    }
    let names = vec!["signal".to_string(), "noise".to_string()];
    let wf = run(
        &panel,
        FeatureInput {
            names: &names,
            values: feats.view(),
            warmup: 1,
        },
        &small_spec(),
        &SizingSpec::default(),
        3,
        None,
    )
    .unwrap();
    for f in &wf.folds {
        let want = (150..160)
            .filter(|&t| (f.fold.train_start..=f.fold.fit_end).contains(&t))
            .count();
        assert_eq!(f.dropped_train, want, "fold {}", f.fold.index);
    }
    assert!(wf.folds[0].dropped_train > 0 || wf.folds[1].dropped_train > 0);
    assert_eq!(wf.deployment.as_ref().unwrap().dropped_train, 0);
}

/// Holds nothing and reports a failure at its `fail_at`-th decision.
struct FailsAt {
    fail_at: usize,
    seen: usize,
    failed: Option<usize>,
}

impl Strategy for FailsAt {
    type Model = ();

    fn name(&self) -> &str {
        "fails_at"
    }

    fn fit(&self, _data: &FitData<'_>, _fold: Fold) -> Fit<()> {
        Fit {
            model: (),
            report: crate::strategy::FitReport::default(),
        }
    }

    fn decide(
        &mut self,
        _model: &(),
        market: &crate::strategy::Market<'_>,
        book: &crate::strategy::Book,
    ) -> crate::strategy::Decision {
        if self.seen == self.fail_at {
            self.failed = Some(market.t);
        }
        self.seen += 1;
        crate::strategy::Decision::hold(book)
    }

    fn failure(&self) -> Option<(usize, String)> {
        self.failed.map(|t| (t, "solver gave up".to_string()))
    }
}

#[test]
fn a_strategy_failure_stops_the_run_naming_bar_and_fold() {
    let (panel, feats) = planted(400, 3, 0.0, 2);
    let names = vec!["signal".to_string(), "noise".to_string()];
    let input = FeatureInput {
        names: &names,
        values: feats.view(),
        warmup: 1,
    };
    let (spec, sizing) = (small_spec(), SizingSpec::default());
    let (strategy, portfolio) = (StrategySpec::default(), PortfolioSpec::default());
    let settings = Settings {
        spec: &spec,
        sizing: &sizing,
        strategy: &strategy,
        portfolio: &portfolio,
        execution: &ExecutionSpec::flat(sizing.cost_bps),
        signals: None,
        hedge: None,
    };
    let folds = plan::plan(panel.n_bars(), warmup(1), &spec).unwrap();
    // The 45th decision is in the second fold's test window (40 bars each).
    let s = FailsAt {
        fail_at: 45,
        seen: 0,
        failed: None,
    };
    let err = run_strategy(s, &panel, input, &settings, 1, None)
        .unwrap_err()
        .to_string();
    let bar = folds[0].test_start + 45;
    let date = crate::data::time::format_us(panel.timestamps[bar]);
    assert!(err.contains(&format!("bar {bar}")), "{err}");
    assert!(err.contains("fold 1"), "{err}");
    assert!(err.contains(&date), "{err}");
    assert!(err.contains("solver gave up"), "{err}");
    // Not a bad-input error: exit code 3.
    let e = anyhow::anyhow!(err);
    assert_eq!(crate::error::exit_code(&e), crate::error::Exit::Runtime);
}
