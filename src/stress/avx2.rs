//! The CPU kernel written with AVX2 vectors: `cpu::simulate` on CPUs that
//! have AVX2, [`LANES`](super::cpu::LANES) paths as two vectors of 8 lanes.
//!
//! Each lane performs the operations of `cpu::simulate_lanes` on its path,
//! in the same order, with the same IEEE rounding (no FMA contraction), so
//! the results are bit-identical to the baseline build
//! (`tests::avx2_build_is_bit_identical`). Only the schedule differs: each
//! step of a stage runs on several independent vectors before the next
//! step (two Philox blocks, four Box-Muller pairs, the exps of two assets),
//! so the long dependency chains of the polynomials overlap instead of
//! waiting on each other, and each Cholesky entry is broadcast once for 16
//! paths. LLVM's auto-vectorised build of the lane loops ran at about a
//! third of the machine's measured vector throughput (BENCHMARKS.md).
//!
//! `std::arch` intrinsics are safe to call inside functions compiled with
//! `#[target_feature(enable = "avx2")]`, and vectors reach memory through
//! `bytemuck` casts, so this module has no `unsafe`; its one entry point is
//! called after a run-time AVX2 check.

use std::arch::x86_64::{
    __m256, __m256i, _CMP_GT_OQ, _CMP_LT_OQ, _mm256_add_epi32, _mm256_add_ps, _mm256_and_ps,
    _mm256_and_si256, _mm256_blend_epi32, _mm256_blendv_epi8, _mm256_blendv_ps,
    _mm256_castps_si256, _mm256_castsi256_ps, _mm256_cmp_ps, _mm256_cmpeq_epi32,
    _mm256_cvtepi32_ps, _mm256_div_ps, _mm256_max_ps, _mm256_min_ps, _mm256_movemask_ps,
    _mm256_mul_epu32, _mm256_mul_ps, _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_setzero_si256, _mm256_slli_epi32, _mm256_slli_epi64, _mm256_sqrt_ps,
    _mm256_srli_epi32, _mm256_srli_epi64, _mm256_sub_epi32, _mm256_sub_ps, _mm256_xor_ps,
    _mm256_xor_si256,
};

use super::{
    cpu::{LANES, liquidate},
    model::{PathOut, Prepared},
    philox::{self, M0, M1, ROUND, round_keys},
};

type F = __m256;
type I = __m256i;

/// Vectors per block of [`LANES`] paths.
const V: usize = LANES / 8;
// Box-Muller and exp pair up the two vectors of a block by hand.
const _: () = assert!(V == 2);

/// One vector per group of 8 lanes.
type Lanes = [F; V];

/// Per-thread working memory of [`simulate`].
pub struct Wide {
    /// What the buffers were sized for: assets, Philox blocks per day,
    /// horizon, kind, factors.
    shape: [u32; 5],
    /// The Cholesky factor in quads of rows (see [`quad_layout`]).
    quads: Vec<[f32; 4]>,
    h: Vec<Lanes>,
    z: Vec<Lanes>,
    r: Vec<Lanes>,
    days: Vec<Lanes>,
}

impl Wide {
    /// Working memory sized for `p`.
    pub fn new(p: &Prepared) -> Self {
        let zero = [bytemuck::Zeroable::zeroed(); V];
        let c = &p.cfg;
        let full = c.kind == 0 && c.factors == 0;
        Self {
            shape: [c.n_assets, c.blocks, c.horizon, c.kind, c.factors],
            quads: if full {
                quad_layout(&p.chol, c.n_assets as usize)
            } else {
                Vec::new()
            },
            h: vec![zero; c.n_assets as usize],
            z: vec![zero; 4 * c.blocks as usize],
            r: vec![zero; c.n_assets as usize],
            days: vec![zero; c.horizon as usize],
        }
    }
}

