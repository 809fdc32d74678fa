//! Reading a dataset's units in parallel and joining them, in file and row order, into [`Bars`].

use std::{collections::HashMap, path::PathBuf};

use rayon::prelude::*;

use super::{
    Selection,
    arrays::intern,
    decode::read_unit,
    files::FileSource,
    plan::{Unit, plan_file},
    sink::{Dest, RegionDest, VecDest, regions},
};
use crate::{
    data::bars::{Bars, Origin, Problems},
    error::DataError,
};

/// Reads every file of a dataset; problems are collected, not raised.
///
/// Files are opened and pruned in parallel, then the kept row groups of all
/// files are decoded in parallel chunks; results are joined in file and row
/// order, so the output does not depend on the thread count.
pub fn read_bars(files: &[FileSource], sel: &Selection<'_>) -> Result<(Bars, Problems), DataError> {
    let plans: Vec<Vec<Unit<'_>>> = files
        .par_iter()
        .enumerate()
        .map(|(i, f)| plan_file(i as u32, f, sel))
        .collect::<Result<_, _>>()?;
    let units: Vec<Unit<'_>> = plans.into_iter().flatten().collect();
    let files: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    if units.iter().all(|u| !u.filtered(sel)) {
        return read_exact(&units, sel, files);
    }
    let (dests, named): (Vec<VecDest>, Vec<_>) = units
        .par_iter()
        .map(|u| {
            let mut d = VecDest::default();
            let named = read_unit(u, sel, &mut d)?;
            Ok((d, named))
        })
        .collect::<Result<Vec<_>, DataError>>()?
        .into_iter()
        .unzip();
    let (symbols, maps, problems) = dataset_symbols(named);
    let mut bars = Bars::default();
    for (d, map) in dests.iter().zip(&maps) {
        bars.symbol
            .extend(d.symbol.iter().map(|&s| map[s as usize]));
        bars.timestamp.extend_from_slice(&d.timestamp);
        bars.open.extend_from_slice(&d.open);
        bars.high.extend_from_slice(&d.high);
        bars.low.extend_from_slice(&d.low);
        bars.close.extend_from_slice(&d.close);
        bars.volume.extend_from_slice(&d.volume);
        bars.origin.extend_from_slice(&d.origin);
    }
    bars.symbols = symbols;
    bars.files = files;
    Ok((bars, problems))
}

/// Joins the units' symbol names (in unit order) into dataset symbol ids:
/// returns the names, one unit-local -> dataset id table per unit, and all
/// problems.
fn dataset_symbols(parts: Vec<(Vec<String>, Problems)>) -> (Vec<String>, Vec<Vec<u32>>, Problems) {
    let mut problems = Problems::default();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut symbols: Vec<String> = Vec::new();
    let maps = parts
        .into_iter()
        .map(|(names, p)| {
            problems.merge(p);
            names
                .iter()
                .map(|s| intern(&mut ids, &mut symbols, s))
                .collect()
        })
        .collect();
    (symbols, maps, problems)
}

/// Reads units whose row counts are known (no row filter) straight into
/// preallocated columns: each unit decodes into its own region, so rows are
/// copied once, in parallel, and never regrown or joined.
fn read_exact(
    units: &[Unit<'_>],
    sel: &Selection<'_>,
    files: Vec<PathBuf>,
) -> Result<(Bars, Problems), DataError> {
    let sizes: Vec<usize> = units.iter().map(|u| u.rows() as usize).collect();
    let total: usize = sizes.iter().sum();
    // Filled in parallel: the first touch of the pages is the cost here.
    fn filled<T: Copy + Send + Sync>(v: T, n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        out.par_extend(rayon::iter::repeat_n(v, n));
        out
    }
    let mut timestamp = filled(0i64, total);
    let mut symbol = filled(0u32, total);
    let (mut open, mut high, mut low) =
        (filled(0.0, total), filled(0.0, total), filled(0.0, total));
    let (mut close, mut volume) = (filled(0.0, total), filled(0.0, total));
    let mut origin = filled(Origin::default(), total);
    let mut dests: Vec<RegionDest<'_>> = {
        let mut ts = regions(&mut timestamp, &sizes).into_iter();
        let mut sy = regions(&mut symbol, &sizes).into_iter();
        let mut op = regions(&mut open, &sizes).into_iter();
        let mut hi = regions(&mut high, &sizes).into_iter();
        let mut lo = regions(&mut low, &sizes).into_iter();
        let mut cl = regions(&mut close, &sizes).into_iter();
        let mut vo = regions(&mut volume, &sizes).into_iter();
        let mut or = regions(&mut origin, &sizes).into_iter();
        (0..sizes.len())
            .map(|_| {
                let next = "one region per unit";
                Dest {
                    timestamp: ts.next().expect(next),
                    symbol: sy.next().expect(next),
                    open: op.next().expect(next),
                    high: hi.next().expect(next),
                    low: lo.next().expect(next),
                    close: cl.next().expect(next),
                    volume: vo.next().expect(next),
                    origin: or.next().expect(next),
                }
            })
            .collect()
    };
    let parts: Vec<(Vec<String>, Problems)> = units
        .par_iter()
        .zip(dests.par_iter_mut())
        .map(|(u, d)| read_unit(u, sel, d))
        .collect::<Result<_, _>>()?;
    let written: Vec<usize> = dests.iter().map(|d| d.timestamp.len).collect();
    let (symbols, maps, problems) = dataset_symbols(parts);
    // Unit-local symbol ids -> dataset ids.
    dests
        .par_iter_mut()
        .zip(&maps)
        .filter(|(_, m)| m.iter().enumerate().any(|(i, &g)| i as u32 != g))
        .for_each(|(d, m)| {
            for s in &mut d.symbol.buf[..d.symbol.len] {
                *s = m[*s as usize];
            }
        });
    drop(dests);
    if written != sizes {
        // Rows failing validation were left out: close the gaps.
        fn compact<T: Copy>(v: &mut Vec<T>, sizes: &[usize], written: &[usize]) {
            let (mut from, mut to) = (0, 0);
            for (&size, &w) in sizes.iter().zip(written) {
                v.copy_within(from..from + w, to);
                from += size;
                to += w;
            }
            v.truncate(to);
        }
        compact(&mut timestamp, &sizes, &written);
        compact(&mut symbol, &sizes, &written);
        for v in [&mut open, &mut high, &mut low, &mut close, &mut volume] {
            compact(v, &sizes, &written);
        }
        compact(&mut origin, &sizes, &written);
    }
    let bars = Bars {
        symbols,
        timestamp,
        symbol,
        open,
        high,
        low,
        close,
        volume,
        origin,
        files,
    };
    Ok((bars, problems))
}
