//! How numbers read in a report: sizes in binary units, durations in their two largest
//! units, percentages with one decimal. Templates reach them through the helpers; the
//! facts and the size notes of a message use them directly.

use std::time::Duration;

/// `1.5 GiB`: binary units, one decimal below 10, whole numbers above (as `df -h`).
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let mut value = bytes.abs();
    if value < 1024.0 {
        return format!("{sign}{} B", value.round());
    }
    let mut unit = 0;
    value /= 1024.0;
    // Round first, so 1023.97 KiB shows as 1.0 MiB rather than 1024 KiB.
    while unit + 1 < UNITS.len() && rounded(value) >= 1024.0 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{sign}{value:.1} {}", UNITS[unit])
    } else if value >= 1e6 {
        // Only floats get here (u64::MAX is 16 EiB): keep the text short.
        format!("{sign}{value:.1e} {}", UNITS[unit])
    } else {
        format!("{sign}{value:.0} {}", UNITS[unit])
    }
}

fn rounded(value: f64) -> f64 {
    if value < 9.95 {
        (value * 10.0).round() / 10.0
    } else {
        value.round()
    }
}

/// `850ms`, `1.5s`, `2m 03s`, `1h 02m`, `3d 04h`: the two largest units.
pub fn format_duration(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "" };
    let ms = ms.abs();
    if ms < 1000.0 {
        return format!("{sign}{}ms", ms.round());
    }
    if ms < 59_950.0 {
        return format!("{sign}{}s", trim_zero(ms / 1000.0));
    }
    let secs = (ms / 1000.0).round() as u64;
    let (minutes, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if hours == 0 {
        format!("{sign}{minutes}m {:02}s", secs % 60)
    } else if days == 0 {
        format!("{sign}{hours}h {:02}m", minutes % 60)
    } else {
        format!("{sign}{days}d {:02}h", hours % 24)
    }
}

/// One decimal, without a trailing `.0`.
fn trim_zero(value: f64) -> String {
    let text = format!("{value:.1}");
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// `70.5%`: one decimal at most.
pub fn format_percent(value: f64) -> String {
    format!("{}%", trim_zero(value))
}

/// A duration as the whole milliseconds templates see.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