/// The packed lower-triangular `chol` (row `i` at `i (i + 1) / 2`) by
/// quads of rows: for rows `4q..4q + 4`, the `4q + 4` columns
/// `[L[4q][j], .., L[4q + 3][j]]`, zero above the diagonal. Rows past the
/// last full quad are not included.
fn quad_layout(chol: &[f32], n: usize) -> Vec<[f32; 4]> {
    let at = |i: usize, j: usize| {
        if j <= i {
            chol[i * (i + 1) / 2 + j]
        } else {
            0.0
        }
    };
    (0..n / 4)
        .flat_map(|q| (0..4 * q + 4).map(move |j| std::array::from_fn(|r| at(4 * q + r, j))))
        .collect()
}

// Element-wise helpers over arrays of vectors: one step on every vector
// before the next step.

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: f32) -> F {
    _mm256_set1_ps(x)
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat_i(x: u32) -> I {
    _mm256_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx2")]
fn add<const N: usize>(a: [F; N], b: [F; N]) -> [F; N] {
    std::array::from_fn(|i| _mm256_add_ps(a[i], b[i]))
}

#[inline]
#[target_feature(enable = "avx2")]
fn sub<const N: usize>(a: [F; N], b: [F; N]) -> [F; N] {
    std::array::from_fn(|i| _mm256_sub_ps(a[i], b[i]))
}

#[inline]
#[target_feature(enable = "avx2")]
fn mul<const N: usize>(a: [F; N], b: [F; N]) -> [F; N] {
    std::array::from_fn(|i| _mm256_mul_ps(a[i], b[i]))
}

/// `a + c`.
#[inline]
#[target_feature(enable = "avx2")]
fn addc<const N: usize>(a: [F; N], c: f32) -> [F; N] {
    add(a, [splat(c); N])
}

/// `a * c`.
#[inline]
#[target_feature(enable = "avx2")]
fn mulc<const N: usize>(a: [F; N], c: f32) -> [F; N] {
    mul(a, [splat(c); N])
}

/// `y * x + c` in two roundings (a Horner step).
#[inline]
#[target_feature(enable = "avx2")]
fn horner<const N: usize>(y: [F; N], x: [F; N], c: f32) -> [F; N] {
    addc(mul(y, x), c)
}

/// `philox::floor_f32` on every lane.
#[inline]
#[target_feature(enable = "avx2")]
fn floor<const N: usize>(x: [F; N]) -> [F; N] {
    let t = addc(addc(x, ROUND), -ROUND);
    std::array::from_fn(|i| {
        let over = _mm256_cmp_ps::<_CMP_GT_OQ>(t[i], x[i]);
        _mm256_sub_ps(t[i], _mm256_and_ps(over, splat(1.0)))
    })
}

/// `philox::ln_f32` on every lane, for x > 0 (the exponent field is read
/// without masking the sign bit).
#[inline]
#[target_feature(enable = "avx2")]
fn ln<const N: usize>(x: [F; N]) -> [F; N] {
    let bits = x.map(|x| _mm256_castps_si256(x));
    let e = bits.map(|b| _mm256_sub_epi32(_mm256_srli_epi32::<23>(b), splat_i(126)));
    let m = bits.map(|b| {
        let m = _mm256_and_si256(b, splat_i(0x007f_ffff));
        _mm256_castsi256_ps(_mm256_or_si256(m, splat_i(0x3f00_0000)))
    });
    let low = m.map(|m| _mm256_cmp_ps::<_CMP_LT_OQ>(m, splat(std::f32::consts::FRAC_1_SQRT_2)));
    // The mask is -1 where m < 1/sqrt(2): e - 1 there.
    let e: [I; N] = std::array::from_fn(|i| _mm256_add_epi32(e[i], _mm256_castps_si256(low[i])));
    let hi = addc(m, -1.0);
    let lo = addc(add(m, m), -1.0);
    let m: [F; N] = std::array::from_fn(|i| _mm256_blendv_ps(hi[i], lo[i], low[i]));
    let z = mul(m, m);
    let mut y = [splat(7.037_683_6e-2); N];
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        y = horner(y, m, c);
    }
    y = mul(mul(y, m), z);
    let ef = e.map(|e| _mm256_cvtepi32_ps(e));
    y = add(y, mul([splat(-2.121_944_4e-4); N], ef));
    y = add(y, mul([splat(-0.5); N], z));
    let r = add(m, y);
    add(r, mul([splat(0.693_359_4); N], ef))
}

/// `philox::exp_f32` on every lane.
#[inline]
#[target_feature(enable = "avx2")]
fn exp<const N: usize>(x: [F; N]) -> [F; N] {
    // max/min return their second operand when either is NaN, so a NaN
    // passes through as in `f32::clamp`.
    let x = x.map(|x| _mm256_min_ps(splat(88.0), _mm256_max_ps(splat(-87.0), x)));
    let n = floor(addc(mulc(x, std::f32::consts::LOG2_E), 0.5));
    let r = sub(x, mulc(n, 0.693_359_4));
    let r = sub(r, mulc(n, -2.121_944_4e-4));
    let z = mul(r, r);
    let mut y = [splat(1.987_569_1e-4); N];
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.0e-1,
    ] {
        y = horner(y, r, c);
    }
    let y = addc(add(mul(y, z), r), 1.0);
    // 2^n: `int_of(n) + 127` in the exponent field.
    let k = addc(n, ROUND);
    std::array::from_fn(|i| {
        let e = _mm256_sub_epi32(_mm256_castps_si256(k[i]), splat_i(ROUND.to_bits() - 127));
        _mm256_mul_ps(y[i], _mm256_castsi256_ps(_mm256_slli_epi32::<23>(e)))
    })
}

