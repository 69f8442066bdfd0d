//! UTC timestamps as `YYYY-MM-DDTHH:MM:SSZ` (the manifest's `created`), through `jiff`: the
//! packet format stays UTC with a `Z` whatever the agency's zone, so partners read it alike.

use jiff::Timestamp;

/// Formats Unix seconds as RFC 3339 UTC with a `Z` (times past 9999 shown as its last second).
pub(crate) fn format_utc(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(Timestamp::MAX);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The inverse of [`format_utc`]; `None` unless `s` is exactly in that form, from 1970 on.
pub(crate) fn parse_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let t: Timestamp = s.parse().ok()?;
    let secs = u64::try_from(t.as_second()).ok()?;
    // Round-tripping rejects every other spelling jiff would accept.
    (format_utc(secs) == s).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_795_463_560), "2026-11-23T19:52:40Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_795_463_560, 4_102_444_799] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
        assert_eq!(parse_utc("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_utc("2026-01-01 00:00:00Z"), None);
    }
}
