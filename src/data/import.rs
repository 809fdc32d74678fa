//! `chloe data import`: CSV price history to chloe's Parquet schema.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use clap::Args;
use polars::prelude::{CsvReadOptions, SerReader};

use super::synth::{price_schema, write};
use crate::error::DataError;

fn csv_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Csv {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// `chloe data import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file with a header row.
    pub input: PathBuf,
    /// Parquet file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Timestamp column in the CSV.
    #[arg(long, default_value = "timestamp")]
    pub timestamp_col: String,
    /// Symbol column in the CSV (omit with --symbol for a single-symbol file).
    #[arg(long, default_value = "symbol")]
    pub symbol_col: String,
    /// Symbol for every row, when the CSV has no symbol column.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Open column.
    #[arg(long, default_value = "open")]
    pub open_col: String,
    /// High column.
    #[arg(long, default_value = "high")]
    pub high_col: String,
    /// Low column.
    #[arg(long, default_value = "low")]
    pub low_col: String,
    /// Close column.
    #[arg(long, default_value = "close")]
    pub close_col: String,
    /// Volume column.
    #[arg(long, default_value = "volume")]
    pub volume_col: String,
    /// Time zone of naive timestamps: UTC or a fixed offset like +08:00.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// strftime format of the timestamp column (default: ISO dates and times).
    #[arg(long)]
    pub format: Option<String>,
}

/// Parses `UTC`, `Z` or a fixed offset like `+08:00` / `-0500`.
fn parse_tz(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Parses one timestamp cell into microseconds UTC.
fn parse_ts(s: &str, format: Option<&str>, tz: &FixedOffset) -> Option<i64> {
    let s = s.trim();
    let local = |n: NaiveDateTime| {
        tz.from_local_datetime(&n)
            .single()
            .map(|t| t.timestamp_micros())
    };
    if let Some(f) = format {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return local(n);
        }
        return NaiveDate::parse_from_str(s, f)
            .ok()
            .and_then(|d| local(d.and_hms_opt(0, 0, 0)?));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return local(n);
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return local(d.and_hms_opt(0, 0, 0)?);
        }
    }
    None
}

/// Converts a CSV file to Parquet; returns the number of rows written.
pub fn import_csv(args: &ImportArgs) -> Result<usize, DataError> {
    let path = &args.input;
    let tz = parse_tz(&args.tz).ok_or_else(|| {
        csv_err(
            path,
            format!(
                "--tz must be UTC or an offset like +08:00, got \"{}\"",
                args.tz
            ),
        )
    })?;
    if !path.is_file() {
        return Err(csv_err(path, "file not found"));
    }
    // Every column is read as text: cells are parsed below, so an error can
    // name its line and column (polars' typed parse would not).
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_rechunk(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| csv_err(path, format!("cannot read the CSV: {e}")))?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let col = |name: &str, required: bool| -> Result<Option<Vec<Option<&str>>>, DataError> {
        match df.column(name) {
            Ok(c) => {
                let text = c
                    .str()
                    .map_err(|e| csv_err(path, format!("column \"{name}\": {e}")))?;
                Ok(Some(text.iter().collect()))
            }
            Err(_) if required => Err(csv_err(
                path,
                format!(
                    "missing column \"{name}\" (columns present: {})",
                    names.join(", ")
                ),
            )),
            Err(_) => Ok(None),
        }
    };
    let ts = col(&args.timestamp_col, true)?.expect("required");
    let sym = match &args.symbol {
        Some(_) => None,
        None => Some(col(&args.symbol_col, true)?.expect("required")),
    };
    let close = col(&args.close_col, true)?;
    let (o, h, l) = (
        col(&args.open_col, false)?,
        col(&args.high_col, false)?,
        col(&args.low_col, false)?,
    );
    let v = col(&args.volume_col, false)?;
    fn cell<'a>(a: &[Option<&'a str>], r: usize) -> Option<&'a str> {
        a[r].map(str::trim).filter(|s| !s.is_empty())
    }
    let mut rows: Vec<(String, i64, [f64; 5])> = Vec::with_capacity(df.height());
    let mut columns: Vec<&[Option<&str>]> = vec![&ts];
    columns.extend(
        [&sym, &close, &o, &h, &l, &v]
            .into_iter()
            .flatten()
            .map(Vec::as_slice),
    );
    for r in 0..df.height() {
        let line = r + 2; // line 1 is the header
        if columns.iter().all(|c| cell(c, r).is_none()) {
            continue; // a blank line
        }
        if cell(close.as_deref().expect("required"), r).is_none() {
            // Also what a line cut short before the close column looks like.
            return Err(csv_err(
                path,
                format!("line {line}, column \"{}\": empty close", args.close_col),
            ));
        }
        let t = cell(&ts, r)
            .and_then(|s| parse_ts(s, args.format.as_deref(), &tz))
            .ok_or_else(|| {
                csv_err(
                    path,
                    format!(
                        "line {line}, column \"{}\": cannot parse timestamp \"{}\"",
                        args.timestamp_col,
                        cell(&ts, r).unwrap_or("")
                    ),
                )
            })?;
        let s = match (&sym, &args.symbol) {
            (Some(a), _) => cell(a, r)
                .ok_or_else(|| {
                    csv_err(
                        path,
                        format!("line {line}, column \"{}\": empty symbol", args.symbol_col),
                    )
                })?
                .to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => unreachable!("symbol column or --symbol"),
        };
        let parse = |a: &Option<Vec<Option<&str>>>, name: &str| -> Result<f64, DataError> {
            match a.as_deref().and_then(|a| cell(a, r)) {
                None => Ok(f64::NAN),
                Some(x) => x.parse::<f64>().map_err(|_| {
                    csv_err(
                        path,
                        format!("line {line}, column \"{name}\": not a number: \"{x}\""),
                    )
                }),
            }
        };
        let vals = [
            parse(&o, &args.open_col)?,
            parse(&h, &args.high_col)?,
            parse(&l, &args.low_col)?,
            parse(&close, &args.close_col)?,
            parse(&v, &args.volume_col)?,
        ];
        rows.push((s, t, vals));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let opt = |k: usize| -> Float64Array {
        rows.iter()
            .map(|r| (!r.2[k].is_nan()).then_some(r.2[k]))
            .collect()
    };
    let batch = RecordBatch::try_new(
        price_schema(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(opt(0)),
            Arc::new(opt(1)),
            Arc::new(opt(2)),
            Arc::new(opt(3)),
            Arc::new(opt(4)),
        ],
    )
    .map_err(|e| csv_err(path, e.to_string()))?;
    write(&args.output, &batch)
        .map_err(|e| csv_err(&args.output, format!("cannot write: {e:#}")))?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_offsets() {
        let utc = parse_tz("UTC").unwrap();
        let manila = parse_tz("+08:00").unwrap();
        let d = parse_ts("2020-01-02", None, &utc).unwrap();
        assert_eq!(crate::data::time::format_us(d), "2020-01-02");
        // Midnight in Manila is 16:00 the day before in UTC.
        let m = parse_ts("2020-01-02", None, &manila).unwrap();
        assert_eq!(d - m, 8 * 3_600_000_000);
        assert_eq!(parse_ts("02/01/2020", Some("%d/%m/%Y"), &utc), Some(d));
        assert!(parse_tz("Asia/Manila").is_none());
    }
}