/// `philox::sincos_2pi(uniform(b))` on every lane of the raw words `b`:
/// (sin, cos).
///
/// The quadrant `k = floor(4u + 1/2)` comes from the integer `m = b >> 8`
/// (`u = m / 2^24`) as `(m + 2^21) >> 22`, the same value the float
/// expression gives: `4u + 1/2` is exact below 4 and on [4, 4.5] can only
/// round within it.
#[inline]
#[target_feature(enable = "avx2")]
fn sincos_2pi<const N: usize>(b: [I; N]) -> ([F; N], [F; N]) {
    let m = b.map(|b| _mm256_srli_epi32::<8>(b));
    let u = mulc(m.map(|m| _mm256_cvtepi32_ps(m)), 1.0 / 16_777_216.0);
    let q = m.map(|m| _mm256_srli_epi32::<22>(_mm256_add_epi32(m, splat_i(1 << 21))));
    let k = q.map(|q| _mm256_cvtepi32_ps(q));
    let x = mulc(sub(u, mulc(k, 0.25)), std::f32::consts::TAU);
    let z = mul(x, x);
    let s = addc(mul([splat(-1.951_529_6e-4); N], z), 8.332_161e-3);
    let s = addc(mul(s, z), -1.666_665_5e-1);
    let s = add(mul(mul(s, z), x), x);
    let c = addc(mul([splat(2.443_315_7e-5); N], z), -1.388_731_6e-3);
    let c = addc(mul(c, z), 4.166_664_6e-2);
    let c = addc(sub(mul(mul(c, z), z), mulc(z, 0.5)), 1.0);
    let sign = splat(-0.0);
    let sc: [(F, F); N] = std::array::from_fn(|i| {
        let one = splat_i(1);
        let odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q[i], one), one));
        let so = _mm256_blendv_ps(s[i], c[i], odd);
        let co = _mm256_blendv_ps(c[i], s[i], odd);
        // Bit 1 of q (and of q + 1) moved to the sign bit.
        let s_neg = _mm256_castsi256_ps(_mm256_slli_epi32::<30>(q[i]));
        let c_neg = _mm256_castsi256_ps(_mm256_slli_epi32::<30>(_mm256_add_epi32(q[i], one)));
        (
            _mm256_xor_ps(so, _mm256_and_ps(s_neg, sign)),
            _mm256_xor_ps(co, _mm256_and_ps(c_neg, sign)),
        )
    });
    (sc.map(|p| p.0), sc.map(|p| p.1))
}

