//! CPU stress kernel vs a vectorised numpy baseline of the same model.
//!
//! Workload: 10,000 paths x 252 days x 50 assets, one parametric scenario
//! (liquidity_crunch preset: jumps, correlation shift, forced deleveraging).
//! Run: `cargo bench --bench stress`. The numpy baseline
//! (`benches/stress_numpy.py`) runs first in the same process tree and the
//! ratio is printed at the end; see BENCHMARKS.md ("Stress").
//! `STRESS_SKIP_NUMPY=1` skips the baseline.

use std::{hint::black_box, path::Path, process::Command, time::Instant};

use chloe::{
    config::{JobSpec, stress::MarketSource},
    stress::{
        cpu::{run_cpu, run_cpu_with, simulate_portable},
        engine::Plan,
    },
};
use criterion::Criterion;

const PATHS: u64 = 10_000;
const DAYS: u32 = 252;
const ASSETS: usize = 50;

/// The same market as `market()` in stress_numpy.py, built with a simple
/// deterministic recipe (values differ; the work per path-day is the same).
fn job() -> String {
    job_with(ASSETS, "")
}

/// The bench market with `n` assets; `extra` lines go in `[stress]`.
fn job_with(n: usize, extra: &str) -> String {
    let list = |f: &dyn Fn(usize) -> f64| {
        (0..n)
            .map(|i| format!("{:e}", f(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let corr: Vec<String> = (0..n)
        .map(|i| {
            let row: Vec<String> = (0..n)
                .map(|j| {
                    if i == j {
                        "1.0".to_string()
                    } else {
                        "0.3".to_string()
                    }
                })
                .collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let syms: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
    let weights: Vec<String> = (0..n)
        .map(|i| format!("S{i} = {}", 1.3 / n as f64))
        .collect();
    format!(
        "[job]\nname = \"bench\"\n[stress]\npaths = {PATHS}\nhorizon = {DAYS}\n{extra}\n[stress.market]\nsymbols = [{}]\nmu = [{}]\nsigma = [{}]\nadv = [{}]\nspread = [{}]\ncorrelation = [{}]\n[stress.portfolio]\nweights = {{ {} }}\n[[stress.scenarios]]\nname = \"crunch\"\npreset = \"liquidity_crunch\"\n",
        syms.join(", "),
        list(&|_| 0.0003),
        list(&|i| 0.01 + 0.02 * (i as f64 / n as f64)),
        list(&|i| 5e7 + 4.5e8 * (i as f64 / n as f64)),
        list(&|i| 0.0002 + 0.0018 * (i as f64 / n as f64)),
        corr.join(", "),
        weights.join(", "),
    )
}

fn numpy_seconds() -> Option<f64> {
    if std::env::var_os("STRESS_SKIP_NUMPY").is_some() {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stress_numpy.py");
    let out = Command::new("python3").arg(script).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", text.trim());
    text.lines().last()?.trim().parse().ok()
}

/// Lane operations per path-day of the 50-asset workload, counted in
/// BENCHMARKS.md ("Compute floor").
const OPS_PER_PATH_DAY: f64 = 8_650.0;

/// Peak f32 lane operations per nanosecond of one core: twelve independent
/// multiply-then-add chains of 8 lanes (no FMA, like the kernel).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn peak_lane_ops_per_ns_avx2() -> f64 {
    let m = black_box([0.999_999f32; 8]);
    let c = black_box([1e-7f32; 8]);
    let mut acc: [[f32; 8]; 12] = std::array::from_fn(|i| [black_box(i as f32); 8]);
    let rounds = 20_000_000u64;
    let t = Instant::now();
    for _ in 0..rounds {
        for a in acc.iter_mut() {
            for l in 0..8 {
                a[l] = a[l] * m[l] + c[l];
            }
        }
    }
    black_box(acc);
    (rounds * 12 * 8 * 2) as f64 / t.elapsed().as_nanos() as f64
}

/// [`peak_lane_ops_per_ns_avx2`] when the CPU has AVX2.
fn peak_lane_ops_per_ns() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked on the line above), the only
        // requirement of a `#[target_feature(enable = "avx2")]` function.
        #[allow(unsafe_code)]
        return Some(unsafe { peak_lane_ops_per_ns_avx2() });
    }
    None
}

fn main() {
    let spec = JobSpec::from_str(&job(), Path::new("bench.toml")).expect("bench job");
    let s = spec.stress.expect("stress");
    let MarketSource::Given(m) = &s.market else {
        unreachable!()
    };
    let plan = Plan::new(&s, m, 1, vec![Vec::new()]);
    let p = &plan.prepared[0];
    let numpy = numpy_seconds();
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    c.bench_function("stress_cpu_10k_paths_252d_50assets", |b| {
        b.iter(|| black_box(run_cpu(p, 0..PATHS)))
    });
    c.final_summary();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        black_box(run_cpu(p, 0..PATHS));
        best = best.min(t.elapsed().as_secs_f64());
    }
    // The baseline-target build of the same kernel (SSE2 on x86-64), for
    // the gain of the run-time AVX2 dispatch.
    let mut portable = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        black_box(run_cpu_with(p, 0..PATHS, simulate_portable));
        portable = portable.min(t.elapsed().as_secs_f64());
    }
    let path_days = PATHS as f64 * f64::from(DAYS);
    eprintln!(
        "chloe cpu: {best:.4} s best of 3 ({:.1} ns per path-day, {} threads)",
        best / path_days * 1e9,
        rayon::current_num_threads()
    );
    eprintln!(
        "chloe cpu, baseline-target build: {portable:.4} s best of 3 ({:.2}x the dispatched build's time)",
        portable / best
    );
    // A large universe: 500 assets, full Cholesky vs a 20-factor model.
    let large = |extra: &str| {
        let spec = JobSpec::from_str(&job_with(500, extra), Path::new("bench.toml")).expect("job");
        let s = spec.stress.expect("stress");
        let MarketSource::Given(m) = &s.market else {
            unreachable!()
        };
        let plan = Plan::new(&s, m, 1, vec![Vec::new()]);
        let t = Instant::now();
        black_box(run_cpu(&plan.prepared[0], 0..1_000));
        t.elapsed().as_secs_f64()
    };
    let (full, factor) = (large(""), large("factors = 20"));
    eprintln!(
        "500 assets, 1,000 paths x {DAYS} days: full Cholesky {full:.3} s, 20 factors {factor:.3} s ({:.1}x)",
        full / factor
    );
    if let Some(peak) = peak_lane_ops_per_ns() {
        let cores = rayon::current_num_threads() as f64;
        let floor = path_days * OPS_PER_PATH_DAY / (peak * 1e9 * cores);
        eprintln!(
            "compute floor: {floor:.4} s ({OPS_PER_PATH_DAY} lane-ops per path-day at the measured peak of {peak:.1} lane-ops/ns per core, {cores} cores); chloe is {:.2}x the floor",
            best / floor
        );
    }
    if let Some(np) = numpy {
        eprintln!("numpy: {np:.4} s best of 3; speedup {:.1}x", np / best);
    }
}
