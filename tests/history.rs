//! The run history: a real SQLite file written by real runs, read by `history` and `list`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{Env, tool};

#[test]
fn several_runs_are_recorded_newest_first() {
    let env = Env::new("");
    env.job("disk", "commands: [echo a, \"exit 3\"]\n");
    env.job("load", "commands: [uptime]\n");
    env.run(&["run", "disk"]).code(1).stderr_only_not_ok();
    env.run(&["run", "load"]).code(0).stderr_empty();
    env.run(&["run", "disk", "load"])
        .code(1)
        .stderr_only_not_ok();
    env.smtp.wait_for(4);
    assert!(
        env.path("state/history.sqlite3").is_file(),
        "the history lives in state_dir"
    );

    let runs = env.history_json(&[]);
    assert_eq!(runs.len(), 4, "{runs:?}");
    let first = &runs[3];
    assert_eq!(first["job"], "disk");
    assert_eq!(first["trigger"], "manual");
    assert_eq!(first["status"], "failed");
    assert_eq!(first["sent"], true);
    assert_eq!(first["summary"]["total"], 2);
    assert_eq!(first["summary"]["ok"], 1);
    assert_eq!(first["summary"]["failed"], 1);
    assert!(first["run_id"].as_str().unwrap().len() > 10);
    assert!(first["started_at"].as_str().unwrap() <= first["finished_at"].as_str().unwrap());
    // The last command line ran both jobs under one run id.
    assert_eq!(runs[0]["run_id"], runs[1]["run_id"]);
    assert_ne!(runs[0]["run_id"], runs[3]["run_id"]);

    let disk = env.history_json(&["disk", "--limit", "1"]);
    assert_eq!(disk.len(), 1);
    assert_eq!(disk[0]["job"], "disk");

    let text = env.run(&["history", "load"]).code(0).stderr_empty();
    assert!(text.stdout.starts_with("STARTED "), "{}", text.stdout);
    assert_eq!(text.stdout.lines().count(), 3, "{}", text.stdout);
}

#[test]
fn an_undelivered_report_is_recorded_as_not_sent() {
    let env = Env::refusing();
    env.job("disk", "commands: [echo a]\n");
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: report not delivered");
    let runs = env.history_json(&[]);
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[0]["sent"], false);
}

#[test]
fn a_corrupt_history_is_recreated_and_the_mail_still_goes_out() {
    let env = Env::new("");
    env.job("disk", "commands: [echo a]\n");
    env.write("state/history.sqlite3", &"not a database\n".repeat(400));
    env.run(&["run", "disk"])
        .code(0)
        .stderr_contains("history.sqlite3` is unreadable (")
        .stderr_contains("history.sqlite3.corrupt` and started a new one");
    assert_eq!(env.smtp.wait_for(1).len(), 1);
    assert_eq!(env.history_json(&[]).len(), 1);
}

#[test]
fn two_processes_write_at_once() {
    let env = Env::new("");
    let names: Vec<String> = (0..6).map(|i| format!("job{i}")).collect();
    for name in &names {
        env.job(name, "commands: [echo a, echo b]\n");
    }
    // Different jobs for each: a job's lock would make one process skip the other's.
    let children: Vec<_> = names
        .chunks(3)
        .map(|half| {
            let mut args = vec!["run"];
            args.extend(half.iter().map(String::as_str));
            env.start(&args)
        })
        .collect();
    for child in children {
        // Nothing on stderr: in particular, no complaint about the history.
        child.wait().code(0).stderr_empty();
    }
    let runs = env.history_json(&["--limit", "100"]);
    assert_eq!(runs.len(), 6, "{runs:?}");
}

#[test]
fn history_days_zero_turns_it_off() {
    let env = Env::new("history_days: 0\n");
    env.job("disk", "commands: [echo a]\n");
    env.run(&["run", "disk"]).code(0).stderr_empty();
    assert!(!env.path("state/history.sqlite3").exists());
    env.run(&["history"])
        .code(2)
        .stderr_contains("reporter: error: the run history is off (`history_days: 0` in `")
        .stderr_contains("reporter.yaml`)");
}

/// Holds an exclusive lock on the SQLite database at the path it is given until its
/// standard input closes: another program that keeps the history busy.
const HOLD_LOCK: &str = "import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
sys.stdin.read()
connection.execute('ROLLBACK')
";

#[test]
fn a_run_the_locked_history_cannot_take_is_recorded_by_the_next_run() {
    let env = Env::new("");
    let count = env.write("count", "1");
    env.template(
        "tally.txt.hbs",
        "now {{#each results}}[{{stdout}}]{{/each}} previous {{#if previous}}{{#each previous}}[{{stdout}}]{{/each}}{{/if}}\n",
    );
    env.job(
        "tally",
        &format!(
            "mail: {{template: tally}}\ncommands: ['cat {}']\n",
            count.display()
        ),
    );
    env.run(&["run", "tally"]).code(0).stderr_empty();
    let database = env.path("state/history.sqlite3");
    let mut locker = Command::new(tool("python3", "python3"))
        .args(["-c", HOLD_LOCK])
        .arg(&database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(locker.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said, "locked\n");

    // Past the busy timeout: the report goes out, the run waits in the state folder.
    std::fs::write(&count, "2").unwrap();
    let locked = env.run(&["run", "tally"]).code(0).stderr_contains(&format!(
        "history `{}`: database is locked: the run is kept in `{}` and recorded by the next run (1 waiting)",
        database.display(),
        env.path("state/history-pending").display()
    ));
    assert_eq!(locked.stderr.lines().count(), 1, "{}", locked.stderr);
    drop(locker.stdin.take());
    assert!(locker.wait().unwrap().success());

    std::fs::write(&count, "3").unwrap();
    env.run(&["run", "tally"]).code(0).stderr_empty();
    let mails = env.smtp.wait_for(3);
    assert_eq!(mails[2].body().trim(), "now [3] previous [2]");
    let runs = env.history_json(&[]);
    assert_eq!(runs.len(), 3, "{runs:?}");
    let started: Vec<&str> = runs
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    assert!(
        started[0] >= started[1] && started[1] >= started[2],
        "newest first: {started:?}"
    );
    let mut ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three runs, none twice: {runs:?}");
    let pending = std::fs::read_dir(env.path("state/history-pending")).unwrap();
    assert_eq!(pending.count(), 0, "the kept run is removed once recorded");
}
