//! Model tests: closed forms, the liquidation rule, determinism, CPU = GPU.

use std::path::Path;

use super::{
    ChunkOut, StressBackend,
    cpu::{CpuBackend, run_cpu},
    engine::{self, Plan},
    gpu::{GpuBackend, GpuContext, rng_on_device},
    model::Prepared,
    philox::{box_muller, counter, exp_f32, key_of, philox4x32_10, uniform},
};
use crate::config::{
    JobSpec,
    stress::{MarketSource, StressSpec},
};

fn spec(toml: &str) -> StressSpec {
    let job = JobSpec::from_str(&format!("[job]\nname = \"t\"\n{toml}"), Path::new("t.toml"))
        .expect("valid job");
    job.stress.expect("stress section")
}

fn plan(s: &StressSpec, seed: u64, hist: Vec<Vec<f32>>) -> Plan {
    let MarketSource::Given(m) = &s.market else {
        panic!("given market")
    };
    let mut hist = hist;
    hist.resize(s.scenarios.len(), Vec::new());
    Plan::new(s, m, seed, hist)
}

const TWO: &str = r#"
[stress]
paths = 1000
horizon = 20
[stress.market]
symbols = ["A", "B"]
mu = [0.0003, 0.0002]
sigma = [0.02, 0.03]
adv = [5.0e8, 2.0e8]
spread = [0.0005, 0.001]
correlation = [[1.0, 0.3], [0.3, 1.0]]
[stress.portfolio]
weights = { A = 0.9, B = 0.6 }
"#;

/// Five assets, three scenarios, liquidation-heavy (low threshold).
fn heavy(extra: &str) -> StressSpec {
    spec(&format!(
        r#"
[stress]
paths = 512
horizon = 40
shock_threshold = 0.02
{extra}
[stress.market]
symbols = ["A", "B", "C", "D", "E"]
mu = [0.0003, 0.0002, 0.0001, 0.0, 0.0004]
sigma = [0.02, 0.03, 0.015, 0.025, 0.04]
adv = [5.0e7, 2.0e7, 1.0e8, 3.0e7, 1.0e7]
spread = [0.0005, 0.001, 0.0004, 0.002, 0.003]
correlation = [[1.0, 0.3, 0.2, 0.1, 0.0], [0.3, 1.0, 0.4, 0.2, 0.1], [0.2, 0.4, 1.0, 0.3, 0.2], [0.1, 0.2, 0.3, 1.0, 0.5], [0.0, 0.1, 0.2, 0.5, 1.0]]
[stress.portfolio]
weights = {{ A = 0.5, B = 0.4, C = 0.3, D = 0.2, E = -0.3 }}
[[stress.scenarios]]
name = "base"
[[stress.scenarios]]
name = "crunch"
preset = "liquidity_crunch"
[[stress.scenarios]]
name = "crash"
preset = "flash_crash"
"#
    ))
}

fn one_asset(extra: &str, mu: f64, sigma: f64) -> StressSpec {
    spec(&format!(
        r#"
[stress]
{extra}
[stress.market]
symbols = ["A"]
mu = [{mu}]
sigma = [{sigma}]
adv = [1.0e9]
spread = [0.001]
[stress.portfolio]
weights = {{ A = 1.0 }}
[[stress.scenarios]]
name = "s"
"#
    ))
}

