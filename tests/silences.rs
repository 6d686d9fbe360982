//! Silences, maintenance windows, reminders and escalation (docs/silences.md): real runs
//! against a real SMTP server, the silences in the real state, the daemon, another user.

use std::time::Duration;

use crate::support::http::HttpServer;
use crate::support::{Env, Run, Running, hostname, read, wait_until};

/// A job whose one command prints the flag file and fails unless it says `ok`.
fn flagged_job(env: &Env, name: &str, extra: &str) {
    let flag = env.path(&format!("{name}.flag"));
    env.write(&format!("{name}.flag"), "down\n");
    env.job(
        name,
        &format!(
            "{extra}commands:\n  - name: check\n    run: cat {0}; grep -qx ok {0}\n",
            flag.display()
        ),
    );
}

/// Runs `args` and returns the run with the messages the server received during it, as
/// (subject, recipients).
fn mail_run(env: &Env, args: &[&str]) -> (Run, Vec<(String, Vec<String>)>) {
    let before = env.smtp.received().len();
    let run = env.run(args);
    let mails = env.smtp.received()[before..]
        .iter()
        .map(|m| (m.header("Subject").unwrap_or_default(), m.rcpt_to.clone()))
        .collect();
    (run, mails)
}

fn subjects(mails: &[(String, Vec<String>)]) -> Vec<&str> {
    mails.iter().map(|(subject, _)| subject.as_str()).collect()
}

/// `reporter silence ARGS`, which must succeed; the id it printed.
#[track_caller]
fn silence(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["silence"];
    all.extend_from_slice(args);
    let id = env.run(&all).code(0).stderr_empty().into_stdout();
    assert!(
        !id.is_empty() && id.trim_end().chars().all(|c| c.is_ascii_digit()) && id.ends_with('\n'),
        "an id: {id:?}"
    );
    id.trim_end().to_owned()
}

#[test]
fn a_silenced_job_runs_records_pings_and_writes_metrics_but_mails_nobody() {
    let ping = HttpServer::answering(200);
    let hook = HttpServer::answering(200);
    let env = Env::new("metrics_file: metrics/reporter.prom\n");
    flagged_job(
        &env,
        "raid",
        &format!(
            "ping: {{url: '{}'}}\nwebhooks: [{{url: '{}'}}]\n",
            ping.url("/raid"),
            hook.url("/hook")
        ),
    );
    let id = silence(
        &env,
        &["raid", "--for", "1h", "--reason", "disk swap in progress"],
    );
    assert_eq!(id, "1");
    let (run, mails) = mail_run(&env, &["run", "raid"]);
    // Exit 1 as ever, but the line cron would mail leaves the silenced failure out.
    run.code(1).stderr_empty();
    assert!(mails.is_empty(), "{mails:?}");
    assert!(hook.requests().is_empty(), "no webhook for a silenced job");
    let pinged: Vec<String> = ping
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        pinged,
        ["/raid/start", "/raid/fail"],
        "the switch still hears of it"
    );
    let metrics = read(env.path("metrics/reporter.prom"));
    assert!(
        metrics.contains("reporter_job_last_status{job=\"raid\",status=\"failed\"} 1"),
        "{metrics}"
    );
    let runs = env.history_json(&["raid"]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["silenced"], "1: disk swap in progress");
    assert_eq!(runs[0]["reason"], "silenced (1: disk swap in progress)");
    assert_eq!(runs[0]["sent"], false);
    assert_eq!(runs[0]["status"], "failed");

    // `list` and `silence --list` show it.
    let list: serde_json::Value = serde_json::from_str(
        &env.run(&["list", "--json"])
            .code(0)
            .stderr_empty()
            .into_stdout(),
    )
    .unwrap();
    assert!(list[0]["silenced_until"].is_string(), "{list}");
    env.run(&["list"])
        .code(0)
        .stderr_empty()
        .stdout_contains("[silenced until ");
    let listed: serde_json::Value = serde_json::from_str(
        &env.run(&["silence", "--list", "--json"])
            .code(0)
            .stderr_empty()
            .into_stdout(),
    )
    .unwrap();
    let entry = &listed[0];
    assert_eq!(entry["id"], 1);
    assert_eq!(entry["jobs"], serde_json::json!(["raid"]));
    assert_eq!(entry["reason"], "disk swap in progress");
    assert_eq!(entry["by"], "root");
    assert!(entry["from"].as_str().unwrap() < entry["until"].as_str().unwrap());
    env.run(&["silence", "--list"])
        .code(0)
        .stderr_empty()
        .stdout_contains("disk swap in progress");
}

