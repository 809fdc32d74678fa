//! CPU = GPU parity over randomized markets at every size class of the kernels.
//!
//! Each case draws a market (asset count, correlation structure, weights with
//! cash and shorts, scenario kind and rule, horizon, path range) from a seeded
//! generator, runs it on both backends and checks the stress contract's
//! tolerance: integer outputs equal on >= 99.9% of paths, floats within 1e-4
//! relative on agreeing paths, summaries within 1e-3.
//!
//! CI runs a fixed share of cases; `CHLOE_PARITY_FULL=1` runs the full sweep.

use std::{fmt::Write as _, path::Path};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{
    ChunkOut, StressBackend,
    canary::{Diff, diff},
    cpu::CpuBackend,
    engine::{self, Outcome, Plan},
    gpu::GpuBackend,
    tests::gpu_or_skip,
};
use crate::config::{
    JobSpec,
    stress::{MarketSource, StressSpec},
};

/// Correlation structure of a random market.
#[derive(Debug, Clone, Copy)]
pub enum Corr {
    /// The identity.
    Identity,
    /// A few strong factors plus noise.
    Factor,
    /// Nearly singular: two blocks of almost identical assets.
    NearSingular,
}

/// Scenario kind and rule of a random case.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Parametric, no jumps, deleverage rule.
    Plain,
    /// Parametric with jumps and thinner liquidity.
    Jumps,
    /// Bootstrap blocks from a random table.
    Bootstrap,
    /// Haircut liquidation.
    Haircut,
    /// Equal-weighted market move as the shock measure.
    Market,
    /// A statistical factor model.
    Factors,
}

/// One randomized CPU-vs-GPU case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Assets.
    pub n: usize,
    /// Days.
    pub horizon: u32,
    /// Correlation structure.
    pub corr: Corr,
    /// Scenario kind and rule.
    pub rule: Rule,
    /// First path of the range.
    pub first: u64,
    /// Paths in the range.
    pub paths: u64,
    /// Generator seed of the market.
    pub seed: u64,
    /// Count band histograms (on the device) instead of exact bands.
    pub histogram: bool,
    /// Paths per GPU chunk (odd sizes make ranges cross chunk boundaries).
    pub gpu_chunk: u64,
}

fn fmt_list(v: impl Iterator<Item = f64>) -> String {
    let v: Vec<String> = v.map(|x| format!("{x:e}")).collect();
    format!("[{}]", v.join(", "))
}

/// A random correlation matrix of the given structure (unit diagonal, PSD).
fn correlation(rng: &mut Xoshiro256PlusPlus, n: usize, corr: Corr) -> Vec<Vec<f64>> {
    match corr {
        Corr::Identity => (0..n)
            .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
            .collect(),
        Corr::Factor | Corr::NearSingular => {
            // Rows of loadings on k factors plus idiosyncratic noise, normalised.
            let (k, noise) = match corr {
                Corr::Factor => (rng.gen_range(1..=4), rng.gen_range(0.3..1.0)),
                _ => (2, 1e-4),
            };
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    let mut r: Vec<f64> = (0..k)
                        .map(|f| match corr {
                            // Near-singular: assets copy one of two factors.
                            Corr::NearSingular => f64::from(u8::from(i % 2 == f)),
                            _ => rng.gen_range(-1.0..1.0),
                        })
                        .collect();
                    r.extend((0..n).map(|j| if i == j { noise } else { 0.0 }));
                    let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
                    r.iter().map(|x| x / norm).collect()
                })
                .collect();
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            if i == j {
                                1.0
                            } else {
                                rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum()
                            }
                        })
                        .collect()
                })
                .collect()
        }
    }
}