#[test]
fn one_asset_terminal_is_lognormal() {
    let (mu, sigma, t, n) = (0.0004, 0.012, 63u32, 8000u64);
    let s = one_asset(
        &format!("paths = {n}\nhorizon = {t}\nshock_threshold = 1.0"),
        mu,
        sigma,
    );
    let p = plan(&s, 11, vec![]);
    let out = run_cpu(&p.prepared[0], 0..n);
    let x: Vec<f64> = out
        .paths
        .iter()
        .map(|p| f64::from(p.terminal) / 1e8)
        .collect();
    assert!(out.paths.iter().all(|p| p.liquidations == 0));
    let tf = f64::from(t);
    let mean = x.iter().sum::<f64>() / n as f64;
    let want = (mu * tf).exp();
    let var = ((sigma * sigma * tf).exp() - 1.0) * want * want;
    let se = (var / n as f64).sqrt();
    assert!(
        (mean - want).abs() < 4.0 * se,
        "mean {mean} vs {want} (se {se})"
    );
    let mut lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    lx.sort_by(f64::total_cmp);
    let (m, sd) = ((mu - sigma * sigma / 2.0) * tf, sigma * tf.sqrt());
    // Quantiles of ln V_T: median and 5%; the sample-quantile error is about 1.3 sd / sqrt(n) (3 se bound).
    for (q, zq) in [(0.5, 0.0), (0.05, -1.644_853_6), (0.95, 1.644_853_6)] {
        let got = lx[(q * (n - 1) as f64) as usize];
        assert!(
            (got - (m + zq * sd)).abs() < 3.0 * 2.1 * sd / (n as f64).sqrt(),
            "q{q}: {got}"
        );
    }
}

/// Sample correlation and volatilities of two assets' one-day log returns
/// (C = 0.5 shifted by 0.4 -> 0.7, vol x 1.5); `extra` goes in `[stress]`.
fn two_asset_sample(extra: &str) -> (f64, f64, f64) {
    let base = |w: &str| {
        spec(&format!(
            r#"
[stress]
paths = 10000
horizon = 1
shock_threshold = 1.0
{extra}
[stress.market]
symbols = ["A", "B"]
mu = [0.0, 0.0]
sigma = [0.01, 0.02]
adv = [1.0e9, 1.0e9]
spread = [0.0, 0.0]
correlation = [[1.0, 0.5], [0.5, 1.0]]
[stress.portfolio]
weights = {{ {w} }}
[[stress.scenarios]]
name = "s"
correlation_shift = 0.4
vol_multiplier = 1.5
"#
        ))
    };
    // Same seed, scenario and paths: identical draws, so each one-asset book shows one asset's return.
    let ra = run_cpu(&plan(&base("A = 1.0"), 3, vec![]).prepared[0], 0..10_000);
    let rb = run_cpu(&plan(&base("B = 1.0"), 3, vec![]).prepared[0], 0..10_000);
    let logs = |r: &ChunkOut| -> Vec<f64> {
        r.paths
            .iter()
            .map(|p| (f64::from(p.terminal) / 1e8).ln())
            .collect()
    };
    let (la, lb) = (logs(&ra), logs(&rb));
    let n = la.len() as f64;
    let (ma, mb) = (la.iter().sum::<f64>() / n, lb.iter().sum::<f64>() / n);
    let cov: f64 = la
        .iter()
        .zip(&lb)
        .map(|(a, b)| (a - ma) * (b - mb))
        .sum::<f64>()
        / n;
    let va: f64 = la.iter().map(|a| (a - ma).powi(2)).sum::<f64>() / n;
    let vb: f64 = lb.iter().map(|b| (b - mb).powi(2)).sum::<f64>() / n;
    (cov / (va * vb).sqrt(), va.sqrt(), vb.sqrt())
}

#[test]
fn two_asset_returns_have_shifted_correlation() {
    let (corr, sa, sb) = two_asset_sample("");
    let want = 0.6 * 0.5 + 0.4;
    // se of a sample correlation ~ (1 - rho^2) / sqrt(n) = 0.005.
    assert!((corr - want).abs() < 0.02, "corr {corr} vs {want}");
    assert!((sa - 0.015).abs() < 0.0005 && (sb - 0.03).abs() < 0.001);
}

