//! Errors a user can fix by editing a file: where the problem is and what is wrong.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a configuration, job or template file.
///
/// Displays as `FILE:LINE:COLUMN: KEY: MESSAGE`, leaving out what is not known, e.g.
/// `jobs/disk.yaml:7:3: commands[1].timeout: invalid duration "5 minutes" (expected e.g. 30s, 5m, 1h30m)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub location: Option<(usize, usize)>,
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_owned(),
            location: None,
            key: None,
            message: message.into(),
        }
    }

    pub fn at_key(path: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.into()),
            ..ConfigError::new(path, message)
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text of a YAML file being loaded, for locating its problems by key path.
pub struct Source<'a> {
    pub path: &'a Path,
    text: &'a str,
    positions: OnceCell<HashMap<String, (usize, usize)>>,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            text,
            positions: OnceCell::new(),
        }
    }

    /// Parses the text into `T`, reporting the first problem with its position and key path.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let deserializer = serde_yaml::Deserializer::from_str(self.text);
        serde_path_to_error::deserialize(deserializer).map_err(|e| self.yaml_error(e))
    }

    /// An error about the value at `key` (e.g. `commands[1].timeout`), located in the file.
    pub fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        ConfigError {
            location: self.position(&key),
            ..ConfigError::at_key(self.path, key, message)
        }
    }

    fn position(&self, key: &str) -> Option<(usize, usize)> {
        self.positions
            .get_or_init(|| value_positions(self.text))
            .get(key)
            .copied()
    }

    fn yaml_error(&self, error: serde_path_to_error::Error<serde_yaml::Error>) -> ConfigError {
        let key = error.path().to_string();
        let inner = error.into_inner();
        let parser_location = inner.location().map(|l| (l.line(), l.column()));
        let mut message = inner.to_string();
        // serde_yaml appends its own position and prefixes its own (coarser) path: drop both.
        if let Some((line, column)) = parser_location
            && let Some(stripped) =
                message.strip_suffix(&format!(" at line {line} column {column}"))
        {
            message.truncate(stripped.len());
        }
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(char::is_whitespace)
            && key.starts_with(prefix)
        {
            message = rest.to_owned();
        }
        let key = (key != "." && !key.is_empty()).then_some(key);
        // The parser points at an unknown key itself, and only roughly at a bad value.
        let location = if message.starts_with("unknown field") {
            parser_location
        } else {
            key.as_deref()
                .and_then(|k| self.position(k))
                .or(parser_location)
        };
        ConfigError {
            path: self.path.to_owned(),
            location,
            key,
            message,
        }
    }
}

/// Where each value of a YAML document starts (1-based line and column), by key path in
/// the notation of error messages: `mail.to[0]`, `commands[1].timeout`.
fn value_positions(text: &str) -> HashMap<String, (usize, usize)> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;

    enum Frame {
        Map { path: String, key: Option<String> },
        Seq { path: String, next: usize },
    }
    #[derive(Default)]
    struct Walker {
        stack: Vec<Frame>,
        positions: HashMap<String, (usize, usize)>,
    }
    impl Walker {
        /// A node starts: the path it lives at, or `None` when it is a mapping key.
        fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
            let path = match self.stack.last_mut() {
                None => String::new(),
                Some(Frame::Map {
                    key: key @ None, ..
                }) => {
                    *key = Some(scalar.unwrap_or_default().to_owned());
                    return None;
                }
                Some(Frame::Map { path, key }) => {
                    let key = key.take().unwrap_or_default();
                    if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    }
                }
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    format!("{path}[{}]", *next - 1)
                }
            };
            self.positions
                .entry(path.clone())
                .or_insert((mark.line(), mark.col() + 1));
            Some(path)
        }
    }
    impl MarkedEventReceiver for Walker {
        fn on_event(&mut self, event: Event, mark: Marker) {
            match event {
                Event::Scalar(value, ..) => {
                    self.node(mark, Some(&value));
                }
                Event::Alias(_) => {
                    self.node(mark, None);
                }
                Event::MappingStart(..) => {
                    let path = self.node(mark, None).unwrap_or_default();
                    self.stack.push(Frame::Map { path, key: None });
                }
                Event::SequenceStart(..) => {
                    let path = self.node(mark, None).unwrap_or_default();
                    self.stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    self.stack.pop();
                }
                _ => {}
            }
        }
    }
    let mut walker = Walker::default();
    // A syntax error stops the walk; what was seen up to it is still useful.
    let _ = Parser::new_from_str(text).load(&mut walker, false);
    walker.positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        timeout: crate::units::HumanDuration,
    }

    #[test]
    fn yaml_errors_carry_file_line_and_key() {
        let text = "name: x\nitems:\n  - timeout: 5s\n  - timeout: 5 minutes\n";
        let err = Source::new(Path::new("jobs/a.yaml"), text)
            .parse::<Doc>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "jobs/a.yaml:4:14: items[1].timeout: invalid duration \"5 minutes\" (expected e.g. 30s, 5m, 1h30m)"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = "name: x\nitems: []\ntimeot: 3s\n";
        let err = Source::new(Path::new("a.yaml"), text)
            .parse::<Doc>()
            .unwrap_err();
        let shown = err.to_string();
        assert_eq!(
            shown,
            "a.yaml:3:1: timeot: unknown field `timeot`, expected `name` or `items`"
        );
    }

    #[test]
    fn positions_follow_key_paths() {
        let text = "a: 1\nlist:\n  - x\n  - {k: v}\nmap:\n  inner: [1, 2]\n";
        let positions = value_positions(text);
        assert_eq!(positions["a"], (1, 4));
        assert_eq!(positions["list[0]"], (3, 5));
        assert_eq!(positions["list[1].k"], (4, 9));
        assert_eq!(positions["map.inner[1]"], (6, 14));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = Source::new(Path::new("a.yaml"), "name: [x\n")
            .parse::<Doc>()
            .unwrap_err();
        assert!(err.location.is_some(), "{err}");
    }
}
