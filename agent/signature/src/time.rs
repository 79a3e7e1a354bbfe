//! RFC 3339 times to and from seconds since the epoch (through der's `DateTime`).

use der::DateTime;
use std::time::Duration;

/// `2026-12-07T20:16:21Z`, `2026-12-07T20:16:21.041Z` or with an offset (`+01:00`); fractions
/// of a second are dropped.
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time");
    let (date, rest) = s.split_once(['T', 't']).ok_or_else(bad)?;
    let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else {
        return Err(bad());
    };
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => return Err(bad()),
    };
    let clock = clock.split('.').next().unwrap_or(clock);
    let t: Vec<&str> = clock.split(':').collect();
    let [h, mi, se] = t.as_slice() else {
        return Err(bad());
    };
    let at = DateTime::new(
        u16::try_from(num(y)?).map_err(|_| bad())?,
        num(mo)? as u8,
        num(da)? as u8,
        num(h)? as u8,
        num(mi)? as u8,
        num(se)? as u8,
    )
    .map_err(|_| bad())?
    .unix_duration()
    .as_secs();
    let shift = match offset {
        "Z" | "z" => 0i64,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':').ok_or_else(bad)?;
            sign * (i64::from(num(oh)?) * 3600 + i64::from(num(om)?) * 60)
        }
    };
    u64::try_from(at as i64 - shift).map_err(|_| bad())
}

/// Seconds since the epoch as `2026-12-07T20:16:21Z`.
pub fn rfc3339(secs: u64) -> String {
    DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_or_else(|_| format!("@{secs}"), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_offsets_shift() {
        let t = parse_rfc3339("2026-12-07T20:16:21.041Z").unwrap();
        assert_eq!(rfc3339(t), "2026-12-07T20:16:21Z");
        assert_eq!(parse_rfc3339("2026-12-07T21:16:21+01:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2000-01-01T00:00:00Z").unwrap(), 946_684_800);
        for bad in [
            "2026-12-07",
            "2026-13-07T00:00:00Z",
            "noon",
            "2026-12-07T20:16Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