#[test]
fn one_factor_model_has_its_implied_correlation() {
    // For C = [[1, r], [r, 1]] the top eigenvector is (1, 1)/sqrt(2) with
    // eigenvalue 1 + r: one factor loads sqrt((1 + r) / 2) on both assets,
    // so the implied correlation is (1 + r) / 2 = 0.85 for r = 0.7, and each
    // asset keeps its own volatility through the residual.
    let (corr, sa, sb) = two_asset_sample("factors = 1");
    assert!((corr - 0.85).abs() < 0.02, "corr {corr} vs 0.85");
    assert!((sa - 0.015).abs() < 0.0005 && (sb - 0.03).abs() < 0.001);
    // With as many factors as assets the model is the matrix itself.
    let (corr, _, _) = two_asset_sample("factors = 2");
    assert!((corr - 0.7).abs() < 0.02, "corr {corr} vs 0.7");
}

#[test]
fn factor_loadings_reproduce_the_matrix_at_full_rank() {
    use super::model::factor_loadings;
    let c = vec![
        vec![1.0, 0.3, 0.2, 0.1],
        vec![0.3, 1.0, 0.4, 0.2],
        vec![0.2, 0.4, 1.0, 0.5],
        vec![0.1, 0.2, 0.5, 1.0],
    ];
    for k in 1..=4 {
        let (b, s) = factor_loadings(&c, k);
        for i in 0..4 {
            for j in 0..4 {
                let mut v: f64 = (0..k).map(|f| b[i][f] * b[j][f]).sum();
                if i == j {
                    v += s[i] * s[i];
                    assert!((v - 1.0).abs() < 1e-9, "k {k}: unit variance");
                } else if k == 4 {
                    assert!((v - c[i][j]).abs() < 1e-9, "k 4 reproduces C");
                }
            }
        }
    }
}

/// A bootstrap table of zero returns with one -10% day fires the rule on that day only.
#[test]
fn deleveraging_fires_on_the_shock_day_only() {
    let s = spec(
        r#"
[stress]
paths = 8
horizon = 10
impact_coefficient = 0.0
[stress.market]
symbols = ["A"]
mu = [0.0]
sigma = [0.0]
adv = [1.0e9]
spread = [0.002]
[stress.portfolio]
weights = { A = 1.0 }
[[stress.scenarios]]
name = "boot"
kind = "bootstrap"
block_days = 10
"#,
    );
    let mut table = vec![0.0f32; 10];
    table[3] = -0.1;
    let p = plan(&s, 1, vec![table]);
    let out = run_cpu(&p.prepared[0], 0..8);
    let h = 1e8 * (-0.1f64).exp();
    let cost = 0.5 * h * 0.001;
    let terminal = h - cost;
    for (k, r) in out.paths.iter().enumerate() {
        assert_eq!(r.liquidations, 1);
        assert_eq!(r.breach_day, -1);
        assert!((f64::from(r.liquidation_cost) / cost - 1.0).abs() < 1e-5);
        assert!((f64::from(r.terminal) / terminal - 1.0).abs() < 1e-6);
        let v = &out.values[k * 10..(k + 1) * 10];
        assert_eq!(v[2], 1e8);
        assert!((f64::from(v[3]) / terminal - 1.0).abs() < 1e-6);
    }
}

#[test]
fn rule_does_not_fire_below_threshold_or_concentration() {
    let run = |w: f64, jump: f64| {
        let s = spec(&format!(
            r#"
[stress]
paths = 8
horizon = 5
[stress.market]
symbols = ["A"]
mu = [0.0]
sigma = [0.0]
adv = [1.0e9]
spread = [0.002]
[stress.portfolio]
weights = {{ A = {w} }}
[[stress.scenarios]]
name = "jumps"
jump_probability = 1.0
jump_mean = {jump}
jump_std = 0.0
"#
        ));
        run_cpu(&plan(&s, 1, vec![]).prepared[0], 0..8).paths
    };
    // 3.9% daily move: below the 5% threshold.
    assert!(run(1.0, -0.04).iter().all(|r| r.liquidations == 0));
    // -9.5% on a 0.7 book: move 6.7% but gross 0.68 < 0.8.
    assert!(run(0.7, -0.1).iter().all(|r| r.liquidations == 0));
    // Full book: fires on day 0, then gross 0.5 stays under the limit.
    let r = run(1.0, -0.1);
    assert!(
        r.iter().all(|r| r.liquidations == 1 && r.breach_day == 2),
        "{:?}",
        r[0]
    );
}