#[test]
fn a_silence_ends_by_itself_and_the_first_run_after_it_mails_whatever_the_send_rule() {
    let env = Env::new("");
    // Under on-change an unchanged failure is not mailed: after the silence it is.
    flagged_job(&env, "updates", "send: on-change\n");
    let host = hostname();
    // Long enough for the next run to start within it, even on a loaded machine.
    silence(&env, &["updates", "--for", "4s", "--reason", "reboot"]);
    let (run, mails) = mail_run(&env, &["run", "updates"]);
    run.code(1).stderr_empty();
    assert!(mails.is_empty(), "{mails:?}");
    assert!(
        wait_until(|| env
            .run(&["silence", "--list", "--json"])
            .code(0)
            .stderr_empty()
            .into_stdout()
            == "[]\n"),
        "the silence never ended"
    );
    let (run, mails) = mail_run(&env, &["run", "updates"]);
    run.code(1).stderr_only_not_ok();
    assert_eq!(subjects(&mails), [format!("[FAILED] updates on {host}")]);
    let (run, mails) = mail_run(&env, &["run", "updates"]);
    run.code(1).stderr_only_not_ok();
    assert!(mails.is_empty(), "on-change again: {mails:?}");
    let runs = env.history_json(&["updates"]);
    let silenced: Vec<&serde_json::Value> = runs.iter().map(|r| &r["silenced"]).collect();
    assert_eq!(
        silenced,
        [
            &serde_json::Value::Null,
            &serde_json::Value::Null,
            &serde_json::json!("1: reboot")
        ]
    );
}

#[test]
fn unsilence_ends_silences_and_send_never_stays_quiet_after_one() {
    let env = Env::new("");
    flagged_job(&env, "a", "");
    flagged_job(&env, "quiet", "send: never\n");
    let first = silence(&env, &["--all", "--for", "1h", "--reason", "all of them"]);
    let second = silence(
        &env,
        &["a", "a", "--until", "2099-01-01 00:00", "--reason", "later"],
    );
    let (run, mails) = mail_run(&env, &["run", "a", "quiet"]);
    run.code(1).stderr_empty();
    assert!(mails.is_empty(), "{mails:?}");
    env.run(&["unsilence", &first])
        .code(0)
        .stderr_empty()
        .stdout_empty();
    let (run, mails) = mail_run(&env, &["run", "a", "quiet"]);
    run.code(1).stderr_only_not_ok();
    assert!(
        mails.is_empty(),
        "`a` is still in the second silence: {mails:?}"
    );
    env.run(&["unsilence", "--all"])
        .code(0)
        .stderr_empty()
        .stdout_empty();
    env.run(&["silence", "--list"])
        .code(0)
        .stderr_empty()
        .stdout_is(
            "ID    JOBS  FROM                       UNTIL                      BY        REASON\n",
        );
    let (run, mails) = mail_run(&env, &["run", "a", "quiet"]);
    run.code(1).stderr_only_not_ok();
    assert_eq!(
        subjects(&mails),
        [format!("[FAILED] a on {}", hostname())],
        "`quiet` has send: never"
    );
    assert_ne!(first, second);
    let runs = env.history_json(&["a"]);
    assert_eq!(runs[1]["silenced"], format!("{second}: later"), "{runs:?}");
}

