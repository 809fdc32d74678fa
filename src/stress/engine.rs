//! Runs every scenario over a path range in chunks on a backend, falls back
//! to the CPU for chunks the device fails, and reduces results in path order.

use std::ops::Range;

use serde::Serialize;

use super::{
    BackendKind, ChunkOut, StressBackend,
    cpu::CpuBackend,
    model::PathOut,
    model::Prepared,
    summary::{Accumulator, BINS, BandRow, ScenarioSummary, band_bin},
};
use crate::config::stress::{MarketInputs, StressSpec};

/// Most path-day values kept for exact percentile bands (512 MiB of f32).
pub const EXACT_BAND_VALUES: u64 = 1 << 27;

/// A fully resolved stress run: spec, market and per-scenario kernel inputs.
pub struct Plan {
    /// Scenario names, in order.
    pub names: Vec<String>,
    /// Kernel inputs per scenario.
    pub prepared: Vec<Prepared>,
    /// Starting capital.
    pub capital: f64,
    /// Days per path.
    pub horizon: u32,
    /// Exact bands up to this many paths.
    pub exact_band_paths: u64,
    /// Paths per chunk, when fixed.
    pub chunk_paths: Option<u64>,
    /// Paths per scenario of the whole job (a run may cover a range of them).
    pub paths: u64,
}

impl Plan {
    /// Prepares every scenario of `spec` on `market`; `hist[i]` is scenario i's bootstrap table.
    pub fn new(spec: &StressSpec, market: &MarketInputs, seed: u64, hist: Vec<Vec<f32>>) -> Self {
        let prepared = spec
            .scenarios
            .iter()
            .zip(hist)
            .enumerate()
            .map(|(i, (s, h))| Prepared::new(spec, market, seed, i as u32, s, h))
            .collect();
        Self {
            names: spec.scenarios.iter().map(|s| s.name.clone()).collect(),
            prepared,
            capital: spec.capital,
            horizon: spec.horizon,
            exact_band_paths: spec.exact_band_paths,
            chunk_paths: spec.chunk_paths,
            paths: spec.paths,
        }
    }

    /// Whether a run of `n` paths keeps exact bands (else histograms): exact
    /// bands keep every path-day value, and past [`EXACT_BAND_VALUES`] they
    /// would not fit in memory.
    pub fn exact_bands(&self, n: u64) -> bool {
        n <= self.exact_band_paths && n.saturating_mul(u64::from(self.horizon)) <= EXACT_BAND_VALUES
    }
}

/// What a run produced, besides the streamed path rows.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Summary per scenario.
    pub summaries: Vec<ScenarioSummary>,
    /// Bands per scenario and day.
    #[serde(skip)]
    pub bands: Vec<BandRow>,
    /// Whether the bands are exact percentiles (else histogram).
    pub exact_bands: bool,
    /// Chunks run.
    pub chunks: u64,
    /// Chunks the primary backend failed and the CPU re-ran.
    pub fallback_chunks: u64,
    /// First device error, when a fallback happened.
    pub fallback_reason: Option<String>,
}

/// Simulates `paths` of every scenario; `on_chunk(scenario, first_path, chunk)`
/// receives chunks in order (for streaming to Parquet); `tick` is called once per chunk.
pub fn run(
    plan: &Plan,
    backend: &mut dyn StressBackend,
    paths: Range<u64>,
    mut on_chunk: impl FnMut(usize, u64, &ChunkOut) -> anyhow::Result<()>,
    tick: &dyn Fn(),
) -> anyhow::Result<Outcome> {
    let n = paths.end.saturating_sub(paths.start);
    let exact = plan.exact_bands(n);
    let mut cpu = CpuBackend;
    let mut use_primary = true;
    let mut out = Outcome {
        summaries: Vec::new(),
        bands: Vec::new(),
        exact_bands: exact,
        chunks: 0,
        fallback_chunks: 0,
        fallback_reason: None,
    };
    for (s, p) in plan.prepared.iter().enumerate() {
        let mut acc = Accumulator::new(plan.capital, plan.horizon, n, exact);
        let chunk = plan
            .chunk_paths
            .unwrap_or_else(|| backend.max_chunk(p))
            .max(1);
        let mut used = Vec::new();
        let mut first = paths.start;
        while first < paths.end {
            let range = first..(first + chunk).min(paths.end);
            let (res, ran) = chunk_with_fallback(
                backend,
                &mut cpu,
                p,
                range.clone(),
                !exact,
                &plan.names[s],
                &mut use_primary,
                &mut out.fallback_chunks,
                &mut out.fallback_reason,
            )?;
            used.push(ran);
            on_chunk(s, range.start, &res)?;
            acc.push(&res.paths, &res.values);
            acc.push_counts(&res.band_counts);
            out.chunks += 1;
            tick();
            first = range.end;
        }
        used.dedup();
        used.sort_unstable();
        used.dedup();
        let (summary, bands) = acc.finish(&plan.names[s], &used.join("+"));
        out.summaries.push(summary);
        out.bands.extend(bands);
    }
    Ok(out)
}

