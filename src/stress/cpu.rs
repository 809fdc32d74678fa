//! CPU backend: the kernel of `shaders/stress.wgsl`, run with rayon over
//! blocks of [`LANES`] paths.
//!
//! The portable kernel runs a block as two halves of 8 paths; within a half
//! each path sits in one lane of a fixed-size array, so the compiler
//! vectorises across paths while every lane performs exactly the operations
//! one GPU invocation performs, in the same order. Loop order: day -> (jump
//! draw, normals) -> asset -> Cholesky row, as in `simulate`. On x86-64 CPUs
//! with AVX2 the kernel runs as `avx2::simulate`, written with explicit
//! vectors, which repeats each lane's operations in the same order and so
//! is bit-identical to the portable one.

use std::ops::Range;

use rayon::prelude::*;

use super::{
    ChunkOut, StressBackend,
    model::{PathOut, Prepared},
    philox::{box_muller, counter, exp_f32, philox4x32_10, uniform},
};

/// Paths simulated together in one block.
pub const LANES: usize = 16;

/// Lanes of the portable kernel: a block runs as two halves (16 lanes of
/// arrays were measured slower there, from register pressure).
const HALF: usize = 8;

/// rayon over path blocks; results do not depend on the thread count.
#[derive(Debug, Default, Clone)]
pub struct CpuBackend;

impl StressBackend for CpuBackend {
    fn kind(&self) -> super::BackendKind {
        super::BackendKind::Cpu
    }

    fn max_chunk(&self, p: &Prepared) -> u64 {
        // Keep the per-day values of a chunk near 64 MiB.
        ((16 << 20) / u64::from(p.cfg.horizon.max(1))).clamp(LANES as u64, 1 << 16)
    }

    fn run_chunk(
        &mut self,
        p: &Prepared,
        paths: Range<u64>,
        _histogram: bool,
    ) -> anyhow::Result<ChunkOut> {
        // Values are binned by the accumulator (a chunk's values are bounded).
        Ok(run_cpu(p, paths))
    }
}

/// A block kernel: [`simulate`] or [`simulate_portable`].
pub type Kernel = fn(&Prepared, u64, &mut Scratch, &mut [f32]) -> [PathOut; LANES];

/// Simulates `paths` of the prepared scenario on the CPU.
pub fn run_cpu(p: &Prepared, paths: Range<u64>) -> ChunkOut {
    run_cpu_with(p, paths, simulate)
}

/// [`run_cpu`] with a chosen kernel (benchmarks compare them).
pub fn run_cpu_with(p: &Prepared, paths: Range<u64>, kernel: Kernel) -> ChunkOut {
    let h = p.cfg.horizon as usize;
    let n = (paths.end - paths.start) as usize;
    let mut out = vec![PathOut::default(); n];
    let mut values = vec![0.0f32; n * h];
    out.par_chunks_mut(LANES)
        .zip(values.par_chunks_mut(LANES * h))
        .enumerate()
        .for_each_init(
            || Scratch::new(p),
            |scratch, (b, (o, v))| {
                let first = paths.start + (b * LANES) as u64;
                let res = kernel(p, first, scratch, v);
                o.copy_from_slice(&res[..o.len()]);
            },
        );
    ChunkOut {
        paths: out,
        values,
        band_counts: Vec::new(),
    }
}

/// One value per lane of the portable kernel.
type Lanes<T> = [T; HALF];

/// Per-thread working memory for one block of lanes.
pub struct Scratch {
    h: Vec<Lanes<f32>>,
    z: Vec<Lanes<f32>>,
    r: Vec<Lanes<f32>>,
    lane_values: Vec<Lanes<f32>>,
    #[cfg(target_arch = "x86_64")]
    wide: super::avx2::Wide,
}

impl Scratch {
    /// Working memory sized for `p`.
    pub fn new(p: &Prepared) -> Self {
        let n = p.cfg.n_assets as usize;
        Self {
            h: vec![[0.0; HALF]; n],
            z: vec![[0.0; HALF]; 4 * p.cfg.blocks as usize],
            r: vec![[0.0; HALF]; n],
            lane_values: vec![[0.0; HALF]; p.cfg.horizon as usize],
            #[cfg(target_arch = "x86_64")]
            wide: super::avx2::Wide::new(p),
        }
    }
}

