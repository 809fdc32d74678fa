//! Walk-forward benchmark: chloe against the Python baseline in the same run.
//!
//! Workloads: the shipped daily data (`datasets/us_equities_daily_skfolio.parquet`,
//! 20 stocks, 1990-2022, no benchmark) and a synthetic 500-asset x 20-year panel
//! (`chloe data synth --assets 500 --days 5040 --seed 1`), both with the default
//! `[walkforward]` (252/63/5, GMM regimes, logistic edge model). Each is timed with
//! 1 and 2 rayon threads (load + features + folds; no report writing), then
//! `benches/walkforward_baseline.py` (pandas + scikit-learn) runs the same folds,
//! and per-fold edge precision of the two is compared.
//!
//!     cargo bench --bench walkforward            # both workloads
//!     CHLOE_BENCH_QUICK=1 cargo bench --bench walkforward   # shipped data only
//!
//! A fold-level benchmark this coarse gains nothing from criterion's sampling, so
//! this is a plain timed harness (best of a few runs).

use std::{path::Path, process::Command, time::Instant};

use chloe::{
    config::JobSpec,
    data::load_panel,
    features,
    walkforward::{self, FeatureInput, Walkforward},
};

fn run_once(job: &JobSpec) -> (f64, Walkforward) {
    let t = Instant::now();
    let loaded = load_panel(job.data.as_ref().expect("job has data")).expect("data loads");
    let fs = features::compute(&loaded.panel, &job.features);
    let input = FeatureInput {
        names: &fs.names,
        values: fs.values.view(),
        warmup: fs.warmup,
    };
    let wf = walkforward::run(
        &loaded.panel,
        input,
        &job.walkforward,
        &job.sizing,
        job.seed,
        None,
    )
    .expect("walk-forward runs");
    (t.elapsed().as_secs_f64(), wf)
}

fn timed(job: &JobSpec, threads: usize, reps: usize) -> (f64, Walkforward) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps {
        let (s, wf) = pool.install(|| run_once(job));
        best = best.min(s);
        last = Some(wf);
    }
    (best, last.expect("at least one run"))
}

fn baseline(data: &Path, out: &Path) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/walkforward_baseline.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(data)
        .arg("--out")
        .arg(out)
        .status()
        .ok()?;
    if !status.success() {
        eprintln!("baseline failed ({status}); is `pip install pandas scikit-learn pyarrow` done?");
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(out).ok()?).ok()
}

fn workload(name: &str, data: &Path, reps: usize) {
    let text = format!(
        "[job]\nname = \"{name}\"\nseed = 0\n[data]\npath = \"{}\"\n[walkforward]\nbootstrap_resamples = 200\n",
        data.display()
    );
    let job = JobSpec::from_str(&text, Path::new("bench.toml")).expect("bench job is valid");
    let (t1, wf) = timed(&job, 1, reps);
    let (t2, _) = timed(&job, 2, reps);
    println!(
        "{name}: {} folds; chloe 1 thread {t1:.2}s, 2 threads {t2:.2}s (speed-up {:.2}x)",
        wf.aggregate.n_folds,
        t1 / t2
    );
    let out = std::env::temp_dir().join(format!("chloe_bench_{name}.json"));
    let Some(py) = baseline(data, &out) else {
        return;
    };
    let py_s = py["times"]["total_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{name}: python baseline {py_s:.2}s -> chloe is {:.1}x faster (2 threads), {:.1}x (1 thread)",
        py_s / t2,
        py_s / t1
    );
    let folds = py["folds"].as_array().cloned().unwrap_or_default();
    let mut diffs = Vec::new();
    for (f, p) in wf.folds.iter().zip(&folds) {
        if let (Some(a), Some(b)) = (f.metrics.edge_precision, p["edge_precision"].as_f64()) {
            diffs.push((a - b).abs());
        }
    }
    diffs.sort_by(f64::total_cmp);
    let med = diffs.get(diffs.len() / 2).copied().unwrap_or(f64::NAN);
    let mean_c = wf.aggregate.edge_precision.unwrap_or(f64::NAN);
    println!(
        "{name}: per-fold edge precision |chloe - python|: median {med:.3}, max {:.3} over {} folds \
         (same fold count: {}); chloe aggregate precision {mean_c:.3}, base rate {:.3}",
        diffs.last().copied().unwrap_or(f64::NAN),
        diffs.len(),
        folds.len() == wf.folds.len(),
        wf.aggregate.base_rate.unwrap_or(f64::NAN),
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    workload(
        "shipped",
        &root.join("datasets/us_equities_daily_skfolio.parquet"),
        3,
    );
    if std::env::var_os("CHLOE_BENCH_QUICK").is_some() {
        return;
    }
    let synth = std::env::temp_dir().join("chloe_bench_synth500.parquet");
    if !synth.exists() {
        let p = chloe::data::synth::SynthParams {
            assets: 500,
            days: 5040,
            seed: 1,
            start: chloe::data::time::parse_date("2000-01-03", false).expect("date"),
        };
        chloe::data::synth::write(&synth, &chloe::data::synth::generate(&p))
            .expect("synth written");
    }
    workload("synth500", &synth, 1);
}
