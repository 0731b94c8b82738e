//! Time stamps of model versions, saved copies and provenance: UTC calendar times without a
//! time-zone library.

use std::time::{SystemTime, UNIX_EPOCH};

/// `time` in UTC as `YYYYMMDDTHHMMSSZ` (times before 1970 show as 1970).
pub fn utc_stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// A stamp of [`utc_stamp`] as people read it: `2 Dec 17:21`, with the year when it is not
/// the year of `now` (`2 Dec 2025 17:21`); anything else is returned as it is.
pub fn readable_stamp(stamp: &str, now: SystemTime) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let field = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<u64>().ok();
    let parsed = (stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'))
        .then(|| Some((field(0..4)?, field(4..6)?, field(6..8)?, field(9..11)?, field(11..13)?)))
        .flatten();
    let Some((year, month, day, h, m)) = parsed else { return stamp.to_string() };
    let Some(name) = month.checked_sub(1).and_then(|i| MONTHS.get(i as usize)) else {
        return stamp.to_string();
    };
    if utc_stamp(now).get(0..4) == stamp.get(0..4) {
        format!("{day} {name} {h:02}:{m:02}")
    } else {
        format!("{day} {name} {year} {h:02}:{m:02}")
    }
}

/// Year, month and day of the `days`-th day after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_827_696); // 2000-02-29 12:34:56
        assert_eq!(utc_stamp(leap_day), "20000229T123456Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_735_689_599); // 2024-12-31 23:59:59
        assert_eq!(utc_stamp(later), "20241231T235959Z");
    }

    #[test]
    fn stamps_read_as_day_month_and_time() {
        let in_2026 = UNIX_EPOCH + Duration::from_secs(1_780_000_000); // 2026-05-28
        assert_eq!(readable_stamp("20261202T172100Z", in_2026), "2 Dec 17:21");
        assert_eq!(readable_stamp("20250105T080910Z", in_2026), "5 Jan 2025 08:09");
        assert_eq!(readable_stamp("not a stamp", in_2026), "not a stamp");
        assert_eq!(readable_stamp("20261302T172100Z", in_2026), "20261302T172100Z");
    }
}
