//! The job runner: loads a job once, applies command-line overrides before
//! validation, runs the stages, stages one output folder, and gates the result.
//!
//! - [`gate`]: the release gate, evaluated from a finished output folder's reports.

pub mod gate;