/// `philox::uniform` on every lane (`open0`: `uniform_open0`).
#[inline]
#[target_feature(enable = "avx2")]
fn uniform<const N: usize>(x: [I; N], open0: bool) -> [F; N] {
    let add = splat_i(u32::from(open0));
    let k = x.map(|x| _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32::<8>(x), add)));
    mulc(k, 1.0 / 16_777_216.0)
}

/// `philox::box_muller` on every lane: (r cos, r sin).
#[inline]
#[target_feature(enable = "avx2")]
fn box_muller<const N: usize>(a: [I; N], b: [I; N]) -> ([F; N], [F; N]) {
    let r = mulc(ln(uniform(a, true)), -2.0).map(|x| _mm256_sqrt_ps(x));
    let (s, c) = sincos_2pi(b);
    (mul(r, c), mul(r, s))
}

/// (high, low) words of `a * m` on every 32-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
fn mulhilo(a: I, m: I) -> (I, I) {
    let even = _mm256_mul_epu32(a, m);
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m);
    let hi = _mm256_blend_epi32::<0xAA>(_mm256_srli_epi64::<32>(even), odd);
    let lo = _mm256_blend_epi32::<0xAA>(even, _mm256_slli_epi64::<32>(odd));
    (hi, lo)
}

/// The counter words that differ between lanes: path low and high words.
struct PathWords {
    lo: [I; V],
    hi: [I; V],
    /// The high word when every lane has the same one (blocks that do not
    /// cross a multiple of 2^32).
    same_hi: Option<u32>,
}

/// `philox4x32_10(counter(draw, path, scenario), key)` on every lane, as
/// four words of `V` vectors; `rk` are the round keys of `key`.
///
/// Counter words 0 and 3 (draw, scenario) are the same in every lane, and
/// word 2 (path high) usually is: then four of the twenty products of the
/// first three rounds are the same in every lane and are taken once, in
/// scalar code, with the vector rounds from round 4.
#[inline]
#[target_feature(enable = "avx2")]
fn philox(draw: u32, path: &PathWords, scenario: u32, rk: &[[u32; 2]; 10]) -> [[I; V]; 4] {
    let Some(path_hi) = path.same_hi else {
        let c = [[splat_i(draw); V], path.lo, path.hi, [splat_i(scenario); V]];
        return rounds(c, rk);
    };
    let xor = |a: I, b: u32| _mm256_xor_si256(a, splat_i(b));
    // Round 1: both products are uniform; word 0 picks up the path.
    let (hi0, lo0) = philox::mulhilo(M0, draw);
    let (hi1, lo1) = philox::mulhilo(M1, path_hi);
    let c0 = path.lo.map(|l| xor(l, hi1 ^ rk[0][0]));
    let (c1, c2, c3) = (lo1, hi0 ^ scenario ^ rk[0][1], lo0);
    // Round 2: the word-2 product is uniform.
    let (hi1, lo1) = philox::mulhilo(M1, c2);
    let m0 = splat_i(M0);
    let r2: [(I, I); V] = std::array::from_fn(|v| mulhilo(c0[v], m0));
    let (c0, c1, c2, c3) = (
        hi1 ^ c1 ^ rk[1][0],
        lo1,
        r2.map(|(hi0, _)| xor(hi0, c3 ^ rk[1][1])),
        r2.map(|(_, lo0)| lo0),
    );
    // Round 3: the word-0 product is uniform.
    let (hi0, lo0) = philox::mulhilo(M0, c0);
    let m1 = splat_i(M1);
    let r3: [(I, I); V] = std::array::from_fn(|v| mulhilo(c2[v], m1));
    let c = [
        r3.map(|(hi1, _)| xor(hi1, c1 ^ rk[2][0])),
        r3.map(|(_, lo1)| lo1),
        c3.map(|c3| xor(c3, hi0 ^ rk[2][1])),
        [splat_i(lo0); V],
    ];
    rounds(c, &rk[3..])
}

