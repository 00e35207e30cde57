//! Small formatting helpers: sizes, durations, timestamps (ISO-8601 UTC), payloads.

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;

/// `1536` → `1.5 KiB`; below 1 KiB in bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else if v >= 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// A duration for people: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`, `3 min 20 s`, `2 h 5 min`,
/// `3 d 4 h`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let s = d.as_secs();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ if s < 60 => format!("{:.2} s", d.as_secs_f64()),
        _ if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        _ if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Microseconds since the Unix epoch as ISO-8601 UTC: `2026-05-02T10:11:12.123456Z`.
pub fn timestamp(us: u64) -> String {
    let secs = us / 1_000_000;
    let micros = us % 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A timestamp and how long ago it was: `2026-05-02T10:11:12.123456Z (3 min 20 s ago)`;
/// `-` for 0 (not recorded).
pub fn when(us: u64) -> String {
    if us == 0 {
        return "-".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    match now.checked_sub(us) {
        Some(ago) => format!(
            "{} ({} ago)",
            timestamp(us),
            duration(Duration::from_micros(ago))
        ),
        None => timestamp(us),
    }
}

/// Year, month, day of the day `z` days after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether a payload reads as text: valid UTF-8 without control characters other than
/// tab (a newline would break the one-line-per-record output).
pub fn is_text(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|s| s.chars().all(|c| c == '\t' || !c.is_control()))
}

/// Lowercase hex, no separators.
pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A classic hex dump (offset, 16 bytes in hex, the printable ones as text), each line
/// indented by `indent`.
pub fn hex_dump(data: &[u8], indent: &str) -> String {
    let mut out = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "{indent}{:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

/// A count with thousands separators: `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
        assert_eq!(bytes(300 << 30), "300 GiB");
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(100), "100");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_345)), "12.3 µs");
        assert_eq!(duration(Duration::from_micros(4_560)), "4.56 ms");
        assert_eq!(duration(Duration::from_millis(1_200)), "1.20 s");
        assert_eq!(duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(duration(Duration::from_secs(7_500)), "2 h 5 min");
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3 d 4 h"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 12:34:56.789012 UTC (a leap day).
        assert_eq!(
            timestamp(951_827_696_789_012),
            "2000-02-29T12:34:56.789012Z"
        );
        assert_eq!(
            timestamp(1_767_225_600_000_000),
            "2026-01-01T00:00:00.000000Z"
        );
        assert_eq!(when(0), "-");
    }

    #[test]
    fn payloads() {
        assert!(is_text(b"hello, world\tx"));
        assert!(is_text("é".as_bytes()));
        assert!(!is_text(b"line\n"));
        assert!(!is_text(&[0xff, 0x00]));
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        let dump = hex_dump(b"0123456789abcdefXY", "  ");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(
            lines[0],
            "  00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|"
        );
        assert!(lines[1].starts_with("  00000010  58 59  "), "{}", lines[1]);
        assert!(lines[1].ends_with("  |XY|"), "{}", lines[1]);
        assert_eq!(lines[0].find('|'), lines[1].find('|'));
    }
}
