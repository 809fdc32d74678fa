//! CPU backend: the kernel of `shaders/stress.wgsl`, run with rayon over
//! blocks of [`LANES`] paths.
//!
//! Within a block each path sits in one lane of a fixed-size array, so the
//! compiler vectorises across paths while every lane performs exactly the
//! operations one GPU invocation performs, in the same order. Loop order:
//! day -> (jump draw, normals) -> asset -> Cholesky row, as in `simulate`.

use std::ops::Range;

use rayon::prelude::*;

use super::{
    ChunkOut, StressBackend,
    model::{PathOut, Prepared},
    philox::{box_muller, counter, exp_f32, philox4x32_10, uniform},
};

/// Paths simulated together in one block.
pub const LANES: usize = 8;

/// rayon over path blocks; results do not depend on the thread count.
#[derive(Debug, Default, Clone)]
pub struct CpuBackend;

impl StressBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn max_chunk(&self, p: &Prepared) -> u64 {
        // Keep the per-day values of a chunk near 64 MiB.
        ((16 << 20) / u64::from(p.cfg.horizon.max(1))).clamp(LANES as u64, 1 << 16)
    }

    fn run_chunk(&mut self, p: &Prepared, paths: Range<u64>) -> anyhow::Result<ChunkOut> {
        Ok(run_cpu(p, paths))
    }
}

/// Simulates `paths` of the prepared scenario on the CPU.
pub fn run_cpu(p: &Prepared, paths: Range<u64>) -> ChunkOut {
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
                let res = simulate(p, first, scratch, v);
                o.copy_from_slice(&res[..o.len()]);
            },
        );
    ChunkOut { paths: out, values }
}

/// Per-thread working memory for one block of lanes.
pub struct Scratch {
    h: Vec<[f32; LANES]>,
    z: Vec<[f32; LANES]>,
    lane_values: Vec<[f32; LANES]>,
}

impl Scratch {
    /// Working memory sized for `p`.
    pub fn new(p: &Prepared) -> Self {
        Self {
            h: vec![[0.0; LANES]; p.cfg.n_assets as usize],
            z: vec![[0.0; LANES]; 4 * p.cfg.blocks as usize],
            lane_values: vec![[0.0; LANES]; p.cfg.horizon as usize],
        }
    }
}

/// Mirrors `simulate` in `shaders/stress.wgsl` for `LANES` consecutive paths from `first`.
/// Writes each lane's daily values path-major into `values` (only as many
/// lanes as fit) and returns every lane's result.
pub fn simulate(p: &Prepared, first: u64, s: &mut Scratch, values: &mut [f32]) -> [PathOut; LANES] {
    let c = &p.cfg;
    let n = c.n_assets as usize;
    let nb = c.blocks;
    let key = [c.key0, c.key1];
    let path: [u64; LANES] = std::array::from_fn(|l| first + l as u64);
    for (h, a) in s.h.iter_mut().zip(&p.assets) {
        *h = [a.h0; LANES];
    }
    let mut cash = [c.cash0; LANES];
    let mut vprev = [c.capital; LANES];
    let mut peak = [c.capital; LANES];
    let mut max_dd = [0.0f32; LANES];
    let mut liq_cost = [0.0f32; LANES];
    let mut liqs = [0u32; LANES];
    let mut breach = [-1i32; LANES];
    let mut bstart = [0u32; LANES];
    for t in 0..c.horizon {
        let base = t * (nb + 1);
        let mut jump = [0.0f32; LANES];
        for l in 0..LANES {
            let x = philox4x32_10(counter(base + nb, path[l], c.scenario), key);
            if uniform(x[0]) < c.jump_p {
                jump[l] = c.jump_mean + c.jump_std * box_muller(x[2], x[3]).0;
            }
            if c.kind == 1 && t % c.block_days == 0 {
                bstart[l] = x[1] % (c.hist_days - c.block_days + 1);
            }
        }
        if c.kind == 0 {
            for b in 0..nb as usize {
                let mut zb = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    let x = philox4x32_10(counter(base + b as u32, path[l], c.scenario), key);
                    let (z0, z1) = box_muller(x[0], x[1]);
                    let (z2, z3) = box_muller(x[2], x[3]);
                    zb[0][l] = z0;
                    zb[1][l] = z1;
                    zb[2][l] = z2;
                    zb[3][l] = z3;
                }
                s.z[4 * b..4 * b + 4].copy_from_slice(&zb);
            }
        }
        let mut sum = [0.0f32; LANES];
        let mut gross = [0.0f32; LANES];
        let mut mkt = [0.0f32; LANES];
        let mut row = 0usize;
        for i in 0..n {
            let a = &p.assets[i];
            let mut r = [0.0f32; LANES];
            if c.kind == 0 {
                let mut acc = [0.0f32; LANES];
                for (lij, zj) in p.chol[row..=row + i].iter().zip(&s.z) {
                    for l in 0..LANES {
                        acc[l] += lij * zj[l];
                    }
                }
                row += i + 1;
                for l in 0..LANES {
                    r[l] = a.drift + a.vol * acc[l] + jump[l];
                }
            } else {
                for l in 0..LANES {
                    let d = (bstart[l] + t % c.block_days) as usize;
                    r[l] = p.hist[d * n + i] + jump[l];
                }
            }
            let h = &mut s.h[i];
            for l in 0..LANES {
                let g = exp_f32(r[l]);
                h[l] *= g;
                sum[l] += h[l];
                gross[l] += h[l].abs();
                mkt[l] += g - 1.0;
            }
        }
        for l in 0..LANES {
            let mut v = sum[l] + cash[l];
            let shock = if c.shock_market == 1 {
                (mkt[l] * c.inv_n).abs() > c.shock_threshold
            } else {
                (v - vprev[l]).abs() > c.shock_threshold * vprev[l]
            };
            if shock && v > 0.0 && gross[l] > c.concentration_limit * v {
                let mut cost = 0.0f32;
                if c.liquidation == 0 {
                    for (h, a) in s.h.iter_mut().zip(&p.assets) {
                        let dh = c.deleverage_fraction * h[l];
                        let q = dh.abs();
                        let ci = q * (a.half_spread + a.impact * q.sqrt());
                        h[l] -= dh;
                        cash[l] += dh - ci;
                        cost += ci;
                    }
                } else {
                    cost = v * c.haircut;
                    cash[l] -= cost;
                }
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
