//! Strictly causal per-asset and market features: the value at bar t uses data at
//! bars <= t only.
//!
//! API:
//! - [`compute`]`(&Panel, &FeatureSpec) -> FeatureSet`: `values[[bar, asset, feature]]`,
//!   NaN during warm-up and where the asset is unavailable.
//! - [`market_features`]`(&Panel) -> (Vec<String>, Array2<f64>)`: `[bars, MARKET_FEATURE_NAMES]`
//!   for the regime detector.
//!
//! Per-asset features (names in [`FEATURE_NAMES`]; `W` = `vol_window`, `L` = `long_window`,
//! `r` = close-to-close simple return, all per bar, never annualized):
//! - `ret_1`, `ret_5`, `ret_20`: `close_t / close_{t-h} - 1`.
//! - `vol_20`: std (ddof 1) of the last `W` returns.
//! - `vol_of_vol`: std / mean of the last `W` values of `vol_20` (0 when the mean is 0).
//! - `mom_z`: `ln(close_t / close_{t-L}) / (std_L(r) sqrt(L))`.
//! - `mr_z`: `(ln close_t - mean_W(ln close)) / std_W(ln close)` (0 for a flat window).
//! - `rsi_14`: Wilder's RSI (0..100) with `rsi_window`, SMA-seeded; restarts after a gap.
//! - `range_vol`: Parkinson (1980) `sqrt(mean_W(ln(H/L)^2 / (4 ln 2)))`; a bar without
//!   high/low contributes `r^2`; close-only symbols get `vol_20` (noted).
//! - `volume_z`: z-score of `ln(1 + volume)` over `W`; 0 for symbols without volume (noted).
//! - `amihud`: Amihud (2002) mean over `W` of `|r| / (close * volume) * 1e6` on bars with
//!   volume (at least half the window); 0 for symbols without volume (noted).
//! - `beta_corr`: correlation over `L` of `r` with the benchmark return, or with the
//!   equal-weighted return of available symbols when there is no benchmark (noted).
//!
//! Rolling statistics keep running sums (O(bars) per asset); assets run in parallel
//! with rayon and are assembled in index order, so output never depends on threads.

use ndarray::{Array2, Array3, ArrayView1, Axis, s};
use rayon::prelude::*;

pub use crate::config::features::{FEATURE_NAMES, FeatureSpec};
use crate::data::{Panel, SymbolFields, simple_returns};

/// Names of the market-level features, the columns of [`market_features`].
pub const MARKET_FEATURE_NAMES: [&str; 4] = ["mkt_vol", "mkt_trend", "mkt_dispersion", "mkt_corr"];

/// Assets per parallel task: 8 f64 fill one 64-byte cache line of a panel row.
const CHUNK: usize = 8;

/// Short and long windows of [`market_features`].
const MARKET_WINDOWS: (usize, usize) = (20, 60);

/// Per-asset features over the panel calendar.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    /// Feature names, the last axis of `values`.
    pub names: Vec<String>,
    /// `[bars, assets, features]`; NaN where not defined.
    pub values: Array3<f64>,
    /// First bar at which every feature is defined for an asset available throughout.
    pub warmup: usize,
    /// Fallbacks used, for logs and the report.
    pub notes: Vec<String>,
}

impl FeatureSet {
    /// Column of a feature by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// Computes the features `spec` includes for every asset and bar.
pub fn compute(panel: &Panel, spec: &FeatureSpec) -> FeatureSet {
    let (t_len, n) = (panel.n_bars(), panel.n_assets());
    let market = market_return(panel);
    let cols: Vec<&Feature> = spec
        .include
        .iter()
        .filter_map(|name| CATALOGUE.iter().find(|f| f.name == name))
        .collect();
    // Zeroed memory is mapped lazily, so each worker faults in the pages it writes;
    // every element is overwritten below. Assets go in chunks of one cache line of
    // the row-major panel, so columns are read and written a line at a time.
    let mut values = Array3::<f64>::zeros((t_len, n, cols.len()));
    values
        .axis_chunks_iter_mut(Axis(1), CHUNK)
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut out)| {
            let first = c * CHUNK;
            let feats: Vec<Vec<Vec<f64>>> = AssetSeries::chunk(panel, first, out.len_of(Axis(1)))
                .iter()
                .map(|series| {
                    let ctx = AssetCtx::new(series, spec, &market);
                    cols.iter().map(|f| ctx.feature(f)).collect()
                })
                .collect();
            for (t, mut bar) in out.outer_iter_mut().enumerate() {
                for (mut row, asset) in bar.outer_iter_mut().zip(&feats) {
                    for (v, col) in row.iter_mut().zip(asset) {
                        *v = col[t];
                    }
                }
            }
        });
    FeatureSet {
        names: cols.iter().map(|f| f.name.to_string()).collect(),
        values,
        warmup: cols.iter().map(|f| (f.warmup)(spec)).max().unwrap_or(0),
        notes: cols.iter().filter_map(|f| (f.note)(panel)).collect(),
    }
}