#[test]
fn haircut_rule_scales_value() {
    let s = spec(
        r#"
[stress]
paths = 4
horizon = 1
liquidation = "haircut"
liquidation_cost = 0.03
[stress.market]
symbols = ["A"]
mu = [0.0]
sigma = [0.0]
adv = [1.0e9]
spread = [0.0]
[stress.portfolio]
weights = { A = 1.0 }
[[stress.scenarios]]
name = "jump"
jump_probability = 1.0
jump_mean = -0.1
"#,
    );
    let out = run_cpu(&plan(&s, 1, vec![]).prepared[0], 0..4);
    let want = 1e8 * (-0.1f64).exp() * 0.97;
    assert!((f64::from(out.paths[0].terminal) / want - 1.0).abs() < 1e-6);
    assert_eq!(out.paths[0].liquidations, 1);
}

fn collect(p: &Plan, backend: &mut dyn StressBackend, r: std::ops::Range<u64>) -> Vec<ChunkOut> {
    let mut chunks: Vec<ChunkOut> = vec![ChunkOut::default(); p.prepared.len()];
    engine::run(
        p,
        backend,
        r,
        |s, _, c| {
            chunks[s].paths.extend_from_slice(&c.paths);
            chunks[s].values.extend_from_slice(&c.values);
            Ok(())
        },
        &|| {},
    )
    .expect("run");
    chunks
}

#[test]
fn path_range_split_and_chunking_do_not_change_paths() {
    let mut s = heavy("");
    let whole = collect(&plan(&s, 9, vec![]), &mut CpuBackend, 0..600);
    s.chunk_paths = Some(37);
    let p = plan(&s, 9, vec![]);
    let a = collect(&p, &mut CpuBackend, 0..250);
    let b = collect(&p, &mut CpuBackend, 250..600);
    for k in 0..whole.len() {
        let joined: Vec<_> = a[k].paths.iter().chain(&b[k].paths).copied().collect();
        assert_eq!(joined, whole[k].paths);
        assert!(whole[k].paths.iter().any(|r| r.liquidations > 0));
    }
}

#[test]
fn thread_count_does_not_change_paths() {
    let p = plan(&heavy(""), 5, vec![]);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let a = one.install(|| run_cpu(&p.prepared[2], 0..200));
    let b = three.install(|| run_cpu(&p.prepared[2], 0..200));
    assert_eq!(a.paths, b.paths);
    assert_eq!(a.values, b.values);
}

