//! Just enough of the shell's quoting to tell where a placeholder in a command line sits:
//! a value put in its place shell-quoted stays one word only outside quotes.

/// Whether `run` has `placeholder` where its shell-quoted value would not keep one word:
/// inside single or double quotes (where the value's own quotes close and reopen them, so
/// a value's `$(...)` runs) or after a backslash (which escapes the opening quote).
/// A command substitution `$(...)` starts afresh, so `"$(ping {{target}})"` is fine; a
/// placeholder in a comment is harmless either way.
pub fn in_quotes(run: &str, placeholder: &str) -> bool {
    /// What the text at hand is inside of.
    #[derive(Clone, Copy)]
    enum Frame {
        /// Unquoted words (the command, or a `$(...)` in it), with its open parentheses.
        Words {
            parens: usize,
        },
        Double,
    }
    let placeholder = placeholder.as_bytes();
    let bytes = run.as_bytes();
    let find = |from: usize, byte: u8| {
        bytes[from..]
            .iter()
            .position(|&b| b == byte)
            .map_or(bytes.len(), |at| from + at)
    };
    let mut stack = vec![Frame::Words { parens: 0 }];
    let mut i = 0;
    while i < bytes.len() {
        let top = stack.last().copied().unwrap_or(Frame::Words { parens: 0 });
        if bytes[i..].starts_with(placeholder) {
            if matches!(top, Frame::Double) {
                return true;
            }
            i += placeholder.len();
            continue;
        }
        match (top, bytes[i]) {
            (_, b'\\') => {
                if bytes[i + 1..].starts_with(placeholder) {
                    return true;
                }
                i += 1;
            }
            (_, b'$') if bytes[i + 1..].starts_with(b"(") => {
                stack.push(Frame::Words { parens: 0 });
                i += 1;
            }
            (Frame::Words { .. }, b'\'') => {
                let end = find(i + 1, b'\'');
                if bytes[i..end]
                    .windows(placeholder.len())
                    .any(|w| w == placeholder)
                {
                    return true;
                }
                i = end;
            }
            (Frame::Words { .. }, b'#') if i == 0 || b" \t\n;&|(".contains(&bytes[i - 1]) => {
                i = find(i, b'\n');
            }
            (Frame::Words { .. }, b'"') => stack.push(Frame::Double),
            (Frame::Double, b'"') => {
                stack.pop();
            }
            (Frame::Words { parens }, b'(') => {
                stack.pop();
                stack.push(Frame::Words { parens: parens + 1 });
            }
            (Frame::Words { parens }, b')') => {
                stack.pop();
                if parens > 0 {
                    stack.push(Frame::Words { parens: parens - 1 });
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "{{target}}";

    #[test]
    fn placeholders_in_quotes_are_found() {
        for run in [
            "echo \"{{target}}\"",
            "echo '{{target}}'",
            "ping \"host {{target}} up\"",
            "echo \\{{target}}",
            "echo \"$(echo x)\" \"{{target}}\"",
            "echo 'it''s {{target}}",
            "echo \"a $(echo \"{{target}}\") b\"",
        ] {
            assert!(in_quotes(run, TARGET), "{run}");
        }
        for run in [
            "ping -c 1 {{target}}",
            "echo \"$(ping {{target}})\"",
            "echo \"it's\" {{target}} 'a\"b'",
            "echo {{target}} # don't \"{{target}}\"",
            "echo \"\\\"\" {{target}} été",
            "echo $((1 + 2)) {{target}}",
        ] {
            assert!(!in_quotes(run, TARGET), "{run}");
        }
    }
}