#[test]
fn a_maintenance_window_open_now_silences_its_jobs_and_one_that_is_not_does_not() {
    // `* * * * *` for an hour is open at any time; New Year's minute is not open now
    // (the test is not run then).
    let env = Env::new(
        "maintenance:\n  - name: patching\n    schedule: '* * * * *'\n    duration: 1h\n    jobs: [web]\n  - name: new year\n    schedule: '0 0 1 1 *'\n    duration: 1m\n",
    );
    flagged_job(&env, "web", "");
    flagged_job(&env, "db", "");
    let (run, mails) = mail_run(&env, &["run", "web", "db", "--digest"]);
    run.code(1)
        .stderr_only_not_ok()
        .stderr_contains("db: check")
        .stderr_lacks("web");
    assert_eq!(mails.len(), 1, "{mails:?}");
    let body = env.smtp.received()[0].body();
    assert!(
        body.starts_with("Silenced now (no mail from these until then):\n- web until "),
        "the digest lists the silences at its top:\n{body}"
    );
    assert!(body.contains("(maintenance: patching)\n"), "{body}");
    assert!(body.contains("======== db: failed"), "{body}");
    assert!(!body.contains("======== web"), "{body}");
    let web = env.history_json(&["web"]);
    assert_eq!(web[0]["silenced"], "maintenance: patching");
    assert_eq!(
        env.history_json(&["db"])[0]["silenced"],
        serde_json::Value::Null
    );
    let listed: serde_json::Value = serde_json::from_str(
        &env.run(&["silence", "--list", "--json"])
            .code(0)
            .stderr_empty()
            .into_stdout(),
    )
    .unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["maintenance"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["patching", "new year"]);
    assert_eq!(listed[1]["jobs"], serde_json::Value::Null, "every job");
    assert!(
        listed[1]["from"]
            .as_str()
            .unwrap()
            .contains("-01-01T00:00:00")
    );
    let list = env.run(&["list"]).code(0).stderr_empty().into_stdout();
    assert!(
        list.contains("\nMAINTENANCE WINDOWS\npatching: `* * * * *` for 1h, web; open until "),
        "{list}"
    );
    assert!(
        list.contains("new year: `0 0 1 1 *` for 1m, every job; next "),
        "{list}"
    );
}

#[test]
fn check_names_the_file_line_and_key_of_a_broken_maintenance_window() {
    let env = Env::new(
        "maintenance:\n  - name: patching\n    schedule: '0 2 * * 0'\n    duration: 3h\n    jobs: [web, nosuch]\n",
    );
    flagged_job(&env, "web", "");
    let config = env.path("reporter.yaml");
    let config = config.display();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{config}:10:17: maintenance[0].jobs[1]: no job `nosuch` (maintenance window `patching`)"
    ));
    env.write_config(
        "maintenance:\n  - name: patching\n    schedule: '0 25 * * 0'\n    duration: 3h\n",
    );
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{config}:8:15: maintenance[0].schedule: invalid schedule \"0 25 * * 0\""
    ));
    env.write_config("maintenance:\n  - name: patching\n    schedule: '0 2 * * 0'\n");
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{config}:7:9: maintenance[0]: missing field `duration`"
    ));
    env.write_config(
        "maintenance:\n  - name: patching\n    schedule: '0 2 * * 0'\n    duration: 0s\n",
    );
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{config}:9:15: maintenance[0].duration: duration 0s: a window must last (e.g. 3h)"
    ));
}

#[test]
fn reminders_come_once_the_last_mail_is_older_than_remind_every_and_not_before() {
    let env = Env::new("");
    flagged_job(&env, "backup", "send: on-change\nremind_every: 4s\n");
    let host = hostname();
    let (run, mails) = mail_run(&env, &["run", "backup"]);
    run.code(1).stderr_only_not_ok();
    assert_eq!(subjects(&mails), [format!("[FAILED] backup on {host}")]);
    let (run, mails) = mail_run(&env, &["run", "backup"]);
    run.code(1).stderr_only_not_ok();
    assert!(mails.is_empty(), "not before the interval: {mails:?}");
    std::thread::sleep(Duration::from_millis(4200));
    let (run, mails) = mail_run(&env, &["run", "backup"]);
    run.code(1).stderr_only_not_ok();
    let subject = subjects(&mails).join("|");
    let reminder = format!("[FAILED] backup on {host} (failing for ");
    assert!(
        subject.starts_with(&reminder) && subject.ends_with(" seconds)") && mails.len() == 1,
        "a reminder: {subject}"
    );
    let (run, mails) = mail_run(&env, &["run", "backup"]);
    run.code(1).stderr_only_not_ok();
    assert!(mails.is_empty(), "the interval starts again: {mails:?}");
    let runs = env.history_json(&["backup"]);
    let sent: Vec<bool> = runs
        .iter()
        .rev()
        .map(|r| r["sent"].as_bool().unwrap())
        .collect();
    assert_eq!(sent, [true, false, true, false]);
}

