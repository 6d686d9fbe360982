//! `reporter status --hosts` (docs/status.md): `reporter status --json` asked of every host
//! over ssh, as a run's remote commands are (the pool's limit, the command timeout,
//! `ssh.options` with its ControlMaster, the masters it leaves spared), each answer read
//! back as that host's status. A host that cannot be reached, or whose reporter gives no
//! status, is an answer that says why, never a failure of the whole.

use tokio::sync::watch;

use crate::config::hosts::HostSpec;
use crate::config::{Config, job};
use crate::exec::{CommandSpec, Exit, Outcome, Pool};
use crate::history::overview::Detail;
use crate::monitor::status::fleet::{Answer, Fleet, FleetHost};
use crate::monitor::status::{self, HostStatus, Selection};
use crate::run::load;
use crate::run::plan::{self, shell_quote};

/// The most of a host's answer read: a status of thousands of jobs fits well within it.
const ANSWER_MAX: u64 = 16 << 20;

/// What a fleet's status asks: of which hosts (groups expanded), about which jobs (all
/// when empty), and how much of each job (`detail`, for this host's own page).
pub struct Asked<'a> {
    pub hosts: &'a [HostSpec],
    pub jobs: &'a [String],
    pub detail: Detail,
}

/// Every host's answer, in the order of `asked.hosts`. `localhost` is read here, without
/// ssh. Must not be called inside a runtime: it starts its own.
pub fn ask(config: &Config, asked: &Asked) -> std::io::Result<Fleet> {
    let remote: Vec<(usize, CommandSpec)> = asked
        .hosts
        .iter()
        .enumerate()
        .filter_map(|(index, host)| Some((index, spec(config, host, asked.jobs)?)))
        .collect();
    let runtime = crate::exec::runtime()?;
    let mut answers: Vec<Option<Answer>> = asked.hosts.iter().map(|_| None).collect();
    let pool = Pool::new(config.pool_size);
    runtime.block_on(async {
        let (_cancel, never) = watch::channel(false);
        let mut done = pool.run(remote, move |(index, spec): (usize, CommandSpec)| {
            let never = never.clone();
            async move { (index, crate::exec::command::run(&spec, never).await) }
        });
        while let Some((index, outcome)) = done.recv().await {
            answers[index] = Some(answer(plan::unreachable_as_error(outcome)));
        }
    });
    let hosts = asked
        .hosts
        .iter()
        .zip(answers)
        .map(|(host, answer)| FleetHost {
            name: host.to_string(),
            answer: answer.unwrap_or_else(|| local(config, asked)),
        })
        .collect();
    Ok(Fleet {
        generated_at: config.timezone.rfc3339(chrono::Utc::now()),
        hosts,
    })
}

/// The ssh command asking `host` for its status; `None` for this host.
fn spec(config: &Config, host: &HostSpec, jobs: &[String]) -> Option<CommandSpec> {
    let HostSpec::Ssh {
        user, host, port, ..
    } = host
    else {
        return None;
    };
    let mut text = format!("{} status --json", config.ssh.reporter);
    for job in jobs {
        text.push(' ');
        text.push_str(&shell_quote(job));
    }
    Some(CommandSpec {
        program: config.ssh.command.clone(),
        args: plan::ssh_args(config, user.as_deref(), host, *port, &text),
        path: config.path.clone(),
        env: Vec::new(),
        cwd: std::path::PathBuf::from("/"),
        timeout: job::DEFAULT_TIMEOUT,
        max_output: ANSWER_MAX,
        shared_output: false,
        user: None,
        ssh: true,
    })
}

/// This host's status, read from its own history.
fn local(config: &Config, asked: &Asked) -> Answer {
    let history = load::history_store(config);
    let selection = Selection {
        names: asked.jobs,
        detail: asked.detail,
    };
    match status::gather(config, history.as_ref(), &selection) {
        Ok((status, _)) => Answer::Status(status),
        Err(e) => Answer::NoStatus(e.to_string()),
    }
}

/// What a host's `reporter status --json` ended with, as its answer, its text made
/// printable (it is the host's to write).
fn answer(outcome: Outcome) -> Answer {
    match said(outcome) {
        Answer::Status(status) => Answer::Status(status.printable()),
        Answer::Unreachable(why) => Answer::Unreachable(status::printable(&why)),
        Answer::NoStatus(why) => Answer::NoStatus(status::printable(&why)),
    }
}

