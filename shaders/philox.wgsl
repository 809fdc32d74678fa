// Philox4x32-10 (Salmon et al. 2011), Box-Muller and the f32 math of the
// stress kernel. Mirrors src/stress/philox.rs function by function: the
// transcendental functions are Cephes polynomials built from + and * only,
// because Vulkan lets built-in sin/cos be off by 2^-11.

fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

// One Philox round with round key k.
fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

// Ten rounds, written out: a loop would spend the loop budget some drivers
// give an invocation (see shaders/stress.wgsl).
fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    let w = vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    var c = philox_round(ctr, key);
    c = philox_round(c, key + w);
    c = philox_round(c, key + 2u * w);
    c = philox_round(c, key + 3u * w);
    c = philox_round(c, key + 4u * w);
    c = philox_round(c, key + 5u * w);
    c = philox_round(c, key + 6u * w);
    c = philox_round(c, key + 7u * w);
    c = philox_round(c, key + 8u * w);
    return philox_round(c, key + 9u * w);
}

fn uniform01(x: u32) -> f32 {
    return f32(x >> 8u) * (1.0 / 16777216.0);
}

fn uniform_open0(x: u32) -> f32 {
    return f32((x >> 8u) + 1u) * (1.0 / 16777216.0);
}

fn ln_f32(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    var e = i32((bits >> 23u) & 0xffu) - 126;
    var m = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    if (m < 0.70710677) {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    var y = 7.0376836e-2;
    y = y * m - 1.151461e-1;
    y = y * m + 1.1676999e-1;
    y = y * m - 1.2420141e-1;
    y = y * m + 1.4249323e-1;
    y = y * m - 1.6668058e-1;
    y = y * m + 2.0000714e-1;
    y = y * m - 2.4999994e-1;
    y = y * m + 3.333333e-1;
    y = y * m * z;
    let ef = f32(e);
    y += -2.1219444e-4 * ef;
    y += -0.5 * z;
    let r = m + y;
    return r + 0.6933594 * ef;
}

fn exp_f32(x_in: f32) -> f32 {
    let x = clamp(x_in, -87.0, 88.0);
    let n = floor(x * 1.442695 + 0.5);
    var r = x - n * 0.6933594;
    r = r - n * -2.1219444e-4;
    let z = r * r;
    var y = 1.9875691e-4;
    y = y * r + 1.3981999e-3;
    y = y * r + 8.333452e-3;
    y = y * r + 4.1665796e-2;
    y = y * r + 1.6666665e-1;
    y = y * r + 5.0e-1;
    y = y * z + r + 1.0;
    return y * bitcast<f32>(u32(i32(n) + 127) << 23u);
}

// (sin, cos) of 2 pi u for u in [0, 1).
fn sincos_2pi(u: f32) -> vec2<f32> {
    let k = floor(u * 4.0 + 0.5);
    let x = (u - k * 0.25) * 6.2831855;
    let z = x * x;
    let s = ((-1.9515296e-4 * z + 8.332161e-3) * z - 1.6666655e-1) * z * x + x;
    let c = ((2.4433157e-5 * z - 1.3887316e-3) * z + 4.1666646e-2) * z * z - 0.5 * z + 1.0;
    switch (u32(k) & 3u) {
        case 0u: { return vec2<f32>(s, c); }
        case 1u: { return vec2<f32>(c, -s); }
        case 2u: { return vec2<f32>(-s, -c); }
        default: { return vec2<f32>(-c, s); }
    }
}

fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * ln_f32(uniform_open0(a)));
    let sc = sincos_2pi(uniform01(b));
    return vec2<f32>(r * sc.y, r * sc.x);
}