#[test]
fn escalation_adds_recipients_at_the_nth_failing_run_and_not_before() {
    let env = Env::new("");
    flagged_job(
        &env,
        "raid",
        "send: on-failure\nescalate:\n  - after: 3\n    to: [oncall@test.example]\n",
    );
    let host = hostname();
    let mut recipients = Vec::new();
    for step in 1..=4 {
        let (run, mails) = mail_run(&env, &["run", "raid"]);
        run.code(1).stderr_only_not_ok();
        assert_eq!(mails.len(), 1, "run {step}: {mails:?}");
        recipients.push(mails[0].1.clone());
        if step == 3 {
            assert!(
                mails[0]
                    .0
                    .starts_with(&format!("[FAILED] raid on {host} (failing for ")),
                "the escalation says how long: {}",
                mails[0].0
            );
        }
    }
    let admin = || "admin@test.example".to_owned();
    let both = vec![admin(), "oncall@test.example".to_owned()];
    assert_eq!(
        recipients,
        [vec![admin()], vec![admin()], both.clone(), both]
    );
    set_ok(&env, "raid");
    let (run, mails) = mail_run(&env, &["run", "raid"]);
    run.code(0).stderr_empty();
    assert_eq!(
        mails[0].1,
        [admin()],
        "the recovery goes to the job's own recipients"
    );
}

fn set_ok(env: &Env, name: &str) {
    env.write(&format!("{name}.flag"), "ok\n");
}