/// What a host's `reporter status --json` ended with.
fn said(outcome: Outcome) -> Answer {
    if outcome.timed_out {
        return Answer::Unreachable(format!(
            "no answer within {} s",
            job::DEFAULT_TIMEOUT.as_secs()
        ));
    }
    let first_line = || {
        let line = outcome
            .stderr
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or_default();
        line.to_owned()
    };
    match &outcome.exit {
        Exit::NotStarted(why) => Answer::Unreachable(why.clone()),
        Exit::Code(0) if !outcome.stdout_cut => {
            match serde_json::from_str::<HostStatus>(&outcome.stdout) {
                Ok(status) => Answer::Status(status),
                Err(e) => Answer::NoStatus(format!("its answer is not a status ({e})")),
            }
        }
        Exit::Code(0) => Answer::NoStatus(format!(
            "its answer is longer than {} MiB",
            ANSWER_MAX >> 20
        )),
        _ if outcome.stderr.contains("unrecognized subcommand") => Answer::NoStatus(format!(
            "its reporter has no `status` (too old): {}",
            first_line()
        )),
        Exit::Code(code) if first_line().is_empty() => {
            Answer::NoStatus(format!("`status --json` exited {code} without a word"))
        }
        Exit::Signal(signal) if first_line().is_empty() => {
            Answer::NoStatus(format!("`status --json` was killed by signal {signal}"))
        }
        _ => Answer::NoStatus(first_line()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: i32, stdout: &str, stderr: &str) -> Answer {
        answer(Outcome {
            exit: Exit::Code(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            ..Outcome::not_started(String::new())
        })
    }

    fn told(answer: Answer) -> String {
        match answer {
            Answer::Status(status) => format!("status of {}", status.host),
            Answer::Unreachable(why) => format!("unreachable: {why}"),
            Answer::NoStatus(why) => format!("no status: {why}"),
        }
    }

    #[test]
    fn every_answer_says_what_the_host_did() {
        let status = r#"{"host": "web1", "generated_at": "2026-12-07T09:00:00Z", "jobs": [],
            "added_by_a_newer_reporter": 1}"#;
        assert_eq!(told(ended(0, status, "")), "status of web1");
        assert_eq!(
            told(ended(0, "Usage: ...", "")),
            "no status: its answer is not a status (expected value at line 1 column 1)"
        );
        assert_eq!(
            told(ended(
                2,
                "",
                "error: unrecognized subcommand 'status'\n\nUsage: reporter <COMMAND>\n"
            )),
            "no status: its reporter has no `status` (too old): error: unrecognized subcommand 'status'"
        );
        assert_eq!(
            told(ended(127, "", "\nsh: 1: reporter: not found\n")),
            "no status: sh: 1: reporter: not found"
        );
        assert_eq!(
            told(ended(3, "", "")),
            "no status: `status --json` exited 3 without a word"
        );
        let refused = plan::unreachable_as_error(Outcome {
            exit: Exit::Code(255),
            stderr: "ssh: connect to host db1 port 22: Connection refused\r\n".into(),
            ..Outcome::not_started(String::new())
        });
        assert_eq!(
            told(answer(refused)),
            "unreachable: ssh: connect to host db1 port 22: Connection refused"
        );
        let slow = Outcome {
            timed_out: true,
            ..Outcome::not_started(String::new())
        };
        assert_eq!(told(answer(slow)), "unreachable: no answer within 60 s");
        // What a host says cannot steer the terminal it is shown on.
        let sneaky = r#"{"host": "web1\u001b[2J", "generated_at": "", "jobs": [{"job": "x\u001b]0;owned\u0007",
            "status": "ok", "status_since": null, "streak": 1, "last_run": null, "last_ok": null,
            "duration_ms": 1, "durations": [1], "next_run": null}]}"#;
        let Answer::Status(status) = answer(Outcome {
            exit: Exit::Code(0),
            stdout: sneaky.into(),
            ..Outcome::not_started(String::new())
        }) else {
            panic!("a status");
        };
        assert_eq!(status.host, "web1\u{FFFD}[2J");
        assert_eq!(status.jobs[0].job, "x\u{FFFD}]0;owned\u{FFFD}");
        assert_eq!(
            told(ended(1, "", "\u{1b}[31mboom\n")),
            "no status: \u{FFFD}[31mboom"
        );
    }
}