/// Names, warm-up and notes of the features `spec` includes, without their
/// values (what a merge needs when every fit is already computed).
pub fn describe(panel: &Panel, spec: &FeatureSpec) -> FeatureSet {
    let cols: Vec<&Feature> = spec
        .include
        .iter()
        .filter_map(|name| CATALOGUE.iter().find(|f| f.name == name))
        .collect();
    FeatureSet {
        names: cols.iter().map(|f| f.name.to_string()).collect(),
        values: Array3::zeros((0, 0, cols.len())),
        warmup: cols.iter().map(|f| (f.warmup)(spec)).max().unwrap_or(0),
        notes: cols.iter().filter_map(|f| (f.note)(panel)).collect(),
    }
}

/// One per-asset feature of the catalogue.
struct Feature {
    /// Stable identifier, as in job files and reports.
    name: &'static str,
    /// First bar at which the feature can be defined for an asset available
    /// throughout (an upper bound: fields a symbol lacks may define it earlier).
    warmup: fn(&FeatureSpec) -> usize,
    /// Values over one asset's bars, NaN where undefined (before the availability mask).
    compute: fn(&AssetCtx<'_>) -> Vec<f64>,
    /// The fallback the feature uses on this panel, for logs and the report.
    note: fn(&Panel) -> Option<String>,
}

/// Every per-asset feature: name, warm-up and computation side by side, in
/// [`FEATURE_NAMES`] order (checked at compile time below).
const CATALOGUE: [Feature; FEATURE_NAMES.len()] = [
    Feature {
        name: "ret_1",
        warmup: |_| 1,
        compute: |c| c.r.clone(),
        note: no_note,
    },
    Feature {
        name: "ret_5",
        warmup: |_| 5,
        compute: |c| c.horizon_return(5),
        note: no_note,
    },
    Feature {
        name: "ret_20",
        warmup: |_| 20,
        compute: |c| c.horizon_return(20),
        note: no_note,
    },
    Feature {
        name: "vol_20",
        warmup: |s| s.vol_window,
        compute: |c| c.vol.clone(),
        note: no_note,
    },
    Feature {
        name: "vol_of_vol",
        warmup: |s| 2 * s.vol_window - 1,
        compute: vol_of_vol,
        note: no_note,
    },
    Feature {
        name: "mom_z",
        warmup: |s| s.long_window,
        compute: mom_z,
        note: no_note,
    },
    Feature {
        name: "mr_z",
        warmup: |s| s.vol_window - 1,
        compute: mr_z,
        note: no_note,
    },
    Feature {
        name: "rsi_14",
        warmup: |s| s.rsi_window,
        compute: |c| wilder_rsi(&c.a.close, &c.a.avail, c.spec.rsi_window),
        note: no_note,
    },
    Feature {
        name: "range_vol",
        warmup: |s| s.vol_window,
        compute: range_vol,
        note: |p| {
            let close_only = p.fields.iter().filter(|f| !f.has_ohlc).count();
            (close_only > 0).then(|| {
                format!("range_vol: close-to-close volatility for {close_only} close-only symbols")
            })
        },
    },
    Feature {
        name: "volume_z",
        warmup: |s| s.vol_window - 1,
        compute: volume_z,
        note: |p| no_volume_note("volume_z", p),
    },
    Feature {
        name: "amihud",
        warmup: |s| s.vol_window,
        compute: amihud,
        note: |p| no_volume_note("amihud", p),
    },
    Feature {
        name: "beta_corr",
        warmup: |s| s.long_window,
        compute: |c| rolling_corr(&c.r, c.market, c.spec.long_window),
        note: |p| {
            p.benchmark.is_none().then(|| {
                "beta_corr: correlation to the equal-weighted return (no benchmark)".into()
            })
        },
    },
];

// The catalogue and the names the job file accepts are the same list, in the same order.
const _: () = {
    let mut k = 0;
    while k < CATALOGUE.len() {
        let (a, b) = (CATALOGUE[k].name.as_bytes(), FEATURE_NAMES[k].as_bytes());
        assert!(a.len() == b.len(), "CATALOGUE and FEATURE_NAMES differ");
        let mut j = 0;
        while j < a.len() {
            assert!(a[j] == b[j], "CATALOGUE and FEATURE_NAMES differ");
            j += 1;
        }
        k += 1;
    }
};

fn no_note(_: &Panel) -> Option<String> {
    None
}

fn no_volume_note(name: &str, panel: &Panel) -> Option<String> {
    let no_volume = panel.fields.iter().filter(|f| !f.has_volume).count();
    (no_volume > 0).then(|| format!("{name}: 0 for {no_volume} symbols without volume"))
}

/// The market return per bar: the benchmark's when there is one, otherwise the
/// equal-weighted mean of available assets' returns.
fn market_return(panel: &Panel) -> Vec<f64> {
    match &panel.benchmark {
        Some(b) => b.returns(),
        None => equal_weighted_return(&panel.returns()),
    }
}

/// Mean per bar of the defined one-bar returns `[bars, assets]`; NaN when none is.
fn equal_weighted_return(returns: &Array2<f64>) -> Vec<f64> {
    returns
        .rows()
        .into_iter()
        .map(|row| {
            let (mut s, mut k) = (0.0, 0usize);
            for &r in row.iter().filter(|r| !r.is_nan()) {
                s += r;
                k += 1;
            }
            if k > 0 { s / k as f64 } else { f64::NAN }
        })
        .collect()
}

/// One asset's columns of the panel, contiguous over bars.
struct AssetSeries {
    close: Vec<f64>,
    avail: Vec<bool>,
    high: Vec<f64>,
    low: Vec<f64>,
    volume: Vec<f64>,
    fields: SymbolFields,
}

impl AssetSeries {
    /// Columns `first..first + len`, read row by row.
    fn chunk(panel: &Panel, first: usize, len: usize) -> Vec<AssetSeries> {
        let t_len = panel.n_bars();
        let mut out: Vec<AssetSeries> = (first..first + len)
            .map(|i| AssetSeries {
                close: Vec::with_capacity(t_len),
                avail: Vec::with_capacity(t_len),
                high: Vec::with_capacity(t_len),
                low: Vec::with_capacity(t_len),
                volume: Vec::with_capacity(t_len),
                fields: panel.fields[i],
            })
            .collect();
        let end = first + len;
        for t in 0..t_len {
            let rows = (
                panel.close.slice(s![t, first..end]),
                panel.available.slice(s![t, first..end]),
                panel.high.slice(s![t, first..end]),
                panel.low.slice(s![t, first..end]),
                panel.volume.slice(s![t, first..end]),
            );
            for (k, a) in out.iter_mut().enumerate() {
                a.close.push(rows.0[k]);
                a.avail.push(rows.1[k]);
                a.high.push(rows.2[k]);
                a.low.push(rows.3[k]);
                a.volume.push(rows.4[k]);
            }
        }
        out
    }
}

/// One asset's bars with the intermediates several features share.
struct AssetCtx<'a> {
    a: &'a AssetSeries,
    spec: &'a FeatureSpec,
    /// Market return per bar (see [`market_return`]).
    market: &'a [f64],
    /// One-bar simple returns.
    r: Vec<f64>,
    /// `ln close`, NaN where unavailable.
    log_close: Vec<f64>,
    /// Rolling std of `r` over `vol_window` (`vol_20`).
    vol: Vec<f64>,
}

