//! Report writers: Parquet, JSON, JUnit, HTML; all written atomically.

pub mod atomic;

pub use atomic::{ParquetSink, StagedDir, write_atomic, write_parquet_atomic};