/// `philox4x32_10` for every lane, transposed to one array per word.
///
/// Written as one scalar call per lane: LLVM's SLP vectoriser turns the
/// independent lanes into `pmuludq` (two 32x32->64 products per
/// instruction on SSE2). Hand-written lane loops over `u32` or `u64` word
/// arrays were measured slower: the loop vectoriser left them as scalar
/// `imul`s.
#[inline(always)]
fn philox_lanes(draw: u32, path: &Lanes<u64>, scenario: u32, key: [u32; 2]) -> [Lanes<u32>; 4] {
    let mut out = [[0u32; HALF]; 4];
    for l in 0..HALF {
        let x = philox4x32_10(counter(draw, path[l], scenario), key);
        for (o, x) in out.iter_mut().zip(x) {
            o[l] = x;
        }
    }
    out
}

/// `box_muller` lane by lane.
#[inline(always)]
fn box_muller_lanes(a: &Lanes<u32>, b: &Lanes<u32>) -> (Lanes<f32>, Lanes<f32>) {
    let mut z0 = [0.0f32; HALF];
    let mut z1 = [0.0f32; HALF];
    for l in 0..HALF {
        (z0[l], z1[l]) = box_muller(a[l], b[l]);
    }
    (z0, z1)
}

/// `exp_f32` lane by lane.
#[inline(always)]
fn exp_lanes(x: &Lanes<f32>) -> Lanes<f32> {
    let mut g = [0.0f32; HALF];
    for l in 0..HALF {
        g[l] = exp_f32(x[l]);
    }
    g
}

/// `acc += row[j] * z[j]` over `j` in order, for one row and every lane.
#[inline(always)]
fn dot_row(row: &[f32], z: &[Lanes<f32>], acc: &mut Lanes<f32>) {
    for (lij, zj) in row.iter().zip(z) {
        for l in 0..HALF {
            acc[l] += lij * zj[l];
        }
    }
}

/// `out[i] = (L z)_i` for every lane: rows of the packed lower-triangular
/// `chol`, each summed over `j = 0..=i` in order (as the WGSL loop does).
/// Four rows at a time share the loads of `z` and give the CPU eight
/// independent add chains instead of two; every lane's sum is unchanged.
#[inline(always)]
fn chol_matvec(chol: &[f32], z: &[Lanes<f32>], out: &mut [Lanes<f32>]) {
    let n = out.len();
    let mut i0 = 0;
    let mut o = 0;
    for quad in out.chunks_exact_mut(4) {
        let (r0, rest) = chol[o..].split_at(i0 + 1);
        let (r1, rest) = rest.split_at(i0 + 2);
        let (r2, rest) = rest.split_at(i0 + 3);
        let r3 = &rest[..i0 + 4];
        let mut a = [[0.0f32; HALF]; 4];
        for ((((l0, l1), l2), l3), zj) in r0.iter().zip(r1).zip(r2).zip(r3).zip(&z[..=i0]) {
            for l in 0..HALF {
                a[0][l] += l0 * zj[l];
                a[1][l] += l1 * zj[l];
                a[2][l] += l2 * zj[l];
                a[3][l] += l3 * zj[l];
            }
        }
        let zt = &z[i0 + 1..];
        dot_row(&r1[i0 + 1..], zt, &mut a[1]);
        dot_row(&r2[i0 + 1..], zt, &mut a[2]);
        dot_row(&r3[i0 + 1..], zt, &mut a[3]);
        quad.copy_from_slice(&a);
        o += 4 * i0 + 10;
        i0 += 4;
    }
    for i in i0..n {
        let mut a = [0.0f32; HALF];
        dot_row(&chol[o..=o + i], z, &mut a);
        out[i] = a;
        o += i + 1;
    }
}

