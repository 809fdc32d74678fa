//! SplitMix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number
//! Generators", OOPSLA 2014; Vigna's reference `splitmix64.c`): the one mixer
//! that derives seeds and counter-based draws from the job seed outside the
//! stress kernels (which use Philox).

/// The golden-ratio increment of the SplitMix64 state, `2^64 / phi`.
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output finalizer (Stafford's "Mix13"), a bijection of `u64`.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The SplitMix64 output for state `x`: the state advanced by [`GOLDEN_GAMMA`], mixed.
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN_GAMMA))
}

#[cfg(test)]
mod tests {
    use rand_xoshiro::{
        SplitMix64,
        rand_core::{RngCore, SeedableRng},
    };

    use super::*;

    #[test]
    fn matches_the_reference_generator() {
        // rand_xoshiro's SplitMix64 follows splitmix64.c: state += gamma; output mix(state).
        for seed in [0, 1, 42, 1_477_776_061_723_855_037, u64::MAX] {
            let mut rng = SplitMix64::seed_from_u64(seed);
            let mut state = seed;
            for _ in 0..8 {
                assert_eq!(splitmix64(state), rng.next_u64());
                state = state.wrapping_add(GOLDEN_GAMMA);
            }
        }
    }

    #[test]
    fn mix64_fixes_zero_and_spreads_neighbours() {
        assert_eq!(mix64(0), 0);
        // Neighbouring inputs differ in about half of the 64 output bits.
        let flips: u32 = (1..1000u64)
            .map(|x| (mix64(x) ^ mix64(x + 1)).count_ones())
            .sum();
        let mean = f64::from(flips) / 999.0;
        assert!((mean - 32.0).abs() < 1.0, "{mean}");
    }
}
