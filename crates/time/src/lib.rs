//! Calendar and duration arithmetic on event times, without allocation or time zones.
//!
//! Contract: every event time in segstream is an `i64` count of milliseconds since the
//! Unix epoch (UTC). This module converts between that and civil dates
//! (proleptic Gregorian, UTC), parses RFC 3339 timestamps, `YYYY-MM-DD` dates and
//! duration literals such as `"1h30m"`, and formats timestamps back. Parsers return a
//! readable reason on bad input and never panic. [`wall_clock_ms`] reads the processing
//! clock, the one place the system's wall time enters segstream.
#![deny(missing_docs)]

mod clock;
pub use clock::wall_clock_ms;

/// Milliseconds in one second, minute, hour and day.
pub const MS_PER_SECOND: i64 = 1_000;
/// Milliseconds in one minute.
pub const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// A calendar date in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(date: CivilDate) -> i64 {
    let y = if date.month <= 2 { date.year - 1 } else { date.year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(date.month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(date.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a count of days since 1970-01-01.
#[inline]
pub fn civil_from_days(days: i64) -> CivilDate {
    match u32::try_from(days + 719_468) {
        Ok(z) => civil_from_shifted_days(z),
        Err(_) => civil_from_days_signed(days),
    }
}

/// The same algorithm in unsigned 32-bit arithmetic, for days counted from 0000-03-01
/// (every date from year 0 to year 11 million): constant divisions become cheap
/// multiplications.
#[inline]
fn civil_from_shifted_days(z: u32) -> CivilDate {
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = i64::from(yoe) + i64::from(era) * 400 + i64::from(month <= 2);
    CivilDate { year, month, day }
}

fn civil_from_days_signed(days: i64) -> CivilDate {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    CivilDate { year, month, day }
}

/// The civil date (UTC) of a time in epoch milliseconds.
pub fn civil_from_millis(ms: i64) -> CivilDate {
    civil_from_days(ms.div_euclid(MS_PER_DAY))
}

/// Whole years from `birth` to `now` (both epoch ms), as a person's age is counted.
pub fn whole_years_between(birth: i64, now: i64) -> i64 {
    let b = civil_from_millis(birth);
    let n = civil_from_millis(now);
    let mut years = n.year - b.year;
    if (n.month, n.day) < (b.month, b.day) {
        years -= 1;
    }
    years
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A tiny cursor over ASCII digits used by the parsers below.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, count: usize, what: &str) -> Result<i64, String> {
        let end = self.at + count;
        let slice = self
            .bytes
            .get(self.at..end)
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| format!("expected {count} digits for the {what}"))?;
        self.at = end;
        Ok(slice.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", byte as char, self.at))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }
}

fn parse_date_part(cursor: &mut Cursor<'_>) -> Result<CivilDate, String> {
    let year = cursor.digits(4, "year")?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2, "month")? as u32;
    cursor.expect(b'-')?;
    let day = cursor.digits(2, "day")? as u32;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is not in 1..=12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(format!("day {day} does not exist in {year}-{month:02}"));
    }
    Ok(CivilDate { year, month, day })
}

/// Parses a `YYYY-MM-DD` date into epoch milliseconds at 00:00 UTC.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let date = parse_date_part(&mut cursor).map_err(|reason| format!("invalid date {text:?}: {reason} (expected YYYY-MM-DD)"))?;
    if cursor.at != text.len() {
        return Err(format!("invalid date {text:?}: trailing text (expected YYYY-MM-DD)"));
    }
    Ok(days_from_civil(date) * MS_PER_DAY)
}

/// Parses an RFC 3339 timestamp (`2026-11-26T10:00:00Z`, optional fraction, `±hh:mm`
/// offset) into epoch milliseconds. A bare `YYYY-MM-DD` is accepted as midnight UTC.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let fail = |reason: String| format!("invalid timestamp {text:?}: {reason} (expected RFC 3339, e.g. 2026-11-26T10:00:00Z)");
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let date = parse_date_part(&mut c).map_err(fail)?;
    if c.at == text.len() {
        return Ok(days_from_civil(date) * MS_PER_DAY);
    }
    match c.peek() {
        Some(b'T' | b't' | b' ') => c.at += 1,
        _ => return Err(fail("expected 'T' after the date".into())),
    }
    let hour = c.digits(2, "hour").map_err(fail)?;
    c.expect(b':').map_err(fail)?;
    let minute = c.digits(2, "minute").map_err(fail)?;
    c.expect(b':').map_err(fail)?;
    let second = c.digits(2, "second").map_err(fail)?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(fail("time of day out of range".into()));
    }
    let mut millis = 0;
    if c.peek() == Some(b'.') {
        c.at += 1;
        let mut scale = 100;
        let start = c.at;
        while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
            millis += i64::from(d - b'0') * scale;
            scale /= 10;
            c.at += 1;
        }
        if c.at == start {
            return Err(fail("expected digits after '.'".into()));
        }
    }
    let offset_minutes = match c.peek() {
        Some(b'Z' | b'z') => {
            c.at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.at += 1;
            let oh = c.digits(2, "offset hour").map_err(fail)?;
            c.expect(b':').map_err(fail)?;
            let om = c.digits(2, "offset minute").map_err(fail)?;
            let total = oh * 60 + om;
            if sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return Err(fail("expected 'Z' or an offset like +02:00".into())),
    };
    if c.at != text.len() {
        return Err(fail("trailing text".into()));
    }
    let seconds = days_from_civil(date) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok((seconds - offset_minutes * 60) * MS_PER_SECOND + millis)
}

