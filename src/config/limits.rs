//! How large and how deep a job or config file may be (docs/security.md), checked before the
//! text is parsed: a 100 MB file or YAML nested 100 000 levels deep would cost gigabytes
//! or minutes in the parser, for no file anyone writes by hand.

use std::path::Path;

use yaml_rust2::parser::{Event, Parser};

use crate::config::error::ConfigError;
use crate::config::trust::TrustError;

/// The most bytes of a job or config file reporter reads.
pub const MAX_FILE_SIZE: u64 = 1 << 20;
/// The most levels of mappings and sequences inside one another in a job or config file.
pub const MAX_DEPTH: usize = 64;

/// Refuses a text over [`MAX_FILE_SIZE`], or nested deeper than [`MAX_DEPTH`] (naming the
/// line and column where it goes too deep).
pub fn check(path: &Path, text: &str) -> Result<(), ConfigError> {
    if text.len() as u64 > MAX_FILE_SIZE {
        let error = TrustError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_SIZE,
        };
        return Err(ConfigError::new(path, error.to_string()));
    }
    match too_deep(text) {
        None => Ok(()),
        Some(location) => Err(ConfigError {
            location: Some(location),
            ..ConfigError::new(
                path,
                format!(
                    "nested deeper than {MAX_DEPTH} levels, the most reporter reads in a job or config file"
                ),
            )
        }),
    }
}

/// Where the text first opens a mapping or sequence deeper than [`MAX_DEPTH`], following
/// the parser's events and stopping there, so the cost stays proportional to the text
/// read. Where that parser finds a syntax error, the brackets are counted instead (the
/// parser proper, another one, then reports the error, and is slow only on deep ones).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::MappingStart(..) | Event::SequenceStart(..), mark)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((mark.line(), mark.col() + 1));
                }
            }
            Ok((Event::MappingEnd | Event::SequenceEnd, _)) => depth = depth.saturating_sub(1),
            Ok((Event::StreamEnd, _)) => return None,
            Ok(_) => {}
            Err(_) => return too_many_brackets(text),
        }
    }
}

/// Where flow brackets (`[`, `{`) outside quotes and comments first open more than
/// [`MAX_DEPTH`] levels: a cruder count, for text the event parser gave up on.
fn too_many_brackets(text: &str) -> Option<(usize, usize)> {
    let (mut line, mut column) = (1, 0);
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    let mut previous = '\n';
    for c in text.chars() {
        if c == '\n' {
            (line, column) = (line + 1, 0);
            comment = false;
        } else {
            column += 1;
        }
        match (quote, c) {
            _ if comment => {}
            (Some('"'), _) if escaped => escaped = false,
            (Some('"'), '\\') => escaped = true,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((line, column));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<String> {
        check(Path::new("j.yaml"), text)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn flow_and_block_nesting_count() {
        let message =
            "nested deeper than 64 levels, the most reporter reads in a job or config file";
        // The document's own mapping is the first level.
        let fits = format!("a: {}{}\n", "[".repeat(63), "]".repeat(63));
        assert_eq!(depth_error(&fits), None);
        let over = format!("a: {}{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(depth_error(&over), Some(format!("j.yaml:1:67: {message}")));
        let deep = "[".repeat(100_000);
        assert_eq!(depth_error(&deep), Some(format!("j.yaml:1:65: {message}")));
        let unclosed = format!("commands: {}\n", "[".repeat(100_000));
        assert_eq!(
            depth_error(&unclosed),
            Some(format!("j.yaml:1:75: {message}"))
        );
        let dashes = format!("{}x\n", "- ".repeat(100_000));
        assert!(depth_error(&dashes).unwrap().starts_with("j.yaml:1:129: "));
        let block: String = (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(depth_error(&block).unwrap().starts_with("j.yaml:65:"));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let brackets = "[".repeat(200);
        let text = format!(
            "a: '{brackets}'\nb: \"{brackets}\"\n# {brackets}\nc: x{brackets}\nd: |\n  {brackets}\n"
        );
        assert_eq!(depth_error(&text), None);
    }

    #[test]
    fn size_is_limited() {
        let text = format!("a: {}\n", "x".repeat(MAX_FILE_SIZE as usize));
        let err = depth_error(&text).unwrap();
        assert!(err.contains("is larger than 1 MiB"), "{err}");
    }
}