impl Case {
    /// The case's job file text and bootstrap table.
    pub fn job(&self) -> (String, Vec<f32>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let n = self.n;
        let syms: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
        let mu = fmt_list((0..n).map(|_| rng.gen_range(-0.0005..0.0008)));
        let sigma = fmt_list((0..n).map(|_| rng.gen_range(0.008..0.04)));
        let adv = fmt_list((0..n).map(|_| 10f64.powf(rng.gen_range(6.5..9.0))));
        let spread = fmt_list((0..n).map(|_| rng.gen_range(0.0002..0.004)));
        let c = correlation(&mut rng, n, self.corr);
        let rows: Vec<String> = c.iter().map(|r| fmt_list(r.iter().copied())).collect();
        // Weights: longs that lever the book to 1.2-1.8 gross, some shorts, some cash.
        let gross = rng.gen_range(0.6..1.8);
        let mut w: Vec<f64> = (0..n)
            .map(|_| {
                let x: f64 = rng.gen_range(0.2..1.0);
                if rng.gen_bool(0.2) { -x } else { x }
            })
            .collect();
        let sum_abs: f64 = w.iter().map(|x| x.abs()).sum();
        for x in &mut w {
            *x *= gross / sum_abs;
        }
        let mut weights = String::new();
        for (i, x) in w.iter().enumerate() {
            let _ = write!(weights, "{}S{i} = {x:e}", if i == 0 { "" } else { ", " });
        }
        let mut stress = format!(
            "[stress]\npaths = {}\nhorizon = {}\nshock_threshold = {}\nmax_gross_leverage = 2.0\nexact_band_paths = {}\n",
            self.paths,
            self.horizon,
            rng.gen_range(0.01..0.03),
            if self.histogram { 1 } else { self.paths },
        );
        let mut scenario = "[[stress.scenarios]]\nname = \"s\"\n".to_string();
        match self.rule {
            Rule::Plain => {}
            Rule::Jumps => scenario.push_str("preset = \"flash_crash\"\n"),
            Rule::Bootstrap => {
                scenario.push_str("kind = \"bootstrap\"\nblock_days = 7\n");
            }
            Rule::Haircut => {
                stress.push_str("liquidation = \"haircut\"\n");
                scenario.push_str("preset = \"liquidity_crunch\"\n");
            }
            Rule::Market => {
                stress.push_str("shock_measure = \"market\"\n");
                scenario.push_str("preset = \"correlation_spike\"\n");
            }
            Rule::Factors => {
                // Factor counts on both sides of the kernel's 16-term blocks.
                let ks: Vec<usize> = [1, 3, 15, 16, 17, 33]
                    .into_iter()
                    .filter(|&k| k <= n)
                    .collect();
                let _ = writeln!(stress, "factors = {}", ks[rng.gen_range(0..ks.len())]);
                scenario.push_str("preset = \"liquidity_crunch\"\n");
            }
        }
        let text = format!(
            "[job]\nname = \"parity\"\n{stress}[stress.market]\nsymbols = [{}]\nmu = {mu}\nsigma = {sigma}\nadv = {adv}\nspread = {spread}\ncorrelation = [{}]\n[stress.portfolio]\nweights = {{ {weights} }}\n{scenario}",
            syms.join(", "),
            rows.join(", "),
        );
        let table = match self.rule {
            Rule::Bootstrap => (0..60 * n).map(|_| rng.gen_range(-0.06f32..0.05)).collect(),
            _ => Vec::new(),
        };
        (text, table)
    }

    /// The case's stress spec and plan.
    pub fn plan(&self) -> (StressSpec, Plan) {
        let (text, table) = self.job();
        let job = JobSpec::from_str(&text, Path::new("parity.toml")).expect("valid parity job");
        let spec = job.stress.expect("stress section");
        let MarketSource::Given(m) = &spec.market else {
            panic!("given market")
        };
        let plan = Plan::new(&spec, m, self.seed, vec![table]);
        (spec, plan)
    }
}

/// Runs `case` through the engine on `backend` (its chunking, its band
/// mode), collecting every path's output and daily values.
fn run_on(
    case: &Case,
    plan: &mut Plan,
    backend: &mut dyn StressBackend,
    chunk: u64,
) -> (ChunkOut, Outcome) {
    plan.chunk_paths = Some(chunk);
    let mut all = ChunkOut::default();
    let range = case.first..case.first + case.paths;
    let outcome = engine::run(
        plan,
        backend,
        range,
        |_, _, c| {
            all.paths.extend_from_slice(&c.paths);
            all.values.extend_from_slice(&c.values);
            Ok(())
        },
        &|| {},
    )
    .expect("engine run");
    (all, outcome)
}

/// Relative difference with a floor of `floor` on the scale.
fn rel(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(floor)
}

