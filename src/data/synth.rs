//! A synthetic market for tests and scale runs.
//!
//! Model, per weekday bar:
//! - a hidden regime (calm, volatile, trending) follows a sticky Markov chain;
//! - returns have a factor structure: a market factor scaled by the regime's
//!   volatility and drift, one sector factor per asset, and an idiosyncratic
//!   part with GARCH(1,1) volatility clustering;
//! - jumps: rare market-wide crashes and per-asset jumps;
//! - OHLC consistent with the close (open gaps from the previous close, high
//!   and low enclose open and close), volume rising with the size of the move.
//!
//! Deterministic for a seed: each asset draws from its own seeded stream, so
//! the result does not depend on the thread count.

use std::{path::Path, sync::Arc};

use arrow::{
    array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray},
    datatypes::{DataType, Field, Schema, TimeUnit},
};
use parquet::{basic::Compression, file::properties::WriterProperties};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::time::{DAY_US, weekday};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthParams {
    /// Number of assets.
    pub assets: usize,
    /// Number of weekday bars.
    pub days: usize,
    /// Seed.
    pub seed: u64,
    /// First day (microseconds UTC); moved forward to a weekday.
    pub start: i64,
}

/// Regime of the synthetic market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthRegime {
    /// Low volatility, small drift.
    Calm,
    /// High volatility, negative drift.
    Volatile,
    /// Moderate volatility, strong positive drift.
    Trending,
}

impl SynthRegime {
    fn vol(self) -> f64 {
        match self {
            Self::Calm => 0.007,
            Self::Volatile => 0.022,
            Self::Trending => 0.010,
        }
    }

    fn drift(self) -> f64 {
        match self {
            Self::Calm => 0.0003,
            Self::Volatile => -0.0008,
            Self::Trending => 0.0012,
        }
    }
}

const SECTORS: usize = 8;

/// The market-level paths shared by every asset.
#[derive(Debug, Clone)]
pub struct MarketPath {
    /// Weekday timestamps.
    pub timestamps: Vec<i64>,
    /// Regime per bar.
    pub regimes: Vec<SynthRegime>,
    /// Market factor log return per bar.
    pub market: Vec<f64>,
    /// Sector factor log returns, `[bar][sector]`.
    pub sectors: Vec<[f64; SECTORS]>,
}

/// Generates the shared market path for `p`.
pub fn market_path(p: &SynthParams) -> MarketPath {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed ^ 0x6d61_726b_6574);
    let mut timestamps = Vec::with_capacity(p.days);
    let mut t = p.start.div_euclid(DAY_US) * DAY_US;
    while timestamps.len() < p.days {
        if weekday(t) < 5 {
            timestamps.push(t);
        }
        t += DAY_US;
    }
    let mut regime = SynthRegime::Calm;
    let mut regimes = Vec::with_capacity(p.days);
    let mut market = Vec::with_capacity(p.days);
    let mut sectors = Vec::with_capacity(p.days);
    for _ in 0..p.days {
        let u: f64 = rng.r#gen();
        // Sticky chain: expected stay ~ 60-120 bars.
        regime = match regime {
            SynthRegime::Calm if u < 0.010 => SynthRegime::Volatile,
            SynthRegime::Calm if u < 0.020 => SynthRegime::Trending,
            SynthRegime::Volatile if u < 0.015 => SynthRegime::Calm,
            SynthRegime::Volatile if u < 0.020 => SynthRegime::Trending,
            SynthRegime::Trending if u < 0.012 => SynthRegime::Calm,
            SynthRegime::Trending if u < 0.017 => SynthRegime::Volatile,
            r => r,
        };
        let z: f64 = rng.sample(StandardNormal);
        let crash = if rng.r#gen::<f64>() < 0.002 {
            -0.04 + 0.03 * rng.sample::<f64, _>(StandardNormal)
        } else {
            0.0
        };
        market.push(regime.drift() + regime.vol() * z + crash);
        let mut s = [0.0; SECTORS];
        for v in &mut s {
            *v = 0.5 * regime.vol() * rng.sample::<f64, _>(StandardNormal);
        }
        sectors.push(s);
        regimes.push(regime);
    }
    MarketPath {
        timestamps,
        regimes,
        market,
        sectors,
    }
}