impl<'a> AssetCtx<'a> {
    fn new(a: &'a AssetSeries, spec: &'a FeatureSpec, market: &'a [f64]) -> Self {
        let r = simple_returns(ArrayView1::from(&a.close), ArrayView1::from(&a.avail));
        let log_close = (0..a.close.len())
            .map(|t| {
                if a.avail[t] {
                    a.close[t].ln()
                } else {
                    f64::NAN
                }
            })
            .collect();
        let (_, vol) = rolling_mean_std(&r, spec.vol_window);
        Self {
            a,
            spec,
            market,
            r,
            log_close,
            vol,
        }
    }

    /// Feature `f` of this asset, NaN on every bar where the asset is unavailable.
    fn feature(&self, f: &Feature) -> Vec<f64> {
        let mut col = (f.compute)(self);
        for (v, &ok) in col.iter_mut().zip(&self.a.avail) {
            if !ok {
                *v = f64::NAN;
            }
        }
        col
    }

    /// `close_t / close_{t-h} - 1` where both bars are available.
    fn horizon_return(&self, h: usize) -> Vec<f64> {
        let (close, avail) = (&self.a.close, &self.a.avail);
        (0..close.len())
            .map(|t| {
                if t >= h && avail[t] && avail[t - h] {
                    close[t] / close[t - h] - 1.0
                } else {
                    f64::NAN
                }
            })
            .collect()
    }
}

