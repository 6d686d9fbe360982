//! Diagnostics on stderr: `reporter: warning: ...` lines (with a timestamp for the daemon).

use std::fmt;

use tracing::{Event, Level, Subscriber};

use crate::config::ConfigError;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Format {
    timestamps: bool,
    color: bool,
}

impl<S, N> FormatEvent<S, N> for Format
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
        if self.timestamps {
            write!(
                writer,
                "{} ",
                chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
            )?;
        }
        let (level, paint) = match *event.metadata().level() {
            Level::ERROR => ("error: ", RED),
            Level::WARN => ("warning: ", YELLOW),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug: ", ""),
            Level::TRACE => ("trace: ", ""),
        };
        if self.color && !paint.is_empty() {
            write!(writer, "reporter: {paint}{level}{RESET}")?;
        } else {
            write!(writer, "reporter: {level}")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
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

/// Sets up logging: `-q` errors only, default warnings, `-v` what happens, `-vv` debugging.
pub fn init(verbose: u8, quiet: bool, timestamps: bool, color: ColorChoice) {
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
        .event_format(Format {
            timestamps,
            color: color.enabled(&std::io::stderr()),
        })
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_keep_their_column_width() {
        assert_eq!(status("ok", 7, false), "ok     ");
        assert_eq!(status("ok", 7, true), "\x1b[32mok\x1b[0m     ");
        assert_eq!(status("failed", 4, true), "\x1b[1;31mfailed\x1b[0m");
        assert_eq!(status("-", 3, true), "-  ");
    }
}
