//! Text made into roff: what a request or an escape would otherwise take for its own.

/// Plain text as roff text: a leading `.` or `'` would be a request, `\` an escape, `-` a
/// hyphen (roff's minus sign is what a command line means); other than ASCII is written as
/// a named character, which every output device of man knows.
pub fn escape(text: &str) -> String {
    text.lines()
        .map(|line| {
            let out = escape_within(line);
            if out.starts_with(['.', '\'']) {
                format!("\\&{out}")
            } else {
                out
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text that goes within a line (not at its start) as roff text.
pub fn escape_within(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// `text` in bold.
pub fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", escape_within(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_escapes_and_other_characters_stay_text() {
        assert_eq!(escape(".x\n'y\na-b \\n"), "\\&.x\n\\&'y\na\\-b \\en");
        assert_eq!(escape("▂ … ✔"), "\\[u2582] \\[u2026] \\[u2714]");
        assert_eq!(bold("-1"), "\\fB\\-1\\fR");
    }
}