fn vol_of_vol(c: &AssetCtx<'_>) -> Vec<f64> {
    let (vol_mean, vol_std) = rolling_mean_std(&c.vol, c.spec.vol_window);
    zip_map(
        &vol_std,
        &vol_mean,
        |s, m| if m == 0.0 { 0.0 } else { s / m },
    )
}

fn mom_z(c: &AssetCtx<'_>) -> Vec<f64> {
    let l = c.spec.long_window;
    let (_, vol_long) = rolling_mean_std(&c.r, l);
    (0..c.r.len())
        .map(|t| {
            if t < l {
                return f64::NAN;
            }
            ratio_or_zero(
                c.log_close[t] - c.log_close[t - l],
                vol_long[t] * (l as f64).sqrt(),
            )
        })
        .collect()
}

fn mr_z(c: &AssetCtx<'_>) -> Vec<f64> {
    let (lc_mean, lc_std) = rolling_mean_std(&c.log_close, c.spec.vol_window);
    (0..c.r.len())
        .map(|t| ratio_or_zero(c.log_close[t] - lc_mean[t], lc_std[t]))
        .collect()
}

fn range_vol(c: &AssetCtx<'_>) -> Vec<f64> {
    if !c.a.fields.has_ohlc {
        return c.vol.clone();
    }
    let (a, r) = (c.a, &c.r);
    let ln4 = 4.0 * std::f64::consts::LN_2;
    let term: Vec<f64> = (0..r.len())
        .map(|t| {
            let (h, lo) = (a.high[t], a.low[t]);
            if a.avail[t] && h > 0.0 && lo > 0.0 {
                (h / lo).ln().powi(2) / ln4
            } else {
                r[t] * r[t]
            }
        })
        .collect();
    rolling_mean_std(&term, c.spec.vol_window)
        .0
        .into_iter()
        .map(f64::sqrt)
        .collect()
}

fn volume_z(c: &AssetCtx<'_>) -> Vec<f64> {
    let t_len = c.r.len();
    if !c.a.fields.has_volume {
        return vec![0.0; t_len];
    }
    let lv: Vec<f64> = (0..t_len).map(|t| c.a.volume[t].max(0.0).ln_1p()).collect();
    let (m, s) = rolling_mean_std(&lv, c.spec.vol_window);
    (0..t_len)
        .map(|t| ratio_or_zero(lv[t] - m[t], s[t]))
        .collect()
}

fn amihud(c: &AssetCtx<'_>) -> Vec<f64> {
    let (a, r, w) = (c.a, &c.r, c.spec.vol_window);
    if !a.fields.has_volume {
        return vec![0.0; r.len()];
    }
    let illiq: Vec<f64> = (0..r.len())
        .map(|t| {
            let dv = a.close[t] * a.volume[t];
            if dv > 0.0 {
                r[t].abs() / dv * 1e6
            } else {
                f64::NAN
            }
        })
        .collect();
    rolling_mean_sparse(&illiq, w, w.div_ceil(2))
}

