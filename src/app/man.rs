//! `reporter man [PAGE]`: the manual pages. reporter(1) is clap's rendering of the same
//! definitions `--help` prints (synopsis, global options, every subcommand with its
//! options), followed by the sections kept in `man/reporter.1.roff` (FILES, EXIT STATUS,
//! ENVIRONMENT, EXAMPLES, SEE ALSO); reporter.yaml(5), the config and job keys, is
//! `man/reporter.yaml.5.roff`; reporter-templates(7) is `man/reporter-templates.7.roff`
//! with the template context and the helpers written in from the code's own tables
//! ([`templates`]). All are compiled into the binary, so the installed pages are what
//! this binary prints (`packaging/generate.sh`).

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, ManPage};
use crate::exit;
use crate::stdout;

use super::needs::Invocation;

mod roff;
mod templates;

use roff::escape;

const REPORTER_1_SECTIONS: &str = include_str!("man/reporter.1.roff");
const REPORTER_YAML_5: &str = include_str!("man/reporter.yaml.5.roff");

pub fn man(page: ManPage, _: Invocation) -> anyhow::Result<i32> {
    let text = match page {
        ManPage::Reporter => reporter_1()?,
        ManPage::ReporterYaml => reporter_yaml_5(),
        ManPage::ReporterTemplates => templates::page(&version()),
    };
    stdout::print(text).context("cannot write the manual page")?;
    Ok(exit::OK)
}

fn version() -> String {
    format!("reporter {}", env!("CARGO_PKG_VERSION"))
}

/// reporter(1).
pub fn reporter_1() -> anyhow::Result<String> {
    let cli = Cli::command();
    let man = clap_mangen::Man::new(cli.clone())
        .source(version())
        .manual("User Commands");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    page.extend_from_slice(DESCRIPTION.as_bytes());
    man.render_options_section(&mut page)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for command in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = command.get_name();
        // On its own (without the global options, which are above) and without -h.
        let command = command
            .clone()
            .disable_help_flag(true)
            .bin_name(format!("reporter {name}"));
        let has_options = command.get_arguments().any(|a| !a.is_hide_set());
        let man = clap_mangen::Man::new(command.clone());
        let mut synopsis = Vec::new();
        man.render_synopsis_section(&mut synopsis)?;
        let synopsis = String::from_utf8(synopsis)?;
        page.extend_from_slice(format!(".SS {name}\n").as_bytes());
        page.extend_from_slice(strip_heading(&synopsis, "SYNOPSIS").as_bytes());
        let about = command
            .get_long_about()
            .or(command.get_about())
            .map(|s| s.to_string())
            .unwrap_or_default();
        page.extend_from_slice(format!(".PP\n{}\n", escape(&about)).as_bytes());
        if has_options {
            let mut options = Vec::new();
            man.render_options_section(&mut options)?;
            let options = String::from_utf8(options)?;
            page.extend_from_slice(strip_heading(&options, "OPTIONS").as_bytes());
        }
    }
    page.extend_from_slice(REPORTER_1_SECTIONS.as_bytes());
    // Each rendered part starts with the same definition of the quote string: once is enough.
    let page = String::from_utf8(page)?;
    let (first, rest) = page.split_at(page.find(QUOTE).map_or(0, |at| at + QUOTE.len()));
    Ok(format!("{first}{}", rest.replace(QUOTE, "")))
}

/// reporter.yaml(5), with this version in its title line.
pub fn reporter_yaml_5() -> String {
    REPORTER_YAML_5.replace("@VERSION@", &version())
}

/// What the roff crate puts before each part it renders.
const QUOTE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

const DESCRIPTION: &str = "\
.SH DESCRIPTION
\\fBreporter\\fR runs the shell commands described in YAML job files (one job per file in
the jobs folder), renders their results through Handlebars templates into e\\-mails and
hands them to the local SMTP relay (or sendmail, or a folder of .eml files).
Mail that cannot be delivered is kept in the spool and sent by the next run,
\\fBflush\\fR or the daemon.
The configuration and the job format are described in \\fBreporter.yaml\\fR(5).
.PP
It is started by cron (\\fB/etc/cron.daily/reporter\\fR), by a systemd timer, by its own
scheduler (\\fBreporter daemon\\fR) or by hand.
Run with no command from a folder named \\fBcron.hourly\\fR, \\fBcron.daily\\fR,
\\fBcron.weekly\\fR or \\fBcron.monthly\\fR, it runs \\fBrun \\-\\-schedule\\fR \\fIperiod\\fR;
otherwise it prints the help and exits 2.
JOB arguments are job names (the file name without \\fB.yaml\\fR), never paths.
";

/// The rendered section without its `.SH` line (it goes under a `.SS` of its own).
fn strip_heading(roff: &str, heading: &str) -> String {
    roff.replacen(&format!(".SH {heading}\n"), "", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_and_option_is_in_reporter_1() {
        let page = reporter_1().unwrap();
        for command in Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
        {
            assert!(
                page.contains(&format!(".SS {}\n", command.get_name())),
                "{}",
                command.get_name()
            );
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    let long = long.replace('-', "\\-");
                    assert!(page.contains(&format!("\\-\\-{long}")), "--{long}");
                }
            }
        }
        assert!(
            !page.contains("reporter-run"),
            "points to pages that do not exist"
        );
    }
}
