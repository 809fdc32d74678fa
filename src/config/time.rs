//! Times in job files and on the command line: dates and bar sizes parsed into
//! microseconds UTC. The one parser of both; `data::time` re-exports it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Microseconds in one day.
pub const DAY_US: i64 = 86_400_000_000;

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or RFC 3339 into microseconds UTC.
///
/// A bare date used as an upper bound (`end_of_day`) means the whole day.
pub fn parse_date(s: &str, end_of_day: bool) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        let us = t.timestamp_micros();
        return Ok(if end_of_day { us + DAY_US - 1 } else { us });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(format!(
        "must be a date like 2020-01-31 or an RFC 3339 time, got \"{s}\""
    ))
}

/// Parses a bar size such as `1d`, `4h`, `15m`, `30s`, `1w` into microseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("must be a number with a unit (s, m, h, d, w), got \"{s}\""))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("must start with a positive whole number, got \"{s}\""))?;
    let unit_us = match unit {
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => DAY_US,
        "w" => 7 * DAY_US,
        _ => return Err(format!("unit must be one of s, m, h, d, w, got \"{unit}\"")),
    };
    if n <= 0 {
        return Err(format!("must be positive, got \"{s}\""));
    }
    n.checked_mul(unit_us)
        .ok_or_else(|| format!("is too large to count in microseconds, got \"{s}\""))
}