/// Philox rounds with keys `rk` on a counter state of `V` vectors per word.
#[inline]
#[target_feature(enable = "avx2")]
fn rounds(mut c: [[I; V]; 4], rk: &[[u32; 2]]) -> [[I; V]; 4] {
    let (m0, m1) = (splat_i(M0), splat_i(M1));
    for k in rk {
        let (k0, k1) = (splat_i(k[0]), splat_i(k[1]));
        let mut next = c;
        for v in 0..V {
            let (hi0, lo0) = mulhilo(c[0][v], m0);
            let (hi1, lo1) = mulhilo(c[2][v], m1);
            next[0][v] = _mm256_xor_si256(_mm256_xor_si256(hi1, c[1][v]), k0);
            next[1][v] = lo1;
            next[2][v] = _mm256_xor_si256(_mm256_xor_si256(hi0, c[3][v]), k1);
            next[3][v] = lo0;
        }
        c = next;
    }
    c
}

/// `sum_j row[j] * z[j]` over `j` in order from +0, on every lane.
#[inline]
#[target_feature(enable = "avx2")]
fn dot_row(row: &[f32], z: &[Lanes]) -> Lanes {
    let mut a = [_mm256_setzero_ps(); V];
    for (l, zj) in row.iter().zip(z) {
        a = add(a, mul([splat(*l); V], *zj));
    }
    a
}

/// `cpu::chol_matvec`: `out[i] = (L z)_i`, each row summed over `j` in
/// order. Full quads of rows run over their zero-padded columns: a padded
/// term adds `0 * z = ±0` to a sum that started at +0 (so is never -0), which
/// leaves it unchanged bit for bit, as `z` is always finite.
#[inline(never)]
#[target_feature(enable = "avx2")]
fn chol_matvec(quads: &[[f32; 4]], chol: &[f32], z: &[Lanes], out: &mut [Lanes]) {
    let zero = [_mm256_setzero_ps(); V];
    let mut cols = quads;
    let first = out.len() / 4 * 4;
    let mut rows = out.chunks_exact_mut(4);
    for (q, quad) in (&mut rows).enumerate() {
        let (these, rest) = cols.split_at(4 * q + 4);
        cols = rest;
        let mut a = [zero; 4];
        for (l, zj) in these.iter().zip(z) {
            for r in 0..4 {
                a[r] = add(a[r], mul([splat(l[r]); V], *zj));
            }
        }
        quad.copy_from_slice(&a);
    }
    for (i, out) in (first..).zip(rows.into_remainder()) {
        *out = dot_row(&chol[i * (i + 1) / 2..=i * (i + 3) / 2], z);
    }
}

/// `cpu::factor_matvec`: `out[i] = (B f)_i + s_i e_i`.
#[inline(never)]
#[target_feature(enable = "avx2")]
fn factor_matvec(load: &[f32], k: usize, z: &[Lanes], out: &mut [Lanes]) {
    let (b, s) = load.split_at(out.len() * k);
    for (i, o) in out.iter_mut().enumerate() {
        let a = dot_row(&b[i * k..(i + 1) * k], z);
        *o = add(a, mul([splat(s[i]); V], z[k + i]));
    }
}

/// The day's normals: Philox blocks `base + b` through Box-Muller into `z`,
/// four normals per block.
///
/// Each stage is its own function (`inline(never)`): inlined into one body,
/// LLVM's register allocation of the stages depended on their neighbours
/// and varied the kernel's time by 10%.
#[inline(never)]
#[target_feature(enable = "avx2")]
fn normals(path: &PathWords, base: u32, scenario: u32, rk: &[[u32; 2]; 10], z: &mut [Lanes]) {
    const CHUNK: usize = 4;
    let mut words = [[[_mm256_setzero_si256(); V]; 4]; CHUNK];
    for (c, zc) in z.chunks_mut(4 * CHUNK).enumerate() {
        let first = base + (c * CHUNK) as u32;
        let blocks = zc.len() / 4;
        for (b, w) in words[..blocks].iter_mut().enumerate() {
            *w = philox(first + b as u32, path, scenario, rk);
        }
        for (x, zb) in words.iter().zip(zc.chunks_exact_mut(4)) {
            let (z0, z1) = box_muller(
                [x[0][0], x[0][1], x[2][0], x[2][1]],
                [x[1][0], x[1][1], x[3][0], x[3][1]],
            );
            zb.copy_from_slice(&[
                [z0[0], z0[1]],
                [z1[0], z1[1]],
                [z0[2], z0[3]],
                [z1[2], z1[3]],
            ]);
        }
    }
}