/// One asset's bars.
struct AssetBars {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn asset_bars(p: &SynthParams, m: &MarketPath, asset: usize) -> AssetBars {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        p.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (asset as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
    );
    let beta = 0.6 + 0.8 * rng.r#gen::<f64>();
    let sector = asset % SECTORS;
    let base_idio = 0.008 + 0.012 * rng.r#gen::<f64>();
    let (omega, alpha, garch_beta) = (base_idio * base_idio * 0.05, 0.08, 0.87);
    let mut var = base_idio * base_idio;
    let mut price = 20.0 + 180.0 * rng.r#gen::<f64>();
    let shares = 1.0e5 * (1.0 + 50.0 * rng.r#gen::<f64>());
    let n = p.days;
    let mut out = AssetBars {
        open: Vec::with_capacity(n),
        high: Vec::with_capacity(n),
        low: Vec::with_capacity(n),
        close: Vec::with_capacity(n),
        volume: Vec::with_capacity(n),
    };
    for t in 0..n {
        let z: f64 = rng.sample(StandardNormal);
        let eps = var.sqrt() * z;
        var = omega + alpha * eps * eps + garch_beta * var;
        let jump = if rng.r#gen::<f64>() < 0.003 {
            0.05 * rng.sample::<f64, _>(StandardNormal)
        } else {
            0.0
        };
        let r = beta * m.market[t] + m.sectors[t][sector] + eps + jump;
        let day_vol = (m.regimes[t].vol() * beta).hypot(var.sqrt());
        // The overnight gap takes a fifth of the move; the session the rest.
        let gap = 0.2 * r + 0.1 * day_vol * rng.sample::<f64, _>(StandardNormal);
        let open = price * gap.exp();
        let close = price * r.exp();
        let up: f64 = rng.sample::<f64, _>(StandardNormal).abs();
        let down: f64 = rng.sample::<f64, _>(StandardNormal).abs();
        let high = open.max(close) * (0.5 * day_vol * up).exp();
        let low = open.min(close) * (-0.5 * day_vol * down).exp();
        let surprise = (r.abs() / day_vol.max(1e-6)).min(10.0);
        let noise: f64 = (0.3 * rng.sample::<f64, _>(StandardNormal)).exp();
        out.open.push(open);
        out.high.push(high);
        out.low.push(low);
        out.close.push(close);
        out.volume
            .push((shares * (0.5 + 0.5 * surprise) * noise).round());
        price = close;
    }
    out
}

/// Generates the long-format record batch (sorted by symbol, timestamp).
pub fn generate(p: &SynthParams) -> RecordBatch {
    let m = market_path(p);
    let per: Vec<AssetBars> = (0..p.assets)
        .into_par_iter()
        .map(|a| asset_bars(p, &m, a))
        .collect();
    let rows = p.assets * p.days;
    let width = (p.assets.max(2) - 1).to_string().len().max(4);
    let names: Vec<String> = (0..p.assets).map(|a| format!("S{a:0width$}")).collect();
    let mut ts = Vec::with_capacity(rows);
    let mut sym: Vec<&str> = Vec::with_capacity(rows);
    for name in &names {
        ts.extend_from_slice(&m.timestamps);
        sym.extend(std::iter::repeat_n(name.as_str(), p.days));
    }
    let cat = |f: fn(&AssetBars) -> &Vec<f64>| -> Float64Array {
        let mut v = Vec::with_capacity(rows);
        for a in &per {
            v.extend_from_slice(f(a));
        }
        Float64Array::from(v)
    };
    RecordBatch::try_new(
        price_schema(),
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(sym)),
            Arc::new(cat(|a| &a.open)),
            Arc::new(cat(|a| &a.high)),
            Arc::new(cat(|a| &a.low)),
            Arc::new(cat(|a| &a.close)),
            Arc::new(cat(|a| &a.volume)),
        ],
    )
    .expect("columns match the schema")
}

/// chloe's price schema: timestamp[us, UTC], symbol, open, high, low, close, volume.
pub fn price_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("open", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("close", DataType::Float64, false),
        Field::new("volume", DataType::Float64, true),
    ]))
}

/// Writes a price batch to Parquet atomically, in row groups of 128k rows so
/// symbol and date filters can skip most of a large file.
pub fn write(path: &Path, batch: &RecordBatch) -> anyhow::Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    crate::atomic::write_parquet_atomic_with(
        path,
        batch.schema(),
        std::slice::from_ref(batch),
        props,
    )
}