#[test]
fn the_daemon_honours_a_silence_made_while_it_runs() {
    let env = Env::new("");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo tick]\n");
    let daemon: Running = env.start(&["daemon"]);
    assert!(
        wait_until(|| !env.smtp.received().is_empty()),
        "{}",
        daemon.stderr_so_far()
    );
    silence(&env, &["tick", "--for", "1h", "--reason", "noisy"]);
    let silenced_runs = || {
        env.history_json(&["tick", "--limit", "100"])
            .iter()
            .filter(|r| r["silenced"] == "1: noisy")
            .count()
    };
    assert!(
        wait_until(|| silenced_runs() >= 1),
        "{}",
        daemon.stderr_so_far()
    );
    // Runs follow one another: once one was silenced, every mail before it is in.
    let mails = env.smtp.received().len();
    assert!(
        wait_until(|| silenced_runs() >= 3),
        "{}",
        daemon.stderr_so_far()
    );
    assert_eq!(env.smtp.received().len(), mails, "no mail while silenced");
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon
        .wait()
        .code(0)
        .stderr_contains("daemon stopped")
        .stderr_lacks("reloaded");
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn another_user_cannot_silence_roots_jobs_nor_end_their_silences() {
    crate::support::require_root();
    let env = Env::new("");
    flagged_job(&env, "raid", "");
    let id = silence(&env, &["raid", "--for", "1h", "--reason", "root's"]);
    let state = env.path("state");
    env.run_as_nobody(&["silence", "raid", "--for", "1h", "--reason", "mine"])
        .code(2)
        .stderr_is(&format!(
            "reporter: error: only root or the owner of the state folder `{}` may silence jobs (running as `nobody`)\n",
            state.display()
        ))
        .stdout_empty();
    env.run_as_nobody(&["unsilence", &id])
        .code(2)
        .stderr_is(&format!(
            "reporter: error: only root or the owner of the state folder `{}` may end silences (running as `nobody`)\n",
            state.display()
        ));
    let listed = env
        .run(&["silence", "--list", "--json"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["reason"], "root's");
}

#[test]
fn silence_errors_say_what_is_wrong() {
    let env = Env::new("timezone: UTC\n");
    flagged_job(&env, "raid", "");
    let error = |args: &[&str], message: &str| {
        let mut all = vec!["silence"];
        all.extend_from_slice(args);
        env.run(&all)
            .code(2)
            .stderr_is(&format!("reporter: error: {message}\n"))
            .stdout_empty();
    };
    error(
        &["nosuch", "--for", "1h", "--reason", "x"],
        "no job `nosuch` (known jobs: raid)",
    );
    env.run(&[
        "silence",
        "raid",
        "--until",
        "2001-01-01 00:00",
        "--reason",
        "x",
    ])
    .code(2)
    .stderr_contains("reporter: error: --until 2001-01-01T00:00:00Z is in the past (now is 20")
    .stderr_contains("): a silence must end later\n")
    .stdout_empty();
    error(
        &["raid", "--for", "1h"],
        "a silence needs --reason TEXT: why the jobs are silenced (it is recorded with every run it silences)",
    );
    error(
        &["raid", "--reason", "x"],
        "say how long: --for DURATION (2h, 1d) or --until TIME",
    );
    error(
        &[
            "raid",
            "--for",
            "1h",
            "--until",
            "2099-01-01 00:00",
            "--reason",
            "x",
        ],
        "--for and --until both say when the silence ends: give one",
    );
    error(
        &["--for", "1h", "--reason", "x"],
        "name the jobs to silence, or --all for every job",
    );
    error(
        &["raid", "--until", "soon", "--reason", "x"],
        "--until \"soon\": expected RFC 3339 (2026-12-08T06:00:00+01:00) or \"YYYY-MM-DD HH:MM\" in time zone UTC",
    );
    env.run(&["silence", "raid", "--for", "5 minutes", "--reason", "x"])
        .code(2)
        .stderr_contains(
            "invalid value '5 minutes' for '--for <DURATION>': invalid duration \"5 minutes\" (expected e.g. 30s, 5m, 1h30m)",
        );
    env.run(&["silence", "raid", "--for", "0s", "--reason", "x"])
        .code(2)
        .stderr_is("reporter: error: --for 0s: a silence must last (e.g. --for 2h)\n");
    env.run(&["unsilence", "7"])
        .code(2)
        .stderr_is("reporter: error: no silence 7 in force or to come (`reporter silence --list` shows them)\n");
    assert!(env.history_json(&[]).is_empty(), "nothing ran");
}

#[test]
fn a_digest_goes_to_the_recipients_its_jobs_escalate_to() {
    let env = Env::new("");
    flagged_job(
        &env,
        "raid",
        "send: on-failure\nescalate:\n  - after: 2\n    to: oncall@test.example\n",
    );
    flagged_job(&env, "disk", "");
    let mut recipients = Vec::new();
    for _ in 0..2 {
        let (run, mails) = mail_run(&env, &["run", "--digest", "raid", "disk"]);
        run.code(1).stderr_only_not_ok();
        assert_eq!(mails.len(), 1, "{mails:?}");
        recipients.push(mails[0].1.clone());
    }
    assert_eq!(
        recipients,
        [
            vec!["admin@test.example".to_owned()],
            vec![
                "admin@test.example".to_owned(),
                "oncall@test.example".to_owned()
            ]
        ]
    );
    env.run(&["run", "--digest", "raid", "--to", "me@test.example"])
        .code(1)
        .stderr_only_not_ok();
    let last = env.smtp.received().pop().unwrap();
    assert_eq!(last.rcpt_to, ["me@test.example"], "--to replaces them all");
}

#[test]
fn check_names_the_file_line_and_key_of_a_broken_reminder_or_escalation() {
    let env = Env::new("");
    let path = env.job(
        "raid",
        "remind_every: 0s\nescalate:\n  - after: 0\n    to: [a@test.example]\n  - after: soon\n    to: []\ncommands: [\"false\"]\n",
    );
    let path = path.display();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{path}:3:12: escalate[0].after: after 0 out of range (at least 1: the first failing run)"
    ));
    env.job(
        "raid",
        "escalate:\n  - after: soon\n    to: [a@test.example]\ncommands: [\"false\"]\n",
    );
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{path}:2:12: escalate[0].after: invalid after \"soon\" (expected a number of failing runs, 3, or a duration, 1d)"
    ));
    env.job(
        "raid",
        "remind_every: 0s\nescalate:\n  - after: 1d\n    to: []\ncommands: [\"false\"]\n",
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!(
            "{path}:1:15: remind_every: remind_every 0s: a reminder needs an interval (e.g. 1d)"
        ))
        .stderr_contains(&format!(
            "{path}:4:9: escalate[0].to: no address: a step names whom it tells"
        ));
}
