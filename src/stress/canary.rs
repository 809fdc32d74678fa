//! The CPU-vs-GPU canary: before a run trusts a device, a small slice of the
//! job (the first [`CANARY_PATHS`] paths of every scenario, whole horizon)
//! runs on both backends and must agree within the stress contract's
//! tolerance. Shader compilers on users' machines have bugs that lavapipe
//! does not; the canary turns a wrong device into a logged fallback (or an
//! error) instead of wrong VaR.

use serde::Serialize;

use super::{ChunkOut, StressBackend, cpu::run_cpu, engine::Plan, model::PathOut};

/// Paths per scenario in the canary slice.
pub const CANARY_PATHS: u64 = 64;

/// Share of paths whose integer outputs (liquidations, breach day) may differ.
pub const MAX_INT_MISMATCH: f64 = 1e-3;

/// Largest relative difference of a float output on agreeing paths.
pub const MAX_REL_DIFF: f64 = 1e-4;

/// Money values are compared relative to the larger of the two values and
/// this share of starting capital. Reports state losses as fractions of
/// capital (VaR, CVaR), so capital is the unit an error is measured in; and
/// a book that lost everything hovers near zero, where the f32 rounding
/// carried from its days near capital (a few units on 1e8) is no relative
/// measure.
pub const VALUE_FLOOR: f64 = 1.0;

/// How a CPU and a device chunk of the same paths differ.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Diff {
    /// Paths compared.
    pub paths: usize,
    /// Paths whose liquidations or breach day differ.
    pub int_mismatches: usize,
    /// Largest relative difference of a float output on agreeing paths:
    /// terminal value, liquidation cost and daily values relative to the
    /// larger value or [`VALUE_FLOOR`] of capital; max drawdown absolute.
    pub max_rel_diff: f64,
}

impl Diff {
    /// Whether the difference is within the stress contract's tolerance.
    pub fn within_contract(&self) -> bool {
        (self.int_mismatches as f64) <= MAX_INT_MISMATCH * self.paths as f64
            && self.max_rel_diff <= MAX_REL_DIFF
    }

    /// The canary's test: the contract, except that one path per scenario
    /// may differ in its integers. A path whose shock or breach sits within
    /// an f32 rounding of its threshold flips about once in 10,000 paths on
    /// a correct device; on 64 paths the contract's 0.1% would allow none,
    /// and a good GPU would be refused a few runs in a hundred. A wrong
    /// kernel still fails on the floats of the agreeing paths.
    pub fn passes_canary(&self) -> bool {
        self.int_mismatches <= 1.max(self.paths / 1000) && self.max_rel_diff <= MAX_REL_DIFF
    }

    /// The larger of two differences (paths add up).
    pub fn merge(self, o: Diff) -> Diff {
        Diff {
            paths: self.paths + o.paths,
            int_mismatches: self.int_mismatches + o.int_mismatches,
            max_rel_diff: self.max_rel_diff.max(o.max_rel_diff),
        }
    }
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} paths differ in liquidations or breach day (limit {:.1}%), largest float difference {:.2e} (limit {MAX_REL_DIFF:.0e})",
            self.int_mismatches,
            self.paths,
            MAX_INT_MISMATCH * 100.0,
            self.max_rel_diff
        )
    }
}

/// Compares per-path outputs, and daily values when both chunks carry them
/// (`horizon` values per path, path-major), for a book of `capital`.
pub fn diff(cpu: &ChunkOut, dev: &ChunkOut, horizon: usize, capital: f64) -> Diff {
    let floor = VALUE_FLOOR * capital;
    let rel_to = |a: f32, b: f32, floor: f64| {
        let (a, b) = (f64::from(a), f64::from(b));
        if a == b {
            0.0
        } else if a.is_finite() && b.is_finite() {
            (a - b).abs() / a.abs().max(b.abs()).max(floor)
        } else {
            f64::INFINITY
        }
    };
    let rel = |a: f32, b: f32| rel_to(a, b, floor);
    let same_ints =
        |c: &PathOut, g: &PathOut| c.liquidations == g.liquidations && c.breach_day == g.breach_day;
    let mut d = Diff {
        paths: cpu.paths.len(),
        // A device that returns the wrong number of paths disagrees on all of them.
        int_mismatches: cpu.paths.len().abs_diff(dev.paths.len()),
        max_rel_diff: 0.0,
    };
    let values = cpu.values.len() == cpu.paths.len() * horizon
        && dev.values.len() == dev.paths.len() * horizon;
    for (k, (c, g)) in cpu.paths.iter().zip(&dev.paths).enumerate() {
        if !same_ints(c, g) {
            d.int_mismatches += 1;
            continue;
        }
        let mut m = rel(c.terminal, g.terminal)
            .max(rel(c.liquidation_cost, g.liquidation_cost))
            .max(rel_to(c.max_drawdown, g.max_drawdown, 1.0));
        if values {
            let r = k * horizon..(k + 1) * horizon;
            for (&a, &b) in cpu.values[r.clone()].iter().zip(&dev.values[r]) {
                m = m.max(rel(a, b));
            }
        }
        d.max_rel_diff = d.max_rel_diff.max(m);
    }
    d
}

