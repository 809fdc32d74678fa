//! GPU backend (wgpu compute shaders).

use std::ops::Range;

use super::{ChunkOut, StressBackend, model::Prepared};

/// wgpu backend.
pub struct GpuBackend;

impl GpuBackend {
    /// Opens the default adapter.
    pub fn new() -> anyhow::Result<Self> {
        anyhow::bail!("gpu backend not built yet")
    }
    /// Adapter name.
    pub fn adapter_name(&self) -> String {
        String::new()
    }
}

impl StressBackend for GpuBackend {
    fn name(&self) -> &'static str {
        "gpu"
    }
    fn max_chunk(&self, _p: &Prepared) -> u64 {
        1
    }
    fn run_chunk(&mut self, _p: &Prepared, _paths: Range<u64>) -> anyhow::Result<ChunkOut> {
        anyhow::bail!("not built")
    }
}

/// Text listing of adapters.
pub fn describe_adapters() -> String {
    String::new()
}