/// `out[i] = (B f)_i + s_i e_i` for every lane, with `f = z[..k]` and
/// `e = z[k..]`: the factor model's draws (see `model::factor_loadings`),
/// each row summed over `j = 0..k` in order, as in WGSL.
#[inline(always)]
fn factor_matvec(load: &[f32], k: usize, z: &[Lanes<f32>], out: &mut [Lanes<f32>]) {
    let n = out.len();
    let (b, s) = load.split_at(n * k);
    for (i, o) in out.iter_mut().enumerate() {
        let mut a = [0.0f32; HALF];
        dot_row(&b[i * k..(i + 1) * k], z, &mut a);
        let e = &z[k + i];
        for l in 0..HALF {
            a[l] += s[i] * e[l];
        }
        *o = a;
    }
}

/// Mirrors `simulate` in `shaders/stress.wgsl` for [`LANES`] consecutive paths from `first`.
/// Writes each lane's daily values path-major into `values` (only as many
/// lanes as fit) and returns every lane's result.
///
/// The WGSL loop body is split into stages run across all lanes (random
/// draws, normals, the Cholesky mat-vec for every asset, then returns and
/// holdings), which reorders work between assets and lanes but never the
/// operations one lane performs on one value.
///
/// Runs `avx2::simulate`, the same kernel written with AVX2 vectors, when
/// the CPU has AVX2. It performs each lane's IEEE operations in the same
/// order, without FMA contraction (Rust never contracts), so both give
/// bit-identical results; `tests::avx2_build_is_bit_identical` checks it.
/// `s` must have been made by [`Scratch::new`] for the same `p`.
pub fn simulate(p: &Prepared, first: u64, s: &mut Scratch, values: &mut [f32]) -> [PathOut; LANES] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked on the line above), the only
        // requirement of calling a `#[target_feature(enable = "avx2")]` function.
        #[expect(
            unsafe_code,
            reason = "calling a target_feature function after the feature check"
        )]
        return unsafe { super::avx2::simulate(p, first, &mut s.wide, values) };
    }
    simulate_portable(p, first, s, values)
}

/// [`simulate`] for the baseline target of the build: the block as two
/// halves of 8 lanes.
pub fn simulate_portable(
    p: &Prepared,
    first: u64,
    s: &mut Scratch,
    values: &mut [f32],
) -> [PathOut; LANES] {
    let split = values.len().min(HALF * p.cfg.horizon as usize);
    let (v0, v1) = values.split_at_mut(split);
    let a = simulate_lanes(p, first, s, v0);
    let b = simulate_lanes(p, first + HALF as u64, s, v1);
    std::array::from_fn(|l| if l < HALF { a[l] } else { b[l - HALF] })
}