/// Checks one case on both backends; returns its path difference.
fn check(case: &Case, gpu: &mut GpuBackend) -> Diff {
    let (_, mut plan) = case.plan();
    let h = case.horizon as usize;
    let (c, co) = run_on(case, &mut plan, &mut CpuBackend, case.paths);
    let (g, go) = run_on(case, &mut plan, gpu, case.gpu_chunk);
    assert_eq!(
        go.fallback_chunks, 0,
        "{case:?}: the GPU failed a chunk: {:?}",
        go.fallback_reason
    );
    assert_eq!(co.exact_bands, !case.histogram, "{case:?}: band mode");
    assert_eq!(
        g.paths.len(),
        case.paths as usize,
        "{case:?}: GPU path count"
    );
    let d = diff(&c, &g, h, plan.capital);
    assert!(
        d.max_rel_diff <= super::canary::MAX_REL_DIFF,
        "{case:?}: floats differ on agreeing paths: {d}"
    );
    if d.int_mismatches == 0 {
        // Summaries within 1e-3: money relative to capital, fractions absolute.
        let (cs, gs) = (&co.summaries[0], &go.summaries[0]);
        let cap = plan.capital;
        let money = super::canary::VALUE_FLOOR * cap;
        let fields = [
            ("mean_terminal", cs.mean_terminal, gs.mean_terminal, money),
            (
                "median_terminal",
                cs.median_terminal,
                gs.median_terminal,
                1.0,
            ),
            ("var_95", cs.var_95, gs.var_95, 1.0),
            ("var_99", cs.var_99, gs.var_99, 1.0),
            ("cvar_95", cs.cvar_95, gs.cvar_95, 1.0),
            ("cvar_99", cs.cvar_99, gs.cvar_99, 1.0),
            (
                "prob_drawdown_breach",
                cs.prob_drawdown_breach,
                gs.prob_drawdown_breach,
                1.0,
            ),
            (
                "mean_max_drawdown",
                cs.mean_max_drawdown,
                gs.mean_max_drawdown,
                1.0,
            ),
            (
                "mean_liquidation_cost",
                cs.mean_liquidation_cost,
                gs.mean_liquidation_cost,
                1e-4 * cap,
            ),
            (
                "mean_liquidations",
                cs.mean_liquidations,
                gs.mean_liquidations,
                1.0,
            ),
        ];
        for (name, a, b, floor) in fields {
            assert!(
                rel(a, b, floor) <= 1e-3,
                "{case:?}: summary {name}: cpu {a} gpu {b}"
            );
        }
        // Bands: exact percentiles agree like the values; histogram bands
        // within a bin's relative width.
        let tol = if case.histogram {
            2.0 * super::summary::histogram_relative_error() + 1e-4
        } else {
            1e-4
        };
        assert_eq!(co.bands.len(), go.bands.len());
        for (x, y) in co.bands.iter().zip(&go.bands) {
            for (a, b) in x.p.iter().zip(&y.p) {
                match (a, b) {
                    (Some(a), Some(b)) => assert!(
                        rel(*a, *b, money) <= tol,
                        "{case:?}: band day {}: cpu {a} gpu {b}",
                        x.day
                    ),
                    (None, None) => {}
                    _ => panic!("{case:?}: band day {}: cpu {a:?} gpu {b:?}", x.day),
                }
            }
        }
    }
    d
}

