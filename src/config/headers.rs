//! A webhook's `headers_file`: its `Name: value` lines, read from a file only its owner can
//! read (0600 or 0400, as root owned by root). `check` reads it up front; a delivery reads
//! it again when it posts, so a rotated secret is picked up without a reload.

use std::path::{Path, PathBuf};

use crate::config::trust::{self, TrustError};

/// Why a headers file cannot be used. Never shows a header's value: it may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum HeadersError {
    #[error(transparent)]
    Unreadable(#[from] TrustError),
    #[error("`{}` line {line}: expected `Name: value`", path.display())]
    Malformed { path: PathBuf, line: usize },
}

/// The headers of the file at `path`, checked on the descriptor that is read.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, HeadersError> {
    let text = trust::read_password(path)?;
    parse(&text).map_err(|line| HeadersError::Malformed {
        path: path.to_owned(),
        line,
    })
}

/// The headers of a headers file's text; `Err(line number)` for a line that is not one.
/// Blank lines and `#` comments are skipped.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(index + 1)?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(index + 1);
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(
            parse("# token\nAuthorization: Bearer a:b\n\nX-Tag:  x \n"),
            Ok(vec![
                ("Authorization".into(), "Bearer a:b".into()),
                ("X-Tag".into(), "x".into())
            ])
        );
        assert_eq!(parse("Authorization Bearer\n"), Err(1));
        assert_eq!(parse("ok: 1\nbad name: 2\n"), Err(2));
    }
}
