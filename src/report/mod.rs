//! Report writers share the atomic file and folder writes in [`crate::atomic`].

pub mod gate;

pub use crate::atomic::{ParquetSink, StagedDir, write_atomic, write_parquet_atomic};
