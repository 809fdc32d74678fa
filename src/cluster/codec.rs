//! Unit outputs as bytes, exactly: decoding an encoded unit gives back the
//! same values bit for bit (f64 and f32 as their IEEE bits, little-endian).
//!
//! Fold fits are bincode (serde) of the fits of every family; a block of
//! stress paths is its path records (eight little-endian 32-bit words each,
//! the `PathOut` layout), its daily values (exact bands) or its sparse band
//! counts (histogram bands).

use anyhow::{Context, bail};

use crate::{
    stress::{engine::Block, model::PathOut},
    walkforward::{FamilyFit, FitFamily},
};

/// One fit unit's content: each family's fit of the fold.
pub type FitOut = Vec<(FitFamily, FamilyFit)>;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a fit unit.
pub fn encode_fits(fits: &FitOut) -> anyhow::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(fits, config()).context("encoding fold fits")
}

/// Decodes a fit unit; every byte must be used.
pub fn decode_fits(bytes: &[u8]) -> anyhow::Result<FitOut> {
    let (fits, used) =
        bincode::serde::decode_from_slice(bytes, config()).context("decoding fold fits")?;
    if used != bytes.len() {
        bail!("decoding fold fits: {} trailing bytes", bytes.len() - used);
    }
    Ok(fits)
}

/// File names of a block unit.
pub const PATHS_FILE: &str = "paths.bin";
/// Daily values (exact bands).
pub const VALUES_FILE: &str = "values.bin";
/// Sparse band counts (histogram bands).
pub const COUNTS_FILE: &str = "counts.bin";

/// Encodes a block's path records, values and counts as its three files.
pub fn encode_block(b: &Block) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut paths = Vec::with_capacity(b.paths.len() * 32);
    for p in &b.paths {
        for w in [
            p.terminal.to_bits(),
            p.max_drawdown.to_bits(),
            p.liquidation_cost.to_bits(),
            p.liquidations,
            p.breach_day as u32,
            p.pad[0],
            p.pad[1],
            p.pad[2],
        ] {
            paths.extend_from_slice(&w.to_le_bytes());
        }
    }
    let values: Vec<u8> = b.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let sparse: Vec<(u32, u32)> = b
        .counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c > 0)
        .map(|(i, &c)| (i as u32, c))
        .collect();
    let counts = bincode::serde::encode_to_vec((b.counts.len() as u64, sparse), config())
        .context("encoding band counts")?;
    Ok(vec![
        (PATHS_FILE, paths),
        (VALUES_FILE, values),
        (COUNTS_FILE, counts),
    ])
}

fn words(bytes: &[u8], what: &str) -> anyhow::Result<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        bail!("{what}: {} bytes is not whole 32-bit words", bytes.len());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes a block from its files' bytes (paths, values, counts) and its
/// manifest's computation details.
pub fn decode_block(
    paths: &[u8],
    values: &[u8],
    counts: &[u8],
    meta: &super::store::BlockMeta,
) -> anyhow::Result<Block> {
    let w = words(paths, PATHS_FILE)?;
    if !w.len().is_multiple_of(8) {
        bail!("{PATHS_FILE}: not whole path records");
    }
    let paths = w
        .chunks_exact(8)
        .map(|r| PathOut {
            terminal: f32::from_bits(r[0]),
            max_drawdown: f32::from_bits(r[1]),
            liquidation_cost: f32::from_bits(r[2]),
            liquidations: r[3],
            breach_day: r[4] as i32,
            pad: [r[5], r[6], r[7]],
        })
        .collect();
    let values = words(values, VALUES_FILE)?
        .into_iter()
        .map(f32::from_bits)
        .collect();
    let ((len, sparse), used): ((u64, Vec<(u32, u32)>), usize) =
        bincode::serde::decode_from_slice(counts, config()).context("decoding band counts")?;
    if used != counts.len() {
        bail!("{COUNTS_FILE}: trailing bytes");
    }
    let mut dense = vec![0u32; len as usize];
    for (i, c) in sparse {
        *dense
            .get_mut(i as usize)
            .with_context(|| format!("{COUNTS_FILE}: bin {i} out of range"))? = c;
    }
    Ok(Block {
        paths,
        values,
        counts: dense,
        backends: meta.backends.clone(),
        chunks: meta.chunks,
        fallback_chunks: meta.fallback_chunks,
        fallback_reason: meta.fallback_reason.clone(),
    })
}

/// A block's computation details for its manifest.
pub fn block_meta(b: &Block) -> super::store::BlockMeta {
    super::store::BlockMeta {
        backends: b.backends.clone(),
        chunks: b.chunks,
        fallback_chunks: b.fallback_chunks,
        fallback_reason: b.fallback_reason.clone(),
    }
}

/// A block through its encoding and back (what a single run keeps, so it
/// reduces exactly what a merge reads).
pub fn round_trip_block(b: Block) -> anyhow::Result<Block> {
    let files = encode_block(&b)?;
    decode_block(&files[0].1, &files[1].1, &files[2].1, &block_meta(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_bit_for_bit() {
        let b = Block {
            paths: vec![
                PathOut {
                    terminal: 1.234_567_9e7,
                    max_drawdown: f32::MIN_POSITIVE,
                    liquidation_cost: -0.0,
                    liquidations: 7,
                    breach_day: -1,
                    pad: [0; 3],
                },
                PathOut {
                    terminal: f32::NAN,
                    breach_day: 3,
                    ..PathOut::default()
                },
            ],
            values: vec![1.5, -0.0, f32::INFINITY, 3.0e-40],
            counts: vec![0, 3, 0, 0, 9],
            backends: vec!["cpu".into()],
            chunks: 2,
            fallback_chunks: 0,
            fallback_reason: None,
        };
        let back = round_trip_block(b.clone()).unwrap();
        let bits = |b: &Block| -> Vec<u32> {
            b.paths
                .iter()
                .flat_map(|p| {
                    [
                        p.terminal.to_bits(),
                        p.max_drawdown.to_bits(),
                        p.liquidation_cost.to_bits(),
                        p.liquidations,
                        p.breach_day as u32,
                    ]
                })
                .chain(b.values.iter().map(|v| v.to_bits()))
                .chain(b.counts.iter().copied())
                .collect()
        };
        assert_eq!(bits(&back), bits(&b));
        assert_eq!(back.backends, b.backends);
        let files = encode_block(&b).unwrap();
        assert!(
            decode_block(&files[0].1[..31], &files[1].1, &files[2].1, &block_meta(&b)).is_err()
        );
    }
}
