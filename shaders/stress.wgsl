// Liquidity-stress kernel: one invocation simulates one path over the whole
// horizon. Concatenated after philox.wgsl. Mirrors `simulate` in
// src/stress/cpu.rs statement by statement (same loop order, same f32 ops).
//
// Per-path state that scales with the asset count (holdings, normals) lives in
// global memory laid out [asset, path], so neighbouring invocations touch
// neighbouring words (coalesced); the Cholesky factor and asset records are
// read uniformly by every invocation (broadcast).

struct Config {
    n_assets: u32,
    horizon: u32,
    blocks: u32,
    scenario: u32,
    key0: u32,
    key1: u32,
    path_lo: u32,
    path_hi: u32,
    n_paths: u32,
    liquidation: u32,
    shock_market: u32,
    kind: u32,
    hist_days: u32,
    block_days: u32,
    band_histogram: u32,
    factors: u32,
    capital: f32,
    cash0: f32,
    shock_threshold: f32,
    concentration_limit: f32,
    deleverage_fraction: f32,
    haircut: f32,
    dd_keep: f32,
    jump_p: f32,
    jump_mean: f32,
    jump_std: f32,
    inv_n: f32,
    inv_capital: f32,
}

struct Asset {
    h0: f32,
    drift: f32,
    vol: f32,
    half_spread: f32,
    impact: f32,
    pad0: f32,
    pad1: f32,
    pad2: f32,
}

