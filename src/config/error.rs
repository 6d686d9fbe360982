//! Errors a user can fix by editing a file: where the problem is and what is wrong.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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

    /// Parses the text into `T` and, when it has problems, finds as many as it can: after
    /// each one the offending key is left out and the rest parsed again, so a file with
    /// several mistakes shows them all at once. (A YAML syntax error stops at the first.)
    pub fn parse_all<T: serde::de::DeserializeOwned>(&self) -> Result<T, Vec<ConfigError>> {
        const MAX_PROBLEMS: usize = 50;
        let deserializer = serde_yaml::Deserializer::from_str(self.text);
        let first = match serde_path_to_error::deserialize::<_, T>(deserializer) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let mut path: Vec<Segment> = first.path().iter().map(Segment::of).collect();
        let mut errors = vec![self.yaml_error(first)];
        let Ok(mut tree) = serde_yaml::from_str::<serde_yaml::Value>(self.text) else {
            return Err(errors);
        };
        while errors.len() < MAX_PROBLEMS && remove(&mut tree, &path) {
            match serde_path_to_error::deserialize::<_, T>(tree.clone()) {
                Ok(_) => break,
                Err(e) => {
                    path = e.path().iter().map(Segment::of).collect();
                    let error = self.yaml_error(e);
                    if errors.contains(&error) {
                        break;
                    }
                    errors.push(error);
                }
            }
        }
        Err(errors)
    }

    /// An error about the value at `key` (e.g. `commands[1].timeout`), located in the file.
    pub fn error(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        ConfigError {
            location: self.position(&key),
            ..ConfigError::at_key(self.path, key, message)
        }
    }

    /// Whether the value at `key` is in the file (so an error about it has a position).
    pub fn locates(&self, key: &str) -> bool {
        self.position(key).is_some()
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
            parser_location.or_else(|| {
                key.as_deref()
                    .and_then(|k| self.position(&format!("{KEY_MARK}{k}")))
            })
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

/// One step of a key path, owned.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
    Other,
}

impl Segment {
    fn of(segment: &serde_path_to_error::Segment) -> Segment {
        match segment {
            serde_path_to_error::Segment::Map { key } => Segment::Key(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Segment::Index(*index),
            _ => Segment::Other,
        }
    }
}

/// Leaves out the value at `path` (a whole list, when the path ends inside one, so later
/// indices keep their meaning). `false` when there is nothing left to remove.
fn remove(tree: &mut serde_yaml::Value, path: &[Segment]) -> bool {
    match path.split_last() {
        None => false,
        Some((Segment::Key(key), parents)) => walk(tree, parents)
            .and_then(serde_yaml::Value::as_mapping_mut)
            .is_some_and(|map| map.remove(key.as_str()).is_some()),
        Some((_, parents)) => remove(tree, parents),
    }
}

fn walk<'a>(
    mut node: &'a mut serde_yaml::Value,
    path: &[Segment],
) -> Option<&'a mut serde_yaml::Value> {
    for segment in path {
        node = match segment {
            Segment::Key(key) => node.get_mut(key.as_str())?,
            Segment::Index(index) => node.get_mut(*index)?,
            Segment::Other => return None,
        };
    }
    Some(node)
}

/// Marks the position of a mapping key (rather than its value) in [`value_positions`].
const KEY_MARK: &str = "\u{0}key:";

/// Where each value of a YAML document starts (1-based line and column), by key path in
/// the notation of error messages: `mail.to[0]`, `commands[1].timeout`; and where each
/// key starts, under the same path after [`KEY_MARK`].
fn value_positions(text: &str) -> HashMap<String, (usize, usize)> {
    let mut walker = Walker::default();
    // A syntax error stops the walk; what was seen up to it is still useful.
    let _ = Parser::new_from_str(text).load(&mut walker, false);
    walker.positions
}

/// A mapping or sequence being walked, with its path.
enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

/// Follows the parser's events, keeping the key path of the node it is in.
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
                path,
                key: key @ None,
            }) => {
                let name = scalar.unwrap_or_default().to_owned();
                let full = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                self.positions
                    .entry(format!("{KEY_MARK}{full}"))
                    .or_insert((mark.line(), mark.col() + 1));
                *key = Some(name);
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
        timeout: crate::config::units::HumanDuration,
    }

    #[test]
    fn yaml_errors_carry_file_line_and_key() {
        let text = "name: x\nitems:\n  - timeout: 5s\n  - timeout: 5 minutes\n";
        let err = Source::new(Path::new("jobs/a.yaml"), text)
            .parse_all::<Doc>()
            .map_err(|mut errors| errors.remove(0))
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
            .parse_all::<Doc>()
            .map_err(|mut errors| errors.remove(0))
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
            .parse_all::<Doc>()
            .map_err(|mut errors| errors.remove(0))
            .unwrap_err();
        assert!(err.location.is_some(), "{err}");
    }
}