/// The sweep: every size class edge of the kernels (the 16-term blocks,
/// the CPU's 4-row quads and 16-path blocks, powers of two) and random
/// sizes, each with a rotating correlation structure and scenario rule.
fn cases(full: bool) -> Vec<Case> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed);
    let mut sizes = vec![
        1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 19, 20, 21, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255,
        256, 257, 511, 512,
    ];
    let extra = if full { 12 } else { 3 };
    sizes.extend((0..extra).map(|_| rng.gen_range(1..=512)));
    if full {
        sizes.extend(1..=40);
    }
    let rules = [
        Rule::Plain,
        Rule::Jumps,
        Rule::Bootstrap,
        Rule::Haircut,
        Rule::Market,
        Rule::Factors,
    ];
    let corrs = [Corr::Identity, Corr::Factor, Corr::NearSingular];
    sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            // Work per case ~ n^2 x horizon x paths: long horizons for
            // small books, a few weeks at 512 assets (full: a year at every size).
            let horizon = if full {
                252
            } else {
                match n {
                    0..=40 => rng.gen_range(250..=400),
                    41..=140 => rng.gen_range(120..=252),
                    141..=300 => rng.gen_range(30..=60),
                    _ => rng.gen_range(8..=16),
                }
            };
            let paths = match (full, n) {
                (true, 0..=140) => 1000,
                (true, _) => 250,
                (false, 0..=140) => 96,
                (false, _) => 48,
            };
            let first = match k % 4 {
                0 => 0,
                // Crosses a multiple of 2^32 (the counter's path word carries).
                1 => (1u64 << 32) - paths / 2,
                _ => rng.gen_range(1..1u64 << 40),
            };
            Case {
                n,
                horizon,
                corr: corrs[k % 3],
                rule: rules[(k + k / 6) % 6],
                first,
                paths,
                seed: rng.r#gen(),
                histogram: k % 5 == 2,
                gpu_chunk: [paths, 37, 64, 17][k % 4],
            }
        })
        .collect()
}

/// CPU = GPU over randomized markets at every size class. The full sweep
/// (`CHLOE_PARITY_FULL=1`: a 252-day year for every case, 1,000 paths up to
/// 140 assets and 250 beyond, every size from 1 to 40 plus the class edges
/// and 12 random sizes up to 512) takes tens of minutes on lavapipe on two
/// cores (BENCHMARKS.md gives the time); CI runs 31 cases in seconds.
#[test]
fn gpu_matches_cpu_on_random_markets() {
    let Some(ctx) = gpu_or_skip() else { return };
    let mut gpu = GpuBackend::with_context(ctx).expect("stress shader compiles");
    let full = std::env::var("CHLOE_PARITY_FULL").as_deref() == Ok("1");
    let mut total = Diff::default();
    let t0 = std::time::Instant::now();
    for case in cases(full) {
        let d = check(&case, &mut gpu);
        if full {
            eprintln!(
                "{:>4} assets {:>4} days {:?} {:?}: {d}",
                case.n, case.horizon, case.rule, case.corr
            );
        }
        total = total.merge(d);
    }
    eprintln!(
        "parity sweep: {total} in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(total.within_contract(), "parity sweep: {total}");
    // The sweep must exercise both band modes, chunk crossings and 2^32.
    let cs = cases(full);
    assert!(cs.iter().any(|c| c.histogram) && cs.iter().any(|c| !c.histogram));
    assert!(
        cs.iter()
            .any(|c| c.first < 1 << 32 && c.first + c.paths > 1 << 32)
    );
}

/// A device that computes like the GPU but returns one path 1% off: the
/// kind of error a driver's shader compiler bug produces.
struct Wrong(GpuBackend);

impl StressBackend for Wrong {
    fn kind(&self) -> super::BackendKind {
        self.0.kind()
    }
    fn max_chunk(&self, p: &super::model::Prepared) -> u64 {
        self.0.max_chunk(p)
    }
    fn run_chunk(
        &mut self,
        p: &super::model::Prepared,
        paths: std::ops::Range<u64>,
        histogram: bool,
    ) -> anyhow::Result<ChunkOut> {
        let mut c = self.0.run_chunk(p, paths, histogram)?;
        c.paths[3].terminal *= 1.01;
        Ok(c)
    }
}

fn small_plan() -> Plan {
    let case = Case {
        n: 24,
        horizon: 60,
        corr: Corr::Factor,
        rule: Rule::Jumps,
        first: 0,
        paths: 1000,
        seed: 11,
        histogram: false,
        gpu_chunk: 1000,
    };
    case.plan().1
}

#[test]
fn canary_trusts_a_good_gpu_and_refuses_a_wrong_one() {
    use super::{BackendKind, trust};
    let Some(ctx) = gpu_or_skip() else { return };
    let plan = small_plan();
    let good = GpuBackend::with_context(ctx).expect("compiles");
    let sel = trust("good".into(), good, &plan, true).expect("a correct GPU is trusted");
    assert_eq!(sel.backend.kind(), BackendKind::Gpu);
    let report = sel.canary.expect("canary ran");
    assert!(report.passed, "{}", report.line());
    assert_eq!(report.total.paths, super::canary::CANARY_PATHS as usize);

    let wrong = || Wrong(GpuBackend::with_context(super::gpu::GpuContext::new().unwrap()).unwrap());
    // auto: the run goes to the CPU, with a warning naming the difference.
    let sel = trust("wrong".into(), wrong(), &plan, false).expect("auto falls back");
    assert_eq!(sel.backend.kind(), BackendKind::Cpu);
    let report = sel.canary.expect("canary ran");
    assert!(!report.passed);
    assert!(report.total.max_rel_diff > 5e-3, "{}", report.line());
    let warning = sel.warning.expect("a warning");
    assert!(
        warning.contains("disagrees with the CPU") && warning.contains("wrong"),
        "{warning}"
    );
    // --backend gpu: a runtime failure (exit 3) naming the device.
    let err = trust("wrong".into(), wrong(), &plan, true)
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("cannot be trusted"), "{err:#}");
    assert_eq!(crate::error::exit_code(&err), crate::error::Exit::Runtime);
}

