//! Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as
//! 1, 2, 3"), Box-Muller normals and the f32 math the kernel uses.
//!
//! Mirrors `shaders/philox.wgsl` (`round_keys` unrolls the key schedule
//! the shader computes inline). The transcendental
//! functions are Cephes-style polynomials written with `+`, `*` and bit casts
//! only, so the CPU and the GPU evaluate the same expression: WGSL's built-in
//! `sin`/`cos` carry an absolute error up to 2^-11 on Vulkan, too coarse for
//! a 1e-4 per-path parity bound.

/// Philox multiplier of counter word 0.
pub(super) const M0: u32 = 0xD251_1F53;
/// Philox multiplier of counter word 2.
pub(super) const M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0.
const W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1.
const W1: u32 = 0xBB67_AE85;

/// (high, low) words of the 64-bit product `a * b`.
#[inline(always)]
pub(super) fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds: four 32-bit outputs for a counter and a key.
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    for k in round_keys(key) {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The key of each of the ten rounds: `key` bumped by the Weyl increments.
#[inline(always)]
pub fn round_keys(key: [u32; 2]) -> [[u32; 2]; 10] {
    let mut k = key;
    std::array::from_fn(|round| {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        k
    })
}

/// The 64-bit job seed as the Philox key.
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter for draw `draw` of `path` in scenario `scenario`.
#[inline(always)]
pub fn counter(draw: u32, path: u64, scenario: u32) -> [u32; 4] {
    [draw, path as u32, (path >> 32) as u32, scenario]
}

/// Top 24 bits as a uniform in [0, 1).
#[inline(always)]
pub fn uniform(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Top 24 bits as a uniform in (0, 1].
#[inline(always)]
pub fn uniform_open0(x: u32) -> f32 {
    ((x >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// Two standard normals from two raw words (Box-Muller).
#[inline(always)]
pub fn box_muller(a: u32, b: u32) -> (f32, f32) {
    let r = (-2.0 * ln_f32(uniform_open0(a))).sqrt();
    let (s, c) = sincos_2pi(uniform(b));
    (r * c, r * s)
}

/// 1.5 * 2^23: adding it to a float with |x| < 2^22 rounds x to an integer,
/// which then sits in the low mantissa bits.
pub(super) const ROUND: f32 = 12_582_912.0;

/// `x.floor()` for |x| < 2^22 (every call site), from float adds and a
/// compare only: on the baseline x86-64 target (SSE2, no `roundps`)
/// `f32::floor` is a libm call and `as i32` a saturating scalar conversion,
/// and either stops the lane loops from vectorising. Same value as WGSL's
/// `floor` on that range (up to the sign of a zero result, which no call
/// site can observe).
#[inline(always)]
pub fn floor_f32(x: f32) -> f32 {
    let t = (x + ROUND) - ROUND; // x rounded to the nearest integer
    if t > x { t - 1.0 } else { t }
}

/// `k as i32` for an integer-valued `k` with |k| < 2^22, without a
/// saturating conversion.
#[inline(always)]
fn int_of(k: f32) -> i32 {
    (k + ROUND).to_bits().wrapping_sub(ROUND.to_bits()) as i32
}

/// Natural log for x > 0 (Cephes `logf`).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // in [0.5, 1)
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut y = 7.037_683_6e-2;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_4e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    y = y * m * z;
    let ef = e as f32;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    let r = m + y;
    r + 0.693_359_4 * ef
}

/// e^x, clamped to the normal f32 range (Cephes `expf`).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = floor_f32(x * std::f32::consts::LOG2_E + 0.5);
    let r = x - n * 0.693_359_4;
    let r = r - n * -2.121_944_4e-4;
    let z = r * r;
    let mut y = 1.987_569_1e-4;
    y = y * r + 1.398_199_9e-3;
    y = y * r + 8.333_452e-3;
    y = y * r + 4.166_579_6e-2;
    y = y * r + 1.666_666_5e-1;
    y = y * r + 5.0e-1;
    y = y * z + r + 1.0;
    y * f32::from_bits(((int_of(n) + 127) as u32) << 23)
}

/// (sin, cos) of 2 pi u for u in [0, 1), reduced to [-pi/4, pi/4] exactly.
#[inline(always)]
pub fn sincos_2pi(u: f32) -> (f32, f32) {
    let k = floor_f32(u * 4.0 + 0.5);
    let x = (u - k * 0.25) * std::f32::consts::TAU;
    let z = x * x;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * x + x;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    // Quadrant rotation written as selects so lanes vectorise: q = 0 (s, c),
    // 1 (c, -s), 2 (-s, -c), 3 (-c, s).
    let q = int_of(k) as u32 & 3;
    let (so, co) = if q & 1 == 1 { (c, s) } else { (s, c) };
    let so = if q & 2 == 2 { -so } else { so };
    let co = if (q + 1) & 2 == 2 { -co } else { co };
    (so, co)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from Random123 `kat_vectors` (philox4x32 10).
    #[test]
    fn philox_known_answers() {
        let kat = [
            (
                [0u32; 4],
                [0u32; 2],
                [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in kat {
            assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:x?} key {key:x?}");
        }
    }

    #[test]
    fn floor_and_int_of_match_std() {
        for i in -40_000..40_000 {
            let x = i as f32 * 0.013_7;
            assert_eq!(floor_f32(x), x.floor(), "floor {x}");
            assert_eq!(int_of(x.floor()), x.floor() as i32, "int_of {x}");
        }
        for x in [-0.5f32, -1.0, 0.0, 0.5, 1.0, 4.0, 4.5, 127.5, -126.5] {
            assert_eq!(floor_f32(x), x.floor(), "floor {x}");
        }
    }

    #[test]
    fn math_matches_std() {
        for i in 1..20_000 {
            let u = i as f32 / 20_000.0;
            assert!(
                (ln_f32(u) - u.ln()).abs() <= 2e-7 * u.ln().abs().max(1.0),
                "ln {u}"
            );
            let x = (u - 0.5) * 40.0;
            assert!((exp_f32(x) / x.exp() - 1.0).abs() < 5e-7, "exp {x}");
            let (s, c) = sincos_2pi(u);
            let a = f64::from(u) * std::f64::consts::TAU;
            assert!((f64::from(s) - a.sin()).abs() < 5e-7, "sin {u}");
            assert!((f64::from(c) - a.cos()).abs() < 5e-7, "cos {u}");
        }
    }

    #[test]
    fn normals_have_unit_moments() {
        let key = key_of(7);
        let (mut s1, mut s2, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for d in 0..50_000u32 {
            let x = philox4x32_10(counter(d, 3, 0), key);
            for (a, b) in [(x[0], x[1]), (x[2], x[3])] {
                let (z0, z1) = box_muller(a, b);
                for z in [z0, z1] {
                    s1 += f64::from(z);
                    s2 += f64::from(z) * f64::from(z);
                    n += 1.0;
                }
            }
        }
        assert!((s1 / n).abs() < 0.01);
        assert!((s2 / n - 1.0).abs() < 0.01);
    }
}
