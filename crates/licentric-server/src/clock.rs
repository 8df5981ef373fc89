//! The server's time: Unix seconds, shown as RFC 3339.

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time as RFC 3339, for JSON.
pub fn rfc3339(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A length of time in words, in its largest whole unit: "7 days", "1 hour", "90 seconds".
pub fn spoken_duration(seconds: i64) -> String {
    let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| seconds >= *size && seconds % size == 0)
        .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A Unix time from RFC 3339 text.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_said_in_their_largest_whole_unit() {
        assert_eq!(spoken_duration(7 * 86_400), "7 days");
        assert_eq!(spoken_duration(3_600), "1 hour");
        assert_eq!(spoken_duration(90), "90 seconds");
        assert_eq!(spoken_duration(36 * 3_600), "36 hours");
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        let text = rfc3339(1_700_000_000).unwrap_or_default();
        assert_eq!(parse_rfc3339(&text), Some(1_700_000_000));
        assert_eq!(parse_rfc3339("next tuesday"), None);
    }
}
