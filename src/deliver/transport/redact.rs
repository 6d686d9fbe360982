//! Relay replies as reporter shows them (log, spool, mail): without the AUTH data a relay
//! may echo back (`535 5.7.8 AUTH PLAIN AGJvYgBzZWNyZXQ= rejected`).

const REDACTED: &str = "[redacted]";

/// What must never be shown of the SMTP credentials: the password, and the forms AUTH
/// sends it in (base64 of the PLAIN response, base64 of the LOGIN password).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    forms: Vec<String>,
}

impl Secrets {
    pub fn of(username: &str, password: &str) -> Secrets {
        let mut forms: Vec<String> = [
            password.to_owned(),
            base64(format!("\0{username}\0{password}").as_bytes()),
            base64(password.as_bytes()),
        ]
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
        // Longest first, so that a form inside another is not replaced half.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        Secrets { forms }
    }

    /// `text` with every form of the password replaced, and whatever follows an echoed
    /// `AUTH MECHANISM ` masked to the end of its line.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for form in &self.forms {
            text = text.replace(form.as_str(), REDACTED);
        }
        mask_auth_arguments(&text)
    }
}

/// Masks what follows `AUTH <MECH> ` (a SASL mechanism name: capitals, digits, `-`, `_`)
/// up to the end of the line.
fn mask_auth_arguments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_ascii_ci(rest, "AUTH ") {
        let after_auth = at + "AUTH ".len();
        let mech_len = rest[after_auth..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_'))
            .unwrap_or(rest.len() - after_auth);
        let after_mech = after_auth + mech_len;
        if mech_len < 2 || !rest[after_mech..].starts_with(' ') {
            out.push_str(&rest[..after_auth]);
            rest = &rest[after_auth..];
            continue;
        }
        out.push_str(&rest[..=after_mech]);
        let line_end = rest[after_mech..]
            .find(['\r', '\n'])
            .map_or(rest.len(), |i| after_mech + i);
        if line_end > after_mech + 1 && &rest[after_mech + 1..line_end] != REDACTED {
            out.push_str(REDACTED);
        } else {
            out.push_str(&rest[after_mech + 1..line_end]);
        }
        rest = &rest[line_end..];
    }
    out.push_str(rest);
    out
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Standard base64 with padding, as SMTP AUTH encodes credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard() {
        assert_eq!(base64(b"\0bob\0secret"), "AGJvYgBzZWNyZXQ=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn every_form_of_the_password_goes() {
        let secrets = Secrets::of("bob", "secret");
        assert_eq!(
            secrets.redact("535 5.7.8 AUTH PLAIN AGJvYgBzZWNyZXQ= rejected"),
            "535 5.7.8 AUTH PLAIN [redacted]"
        );
        assert_eq!(
            secrets.redact("535 5.7.8 bad password c2VjcmV0 (secret) for bob"),
            "535 5.7.8 bad password [redacted] ([redacted]) for bob"
        );
    }

    #[test]
    fn echoed_auth_arguments_are_masked_even_when_unknown() {
        let none = Secrets::default();
        assert_eq!(
            none.redact("535 AUTH LOGIN Ym9i c2VjcmV0 rejected\r\nnext line"),
            "535 AUTH LOGIN [redacted]\r\nnext line"
        );
        assert_eq!(
            none.redact("530 5.7.0 AUTH required before MAIL"),
            "530 5.7.0 AUTH required before MAIL",
            "`required` is no mechanism"
        );
        assert_eq!(none.redact("auth PLAIN x"), "auth PLAIN [redacted]");
        assert_eq!(none.redact("AUTH PLAIN"), "AUTH PLAIN");
    }
}
