//! Load + validate + panel on a 500-asset x 20-year synthetic file.
//!
//! Workload: `chloe data synth --assets 500 --days 5040` (2.52 M rows, OHLCV),
//! read with column projection, validated row by row, sorted check, duplicate
//! check and the forward-filled panel built. The baseline (a plain pyarrow /
//! polars read of the same file, no validation) is timed by
//! `benches/load_baseline.py` in the same run: `bash benches/compare_load.sh`.
//!
//! Run alone: `cargo bench --bench load`.

use std::path::PathBuf;

use chloe::{
    config::{ColumnMap, DataSpec, SymbolSelection},
    data::{load_panel, synth},
};
use criterion::{Criterion, criterion_group, criterion_main};

// The binary's allocator, so the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The synthetic file, generated once per machine.
fn data_file() -> PathBuf {
    let dir = PathBuf::from(
        std::env::var("CHLOE_BENCH_DIR").unwrap_or_else(|_| "target/bench-data".into()),
    );
    let path = dir.join("synth_500x5040.parquet");
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("bench data folder");
        let p = synth::SynthParams {
            assets: 500,
            days: 5040,
            seed: 1,
            start: chloe::data::time::parse_date("2000-01-03", false).expect("date"),
        };
        synth::write(&path, &synth::generate(&p)).expect("write synthetic file");
    }
    path
}

fn spec(path: PathBuf) -> DataSpec {
    DataSpec {
        path,
        symbols: SymbolSelection::All,
        start: None,
        end: None,
        bar: None,
        columns: ColumnMap::default(),
        max_fill_days: 5,
        bars_per_year: None,
        calendar: None,
        benchmark: None,
    }
}

fn bench(c: &mut Criterion) {
    let path = data_file();
    let s = spec(path.clone());
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("load_validate_panel_500x5040", |b| {
        b.iter(|| load_panel(&s).expect("valid synthetic data"))
    });
    let mut slice = spec(path);
    slice.symbols = SymbolSelection::List(vec!["S0100".into(), "S0101".into()]);
    slice.start = Some(chloe::data::time::parse_date("2015-01-01", false).expect("date"));
    g.bench_function("load_slice_2_symbols_2015_on", |b| {
        b.iter(|| load_panel(&slice).expect("valid synthetic data"))
    });
    g.bench_function("synth_500x5040", |b| {
        let p = synth::SynthParams {
            assets: 500,
            days: 5040,
            seed: 1,
            start: 0,
        };
        b.iter(|| synth::generate(&p))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