/// Holdings through the day's log returns `r`: `h *= e^r`; returns the
/// sums of `h`, of `|h|` and (with `market`) of `e^r - 1`, added in asset
/// order. `r` is left holding `e^r`.
///
/// All the exps are taken first: they are independent, so the CPU overlaps
/// their long dependency chains, which it could not while each waited for
/// the serial sums between them.
#[inline(never)]
#[target_feature(enable = "avx2")]
fn grow(h: &mut [Lanes], r: &mut [Lanes], market: bool) -> [Lanes; 3] {
    let mut pairs = r.chunks_exact_mut(2);
    for r in &mut pairs {
        let g = exp([r[0][0], r[0][1], r[1][0], r[1][1]]);
        r.copy_from_slice(&[[g[0], g[1]], [g[2], g[3]]]);
    }
    for r in pairs.into_remainder() {
        *r = exp(*r);
    }
    let zero = [_mm256_setzero_ps(); V];
    let (mut sum, mut gross, mut mkt) = (zero, zero, zero);
    let abs_mask = splat(f32::from_bits(0x7fff_ffff));
    for (h, g) in h.iter_mut().zip(r.iter()) {
        *h = mul(*h, *g);
        sum = add(sum, *h);
        gross = add(gross, h.map(|h| _mm256_and_ps(h, abs_mask)));
        if market {
            mkt = add(mkt, addc(*g, -1.0));
        }
    }
    [sum, gross, mkt]
}

/// The lanes of `x` as one array.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes_f(x: Lanes) -> [f32; LANES] {
    bytemuck::cast(x)
}