/// The canary's verdict for one device.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    /// Whether every scenario agreed within the contract.
    pub passed: bool,
    /// Paths per scenario compared.
    pub paths_per_scenario: u64,
    /// Difference per scenario, in plan order.
    pub scenarios: Vec<(String, Diff)>,
    /// All scenarios together.
    pub total: Diff,
    /// Wall time of the canary, seconds (both backends).
    pub seconds: f64,
    /// Of which the CPU side.
    pub cpu_seconds: f64,
    /// Of which the device side.
    pub device_seconds: f64,
}

impl CanaryReport {
    /// One line for logs: the verdict and the worst figures.
    pub fn line(&self) -> String {
        format!(
            "canary {} ({} paths x {} scenarios, whole horizon, {:.3} s): {}",
            if self.passed { "passed" } else { "FAILED" },
            self.paths_per_scenario,
            self.scenarios.len(),
            self.seconds,
            self.total
        )
    }
}

/// Runs the first [`CANARY_PATHS`] paths of every scenario of `plan` on
/// `device` and on the CPU and compares them; a device error is an `Err`.
pub fn run(plan: &Plan, device: &mut dyn StressBackend) -> anyhow::Result<CanaryReport> {
    let t0 = std::time::Instant::now();
    let (mut cpu_seconds, mut device_seconds) = (0.0, 0.0);
    let mut scenarios = Vec::new();
    let mut total = Diff::default();
    for (name, p) in plan.names.iter().zip(&plan.prepared) {
        let range = 0..CANARY_PATHS;
        let t = std::time::Instant::now();
        let dev = device.run_chunk(p, range.clone(), false)?;
        device_seconds += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let cpu = run_cpu(p, range);
        cpu_seconds += t.elapsed().as_secs_f64();
        let d = diff(&cpu, &dev, p.cfg.horizon as usize, f64::from(p.cfg.capital));
        total = total.merge(d);
        scenarios.push((name.clone(), d));
    }
    Ok(CanaryReport {
        passed: scenarios.iter().all(|(_, d)| d.passes_canary()),
        paths_per_scenario: CANARY_PATHS,
        scenarios,
        total,
        seconds: t0.elapsed().as_secs_f64(),
        cpu_seconds,
        device_seconds,
    })
}

/// The job `chloe devices --check` runs the canary on: a year of 40 assets
/// (long enough to cross the per-invocation limits that broke drivers
/// before) under the four preset scenarios, a mixed long/short book.
pub fn reference_plan() -> Plan {
    use std::fmt::Write as _;
    let n = 40;
    let list = |f: &dyn Fn(usize) -> f64| {
        let v: Vec<String> = (0..n).map(|i| format!("{:e}", f(i))).collect();
        format!("[{}]", v.join(", "))
    };
    let mut corr = String::new();
    for i in 0..n {
        let row = list(&|j| if i == j { 1.0 } else { 0.25 });
        let _ = write!(corr, "{}{row}", if i == 0 { "" } else { ", " });
    }
    let syms: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
    let weights: Vec<String> = (0..n)
        .map(|i| format!("S{i} = {}", if i % 5 == 4 { -0.05 } else { 0.04 }))
        .collect();
    let text = format!(
        "[job]\nname = \"canary\"\nseed = 7\n[stress]\npaths = {CANARY_PATHS}\nhorizon = 252\nshock_threshold = 0.02\n[stress.market]\nsymbols = [{}]\nmu = {}\nsigma = {}\nadv = {}\nspread = {}\ncorrelation = [{corr}]\n[stress.portfolio]\nweights = {{ {} }}\n",
        syms.join(", "),
        list(&|i| 0.0002 * (i % 3) as f64),
        list(&|i| 0.01 + 0.0005 * i as f64),
        list(&|i| 2e7 * (1 + i) as f64),
        list(&|i| 0.0004 + 0.00005 * i as f64),
        weights.join(", "),
    );
    let job = crate::config::JobSpec::from_str(&text, std::path::Path::new("canary.toml"))
        .expect("the canary job is valid");
    let spec = job.stress.expect("stress section");
    let crate::config::stress::MarketSource::Given(m) = &spec.market else {
        unreachable!("the canary market is given")
    };
    Plan::new(&spec, m, job.seed, vec![Vec::new(); spec.scenarios.len()])
}
