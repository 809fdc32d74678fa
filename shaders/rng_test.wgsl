// Test entry point: raw Philox words, normals and exp for given counters.
// Concatenated after philox.wgsl.

@group(0) @binding(0) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> test_key: array<u32>;
@group(0) @binding(2) var<storage, read_write> words: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> normals: array<vec4<f32>>;

@compute @workgroup_size(64)
fn rng_test(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= arrayLength(&counters)) {
        return;
    }
    let x = philox4x32_10(counters[i], vec2<u32>(test_key[0], test_key[1]));
    words[i] = x;
    let a = box_muller(x.x, x.y);
    let b = box_muller(x.z, x.w);
    normals[i] = vec4<f32>(a.x, a.y, b.x, exp_f32(uniform01(x.w) * 20.0 - 10.0));
}
