//! Timestamps as microseconds since the Unix epoch, UTC: parsing and formatting.

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

/// Formats microseconds UTC as `YYYY-MM-DD` when at midnight, else RFC 3339.
pub fn format_us(us: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(us) {
        Some(t) if us.rem_euclid(DAY_US) == 0 => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("{us}us"),
    }
}

/// Day of week of a timestamp, 0 = Monday .. 6 = Sunday.
pub fn weekday(us: i64) -> u32 {
    // 1970-01-01 was a Thursday (3).
    ((us.div_euclid(DAY_US) + 3).rem_euclid(7)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bounds() {
        let d = parse_date("2020-03-02", false).unwrap();
        assert_eq!(format_us(d), "2020-03-02");
        assert_eq!(weekday(d), 0, "2020-03-02 was a Monday");
        let e = parse_date("2020-03-02", true).unwrap();
        assert_eq!(e - d, DAY_US - 1);
        assert_eq!(
            parse_date("2020-03-02T10:00:00+02:00", false).unwrap(),
            d + 8 * 3_600_000_000
        );
        assert!(parse_date("03/02/2020", false).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d").unwrap(), DAY_US);
        assert_eq!(parse_duration("15m").unwrap(), 15 * 60_000_000);
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
        // The largest whole number of days in i64 microseconds, then one more.
        let max_days = i64::MAX / DAY_US;
        assert_eq!(
            parse_duration(&format!("{max_days}d")).unwrap(),
            max_days * DAY_US
        );
        let e = parse_duration(&format!("{}d", max_days + 1)).unwrap_err();
        assert!(
            e.starts_with("is too large to count in microseconds"),
            "{e}"
        );
        // Too many digits for i64 at all.
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
