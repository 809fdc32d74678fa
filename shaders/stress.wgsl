// Liquidity-stress kernel: one invocation simulates one path over a window
// of days [cfg.t0, cfg.t1); the host dispatches the windows of a chunk in
// order, and the path's state between windows lives in `path_out` and
// `holdings`. Concatenated after philox.wgsl. Mirrors `simulate` in
// src/stress/cpu.rs statement by statement (same loop order, same f32 ops).
//
// Why windows: an invocation must not run an unbounded number of loop
// iterations. Mesa's llvmpipe/lavapipe caps the loop back-edges one shader
// invocation may take at 65535 (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, one
// counter shared by every loop of the invocation) and silently exits every
// loop once it is spent: a year of 20 assets (about 280 back-edges a day)
// stopped simulating on day 234, and the path kept its day-234 state. Real
// GPUs have watchdogs that kill long dispatches instead. The host
// (`gpu::days_per_dispatch`) sizes each window so that its loop iterations
// stay within `LOOP_BUDGET`, and the inner loops run over blocks of
// `CHOL_BLOCK` terms (rows padded with zeros) so that a day of 1,000 assets
// fits; the Philox rounds are unrolled for the same reason.
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
    // First day of this dispatch's window.
    t0: u32,
    // One past its last day.
    t1: u32,
    // Padded row length of the factor loadings (a multiple of CHOL_BLOCK).
    k_stride: u32,
    pad_cfg: u32,
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

// Between windows the reserved words carry the rest of the path's state:
// cash and peak (f32 bits) and the bootstrap block start. The last window
// zeroes them.
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
// Lower Cholesky factor, row i padded with zeros to a multiple of
// CHOL_BLOCK (row i starts where the padded rows before it end); or the
// factor loadings [n, k_stride] followed by the n residual scales.
@group(0) @binding(2) var<storage, read> chol: array<f32>;
@group(0) @binding(3) var<storage, read> hist: array<f32>;
@group(0) @binding(4) var<storage, read_write> path_out: array<PathOut>;
// Portfolio value after each day, [day, path].
@group(0) @binding(5) var<storage, read_write> day_values: array<f32>;
// Holdings, [asset, path].
@group(0) @binding(6) var<storage, read_write> holdings: array<f32>;
// Normals of the current day, [rows, path]; rows past 4 * blocks stay zero
// (padded terms read them).
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

// CHOL_BLOCK (terms per block of the inner loops; the host pads rows to
// it) is prepended by the host, as `dot_block` is written for 16 terms.
// acc + sum over j in [j0, j0 + CHOL_BLOCK) of coef[c + j - j0] * z_j, in order.
fn dot_block(acc_in: f32, c: u32, j0: u32, np: u32, p: u32) -> f32 {
    var acc = acc_in;
    acc += chol[c] * normals[j0 * np + p];
    acc += chol[c + 1u] * normals[(j0 + 1u) * np + p];
    acc += chol[c + 2u] * normals[(j0 + 2u) * np + p];
    acc += chol[c + 3u] * normals[(j0 + 3u) * np + p];
    acc += chol[c + 4u] * normals[(j0 + 4u) * np + p];
    acc += chol[c + 5u] * normals[(j0 + 5u) * np + p];
    acc += chol[c + 6u] * normals[(j0 + 6u) * np + p];
    acc += chol[c + 7u] * normals[(j0 + 7u) * np + p];
    acc += chol[c + 8u] * normals[(j0 + 8u) * np + p];
    acc += chol[c + 9u] * normals[(j0 + 9u) * np + p];
    acc += chol[c + 10u] * normals[(j0 + 10u) * np + p];
    acc += chol[c + 11u] * normals[(j0 + 11u) * np + p];
    acc += chol[c + 12u] * normals[(j0 + 12u) * np + p];
    acc += chol[c + 13u] * normals[(j0 + 13u) * np + p];
    acc += chol[c + 14u] * normals[(j0 + 14u) * np + p];
    acc += chol[c + 15u] * normals[(j0 + 15u) * np + p];
    return acc;
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
    var st: PathOut;
    if (cfg.t0 == 0u) {
        for (var i = 0u; i < n; i++) {
            holdings[i * np + p] = assets[i].h0;
        }
        st = PathOut(cfg.capital, 0.0, 0.0, 0u, -1, bitcast<u32>(cfg.cash0), bitcast<u32>(cfg.capital), 0u);
    } else {
        st = path_out[p];
    }
    var vprev = st.terminal;
    var max_dd = st.max_drawdown;
    var liq_cost = st.liquidation_cost;
    var liqs = st.liquidations;
    var breach = st.breach_day;
    var cash = bitcast<f32>(st.pad0);
    var peak = bitcast<f32>(st.pad1);
    var bstart = st.pad2;
    for (var t = cfg.t0; t < cfg.t1; t++) {
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
                // Row i has i + 1 terms, padded with zeros to whole blocks;
                // a zero term adds +-0 to a sum that starts at +0, so the
                // sum equals the CPU's over j <= i.
                var acc = 0.0;
                let blocks = i / CHOL_BLOCK + 1u;
                for (var b = 0u; b < blocks; b++) {
                    acc = dot_block(acc, row + b * CHOL_BLOCK, b * CHOL_BLOCK, np, p);
                }
                row += blocks * CHOL_BLOCK;
                r = a.drift + a.vol * acc + jump;
            } else if (cfg.kind == 0u) {
                // Factor model: loadings [n, k_stride] (zero past k), then
                // residual scales; padded terms read residual normals times 0.
                let k = cfg.factors;
                var acc = 0.0;
                for (var b = 0u; b < cfg.k_stride / CHOL_BLOCK; b++) {
                    acc = dot_block(acc, i * cfg.k_stride + b * CHOL_BLOCK, b * CHOL_BLOCK, np, p);
                }
                acc += chol[n * cfg.k_stride + i] * normals[(k + i) * np + p];
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
    if (cfg.t1 == cfg.horizon) {
        path_out[p] = PathOut(vprev, max_dd, liq_cost, liqs, breach, 0u, 0u, 0u);
    } else {
        path_out[p] = PathOut(vprev, max_dd, liq_cost, liqs, breach, bitcast<u32>(cash), bitcast<u32>(peak), bstart);
    }
}
