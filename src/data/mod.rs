//! Price data: Parquet in, validated, into a [`Panel`].

pub mod bars;
pub mod commands;
pub mod import;
pub mod load;
pub mod panel;
pub mod resample;
pub mod synth;
pub mod time;
pub mod validate;

pub use self::{
    bars::Bars,
    panel::{Benchmark, FillStats, Panel, SymbolFields, simple_returns},
};
use crate::{config::DataSpec, error::DataError};

/// A panel with what was done to build it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The panel.
    pub panel: Panel,
    /// Forward-fill counts per symbol.
    pub fills: FillStats,
    /// Source rows read after filters.
    pub rows: usize,
    /// Fallbacks and warnings worth showing a person (also logged).
    pub notes: Vec<String>,
}

/// Loads, validates and builds the panel a job asks for, with its benchmark.
pub fn load_panel(spec: &DataSpec) -> Result<Loaded, DataError> {
    load::load_panel(spec)
}
