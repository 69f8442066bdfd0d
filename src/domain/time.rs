//! Dates and times without a calendar crate: civil dates (`YYYY-MM-DD`) for birth dates,
//! consent expiry and deadlines, and Unix seconds (UTC) for event times.
//!
//! `now()` reads the system clock, or `CASEVAULT_NOW` (a date or Unix seconds) when
//! `CASEVAULT_TEST_MODE=1`, so tests can control deadlines and expiry.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text::{FieldError, FieldProblem};

/// The earliest birth date accepted: nobody served was born before 1900.
pub const EARLIEST_BIRTH: Date = Date::ymd(1900, 1, 1);
/// The earliest date of a signed consent or a received request: older papers are not
/// entered as events of this vault.
pub const EARLIEST_EVENT: Date = Date::ymd(2000, 1, 1);

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, checking the day exists.
    ///
    /// ```
    /// use casevault::domain::time::Date;
    /// let d = Date::parse("2012-11-24").unwrap();
    /// assert_eq!(d.age_on(Date::parse("2026-11-23").unwrap()), 13);
    /// assert!(Date::parse("2026-02-30").is_none());
    /// ```
    /// Only digits (no sign) and years from 0001: `0000-01-01` is not a date.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !digits {
            return None;
        }
        let year: i32 = s[0..4].parse().ok()?;
        let month: u32 = s[5..7].parse().ok()?;
        let day: u32 = s[8..10].parse().ok()?;
        if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// A constant date (not checked: for the range constants below).
    pub const fn ymd(year: i32, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    /// This date `years` later (29 February becomes 28 February in a common year).
    pub fn add_years(self, years: i32) -> Date {
        let year = self.year + years;
        let day = self.day.min(days_in_month(year, self.month));
        Date {
            year,
            month: self.month,
            day,
        }
    }

    /// Refuses a date outside `from..=to`, naming `field`.
    pub fn check_within(self, field: &str, from: Date, to: Date) -> Result<(), FieldError> {
        if self < from || self > to {
            return Err(FieldError::new(field, FieldProblem::DateRange { from, to }));
        }
        Ok(())
    }

    /// Days since 1970-01-01.
    pub fn to_days(self) -> i64 {
        days_from_civil(self.year as i64, self.month, self.day)
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let (y, m, d) = civil_from_days(days);
        Date {
            year: y as i32,
            month: m,
            day: d,
        }
    }

    /// The date of a Unix time (UTC).
    pub fn from_unix(secs: i64) -> Date {
        Date::from_days(secs.div_euclid(86_400))
    }

    /// Midnight UTC at the start of this date.
    pub fn to_unix(self) -> i64 {
        self.to_days() * 86_400
    }

    /// This date plus `days`.
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days(self.to_days() + days)
    }

    /// Whole years of age on `on` for someone born on `self`.
    pub fn age_on(self, on: Date) -> i32 {
        let mut age = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("not a YYYY-MM-DD date from 0001 on"))
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's algorithms (public domain): proleptic Gregorian <-> day count.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// Now, in Unix seconds (see the module note on `CASEVAULT_NOW`).
pub fn now() -> i64 {
    if std::env::var("CASEVAULT_TEST_MODE").is_ok_and(|v| v == "1") {
        if let Ok(v) = std::env::var("CASEVAULT_NOW") {
            if let Some(d) = Date::parse(&v) {
                return d.to_unix() + 12 * 3600;
            }
            if let Ok(s) = v.trim().parse() {
                return s;
            }
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Today's date (UTC).
pub fn today() -> Date {
    Date::from_unix(now())
}

/// `YYYY-MM-DD HH:MM:SSZ` for a Unix time.
pub fn format_time(secs: i64) -> String {
    let d = Date::from_unix(secs);
    let s = secs.rem_euclid(86_400);
    format!("{d} {:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_ages() {
        for s in ["1970-01-01", "2000-02-29", "2026-11-23", "1899-12-31"] {
            let d = Date::parse(s).unwrap();
            assert_eq!(Date::from_days(d.to_days()), d);
            assert_eq!(d.to_string(), s);
        }
        assert!(Date::parse("2001-02-29").is_none());
        assert!(Date::parse("2001-13-01").is_none());
        for bad in ["0000-01-01", "+123-01-01", "-001-01-01", "2001-1-011"] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
        let d = Date::parse("2024-02-29").unwrap();
        assert_eq!(d.add_years(1).to_string(), "2025-02-28");
        let born = Date::parse("2012-11-24").unwrap();
        assert_eq!(born.age_on(Date::parse("2026-11-23").unwrap()), 13);
        assert_eq!(born.age_on(Date::parse("2026-11-24").unwrap()), 14);
        assert_eq!(format_time(0), "1970-01-01 00:00:00Z");
    }
}