/// The portable kernel for [`HALF`] consecutive paths from `first`.
fn simulate_lanes(
    p: &Prepared,
    first: u64,
    s: &mut Scratch,
    values: &mut [f32],
) -> [PathOut; HALF] {
    let c = &p.cfg;
    let n = c.n_assets as usize;
    let nb = c.blocks;
    let key = [c.key0, c.key1];
    let path: Lanes<u64> = std::array::from_fn(|l| first + l as u64);
    for (h, a) in s.h.iter_mut().zip(&p.assets) {
        *h = [a.h0; HALF];
    }
    let mut cash = [c.cash0; HALF];
    let mut vprev = [c.capital; HALF];
    let mut peak = [c.capital; HALF];
    let mut max_dd = [0.0f32; HALF];
    let mut liq_cost = [0.0f32; HALF];
    let mut liqs = [0u32; HALF];
    let mut breach = [-1i32; HALF];
    let mut bstart = [0u32; HALF];
    for t in 0..c.horizon {
        let base = t * (nb + 1);
        let x = philox_lanes(base + nb, &path, c.scenario, key);
        // The jump normal is drawn for every lane and kept where the jump fires.
        let (zj, _) = box_muller_lanes(&x[2], &x[3]);
        let mut jump = [0.0f32; HALF];
        for l in 0..HALF {
            if uniform(x[0][l]) < c.jump_p {
                jump[l] = c.jump_mean + c.jump_std * zj[l];
            }
        }
        if c.kind == 1 && t % c.block_days == 0 {
            for l in 0..HALF {
                bstart[l] = x[1][l] % (c.hist_days - c.block_days + 1);
            }
        }
        if c.kind == 0 {
            for (b, zb) in s.z.chunks_exact_mut(4).enumerate() {
                let x = philox_lanes(base + b as u32, &path, c.scenario, key);
                let (z0, z1) = box_muller_lanes(&x[0], &x[1]);
                let (z2, z3) = box_muller_lanes(&x[2], &x[3]);
                zb.copy_from_slice(&[z0, z1, z2, z3]);
            }
            if c.factors == 0 {
                chol_matvec(&p.chol, &s.z, &mut s.r);
            } else {
                factor_matvec(&p.chol, c.factors as usize, &s.z, &mut s.r);
            }
            for (r, a) in s.r.iter_mut().zip(&p.assets) {
                for l in 0..HALF {
                    r[l] = a.drift + a.vol * r[l] + jump[l];
                }
            }
        } else {
            for (i, r) in s.r.iter_mut().enumerate() {
                for l in 0..HALF {
                    let d = (bstart[l] + t % c.block_days) as usize;
                    r[l] = p.hist[d * n + i] + jump[l];
                }
            }
        }
        let mut sum = [0.0f32; HALF];
        let mut gross = [0.0f32; HALF];
        let mut mkt = [0.0f32; HALF];
        for (h, r) in s.h.iter_mut().zip(&s.r) {
            let g = exp_lanes(r);
            for l in 0..HALF {
                let g = g[l];
                h[l] *= g;
                sum[l] += h[l];
                gross[l] += h[l].abs();
                mkt[l] += g - 1.0;
            }
        }
        for l in 0..HALF {
            let mut v = sum[l] + cash[l];
            let shock = if c.shock_market == 1 {
                (mkt[l] * c.inv_n).abs() > c.shock_threshold
            } else {
                (v - vprev[l]).abs() > c.shock_threshold * vprev[l]
            };
            if shock && v > 0.0 && gross[l] > c.concentration_limit * v {
                let cost = liquidate(p, s.h.iter_mut().map(|h| &mut h[l]), &mut cash[l], v);
                v -= cost;
                liqs[l] += 1;
                liq_cost[l] += cost;
            }
            peak[l] = peak[l].max(v);
            max_dd[l] = max_dd[l].max((peak[l] - v) / peak[l]);
            if breach[l] < 0 && v < c.dd_keep * peak[l] {
                breach[l] = t as i32;
            }
            vprev[l] = v;
            s.lane_values[t as usize][l] = v;
        }
    }
    let h = c.horizon as usize;
    for (l, dst) in values.chunks_mut(h).enumerate() {
        for (t, d) in dst.iter_mut().enumerate() {
            *d = s.lane_values[t][l];
        }
    }
    std::array::from_fn(|l| PathOut {
        terminal: vprev[l],
        max_drawdown: max_dd[l],
        liquidation_cost: liq_cost[l],
        liquidations: liqs[l],
        breach_day: breach[l],
        pad: [0; 3],
    })
}

/// One path's forced liquidation on a shock day (`v` its value before it):
/// deleveraging cuts every holding, or the haircut rule takes a share of
/// `v`. Proceeds less costs go to `cash`; returns the cost.
#[inline(always)]
pub(super) fn liquidate<'a>(
    p: &Prepared,
    holdings: impl Iterator<Item = &'a mut f32>,
    cash: &mut f32,
    v: f32,
) -> f32 {
    let c = &p.cfg;
    if c.liquidation != 0 {
        let cost = v * c.haircut;
        *cash -= cost;
        return cost;
    }
    let mut cost = 0.0f32;
    for (h, a) in holdings.zip(&p.assets) {
        let dh = c.deleverage_fraction * *h;
        let q = dh.abs();
        let ci = q * (a.half_spread + a.impact * q.sqrt());
        *h -= dh;
        *cash += dh - ci;
        cost += ci;
    }
    cost
}