struct PathOut {
    terminal: f32,
    max_drawdown: f32,
    liquidation_cost: f32,
    liquidations: u32,
    breach_day: i32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> cfg: Config;
@group(0) @binding(1) var<storage, read> assets: array<Asset>;
@group(0) @binding(2) var<storage, read> chol: array<f32>;
@group(0) @binding(3) var<storage, read> hist: array<f32>;
@group(0) @binding(4) var<storage, read_write> path_out: array<PathOut>;
// Portfolio value after each day, [day, path].
@group(0) @binding(5) var<storage, read_write> day_values: array<f32>;
// Holdings, [asset, path].
@group(0) @binding(6) var<storage, read_write> holdings: array<f32>;
// Normals of the current day, [4 * blocks, path].
@group(0) @binding(7) var<storage, read_write> normals: array<f32>;
// Band histogram counts, [day, BAND_BINS + 2], when cfg.band_histogram == 1
// (then day_values is not written: millions of paths need no value readback).
@group(0) @binding(8) var<storage, read_write> band_counts: array<atomic<u32>>;

// Histogram bin of a portfolio value; `band_bin` in src/stress/summary.rs.
// BAND_BINS, BAND_LOG_SPAN and BAND_SCALE are prepended by the host.
fn band_bin(v: f32, inv_capital: f32) -> u32 {
    if (!(v > 0.0)) {
        return 0u;
    }
    let x = (ln_f32(v * inv_capital) + BAND_LOG_SPAN) * BAND_SCALE;
    if (x < 0.0) {
        return 0u;
    }
    return min(u32(min(x, f32(BAND_BINS))) + 1u, BAND_BINS + 1u);
}

@compute @workgroup_size(64)
fn simulate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    if (p >= cfg.n_paths) {
        return;
    }
    let np = cfg.n_paths;
    let plo = cfg.path_lo + p;
    let phi = cfg.path_hi + select(0u, 1u, plo < cfg.path_lo);
    let key = vec2<u32>(cfg.key0, cfg.key1);
    let n = cfg.n_assets;
    let nb = cfg.blocks;
    for (var i = 0u; i < n; i++) {
        holdings[i * np + p] = assets[i].h0;
    }
    var cash = cfg.cash0;
    var vprev = cfg.capital;
    var peak = cfg.capital;
    var max_dd = 0.0;
    var liq_cost = 0.0;
    var liqs = 0u;
    var breach = -1;
    var bstart = 0u;
    for (var t = 0u; t < cfg.horizon; t++) {
        let base = t * (nb + 1u);
        var jump = 0.0;
        let xj = philox4x32_10(vec4<u32>(base + nb, plo, phi, cfg.scenario), key);
        if (uniform01(xj.x) < cfg.jump_p) {
            jump = cfg.jump_mean + cfg.jump_std * box_muller(xj.z, xj.w).x;
        }
        if (cfg.kind == 1u && t % cfg.block_days == 0u) {
            bstart = xj.y % (cfg.hist_days - cfg.block_days + 1u);
        }
        if (cfg.kind == 0u) {
            for (var b = 0u; b < nb; b++) {
                let x = philox4x32_10(vec4<u32>(base + b, plo, phi, cfg.scenario), key);
                let z01 = box_muller(x.x, x.y);
                let z23 = box_muller(x.z, x.w);
                normals[(4u * b) * np + p] = z01.x;
                normals[(4u * b + 1u) * np + p] = z01.y;
                normals[(4u * b + 2u) * np + p] = z23.x;
                normals[(4u * b + 3u) * np + p] = z23.y;
            }
        }
        var sum = 0.0;
        var gross = 0.0;
        var mkt = 0.0;
        var row = 0u;
        for (var i = 0u; i < n; i++) {
            let a = assets[i];
            var r: f32;
            if (cfg.kind == 0u && cfg.factors == 0u) {
                var acc = 0.0;
                for (var j = 0u; j <= i; j++) {
                    acc += chol[row + j] * normals[j * np + p];
                }
                row += i + 1u;
                r = a.drift + a.vol * acc + jump;
            } else if (cfg.kind == 0u) {
                // Factor model: loadings [n, k], then residual scales.
                let k = cfg.factors;
                var acc = 0.0;
                for (var j = 0u; j < k; j++) {
                    acc += chol[i * k + j] * normals[j * np + p];
                }
                acc += chol[n * k + i] * normals[(k + i) * np + p];
                r = a.drift + a.vol * acc + jump;
            } else {
                let d = bstart + t % cfg.block_days;
                r = hist[d * n + i] + jump;
            }
            let g = exp_f32(r);
            let h = holdings[i * np + p] * g;
            holdings[i * np + p] = h;
            sum += h;
            gross += abs(h);
            mkt += g - 1.0;
        }
        var v = sum + cash;
        var shock: bool;
        if (cfg.shock_market == 1u) {
            shock = abs(mkt * cfg.inv_n) > cfg.shock_threshold;
        } else {
            shock = abs(v - vprev) > cfg.shock_threshold * vprev;
        }
        if (shock && v > 0.0 && gross > cfg.concentration_limit * v) {
            var cost = 0.0;
            if (cfg.liquidation == 0u) {
                for (var i = 0u; i < n; i++) {
                    let a = assets[i];
                    let h = holdings[i * np + p];
                    let dh = cfg.deleverage_fraction * h;
                    let q = abs(dh);
                    let ci = q * (a.half_spread + a.impact * sqrt(q));
                    holdings[i * np + p] = h - dh;
                    cash += dh - ci;
                    cost += ci;
                }
            } else {
                cost = v * cfg.haircut;
                cash -= cost;
            }
            v -= cost;
            liqs += 1u;
            liq_cost += cost;
        }
        peak = max(peak, v);
        max_dd = max(max_dd, (peak - v) / peak);
        if (breach < 0 && v < cfg.dd_keep * peak) {
            breach = i32(t);
        }
        vprev = v;
        if (cfg.band_histogram == 1u) {
            atomicAdd(&band_counts[t * (BAND_BINS + 2u) + band_bin(v, cfg.inv_capital)], 1u);
        } else {
            day_values[t * np + p] = v;
        }
    }
    path_out[p] = PathOut(vprev, max_dd, liq_cost, liqs, breach, 0u, 0u, 0u);
}
