//! `reporter completions SHELL`: clap's script for the options and subcommands, with job
//! names completed where a command takes them (`run`, `preview`, `history`, `silence`,
//! `status`). The names come from `reporter list --names` at completion time, so they
//! follow the jobs folder.

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit;
use crate::stdout;

use super::needs::Invocation;

/// The command a completion script runs for the job names.
const NAMES: &str = "reporter list --names 2>/dev/null";

/// Needs no configuration.
pub fn completions(shell: Shell, _: Invocation) -> anyhow::Result<i32> {
    // Generated in memory: the generators panic when a write fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "reporter", &mut script);
    let script = String::from_utf8(script).context("the completion script is UTF-8")?;
    let script = match shell {
        Shell::Bash => format!("{script}{BASH}"),
        Shell::Zsh => zsh(&script),
        Shell::Fish => format!("{script}{FISH}"),
        _ => script,
    };
    stdout::print(script).context("cannot write the completions")?;
    Ok(exit::OK)
}

/// Wraps clap's `_reporter`: after `run`, `preview`, `history`, `silence` or `status`, a
/// word that is not an option, nor an option's value, is a job name.
const BASH: &str = r#"
_reporter_jobs() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" i
    _reporter "$@"
    [[ $cur == -* ]] && return 0
    case "$prev" in
        --schedule|--hosts|--jobs|-j|--to|--config|--limit|--color|--pidfile|--log-file|--for|--until|--reason|--html) return 0 ;;
    esac
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            run|preview|history|silence|status)
                COMPREPLY=( $(compgen -W "$(reporter list --names 2>/dev/null)" -- "$cur") )
                return 0 ;;
        esac
    done
}
complete -F _reporter_jobs -o nosort -o bashdefault -o default reporter
"#;

const FISH: &str = "complete -c reporter -n \"__fish_seen_subcommand_from run preview history silence status\" -f -a \"(reporter list --names 2>/dev/null)\" -d job\n";

/// clap's zsh script completes the job arguments with `_default` (file names): they get
/// `_reporter_jobs` instead, defined before the script runs `_reporter`.
fn zsh(script: &str) -> String {
    let function = format!(
        "\n_reporter_jobs() {{\n    local -a jobs\n    jobs=(${{(f)\"$({NAMES})\"}})\n    _describe -t jobs 'job' jobs\n}}\n"
    );
    let mut out = String::with_capacity(script.len() + function.len());
    for (i, line) in script.lines().enumerate() {
        let job_argument = line.contains("::jobs -- ") || line.contains("::job -- ");
        match line.strip_suffix(":_default' \\") {
            Some(start) if job_argument => {
                out.push_str(start);
                out.push_str(":_reporter_jobs' \\");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
        if i == 0 {
            out.push_str(&function);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zsh_job_arguments_complete_job_names() {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Zsh, &mut Cli::command(), "reporter", &mut script);
        let script = zsh(&String::from_utf8(script).unwrap());
        // run, preview, history, silence and status.
        assert_eq!(script.matches(":_reporter_jobs' \\").count(), 5, "{script}");
        assert!(
            script.starts_with("#compdef reporter\n\n_reporter_jobs() {"),
            "{script}"
        );
    }
}