#[test]
fn gpu_size_limits_are_refused_up_front_or_work() {
    use super::gpu::{MAX_DAY_LOOPS, day_loop_cost, days_per_dispatch};
    // The cost model: the largest book one dispatch can hold, and one more.
    let cfg_for = |n: u32, factors: u32, kind: u32| super::model::KernelConfig {
        n_assets: n,
        blocks: (n + factors).div_ceil(4),
        factors,
        kind,
        horizon: 252,
        ..bytemuck::Zeroable::zeroed()
    };
    let max_n = (1..4000)
        .take_while(|&n| days_per_dispatch(&cfg_for(n, 0, 0)).is_ok())
        .last()
        .unwrap();
    assert!(
        max_n >= 1024,
        "the GPU path takes at least 1,024 assets, got {max_n}"
    );
    let over = cfg_for(max_n + 1, 0, 0);
    let err = days_per_dispatch(&over).unwrap_err();
    assert!(day_loop_cost(&over) + u64::from(max_n + 1) > MAX_DAY_LOOPS);
    assert!(
        err.contains("--backend cpu") && err.contains("factors"),
        "{err}"
    );
    // Bootstrap days cost O(n): ten thousand assets fit.
    assert!(days_per_dispatch(&cfg_for(10_000, 0, 1)).is_ok());
    // A year of 20 assets (the reported failure) now runs in windows.
    let per = days_per_dispatch(&cfg_for(20, 0, 0)).unwrap();
    assert!(per < 252 && per * day_loop_cost(&cfg_for(20, 0, 0)) as u32 <= 1 << 14);

    let Some(ctx) = gpu_or_skip() else { return };
    let mut gpu = GpuBackend::with_context(ctx).expect("compiles");
    // The longest horizon a job accepts runs on the GPU (exact bands) and
    // matches the CPU; its histogram bands would not fit one binding, so the
    // check refuses them up front.
    let case = Case {
        n: 2,
        horizon: crate::stress::MAX_HORIZON,
        corr: Corr::Factor,
        rule: Rule::Jumps,
        first: 5,
        paths: 16,
        seed: 3,
        histogram: false,
        gpu_chunk: 16,
    };
    let d = check(&case, &mut gpu);
    assert!(d.within_contract(), "longest horizon: {d}");
    let (_, plan) = case.plan();
    let p = &plan.prepared[0];
    assert!(gpu.check(p, false).is_ok());
    let refusal = gpu.check(p, true).unwrap_err();
    assert!(refusal.contains("band histogram"), "{refusal}");
    // The largest book: one day per dispatch, equal to the CPU.
    let case = Case {
        n: max_n as usize,
        horizon: 2,
        corr: Corr::Identity,
        rule: Rule::Plain,
        first: 0,
        paths: 16,
        seed: 4,
        histogram: false,
        gpu_chunk: 16,
    };
    let d = check(&case, &mut gpu);
    assert!(d.within_contract(), "{max_n} assets: {d}");
    let (_, plan) = Case {
        n: max_n as usize + 1,
        ..case
    }
    .plan();
    let refusal = gpu.check(&plan.prepared[0], false).unwrap_err();
    assert!(refusal.contains("loop iterations"), "{refusal}");
}