/// Runs one chunk on `backend` while `use_primary` holds, else on the CPU.
/// A device failure re-runs the chunk on the CPU, records the first error
/// and switches the later chunks to the CPU; every chunk the CPU runs in
/// its place counts as a fallback chunk. Returns the chunk and who ran it.
#[expect(
    clippy::too_many_arguments,
    reason = "the fallback state is updated in place by both callers"
)]
fn chunk_with_fallback(
    backend: &mut dyn StressBackend,
    cpu: &mut CpuBackend,
    p: &Prepared,
    range: Range<u64>,
    histogram: bool,
    scenario: &str,
    use_primary: &mut bool,
    fallback_chunks: &mut u64,
    fallback_reason: &mut Option<String>,
) -> anyhow::Result<(ChunkOut, &'static str)> {
    if *use_primary {
        match backend.run_chunk(p, range.clone(), histogram) {
            Ok(r) => return Ok((r, backend.kind().as_str())),
            Err(e) if backend.kind() != BackendKind::Cpu => {
                tracing::warn!(
                    "{} backend failed on scenario {scenario} paths {range:?}: {e:#}; re-running this and later chunks on the cpu",
                    backend.kind().as_str(),
                );
                fallback_reason.get_or_insert_with(|| format!("{e:#}"));
                *use_primary = false;
            }
            Err(e) => return Err(e),
        }
    }
    *fallback_chunks += 1;
    Ok((cpu.run_chunk(p, range, histogram)?, "cpu"))
}

/// One block of paths of one scenario: what a cluster unit keeps of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// Path results, in path order.
    pub paths: Vec<PathOut>,
    /// Daily values, path-major `[paths, horizon]`, when the job's bands are exact.
    pub values: Vec<f32>,
    /// Band histogram counts `[horizon, BINS + 2]`, when they are histograms.
    pub counts: Vec<u32>,
    /// Backends that ran the chunks (sorted, distinct).
    pub backends: Vec<String>,
    /// Chunks run.
    pub chunks: u64,
    /// Chunks the primary backend failed and the CPU re-ran.
    pub fallback_chunks: u64,
    /// First device error, when a fallback happened.
    pub fallback_reason: Option<String>,
}

/// Simulates `paths` of scenario `s` in chunks on `backend`, falling back to
/// the CPU (here and, through `use_primary`, for later blocks) when a chunk
/// fails on a device. Exact or histogram bands follow the job's total path
/// count ([`Plan::paths`]), never the block's, so any cut of the paths into
/// blocks reduces to the same numbers.
pub fn run_block(
    plan: &Plan,
    backend: &mut dyn StressBackend,
    use_primary: &mut bool,
    s: usize,
    paths: Range<u64>,
) -> anyhow::Result<Block> {
    let exact = plan.exact_bands(plan.paths);
    let p = &plan.prepared[s];
    let horizon = plan.horizon as usize;
    let mut cpu = CpuBackend;
    let mut out = Block {
        counts: if exact {
            Vec::new()
        } else {
            vec![0; horizon * (BINS + 2)]
        },
        ..Block::default()
    };
    let chunk = plan
        .chunk_paths
        .unwrap_or_else(|| backend.max_chunk(p))
        .max(1);
    let inv_capital = (1.0 / plan.capital) as f32;
    let mut first = paths.start;
    while first < paths.end {
        let range = first..(first + chunk).min(paths.end);
        let (res, ran) = chunk_with_fallback(
            backend,
            &mut cpu,
            p,
            range.clone(),
            !exact,
            &plan.names[s],
            use_primary,
            &mut out.fallback_chunks,
            &mut out.fallback_reason,
        )?;
        out.backends.push(ran.into());
        out.paths.extend_from_slice(&res.paths);
        if exact {
            out.values.extend_from_slice(&res.values);
        } else {
            for (c, &k) in out.counts.iter_mut().zip(&res.band_counts) {
                *c += k;
            }
            for path in res.values.chunks(horizon.max(1)) {
                for (t, &v) in path.iter().enumerate() {
                    out.counts[t * (BINS + 2) + band_bin(v, inv_capital)] += 1;
                }
            }
        }
        out.chunks += 1;
        first = range.end;
    }
    out.backends.sort_unstable();
    out.backends.dedup();
    Ok(out)
}

/// Number of chunks `run` will process, for the progress bar.
pub fn count_chunks(plan: &Plan, backend: &dyn StressBackend, n: u64) -> u64 {
    plan.prepared
        .iter()
        .map(|p| {
            n.div_ceil(
                plan.chunk_paths
                    .unwrap_or_else(|| backend.max_chunk(p))
                    .max(1),
            )
        })
        .sum()
}
