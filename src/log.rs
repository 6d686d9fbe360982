//! Diagnostics on stderr (docs/monitoring.md): `reporter: warning: ...` lines (with a timestamp for
//! the daemon); under systemd, lines that start with their syslog priority (`<4>warning:
//! ...`) and leave the time to the journal; with `--log-format json` or `log_format: json`,
//! one JSON object per line.
//!
//! The format is chosen twice: from the command line when logging starts (so problems
//! loading the config are reported), then from the config once it is loaded, unless
//! `--log-format` was given ([`configured`]).

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Event, Level, Subscriber};

use crate::config::ConfigError;
pub use crate::config::raw::LogFormat;
use tracing_subscriber::fmt::format::{Json, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether events are written as JSON now.
static JSON: AtomicBool = AtomicBool::new(false);
/// Whether `--log-format` chose the format, so the config's `log_format` does not.
static FROM_COMMAND_LINE: AtomicBool = AtomicBool::new(false);

/// Applies the config's `log_format`, unless `--log-format` was given.
pub fn configured(format: LogFormat) {
    if !FROM_COMMAND_LINE.load(Ordering::Relaxed) {
        JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    }
}

/// The event formatter: the text lines, or tracing-subscriber's JSON, as chosen now.
struct Format {
    text: Text,
    json: tracing_subscriber::fmt::format::Format<Json, LocalTime>,
}

impl Format {
    fn new(timestamps: bool, color: bool) -> Format {
        let json = tracing_subscriber::fmt::format()
            .json()
            // The event's fields (`message`, `job`, ...) beside timestamp and level.
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_timer(LocalTime);
        Format {
            text: Text { timestamps, color },
            json,
        }
    }
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if JSON.load(Ordering::Relaxed) {
            self.json.format_event(ctx, writer, event)
        } else {
            self.text.format_event(ctx, writer, event)
        }
    }
}

/// RFC 3339 timestamps in local time, with milliseconds, for the JSON lines.
struct LocalTime;

impl FormatTime for LocalTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(
            w,
            "{}",
            chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        )
    }
}

struct Text {
    timestamps: bool,
    color: bool,
}

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        if stderr_is_journal() {
            // sd-daemon(3): the journal takes the priority from the prefix and records
            // the time and the program name itself.
            let priority = match level {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                Level::DEBUG | Level::TRACE => 7,
            };
            write!(writer, "<{priority}>{}", level_word(level))?;
            ctx.field_format().format_fields(writer.by_ref(), event)?;
            return writeln!(writer);
        }
        if self.timestamps {
            write!(
                writer,
                "{} ",
                chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
            )?;
        }
        let paint = match level {
            Level::ERROR => RED,
            Level::WARN => YELLOW,
            _ => "",
        };
        let word = level_word(level);
        if self.color && !paint.is_empty() {
            write!(writer, "reporter: {paint}{word}{RESET}")?;
        } else {
            write!(writer, "reporter: {word}")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error: ",
        Level::WARN => "warning: ",
        Level::INFO => "",
        Level::DEBUG => "debug: ",
        Level::TRACE => "trace: ",
    }
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to the device and inode
/// of the stream it connects stderr to (systemd.exec(5)). Compared with stderr itself,
/// not merely present, since children inherit the variable with stderr redirected; and
/// looked at for every line, since the daemon may send its stderr to a `--log-file`.
fn stderr_is_journal() -> bool {
    static STREAM: OnceLock<Option<(libc::dev_t, libc::ino_t)>> = OnceLock::new();
    let stream = STREAM.get_or_init(|| {
        let value = std::env::var("JOURNAL_STREAM").ok()?;
        let (device, inode) = value.split_once(':')?;
        Some((device.parse().ok()?, inode.parse().ok()?))
    });
    let Some((device, inode)) = *stream else {
        return false;
    };
    nix::sys::stat::fstat(libc::STDERR_FILENO)
        .is_ok_and(|st| st.st_dev == device && st.st_ino == inode)
}

pub const RED: &str = "\x1b[1;31m";
pub const YELLOW: &str = "\x1b[33m";
pub const GREEN: &str = "\x1b[32m";
pub const RESET: &str = "\x1b[0m";

/// `--color`: colour on a terminal (unless `NO_COLOR` is set), always, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour what goes to `stream`.
    pub fn enabled(self, stream: &impl std::io::IsTerminal) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Prints configuration problems, once each, the way every command does.
pub fn problems(errors: &[ConfigError]) {
    for error in errors {
        tracing::error!("{error}");
    }
}

/// A result status word, padded to `width` and coloured when `color` is on.
pub fn status(word: &str, width: usize, color: bool) -> String {
    let paint = match word {
        "ok" => GREEN,
        "failed" | "error" => RED,
        "timeout" | "skipped" => YELLOW,
        _ => "",
    };
    if color && !paint.is_empty() {
        format!(
            "{paint}{word}{RESET}{:pad$}",
            "",
            pad = width.saturating_sub(word.len())
        )
    } else {
        format!("{word:width$}")
    }
}

/// Sets up logging: `-q` errors only, default warnings, `-v` what happens, `-vv` debugging;
/// `format` is `--log-format`, if given.
pub fn init(
    verbose: u8,
    quiet: bool,
    timestamps: bool,
    color: ColorChoice,
    format: Option<LogFormat>,
) {
    if let Some(format) = format {
        FROM_COMMAND_LINE.store(true, Ordering::Relaxed);
        JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    }
    let level = match (quiet, verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::WARN,
        (false, 1) => Level::INFO,
        (false, 2) => Level::DEBUG,
        (false, _) => Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .event_format(Format::new(timestamps, color.enabled(&std::io::stderr())))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What events look like through [`Format`] with the JSON format on.
    fn json_of(emit: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(Format::new(false, false))
            .finish();
        JSON.store(true, Ordering::Relaxed);
        tracing::subscriber::with_default(subscriber, emit);
        JSON.store(false, Ordering::Relaxed);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_lines_carry_the_event_fields_beside_the_message() {
        let text = json_of(|| tracing::warn!(job = "disk", run_id = 7, "disk: slow relay"));
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "disk: slow relay");
        assert_eq!(line["job"], "disk");
        assert_eq!(line["run_id"], 7);
        assert!(line["timestamp"].as_str().unwrap().contains('T'), "{text}");
        assert!(line.get("target").is_none(), "{text}");
    }

    #[test]
    fn status_words_keep_their_column_width() {
        assert_eq!(status("ok", 7, false), "ok     ");
        assert_eq!(status("ok", 7, true), "\x1b[32mok\x1b[0m     ");
        assert_eq!(status("failed", 4, true), "\x1b[1;31mfailed\x1b[0m");
        assert_eq!(status("-", 3, true), "-  ");
    }
}
