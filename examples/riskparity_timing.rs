//! Times chloe's risk-parity solve on a covariance matrix read from a file,
//! for the comparison with scipy in `benches/riskparity_scipy.py` (which
//! writes the matrix, runs this, and checks the weights).
//!
//! Run: `cargo run --release --example riskparity_timing -- COV.f64 N REPS`,
//! where COV.f64 holds the N x N matrix as little-endian f64, row-major.
//! Prints one JSON object: n, reps, median and min seconds, iterations, weights.

use std::time::Instant;

use anyhow::{Context, bail};
use chloe::strategy::portfolio::{SolveOptions, risk_parity};
use ndarray::Array2;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, n, reps] = args.as_slice() else {
        bail!("usage: riskparity_timing COV.f64 N REPS");
    };
    let n: usize = n.parse().context("N")?;
    let reps: usize = reps.parse().context("REPS")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    if bytes.len() != n * n * 8 {
        bail!(
            "{path}: {} bytes, expected {} for {n} x {n} f64",
            bytes.len(),
            n * n * 8
        );
    }
    let v: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let cov = Array2::from_shape_vec((n, n), v)?;
    let opts = SolveOptions::default();
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        let a = risk_parity(cov.view(), None, &opts)?;
        times.push(t0.elapsed().as_secs_f64());
        last = Some(a);
    }
    times.sort_by(f64::total_cmp);
    let a = last.expect("at least one rep");
    let out = serde_json::json!({
        "n": n,
        "reps": times.len(),
        "median_seconds": times[times.len() / 2],
        "min_seconds": times[0],
        "iterations": a.iterations,
        "sweeps": a.sweeps,
        "weights": a.weights.to_vec(),
    });
    println!("{out}");
    Ok(())
}
