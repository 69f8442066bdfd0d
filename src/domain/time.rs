//! Dates and times through `jiff`: civil dates (`YYYY-MM-DD`) for birth dates, consent expiry
//! and deadlines, Unix seconds for event times, and the agency's time zone (policy
//! `time_zone`, default Asia/Shanghai) in which a Unix time has its date ("today", consent
//! expiry, request deadlines, retention) and in which times are shown (`2026-11-30 12:04
//! +08:00`). At 23:30 UTC it is already tomorrow in Shanghai.
//!
//! `now()` reads the system clock, or `CASEVAULT_NOW` (a date or Unix seconds) when
//! `CASEVAULT_TEST_MODE=1`, so tests can control deadlines and expiry.

use std::fmt;
use std::sync::RwLock;

use jiff::{civil, tz::TimeZone, Span, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text::{FieldError, FieldProblem};

/// The agency's time zone when the policy names none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// The zone of the vault this process opened ([`set_zone`]); `None` until one opens. A
/// process-wide setting rather than a parameter: one process serves one vault, and dates are
/// made from Unix times in dozens of places (rules, audit checks, output) that should all
/// agree without each being handed the policy.
static ZONE: RwLock<Option<TimeZone>> = RwLock::new(None);

/// The agency's time zone: the opened vault's policy's, else [`DEFAULT_TIME_ZONE`].
pub fn zone() -> TimeZone {
    if let Ok(z) = ZONE.read() {
        if let Some(z) = z.as_ref() {
            return z.clone();
        }
    }
    // The zone database is bundled (jiff's `tzdb-bundle-always`): the name always resolves.
    TimeZone::get(DEFAULT_TIME_ZONE).unwrap_or(TimeZone::UTC)
}

/// Makes `tz` the zone dates and times of this process are judged and shown in (called when
/// a vault opens, with its policy's zone).
pub fn set_zone(tz: TimeZone) {
    if let Ok(mut z) = ZONE.write() {
        *z = Some(tz);
    }
}

/// The zone named `name` in the time zone database (IANA names such as `Asia/Shanghai`).
pub fn parse_zone(name: &str) -> Option<TimeZone> {
    if name.trim() != name || name.is_empty() {
        return None;
    }
    TimeZone::get(name).ok()
}

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
        let year: i16 = s[0..4].parse().ok()?;
        let month: i8 = s[5..7].parse().ok()?;
        let day: i8 = s[8..10].parse().ok()?;
        if year < 1 {
            return None;
        }
        civil::Date::new(year, month, day)
            .ok()
            .map(Date::from_civil)
    }

    /// A constant date (not checked: for the range constants below).
    pub const fn ymd(year: i32, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    /// This date as jiff's (a date outside jiff's range, which [`Date::parse`] never makes,
    /// is clamped to the nearest it has).
    fn civil(self) -> civil::Date {
        let year = self.year.clamp(-9999, 9999) as i16;
        civil::Date::new(year, self.month.clamp(1, 12) as i8, 1)
            .map(|first| {
                let day = (self.day.max(1) as i8).min(first.days_in_month());
                first.with().day(day).build().unwrap_or(first)
            })
            .unwrap_or(civil::Date::MAX)
    }

    fn from_civil(d: civil::Date) -> Date {
        Date {
            year: d.year().into(),
            month: d.month() as u32,
            day: d.day() as u32,
        }
    }

    /// This date `years` later (29 February becomes 28 February in a common year).
    pub fn add_years(self, years: i32) -> Date {
        self.civil()
            .checked_add(Span::new().years(years.clamp(-19_998, 19_998)))
            .map(Date::from_civil)
            .unwrap_or(self)
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
        let epoch = civil::date(1970, 1, 1);
        self.civil()
            .since((jiff::Unit::Day, epoch))
            .map(|s| s.get_days().into())
            .unwrap_or(0)
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        Date::from_civil(
            civil::date(1970, 1, 1)
                .saturating_add(Span::new().days(days.clamp(-7_000_000, 7_000_000))),
        )
    }

    /// The date of a Unix time in the agency's time zone ([`zone`]).
    pub fn from_unix(secs: i64) -> Date {
        let t = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        Date::from_civil(t.to_zoned(zone()).date())
    }

    /// The first second of this date in the agency's time zone: `from_unix(d.to_unix()) == d`.
    pub fn to_unix(self) -> i64 {
        self.civil()
            .to_zoned(zone())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(self.to_days() * 86_400)
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

/// Today's date in the agency's time zone.
pub fn today() -> Date {
    Date::from_unix(now())
}

fn zoned(secs: i64) -> jiff::Zoned {
    Timestamp::from_second(secs)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(zone())
}

/// A Unix time for people, local with its offset: `2026-11-30 12:04 +08:00`.
pub fn format_time(secs: i64) -> String {
    zoned(secs).strftime("%Y-%m-%d %H:%M %:z").to_string()
}

/// A Unix time in UTC, `2026-11-30 04:04:05Z`, for documents whose bytes a logged digest
/// binds (access packages, records inside referral packets): a resend rebuilds them and must
/// match whatever the time zone is now, and whatever it was when they were made.
pub fn format_time_utc(secs: i64) -> String {
    Timestamp::from_second(secs)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}

/// A Unix time as RFC 3339 with the agency's offset, for JSON: `2026-11-30T12:04:05+08:00`.
pub fn format_rfc3339(secs: i64) -> String {
    zoned(secs).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
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
        set_zone(TimeZone::get("Asia/Shanghai").unwrap());
        assert_eq!(format_time(0), "1970-01-01 08:00 +08:00");
        assert_eq!(format_rfc3339(0), "1970-01-01T08:00:00+08:00");
        assert_eq!(format_time_utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_time_utc(1_795_463_560), "2026-11-23 19:52:40Z");
        // 2026-11-29 23:30 UTC is already 30 November in Shanghai.
        let late = Date::parse("2026-11-29").unwrap().to_days() * 86_400 + 23 * 3600 + 1800;
        assert_eq!(Date::from_unix(late).to_string(), "2026-11-30");
        for s in ["2026-11-30", "1970-01-01", "2024-02-29"] {
            let d = Date::parse(s).unwrap();
            assert_eq!(Date::from_unix(d.to_unix()), d);
            assert_eq!(Date::from_unix(d.to_unix() - 1), d.add_days(-1));
        }
        assert!(parse_zone("Asia/Shanghai").is_some());
        assert!(parse_zone("Mars/Olympus").is_none());
    }
}
