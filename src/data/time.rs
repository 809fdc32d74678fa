//! Timestamps as microseconds since the Unix epoch, UTC: parsing and formatting.

use chrono::{DateTime, Utc};

// The job file and the command line parse times with the same function.
pub use crate::config::time::{DAY_US, parse_date, parse_duration};

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