fn zip_map(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

/// `a / b`, 0 when `b` is 0 (a flat window has no z-score to speak of); NaN stays NaN.
fn ratio_or_zero(a: f64, b: f64) -> f64 {
    if b == 0.0 && a.is_finite() {
        0.0
    } else {
        a / b
    }
}

/// Rolling mean and std (ddof 1) over the last `w` values including t; NaN until `w`
/// values are seen and while any value in the window is NaN. Running sums of values
/// shifted by the first finite value, to keep the variance free of cancellation.
fn rolling_mean_std(x: &[f64], w: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let (mut mean, mut std) = (vec![f64::NAN; n], vec![f64::NAN; n]);
    let k = x.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
    let (mut s, mut ss, mut bad) = (0.0, 0.0, 0usize);
    for t in 0..n {
        let v = x[t] - k;
        if v.is_finite() {
            s += v;
            ss += v * v;
        } else {
            bad += 1;
        }
        if t >= w {
            let old = x[t - w] - k;
            if old.is_finite() {
                s -= old;
                ss -= old * old;
            } else {
                bad -= 1;
            }
        }
        if t + 1 >= w && bad == 0 {
            let m = s / w as f64;
            mean[t] = m + k;
            std[t] = ((ss - s * m) / (w - 1) as f64).max(0.0).sqrt();
        }
        if bad == w {
            // A fully invalid window: restart the sums so rounding never accumulates.
            (s, ss) = (0.0, 0.0);
        }
    }
    (mean, std)
}

/// Rolling mean over the finite values among the last `w`, when at least `min` are finite.
fn rolling_mean_sparse(x: &[f64], w: usize, min: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let (mut s, mut k) = (0.0, 0usize);
    for t in 0..n {
        if x[t].is_finite() {
            s += x[t];
            k += 1;
        }
        if t >= w && x[t - w].is_finite() {
            s -= x[t - w];
            k -= 1;
        }
        if k == 0 {
            s = 0.0;
        }
        if t + 1 >= w && k >= min.max(1) {
            out[t] = s / k as f64;
        }
    }
    out
}

/// Rolling Pearson correlation of `x` and `y` over the last `w` bars; NaN while any pair
/// in the window is missing, 0 when either side is flat.
fn rolling_corr(x: &[f64], y: &[f64], w: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy, mut bad) = (0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
    for t in 0..n {
        let (a, b) = (x[t], y[t]);
        if a.is_finite() && b.is_finite() {
            (sx, sy, sxx, syy, sxy) = (sx + a, sy + b, sxx + a * a, syy + b * b, sxy + a * b);
        } else {
            bad += 1;
        }
        if t >= w {
            let (a, b) = (x[t - w], y[t - w]);
            if a.is_finite() && b.is_finite() {
                (sx, sy, sxx, syy, sxy) = (sx - a, sy - b, sxx - a * a, syy - b * b, sxy - a * b);
            } else {
                bad -= 1;
            }
        }
        if bad == w {
            (sx, sy, sxx, syy, sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        }
        if t + 1 >= w && bad == 0 {
            let wf = w as f64;
            let cov = sxy - sx * sy / wf;
            let vx = (sxx - sx * sx / wf).max(0.0);
            let vy = (syy - sy * sy / wf).max(0.0);
            let den = (vx * vy).sqrt();
            out[t] = if den > 0.0 {
                (cov / den).clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
    }
    out
}

/// Wilder's RSI (J. W. Wilder, "New Concepts in Technical Trading Systems", 1978):
/// average gain and loss of price changes, seeded by their simple mean over the first
/// `n` changes, then smoothed `avg = (avg (n - 1) + x) / n`. A gap restarts the seed.
fn wilder_rsi(close: &[f64], avail: &[bool], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; close.len()];
    let (mut gain, mut loss, mut seen) = (0.0, 0.0, 0usize);
    let nf = n as f64;
    for t in 1..close.len() {
        if !(avail[t] && avail[t - 1]) {
            (gain, loss, seen) = (0.0, 0.0, 0);
            continue;
        }
        let d = close[t] - close[t - 1];
        let (g, l) = (d.max(0.0), (-d).max(0.0));
        seen += 1;
        if seen <= n {
            gain += g / nf;
            loss += l / nf;
        } else {
            gain = (gain * (nf - 1.0) + g) / nf;
            loss = (loss * (nf - 1.0) + l) / nf;
        }
        if seen >= n {
            out[t] = if loss == 0.0 {
                if gain == 0.0 { 50.0 } else { 100.0 }
            } else {
                100.0 - 100.0 / (1.0 + gain / loss)
            };
        }
    }
    out
}

/// Market-level features per bar for the regime detector, `[bars, MARKET_FEATURE_NAMES]`.
///
/// From the equal-weighted return `m` of available symbols (the universe traded) and
/// the cross-section of returns, windows 20 (short) and 60 (long):
/// - `mkt_vol`: std (ddof 1) of `m` over 20 bars.
/// - `mkt_trend`: sum of `m` over 60 bars / (std of `m` over 60 * sqrt(60)).
/// - `mkt_dispersion`: mean over 20 bars of the cross-sectional std of returns (0 with one symbol).
/// - `mkt_corr`: `sum m^2 / sum mean_i(r_i^2)` over 20 bars, a correlation proxy that is
///   about `1/N + (N-1)/N rho` for N symbols of equal volatility and pairwise correlation rho.
pub fn market_features(panel: &Panel) -> (Vec<String>, Array2<f64>) {
    let (w, l) = MARKET_WINDOWS;
    let t_len = panel.n_bars();
    let returns = panel.returns();
    let m = equal_weighted_return(&returns);
    let mut disp = vec![f64::NAN; t_len];
    let mut sq = vec![f64::NAN; t_len];
    for (t, row) in returns.rows().into_iter().enumerate() {
        let (mut s, mut ss, mut k) = (0.0, 0.0, 0usize);
        for &r in row.iter().filter(|r| !r.is_nan()) {
            s += r;
            ss += r * r;
            k += 1;
        }
        if k > 0 {
            let kf = k as f64;
            let mean = s / kf;
            disp[t] = if k > 1 {
                ((ss - s * mean) / (kf - 1.0)).max(0.0).sqrt()
            } else {
                0.0
            };
            sq[t] = ss / kf;
        }
    }
    let (_, vol) = rolling_mean_std(&m, w);
    let (mean_l, vol_l) = rolling_mean_std(&m, l);
    let (disp_mean, _) = rolling_mean_std(&disp, w);
    let m2: Vec<f64> = m.iter().map(|x| x * x).collect();
    let (m2_mean, _) = rolling_mean_std(&m2, w);
    let (sq_mean, _) = rolling_mean_std(&sq, w);
    let mut out = Array2::from_elem((t_len, MARKET_FEATURE_NAMES.len()), f64::NAN);
    for t in 0..t_len {
        out[[t, 0]] = vol[t];
        out[[t, 1]] = ratio_or_zero(mean_l[t] * l as f64, vol_l[t] * (l as f64).sqrt());
        out[[t, 2]] = disp_mean[t];
        out[[t, 3]] = ratio_or_zero(m2_mean[t], sq_mean[t]);
    }
    (
        MARKET_FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        out,
    )
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array2};

    use super::*;
    use crate::data::Benchmark;

    /// Three symbols over `t_len` daily bars: A with OHLC and volume, B close-only,
    /// C with OHLC and volume but unavailable on bars 30..33; deterministic wiggles.
    fn panel(t_len: usize, benchmark: bool) -> Panel {
        let n = 3;
        let mut close = Array2::from_elem((t_len, n), f64::NAN);
        let (mut open, mut high, mut low, mut volume) =
            (close.clone(), close.clone(), close.clone(), close.clone());
        let mut available = Array2::from_elem((t_len, n), true);
        for t in 0..t_len {
            for i in 0..n {
                let x = t as f64;
                let c = 100.0
                    * (1.0 + i as f64)
                    * (0.001 * x + 0.03 * (0.7 * x + i as f64).sin()).exp();
                if i == 2 && (30..33).contains(&t) {
                    available[[t, i]] = false;
                    continue;
                }
                close[[t, i]] = c;
                if i != 1 {
                    open[[t, i]] = c * 0.999;
                    high[[t, i]] = c * (1.005 + 0.002 * (x * 1.3).cos().abs());
                    low[[t, i]] = c * 0.995;
                    volume[[t, i]] = 1e5 * (2.0 + (x * 0.9 + i as f64).sin());
                }
            }
        }
        let fields = vec![
            SymbolFields {
                has_ohlc: true,
                has_volume: true,
            },
            SymbolFields {
                has_ohlc: false,
                has_volume: false,
            },
            SymbolFields {
                has_ohlc: true,
                has_volume: true,
            },
        ];
        let bench = benchmark.then(|| Benchmark {
            symbol: "IDX".into(),
            close: Array1::from_iter((0..t_len).map(|t| 50.0 + (t as f64 * 0.4).sin())),
            available: Array1::from_elem(t_len, true),
        });
        Panel {
            timestamps: (0..t_len as i64).map(|t| t * 86_400_000_000).collect(),
            symbols: vec!["A".into(), "B".into(), "C".into()],
            open,
            high,
            low,
            close,
            volume,
            available,
            filled: Array2::from_elem((t_len, n), false),
            fields,
            benchmark: bench,
            bars_per_year: 252.0,
            bar_us: 86_400_000_000,
        }
    }

    fn small_spec() -> FeatureSpec {
        FeatureSpec {
            vol_window: 5,
            long_window: 10,
            rsi_window: 4,
            ..FeatureSpec::default()
        }
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn no_look_ahead() {
        let (t_len, cut) = (120, 70);
        for benchmark in [true, false] {
            let base = panel(t_len, benchmark);
            let mut moved = base.clone();
            for t in cut + 1..t_len {
                for i in 0..3 {
                    let k = 1.0 + 0.3 * ((t * 7 + i) % 5) as f64;
                    for m in [
                        &mut moved.open,
                        &mut moved.high,
                        &mut moved.low,
                        &mut moved.close,
                    ] {
                        m[[t, i]] *= k;
                    }
                    moved.volume[[t, i]] *= 3.0 * k;
                }
                if t % 4 == 0 {
                    moved.available[[t, 0]] = false;
                    moved.close[[t, 0]] = f64::NAN;
                }
                if let Some(b) = &mut moved.benchmark {
                    b.close[t] *= 1.5;
                }
            }
            for spec in [small_spec(), FeatureSpec::default()] {
                let (a, b) = (compute(&base, &spec), compute(&moved, &spec));
                let defined = a.values.iter().filter(|v| !v.is_nan()).count();
                assert!(defined > 0);
                for t in 0..=cut {
                    for i in 0..3 {
                        for f in 0..a.names.len() {
                            let (x, y) = (a.values[[t, i, f]], b.values[[t, i, f]]);
                            assert!(
                                same(x, y),
                                "{} at bar {t}, asset {i}: {x} vs {y}",
                                a.names[f]
                            );
                        }
                    }
                }
                // The perturbation is visible after the cut, so the test has teeth.
                assert!((cut + 1..t_len).any(|t| !same(a.values[[t, 1, 0]], b.values[[t, 1, 0]])));
            }
            let (_, ma) = market_features(&base);
            let (_, mb) = market_features(&moved);
            for t in 0..=cut {
                for f in 0..MARKET_FEATURE_NAMES.len() {
                    assert!(same(ma[[t, f]], mb[[t, f]]), "market {f} at {t}");
                }
            }
        }
    }

    #[test]
    fn returns_and_vol_match_naive() {
        let p = panel(80, true);
        let spec = FeatureSpec::default();
        let fs = compute(&p, &spec);
        let (r5, v20) = (
            fs.index_of("ret_5").unwrap(),
            fs.index_of("vol_20").unwrap(),
        );
        let c = p.close.column(0);
        for t in 0..80 {
            let want = if t >= 5 {
                c[t] / c[t - 5] - 1.0
            } else {
                f64::NAN
            };
            assert!(
                same(fs.values[[t, 0, r5]], want) || (fs.values[[t, 0, r5]] - want).abs() < 1e-15
            );
            let got = fs.values[[t, 0, v20]];
            if t < 20 {
                assert!(got.is_nan(), "vol_20 defined at {t}");
                continue;
            }
            let r: Vec<f64> = (t - 19..=t).map(|s| c[s] / c[s - 1] - 1.0).collect();
            let m = r.iter().sum::<f64>() / 20.0;
            let naive = (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 19.0).sqrt();
            assert!(
                (got - naive).abs() < 1e-12 * naive.max(1e-3),
                "bar {t}: {got} vs {naive}"
            );
        }
        // mom_z and beta_corr need the 60-bar window; asset A is complete from there.
        assert_eq!(fs.warmup, 60);
        assert!((0..fs.names.len()).all(|f| fs.values[[60, 0, f]].is_finite()));
        assert!((0..fs.names.len()).any(|f| fs.values[[59, 0, f]].is_nan()));
        // Unavailable bars of C are NaN in every feature.
        assert!((0..fs.names.len()).all(|f| fs.values[[31, 2, f]].is_nan()));
    }

    #[test]
    fn empty_panel_gives_empty_set() {
        let fs = compute(&panel(0, false), &FeatureSpec::default());
        assert_eq!(fs.values.dim(), (0, 3, FEATURE_NAMES.len()));
        assert_eq!(market_features(&panel(0, true)).1.dim(), (0, 4));
    }

    #[test]
    fn rsi_hand_computed() {
        // closes [1, 2, 3, 2, 4], n = 2; changes +1, +1, -1, +2.
        // bar 2: seed gain (1+1)/2 = 1, loss 0 -> 100
        // bar 3: gain (1*1 + 0)/2 = 0.5, loss (0*1 + 1)/2 = 0.5 -> RS 1 -> 50
        // bar 4: gain (0.5 + 2)/2 = 1.25, loss (0.5 + 0)/2 = 0.25 -> RS 5 -> 100 - 100/6
        let close = [1.0, 2.0, 3.0, 2.0, 4.0];
        let rsi = wilder_rsi(&close, &[true; 5], 2);
        assert!(rsi[0].is_nan() && rsi[1].is_nan());
        assert_eq!(rsi[2], 100.0);
        assert!((rsi[3] - 50.0).abs() < 1e-12);
        assert!((rsi[4] - (100.0 - 100.0 / 6.0)).abs() < 1e-12);
        // A gap restarts the seed.
        let rsi = wilder_rsi(&close, &[true, true, true, false, true], 2);
        assert!(rsi[3].is_nan() && rsi[4].is_nan());
    }

    #[test]
    fn close_only_fallbacks_are_used_and_noted() {
        let p = panel(80, false);
        let fs = compute(&p, &FeatureSpec::default());
        let col = |name: &str| fs.index_of(name).unwrap();
        for t in 20..80 {
            assert_eq!(
                fs.values[[t, 1, col("range_vol")]],
                fs.values[[t, 1, col("vol_20")]]
            );
            assert_eq!(fs.values[[t, 1, col("volume_z")]], 0.0);
            assert_eq!(fs.values[[t, 1, col("amihud")]], 0.0);
            // OHLC symbols use the Parkinson estimate, which differs from close-to-close.
            assert_ne!(
                fs.values[[t, 0, col("range_vol")]],
                fs.values[[t, 0, col("vol_20")]]
            );
        }
        let notes = fs.notes.join("\n");
        assert!(
            notes.contains("range_vol: close-to-close volatility for 1 close-only symbols"),
            "{notes}"
        );
        assert!(
            notes.contains("volume_z: 0 for 1 symbols without volume"),
            "{notes}"
        );
        assert!(
            notes.contains("beta_corr: correlation to the equal-weighted return"),
            "{notes}"
        );
        assert!(
            compute(&panel(80, true), &FeatureSpec::default())
                .notes
                .iter()
                .all(|n| !n.starts_with("beta_corr"))
        );
    }

    #[test]
    fn include_selects_columns_and_warmup() {
        let spec = FeatureSpec {
            include: vec!["ret_1".into(), "rsi_14".into()],
            ..FeatureSpec::default()
        };
        let fs = compute(&panel(40, true), &spec);
        assert_eq!(fs.names, ["ret_1", "rsi_14"]);
        assert_eq!(fs.values.dim(), (40, 3, 2));
        assert_eq!(fs.warmup, 14);
        assert!(!fs.values[[14, 0, 1]].is_nan() && fs.values[[13, 0, 1]].is_nan());
    }

    #[test]
    fn every_feature_is_defined_from_its_warmup() {
        // Symbols A (OHLC, volume) and B (close-only) are available on every bar.
        let t_len = 150;
        for benchmark in [true, false] {
            let p = panel(t_len, benchmark);
            for spec in [small_spec(), FeatureSpec::default()] {
                for f in &CATALOGUE {
                    let one = FeatureSpec {
                        include: vec![f.name.into()],
                        ..spec.clone()
                    };
                    let fs = compute(&p, &one);
                    assert_eq!(fs.names, [f.name]);
                    let w = fs.warmup;
                    assert!(w > 0 && w == (f.warmup)(&spec), "{}", f.name);
                    for i in [0, 1] {
                        for t in w..t_len {
                            let v = fs.values[[t, i, 0]];
                            assert!(v.is_finite(), "{} asset {i} bar {t}: {v}", f.name);
                        }
                    }
                    // The bound is tight for one of them, except amihud, which needs
                    // only half a window of volume bars (its bound stays a full window).
                    if f.name != "amihud" {
                        assert!(
                            (0..2).any(|i| fs.values[[w - 1, i, 0]].is_nan()),
                            "{} defined before its warm-up {w}",
                            f.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rolling_helpers_match_naive() {
        let x: Vec<f64> = (0..50)
            .map(|i| {
                if i == 17 {
                    f64::NAN
                } else {
                    (i as f64 * 0.37).sin() + 5.0
                }
            })
            .collect();
        let y: Vec<f64> = (0..50).map(|i| (i as f64 * 0.11).cos()).collect();
        let (m, s) = rolling_mean_std(&x, 6);
        let c = rolling_corr(&x, &y, 6);
        for t in 0..50 {
            if t < 5 || (17..23).contains(&t) {
                assert!(m[t].is_nan() && s[t].is_nan() && c[t].is_nan(), "bar {t}");
                continue;
            }
            let (wx, wy) = (&x[t - 5..=t], &y[t - 5..=t]);
            let mx = wx.iter().sum::<f64>() / 6.0;
            let my = wy.iter().sum::<f64>() / 6.0;
            let sx = (wx.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / 5.0).sqrt();
            let sy = (wy.iter().map(|v| (v - my).powi(2)).sum::<f64>() / 5.0).sqrt();
            let cov = wx
                .iter()
                .zip(wy)
                .map(|(a, b)| (a - mx) * (b - my))
                .sum::<f64>()
                / 5.0;
            assert!(
                (m[t] - mx).abs() < 1e-12 && (s[t] - sx).abs() < 1e-12,
                "bar {t}"
            );
            assert!((c[t] - cov / (sx * sy)).abs() < 1e-9, "bar {t}");
        }
    }

    #[test]
    fn market_features_shape_and_values() {
        let p = panel(100, false);
        let (names, m) = market_features(&p);
        assert_eq!(names, MARKET_FEATURE_NAMES);
        assert_eq!(m.dim(), (100, 4));
        assert!(m.row(19).iter().all(|v| v.is_nan()));
        assert!(m.row(99).iter().all(|v| v.is_finite()));
        let corr = m[[99, 3]];
        assert!((0.0..=1.0 + 1e-12).contains(&corr), "{corr}");
    }
}