/// `n` assets with equal pairwise correlation 0.2 and a mixed long/short book.
fn many(n: usize, extra: &str) -> StressSpec {
    let list = |f: &dyn Fn(usize) -> f64| {
        let v: Vec<String> = (0..n).map(|i| format!("{:e}", f(i))).collect();
        v.join(", ")
    };
    let corr: Vec<String> = (0..n)
        .map(|i| {
            let row: Vec<&str> = (0..n).map(|j| if i == j { "1.0" } else { "0.2" }).collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let syms: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
    let weights: Vec<String> = (0..n)
        .map(|i| format!("S{i} = {}", if i % 4 == 3 { -0.1 } else { 1.6 / n as f64 }))
        .collect();
    spec(&format!(
        "[stress]\npaths = 100\nhorizon = 30\nshock_threshold = 0.015\n{extra}\n[stress.market]\nsymbols = [{}]\nmu = [{}]\nsigma = [{}]\nadv = [{}]\nspread = [{}]\ncorrelation = [{}]\n[stress.portfolio]\nweights = {{ {} }}\n[[stress.scenarios]]\nname = \"crash\"\npreset = \"flash_crash\"\n",
        syms.join(", "),
        list(&|i| 0.0001 * (i % 3) as f64),
        list(&|i| 0.01 + 0.003 * i as f64),
        list(&|i| 2e7 * (1 + i) as f64),
        list(&|i| 0.0004 + 0.0001 * i as f64),
        corr.join(", "),
        weights.join(", "),
    ))
}

#[test]
fn avx2_build_is_bit_identical() {
    use super::cpu::{run_cpu_with, simulate, simulate_portable};
    // `simulate` takes the AVX2 kernel on CPUs that have it; it must agree
    // bit for bit with the baseline build on every path and every day.
    #[cfg(target_arch = "x86_64")]
    if !std::arch::is_x86_feature_detected!("avx2") {
        eprintln!("no AVX2 on this CPU: both calls run the baseline build");
    }
    let table: Vec<f32> = (0..60)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.01)
        .collect();
    let boot = spec(&format!(
        "{TWO}\n[[stress.scenarios]]\nname = \"boot\"\nkind = \"bootstrap\"\nblock_days = 5"
    ));
    let mut plans = vec![("bootstrap", plan(&boot, 5, vec![table]))];
    for extra in [
        "",
        "liquidation = \"haircut\"",
        "shock_measure = \"market\"",
        "factors = 2",
    ] {
        plans.push((extra, plan(&heavy(extra), 11, vec![])));
    }
    // Asset counts below 4 (no full quad of Cholesky rows), a multiple of
    // 4 (no rows left over), and more than 16 draws a day (the normals run
    // past their first group of Philox blocks).
    for (n, extra) in [
        (3, ""),
        (11, ""),
        (16, ""),
        (20, ""),
        (13, "factors = 3"),
        (19, "factors = 4"),
    ] {
        plans.push((extra, plan(&many(n, extra), 3, vec![])));
    }
    // 245 paths: the last block has 5 lanes, and the path's high counter
    // word changes inside a block; 7 paths: one block, less than half full.
    let ranges = [(1u64 << 32) - 21..(1u64 << 32) + 224, 40..47];
    let mut cases = 0;
    for (what, p) in &plans {
        for (k, prep) in p.prepared.iter().enumerate() {
            let mut liquidations = 0;
            for range in ranges.clone() {
                let a = run_cpu_with(prep, range.clone(), simulate);
                let b = run_cpu_with(prep, range.clone(), simulate_portable);
                assert_eq!(a.paths.len() as u64, range.end - range.start);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a.values), bits(&b.values), "{what} {k}: daily values");
                for (x, y) in a.paths.iter().zip(&b.paths) {
                    assert_eq!(x.terminal.to_bits(), y.terminal.to_bits());
                    assert_eq!(x.max_drawdown.to_bits(), y.max_drawdown.to_bits());
                    assert_eq!(x.liquidation_cost.to_bits(), y.liquidation_cost.to_bits());
                    assert_eq!(
                        (x.liquidations, x.breach_day),
                        (y.liquidations, y.breach_day)
                    );
                    liquidations += x.liquidations;
                }
            }
            // Every parametric case must exercise its liquidation rule.
            assert!(
                *what == "bootstrap" || liquidations > 0,
                "{what} scenario {k}: no liquidations"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 1 + 4 * 3 + 6);
}

/// An adapter, or `None` with a note; a panic when CHLOE_REQUIRE_GPU=1.
pub fn gpu_or_skip() -> Option<GpuContext> {
    match GpuContext::new() {
        Ok(c) => Some(c),
        Err(e) if std::env::var("CHLOE_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("CHLOE_REQUIRE_GPU=1 but no GPU adapter: {e:#}")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e:#}");
            None
        }
    }
}

#[test]
fn gpu_generator_matches_cpu_exactly() {
    let Some(ctx) = gpu_or_skip() else { return };
    let key = key_of(0x0123_4567_89ab_cdef);
    let mut counters: Vec<[u32; 4]> = (0..2000u32)
        .map(|i| counter(i * 7919, u64::from(i) << 20 | 5, i % 4))
        .collect();
    counters.extend([[0; 4], [u32::MAX; 4]]);
    let (words, normals) = rng_on_device(&ctx, &counters, key).expect("gpu rng");
    let mut max_err = 0.0f32;
    for (i, c) in counters.iter().enumerate() {
        let x = philox4x32_10(*c, key);
        assert_eq!(words[i], x, "counter {c:?}");
        let (a, b) = box_muller(x[0], x[1]);
        let (c2, _) = box_muller(x[2], x[3]);
        let e = exp_f32(uniform(x[3]) * 20.0 - 10.0);
        for (g, w) in normals[i].iter().zip([a, b, c2, e]) {
            max_err = max_err.max((g - w).abs() / w.abs().max(1.0));
        }
    }
    assert!(max_err < 1e-5, "normals/exp differ by {max_err}");
    // Published known answer, computed on the device.
    let (w, _) = rng_on_device(&ctx, &[[0; 4]], [0, 0]).expect("gpu rng");
    assert_eq!(w[0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
}

fn compare(cpu: &ChunkOut, gpu: &ChunkOut) -> (usize, f64) {
    let mut int_diff = 0;
    let mut max_rel = 0.0f64;
    let rel = |a: f32, b: f32| f64::from((a - b).abs()) / f64::from(a.abs().max(b.abs())).max(1.0);
    for (c, g) in cpu.paths.iter().zip(&gpu.paths) {
        if c.liquidations != g.liquidations || c.breach_day != g.breach_day {
            int_diff += 1;
            continue;
        }
        max_rel = max_rel
            .max(rel(c.terminal, g.terminal))
            .max(rel(c.liquidation_cost, g.liquidation_cost));
        max_rel = max_rel.max(f64::from((c.max_drawdown - g.max_drawdown).abs()));
    }
    (int_diff, max_rel)
}

#[test]
fn gpu_paths_match_cpu() {
    let Some(ctx) = gpu_or_skip() else { return };
    let mut gpu = GpuBackend::with_context(ctx).expect("stress shader compiles");
    for extra in [
        "",
        "liquidation = \"haircut\"",
        "shock_measure = \"market\"",
        "factors = 3",
    ] {
        let s = heavy(extra);
        let p = plan(&s, 21, vec![]);
        for (k, prep) in p.prepared.iter().enumerate() {
            let range = (1u64 << 33) - 100..(1u64 << 33) + 412;
            let c = run_cpu(prep, range.clone());
            let g = gpu.run_chunk(prep, range, false).expect("gpu chunk");
            let (int_diff, max_rel) = compare(&c, &g);
            assert!(
                int_diff * 1000 <= c.paths.len(),
                "{extra} scenario {k}: {int_diff} paths differ in integers"
            );
            assert!(
                max_rel < 1e-4,
                "{extra} scenario {k}: floats differ by {max_rel}"
            );
        }
    }
    let s = spec(&format!(
        "{}\n[[stress.scenarios]]\nname = \"boot\"\nkind = \"bootstrap\"\nblock_days = 5",
        TWO
    ));
    let table: Vec<f32> = (0..60)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.01)
        .collect();
    let p: Prepared = plan(&s, 2, vec![table]).prepared.remove(0);
    let (c, g) = (
        run_cpu(&p, 0..256),
        gpu.run_chunk(&p, 0..256, false).expect("gpu chunk"),
    );
    let (int_diff, max_rel) = compare(&c, &g);
    assert!(
        int_diff == 0 && max_rel < 1e-4,
        "bootstrap: {int_diff} {max_rel}"
    );
}

#[test]
fn gpu_band_histogram_matches_cpu() {
    // Histogram mode: the device counts daily values into band bins itself
    // (no per-day readback); the counts must match the CPU's values binned
    // on the host, up to values that sit on a bin edge.
    use super::summary::{BINS, band_bin};
    let Some(ctx) = gpu_or_skip() else { return };
    let mut gpu = GpuBackend::with_context(ctx).expect("pipeline");
    let p = plan(&heavy(""), 21, vec![]);
    for prep in &p.prepared {
        let h = prep.cfg.horizon as usize;
        let dev = gpu.run_chunk(prep, 0..300, true).expect("gpu chunk");
        assert!(dev.values.is_empty());
        assert_eq!(dev.band_counts.len(), h * (BINS + 2));
        let cpu = run_cpu(prep, 0..300);
        let mut host = vec![0u32; h * (BINS + 2)];
        for path in cpu.values.chunks(h) {
            for (t, &v) in path.iter().enumerate() {
                host[t * (BINS + 2) + band_bin(v, prep.cfg.inv_capital)] += 1;
            }
        }
        let total: u32 = dev.band_counts.iter().sum();
        assert_eq!(total as usize, 300 * h);
        let off: u32 = dev
            .band_counts
            .iter()
            .zip(&host)
            .map(|(a, b)| a.abs_diff(*b))
            .sum();
        // Each value that lands one bin over moves two counts.
        assert!(off as usize <= 2 * (300 * h) / 1000, "{off} counts differ");
    }
}

#[test]
fn gpu_summaries_match_cpu() {
    let Some(ctx) = gpu_or_skip() else { return };
    let mut gpu = GpuBackend::with_context(ctx).expect("stress shader compiles");
    let p = plan(&heavy(""), 4, vec![]);
    let (mut sc, mut sg) = (Vec::new(), Vec::new());
    engine::run(&p, &mut CpuBackend, 0..512, |_, _, _| Ok(()), &|| {})
        .map(|o| sc = o.summaries)
        .unwrap();
    engine::run(&p, &mut gpu, 0..512, |_, _, _| Ok(()), &|| {})
        .map(|o| sg = o.summaries)
        .unwrap();
    for (c, g) in sc.iter().zip(&sg) {
        for (a, b) in [
            (c.mean_terminal, g.mean_terminal),
            (c.median_terminal, g.median_terminal),
            (c.cvar_99, g.cvar_99),
            (c.mean_liquidation_cost, g.mean_liquidation_cost),
            (c.prob_drawdown_breach, g.prob_drawdown_breach),
        ] {
            assert!(
                (a - b).abs() <= 1e-3 * a.abs().max(1e-3),
                "{}: {a} vs {b}",
                c.scenario
            );
        }
    }
}

#[test]
fn shaders_validate_with_naga() {
    for src in [super::gpu::stress_source(), super::gpu::rng_test_source()] {
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{e:?}"));
    }
}

/// Blocks of paths (cluster units) reduce to the whole run's numbers, and
/// the band mode follows the job's path count, not a block's: with
/// `exact_band_paths = 100`, 512 paths get histogram bands even from blocks
/// of 64 paths.
#[test]
fn blocks_reduce_to_the_whole_run_in_both_band_modes() {
    use super::summary::Accumulator;
    for (extra, exact) in [("", true), ("exact_band_paths = 100", false)] {
        let s = heavy(extra);
        let p = plan(&s, 7, Vec::new());
        let whole = engine::run(&p, &mut CpuBackend, 0..p.paths, |_, _, _| Ok(()), &|| {}).unwrap();
        assert_eq!(whole.exact_bands, exact);
        let (mut summaries, mut bands) = (Vec::new(), Vec::new());
        for sc in 0..p.names.len() {
            let mut acc = Accumulator::new(p.capital, p.horizon, p.paths, p.exact_bands(p.paths));
            let mut primary = true;
            for r in [0..64, 64..100, 100..300, 300..512] {
                let b = engine::run_block(&p, &mut CpuBackend, &mut primary, sc, r).unwrap();
                assert_eq!(b.values.is_empty(), !exact);
                assert_eq!(b.counts.is_empty(), exact);
                acc.push(&b.paths, &b.values);
                acc.push_counts(&b.counts);
            }
            let (sm, bd) = acc.finish(&p.names[sc], "cpu");
            summaries.push(sm);
            bands.extend(bd);
        }
        assert_eq!(summaries, whole.summaries, "{extra}");
        assert_eq!(bands, whole.bands, "{extra}");
    }
}
