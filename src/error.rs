//! Error types per area and their mapping to process exit codes.

use std::path::PathBuf;

/// Process exit codes, as documented in DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Job ran and the gate passed, or no gate was configured.
    Ok = 0,
    /// Job ran and the gate failed.
    GateFailed = 1,
    /// Bad input: command line, job file or data.
    BadInput = 2,
    /// Runtime failure: I/O, device, internal error.
    Runtime = 3,
}

/// Errors in the job file or its values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The job file could not be read.
    #[error("cannot read job file {path}: {source}")]
    Read {
        /// Job file path.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The job file is not valid TOML or does not match the schema.
    #[error("job file {path}: {message}")]
    Parse {
        /// Job file path.
        path: PathBuf,
        /// Parser message, naming the key and line.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{key} {message}")]
    Invalid {
        /// Dotted key path, e.g. `walkforward.in_sample_days`.
        key: String,
        /// What is wrong, with the allowed range and the value found.
        message: String,
    },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] for `key`.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Errors in the input data: files, columns, values.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The path does not exist or matches no file.
    #[error("{path}: no such file or folder (or the pattern matches no .parquet file)")]
    NotFound {
        /// Path or glob given.
        path: String,
    },
    /// The file cannot be opened or is not valid Parquet.
    #[error("{path}: not a readable Parquet file: {message}")]
    Unreadable {
        /// File path.
        path: PathBuf,
        /// Reader message.
        message: String,
    },
    /// A required column is absent.
    #[error("{path}: missing required column \"{column}\" (columns present: {present})")]
    MissingColumn {
        /// File path.
        path: PathBuf,
        /// Column that was looked for (after remapping).
        column: String,
        /// Comma-separated list of columns the file has.
        present: String,
    },
    /// A column has a type chloe cannot read as that field.
    #[error("{path}: column \"{column}\" has type {found}, expected {expected}")]
    ColumnType {
        /// File path.
        path: PathBuf,
        /// Column name.
        column: String,
        /// Arrow type found.
        found: String,
        /// Types accepted.
        expected: String,
    },
    /// Values failed validation rules; each rule lists its count and first rows.
    #[error("{path}: invalid data:\n{problems}")]
    Invalid {
        /// File (or dataset) path.
        path: String,
        /// One line per failed rule: the rule naming the column, a count and
        /// the first few offending rows with symbol, timestamp and row.
        problems: String,
    },
    /// No rows are left after the symbol and date filters.
    #[error("{path}: no rows left after filters ({filters})")]
    Empty {
        /// Dataset path.
        path: String,
        /// The filters that were applied.
        filters: String,
    },
    /// Symbols the job asks for are not in the dataset.
    #[error("{path}: symbol(s) not found: {missing} (the dataset has {available})")]
    UnknownSymbols {
        /// Dataset path.
        path: String,
        /// Comma-separated missing symbols.
        missing: String,
        /// A short list of the symbols present.
        available: String,
    },
    /// Calendars of the selected symbols differ and the job did not say how to join them.
    #[error("{message}")]
    Calendar {
        /// What differs and the key to set.
        message: String,
    },
    /// The data is too short for what the job asks.
    #[error("not enough data: {message}")]
    TooShort {
        /// What was needed and what was found.
        message: String,
    },
    /// A CSV file could not be imported.
    #[error("{path}: {message}")]
    Csv {
        /// CSV file path.
        path: PathBuf,
        /// What went wrong, with line and column where known.
        message: String,
    },
}

/// Command-line usage errors detected after clap parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Maps an error chain to the exit code: input errors give 2, anything else 3.
pub fn exit_code(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<ConfigError>() || cause.is::<DataError>() || cause.is::<UsageError>() {
            return Exit::BadInput;
        }
    }
    Exit::Runtime
}