/// Formats epoch milliseconds as RFC 3339 in UTC with millisecond precision.
pub fn format_timestamp(ms: i64) -> String {
    let date = civil_from_millis(ms);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        date.year,
        date.month,
        date.day,
        in_day / MS_PER_HOUR,
        in_day % MS_PER_HOUR / MS_PER_MINUTE,
        in_day % MS_PER_MINUTE / MS_PER_SECOND,
        in_day % MS_PER_SECOND
    )
}

/// Parses a duration literal: one or more `<number><unit>` parts, units `ms`, `s`, `m`,
/// `h`, `d`, e.g. `"10m"`, `"1h30m"`, `"1.5h"`, `"500ms"`. Returns milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let fail = |reason: &str| format!("invalid duration {text:?}: {reason} (expected e.g. \"10m\", \"1h30m\", \"7d\")");
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(fail("empty"));
    }
    let mut at = 0;
    let mut total: i64 = 0;
    while at < bytes.len() {
        let start = at;
        while at < bytes.len() && (bytes[at].is_ascii_digit() || bytes[at] == b'.') {
            at += 1;
        }
        let number = &text[start..at];
        if number.is_empty() {
            return Err(fail("expected a number"));
        }
        let unit_start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
            at += 1;
        }
        let unit = match &text[unit_start..at] {
            "ms" => 1,
            "s" => MS_PER_SECOND,
            "m" => MS_PER_MINUTE,
            "h" => MS_PER_HOUR,
            "d" => MS_PER_DAY,
            "" => return Err(fail("missing unit (ms, s, m, h or d)")),
            _ => return Err(fail("unknown unit (use ms, s, m, h or d)")),
        };
        let value: f64 = number.parse().map_err(|_| fail("bad number"))?;
        let part = value * unit as f64;
        if !part.is_finite() || part > 1e15 {
            return Err(fail("too large"));
        }
        total = total.checked_add(part.round() as i64).ok_or_else(|| fail("too large"))?;
    }
    Ok(total)
}

/// Formats milliseconds as the shortest duration literal that parses back to it.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, name) in [
        (MS_PER_DAY, "d"),
        (MS_PER_HOUR, "h"),
        (MS_PER_MINUTE, "m"),
        (MS_PER_SECOND, "s"),
        (1, "ms"),
    ] {
        if rest >= unit {
            out.push_str(&format!("{}{}", rest / unit, name));
            rest %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            assert_eq!(days_from_civil(civil_from_days(days)), days);
        }
        for days in [-719_469, -719_468, -719_467, -1_000_000, 4_000_000] {
            assert_eq!(days_from_civil(civil_from_days(days)), days);
            assert_eq!(civil_from_days(days), civil_from_days_signed(days));
        }
        for days in (-719_468..800_000).step_by(101) {
            assert_eq!(civil_from_days(days), civil_from_days_signed(days));
        }
        assert_eq!(
            civil_from_days(0),
            CivilDate {
                year: 1970,
                month: 1,
                day: 1
            }
        );
        assert_eq!(
            days_from_civil(CivilDate {
                year: 2000,
                month: 3,
                day: 1
            }),
            11_017
        );
    }

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(
            parse_timestamp("2026-11-26T10:00:00.250Z").map(format_timestamp),
            Ok("2026-11-26T10:00:00.250Z".into())
        );
        assert_eq!(
            parse_timestamp("2024-02-29"),
            Ok(days_from_civil(CivilDate {
                year: 2024,
                month: 2,
                day: 29
            }) * MS_PER_DAY)
        );
        assert!(parse_timestamp("2023-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp("2026-11-26T25:00:00Z").is_err());
        assert!(parse_timestamp("2026-11-26T10:00:00").is_err());
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_date("2026-13-01").is_err());
    }

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("7d"), Ok(7 * MS_PER_DAY));
        for bad in ["", "10", "m", "10x", "1e400h", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for ms in [1, 999, 1000, 61_000, 5_400_000, 7 * MS_PER_DAY + 1] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
    }

    #[test]
    fn ages_count_whole_years() {
        let birth = parse_date("1990-06-15").unwrap_or_default();
        assert_eq!(whole_years_between(birth, parse_date("2026-06-14").unwrap_or_default()), 35);
        assert_eq!(whole_years_between(birth, parse_date("2026-06-15").unwrap_or_default()), 36);
    }
}
