//! The names a user gives things that become file names, keys or parts of a command line:
//! jobs, templates, host groups.

/// Whether `text` is a name: letters, digits, `-` and `_`, at least one.
pub(crate) fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_dashes_and_underscores() {
        for name in ["disk", "disk-usage_2", "A", "_"] {
            assert!(is_name(name), "{name}");
        }
        for text in ["", "disk usage", "disk.yaml", "../x", "été", "a/b"] {
            assert!(!is_name(text), "{text}");
        }
    }
}