/// `cpu::simulate` for [`LANES`] consecutive paths from `first`, AVX2 build.
#[target_feature(enable = "avx2")]
pub fn simulate(p: &Prepared, first: u64, w: &mut Wide, values: &mut [f32]) -> [PathOut; LANES] {
    let c = &p.cfg;
    assert_eq!(
        w.shape,
        [c.n_assets, c.blocks, c.horizon, c.kind, c.factors],
        "working memory made for another scenario"
    );
    let n = c.n_assets as usize;
    let nb = c.blocks;
    let rk = round_keys([c.key0, c.key1]);
    let path: [u64; LANES] = std::array::from_fn(|l| first + l as u64);
    let words = |f: fn(u64) -> u32| -> [I; V] {
        let w: [u32; LANES] = path.map(f);
        bytemuck::cast(w)
    };
    let path_words = PathWords {
        lo: words(|p| p as u32),
        hi: words(|p| (p >> 32) as u32),
        same_hi: (first >> 32 == path[LANES - 1] >> 32).then_some((first >> 32) as u32),
    };
    for (h, a) in w.h.iter_mut().zip(&p.assets) {
        *h = [splat(a.h0); V];
    }
    let mut cash = [splat(c.cash0); V];
    let mut vprev = [splat(c.capital); V];
    let mut peak = vprev;
    let mut max_dd = [_mm256_setzero_ps(); V];
    let mut breach = [splat_i(u32::MAX); V];
    let mut liq_cost = [0.0f32; LANES];
    let mut liqs = [0u32; LANES];
    let mut bstart = [0u32; LANES];
    for t in 0..c.horizon {
        let base = t * (nb + 1);
        let x = philox(base + nb, &path_words, c.scenario, &rk);
        let fires = uniform(x[0], false).map(|u| _mm256_cmp_ps::<_CMP_LT_OQ>(u, splat(c.jump_p)));
        let jump: Lanes = if fires.iter().any(|&m| _mm256_movemask_ps(m) != 0) {
            // The jump normal, kept where the jump fires (+0 elsewhere).
            let (zj, _) = box_muller(x[2], x[3]);
            let size = addc(mulc(zj, c.jump_std), c.jump_mean);
            std::array::from_fn(|v| _mm256_and_ps(fires[v], size[v]))
        } else {
            [_mm256_setzero_ps(); V]
        };
        if c.kind == 1 && t % c.block_days == 0 {
            let draw: [u32; LANES] = bytemuck::cast(x[1]);
            for (b, d) in bstart.iter_mut().zip(draw) {
                *b = d % (c.hist_days - c.block_days + 1);
            }
        }
        if c.kind == 0 {
            normals(&path_words, base, c.scenario, &rk, &mut w.z);
            if c.factors == 0 {
                chol_matvec(&w.quads, &p.chol, &w.z, &mut w.r);
            } else {
                factor_matvec(&p.chol, c.factors as usize, &w.z, &mut w.r);
            }
            for (r, a) in w.r.iter_mut().zip(&p.assets) {
                *r = add(addc(mulc(*r, a.vol), a.drift), jump);
            }
        } else {
            let jump = lanes_f(jump);
            let day = t % c.block_days;
            for (i, r) in w.r.iter_mut().enumerate() {
                let v: [f32; LANES] =
                    std::array::from_fn(|l| p.hist[(bstart[l] + day) as usize * n + i] + jump[l]);
                *r = bytemuck::cast(v);
            }
        }
        let [sum, gross, mkt] = grow(&mut w.h, &mut w.r, c.shock_market == 1);
        let abs_mask = splat(f32::from_bits(0x7fff_ffff));
        let mut v = add(sum, cash);
        let shock: Lanes = if c.shock_market == 1 {
            std::array::from_fn(|i| {
                let m = _mm256_and_ps(_mm256_mul_ps(mkt[i], splat(c.inv_n)), abs_mask);
                _mm256_cmp_ps::<_CMP_GT_OQ>(m, splat(c.shock_threshold))
            })
        } else {
            std::array::from_fn(|i| {
                let m = _mm256_and_ps(_mm256_sub_ps(v[i], vprev[i]), abs_mask);
                let lim = _mm256_mul_ps(splat(c.shock_threshold), vprev[i]);
                _mm256_cmp_ps::<_CMP_GT_OQ>(m, lim)
            })
        };
        let fire: Lanes = std::array::from_fn(|i| {
            let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(v[i], _mm256_setzero_ps());
            let conc = _mm256_mul_ps(splat(c.concentration_limit), v[i]);
            let gross = _mm256_cmp_ps::<_CMP_GT_OQ>(gross[i], conc);
            _mm256_and_ps(shock[i], _mm256_and_ps(pos, gross))
        });
        if fire.iter().any(|&m| _mm256_movemask_ps(m) != 0) {
            // Rare: the liquidation runs lane by lane in scalar code, the
            // same function the baseline build calls.
            let fire = lanes_f(fire);
            let (mut vs, mut cs) = (lanes_f(v), lanes_f(cash));
            for l in (0..LANES).filter(|&l| fire[l].to_bits() != 0) {
                let holdings =
                    w.h.iter_mut()
                        .map(|h| &mut bytemuck::cast_mut::<Lanes, [f32; LANES]>(h)[l]);
                let cost = liquidate(p, holdings, &mut cs[l], vs[l]);
                vs[l] -= cost;
                liqs[l] += 1;
                liq_cost[l] += cost;
            }
            v = bytemuck::cast(vs);
            cash = bytemuck::cast(cs);
        }
        // `_mm256_max_ps` returns its second operand when either is NaN,
        // which is `f32::max`'s choice of the non-NaN value as long as
        // `peak` is not NaN: it starts at capital (> 0) and only ever takes
        // this max. The same holds for `max_dd` (starts at 0).
        peak = std::array::from_fn(|i| _mm256_max_ps(v[i], peak[i]));
        let dd: Lanes =
            std::array::from_fn(|i| _mm256_div_ps(_mm256_sub_ps(peak[i], v[i]), peak[i]));
        max_dd = std::array::from_fn(|i| _mm256_max_ps(dd[i], max_dd[i]));
        let day = splat_i(t);
        breach = std::array::from_fn(|i| {
            let below = _mm256_cmp_ps::<_CMP_LT_OQ>(v[i], _mm256_mul_ps(splat(c.dd_keep), peak[i]));
            let open = _mm256_cmpeq_epi32(breach[i], splat_i(u32::MAX));
            let set = _mm256_and_si256(_mm256_castps_si256(below), open);
            _mm256_blendv_epi8(breach[i], day, set)
        });
        vprev = v;
        w.days[t as usize] = v;
    }
    let h = c.horizon as usize;
    for (t, day) in w.days.iter().enumerate() {
        for (dst, v) in values.chunks_mut(h).zip(lanes_f(*day)) {
            dst[t] = v;
        }
    }
    let (terminal, max_dd) = (lanes_f(vprev), lanes_f(max_dd));
    let breach: [i32; LANES] = bytemuck::cast(breach);
    std::array::from_fn(|l| PathOut {
        terminal: terminal[l],
        max_drawdown: max_dd[l],
        liquidation_cost: liq_cost[l],
        liquidations: liqs[l],
        breach_day: breach[l],
        pad: [0; 3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::philox;

    /// Box-Muller reads the top 24 bits of each word: `ln` and `sincos_2pi`
    /// against the scalar math on all 2^24 of them, with varying low bits.
    #[target_feature(enable = "avx2")]
    fn check_ln_and_sincos() {
        for m in (0..1u32 << 24).step_by(8) {
            let words: [u32; 8] = std::array::from_fn(|l| (m + l as u32) << 8 | (m & 0xff));
            let w: I = bytemuck::cast(words);
            let r: [f32; 8] = bytemuck::cast(ln(uniform([w], true)));
            let (s, c) = sincos_2pi([w]);
            let (s, c): ([f32; 8], [f32; 8]) = (bytemuck::cast(s), bytemuck::cast(c));
            for (l, &x) in words.iter().enumerate() {
                let want_r = philox::ln_f32(philox::uniform_open0(x));
                let (want_s, want_c) = philox::sincos_2pi(philox::uniform(x));
                assert_eq!(r[l].to_bits(), want_r.to_bits(), "ln, word {x:#x}");
                assert_eq!(s[l].to_bits(), want_s.to_bits(), "sin, word {x:#x}");
                assert_eq!(c[l].to_bits(), want_c.to_bits(), "cos, word {x:#x}");
            }
        }
    }

    /// `exp` against `philox::exp_f32` on a sweep past both clamps and on
    /// special values.
    #[target_feature(enable = "avx2")]
    fn check_exp() {
        let special = [
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -87.0,
            88.0,
            -87.5,
            88.5,
            100.0,
            -100.0,
            1e-30,
            -1e-30,
            f32::MIN_POSITIVE,
        ];
        let sweep = (-95_000..95_000).map(|i| i as f32 * 1e-3);
        let xs: Vec<f32> = special.into_iter().chain(sweep).collect();
        for x in xs.chunks(8) {
            let v: [f32; 8] = std::array::from_fn(|l| x.get(l).copied().unwrap_or(0.0));
            let got: [f32; 8] = bytemuck::cast(exp([bytemuck::cast::<_, F>(v)])[0]);
            for (g, &x) in got.iter().zip(&v) {
                assert_eq!(g.to_bits(), philox::exp_f32(x).to_bits(), "exp({x})");
            }
        }
    }

    #[test]
    fn vector_math_matches_the_scalar_math() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: the vector math never runs");
            return;
        }
        // SAFETY: the CPU supports AVX2 (checked above), the only
        // requirement of calling `#[target_feature(enable = "avx2")]` functions.
        #[expect(
            unsafe_code,
            reason = "calling target_feature functions after the feature check"
        )]
        unsafe {
            check_ln_and_sincos();
            check_exp();
        }
    }
}
