//! Fleets (issue 15): `random_delay` through `list` and the daemon, retries with backoff,
//! `failures_before_mail` over the real SQLite history, and the shipped SNMP sweep against
//! a real `snmpd` on loopback.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use reporter::schedule::delay::fixed_offset;

use crate::support::{Env, Run, hostname, read, repo, tool, wait_until};

// random_delay

/// `list --json` (or `list -v` when `verbose`) with the clock set to `now` (UTC).
fn list_at(env: &Env, now: &str, verbose: bool) -> Run {
    let output = Command::new(tool("faketime", "faketime"))
        .arg(now)
        .arg(env!("CARGO_BIN_EXE_reporter"))
        .args(["--config", env.path("reporter.yaml").to_str().unwrap()])
        .args(if verbose {
            &["-v", "list"][..]
        } else {
            &["list", "--json"][..]
        })
        .env("TZ", "UTC")
        .output()
        .expect("run faketime");
    Run::new(format!("reporter list at {now}"), output).code(0)
}

fn list_json_at(env: &Env, now: &str) -> String {
    list_at(env, now, false).stderr_empty().into_stdout()
}

fn next_run(list: &str, job: &str) -> DateTime<Utc> {
    let entries: serde_json::Value = serde_json::from_str(list).unwrap();
    let entry = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == job)
        .unwrap_or_else(|| panic!("no {job} in {list}"));
    entry["next_run"].as_str().unwrap().parse().unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn random_delay_shifts_every_fire_time_by_the_hosts_fixed_offset() {
    let env = Env::new("timezone: UTC\nhistory_days: 0\ndefaults: {random_delay: 30m}\n");
    env.job("nightly", "schedule: 0 3 * * *\nrandom_delay: 1h\n");
    env.job("inherits", "schedule: 0 3 * * *\n");
    env.job("prompt", "schedule: 0 3 * * *\nrandom_delay: 0s\n");
    let host = hostname();
    let offset = |job: &str, range: u64| {
        chrono::Duration::from_std(fixed_offset(&host, job, Duration::from_secs(range))).unwrap()
    };
    // Whole seconds: `next_run` is shown to the second.
    let shifted = |base: &str, job: &str, range: u64| {
        let at = at(base) + offset(job, range);
        at - chrono::Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos()))
    };
    let list = list_json_at(&env, "2026-03-01 02:00:00");
    assert_eq!(next_run(&list, "prompt"), at("2026-03-01T03:00:00Z"));
    let nightly = shifted("2026-03-01T03:00:00Z", "nightly", 3600);
    assert_eq!(next_run(&list, "nightly"), nightly);
    assert_eq!(
        next_run(&list, "inherits"),
        shifted("2026-03-01T03:00:00Z", "inherits", 1800),
        "defaults: random_delay"
    );
    // The same offset another day: past 03:00 but before the shifted time, today's run
    // is still ahead; once that has passed, it is tomorrow's at the same offset.
    let just_before = nightly - chrono::Duration::seconds(2);
    let list = list_json_at(&env, &just_before.format("%Y-%m-%d %H:%M:%S").to_string());
    assert_eq!(next_run(&list, "nightly"), nightly);
    let just_after = nightly + chrono::Duration::seconds(2);
    let list = list_json_at(&env, &just_after.format("%Y-%m-%d %H:%M:%S").to_string());
    assert_eq!(
        next_run(&list, "nightly"),
        nightly + chrono::Duration::days(1)
    );
    // -v says what the offset is.
    list_at(&env, "2026-03-01 02:00:00", true).stderr_contains(&format!(
        "nightly: random_delay: every fire time shifted by {} ms (of up to 3600000 ms) on `{host}`",
        offset("nightly", 3600).num_milliseconds()
    ));
}

#[test]
fn the_daemon_sleeps_until_the_shifted_fire_time() {
    let env = Env::new("timezone: UTC\n");
    env.job(
        "spread",
        "schedule: \"* * * * *\"\nrandom_delay: 1m\ncommands: [true]\n",
    );
    let host = hostname();
    let offset = fixed_offset(&host, "spread", Duration::from_secs(60));
    let daemon = env.start(&["-vv", "daemon"]);
    let mut log = String::new();
    let seen = wait_until(|| {
        log = daemon.stderr_so_far();
        log.contains("spread: next run at")
    });
    daemon.signal(Signal::SIGTERM);
    let run = daemon.wait().code(0);
    assert!(seen, "{log}");
    run.stderr_contains(&format!(
        "spread: random_delay: every fire time shifted by {} ms (of up to 60000 ms)",
        offset.as_millis()
    ));
    // Every minute at the offset: the second of the next fire time is the offset's.
    let line = log
        .lines()
        .find(|l| l.contains("spread: next run at"))
        .unwrap();
    let when: DateTime<Utc> = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        u64::from(chrono::Timelike::second(&when)),
        offset.as_secs(),
        "{line}"
    );
}

// retries

/// A command that fails until it has run `succeed_on` times (the count kept in `file`).
fn flaky(env: &Env, file: &str, succeed_on: u32) -> String {
    let count = env.path(file);
    format!(
        "echo run >> {0}; [ $(wc -l < {0}) -ge {succeed_on} ]",
        count.display()
    )
}

fn runs_of(env: &Env, file: &str) -> usize {
    read(env.path(file)).lines().count()
}

const ATTEMPTS: &str =
    "{{#each results}}{{name}}: {{status}} after {{attempts}} attempt(s)\n{{/each}}";

#[test]
fn a_result_that_is_not_ok_runs_again_with_backoff() {
    let env = Env::new("");
    env.template("attempts.txt.hbs", ATTEMPTS);
    env.job(
        "flaky",
        &format!(
            "retries: 2\nretry_delay: 100ms\nmail: {{template: attempts}}\ncommands:\n\
             - {{name: recovers, run: '{}'}}\n\
             - {{name: exhausted, run: '{}'}}\n\
             - {{name: once, retries: 1, run: '{}'}}\n\
             - {{name: slow, timeout: 1s, retries: 1, run: 'echo run >> {}; sleep 30'}}\n",
            flaky(&env, "recovers.count", 3),
            flaky(&env, "exhausted.count", 99),
            flaky(&env, "once.count", 99),
            env.path("slow.count").display(),
        ),
    );
    let started = Instant::now();
    // Waits of 100 ms, then 200 ms; each attempt of `slow` has its own 1 s timeout.
    env.run(&["-v", "run", "flaky"])
        .code(1)
        .stderr_contains("flaky: `exhausted` is not ok: retry 1 of 2 in 100 ms")
        .stderr_contains("flaky: `exhausted` is not ok: retry 2 of 2 in 200 ms")
        .stderr_contains("flaky: `once` is not ok: retry 1 of 1 in 100 ms")
        .stderr_lacks("flaky: `once` is not ok: retry 2");
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
    let body = env.smtp.received()[0].body();
    assert!(body.contains("recovers: ok after 3 attempt(s)"), "{body}");
    assert!(
        body.contains("exhausted: failed after 3 attempt(s)"),
        "{body}"
    );
    assert!(
        body.contains("once: failed after 2 attempt(s)"),
        "commands[].retries wins: {body}"
    );
    assert!(body.contains("slow: timeout after 2 attempt(s)"), "{body}");
    assert_eq!(
        [
            runs_of(&env, "recovers.count"),
            runs_of(&env, "exhausted.count"),
            runs_of(&env, "once.count"),
            runs_of(&env, "slow.count"),
        ],
        [3, 3, 2, 2]
    );
}

#[test]
fn retries_succeed_within_the_run() {
    let env = Env::new("");
    env.template("attempts.txt.hbs", ATTEMPTS);
    env.job(
        "flaky",
        &format!(
            "retries: 2\nretry_delay: 100ms\nmail: {{template: attempts}}\ncommands:\n\
             - {{name: recovers, run: '{}'}}\n",
            flaky(&env, "count", 3)
        ),
    );
    env.run(&["run", "flaky"]).code(0).stderr_empty();
    let body = env.smtp.received()[0].body();
    assert!(body.contains("recovers: ok after 3 attempt(s)"), "{body}");
    assert_eq!(runs_of(&env, "count"), 3);
}

#[test]
fn sigterm_during_the_retry_delay_ends_the_run_without_another_attempt() {
    let env = Env::new("");
    env.template("attempts.txt.hbs", ATTEMPTS);
    env.job(
        "flaky",
        &format!(
            "retries: 3\nretry_delay: 1m\nmail: {{template: attempts}}\ncommands:\n\
             - {{name: fails, run: '{}'}}\n",
            flaky(&env, "count", 99)
        ),
    );
    let running = env.start(&["-v", "run", "flaky"]);
    // -v says when the first attempt has failed and the wait has begun.
    let waiting = "flaky: `fails` is not ok: retry 1 of 3 in 60000 ms";
    assert!(wait_until(|| running.stderr_so_far().contains(waiting)));
    let started = Instant::now();
    running.signal(Signal::SIGTERM);
    running
        .wait()
        .code(143)
        .stderr_contains(waiting)
        .stderr_contains("reporter: warning: terminated: stopping the running commands\n")
        .stderr_lacks("retry 2 of 3");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not the minute's wait"
    );
    assert_eq!(runs_of(&env, "count"), 1, "no attempt after the signal");
    let body = env.smtp.received()[0].body();
    assert!(body.contains("fails: failed after 1 attempt(s)"), "{body}");
}

#[test]
fn bad_retry_settings_name_the_file_and_key() {
    let env = Env::new("");
    env.job("many", "retries: 99\ncommands: [true]\n");
    env.job(
        "never",
        "send: on-failure\nfailures_before_mail: 0\ncommands: [true]\n",
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains("jobs/many.yaml:1:10: retries: retries 99 out of range (0-20")
        .stderr_contains(
            "jobs/never.yaml:2:23: failures_before_mail: failures_before_mail 0 out of range",
        );
}

// failures_before_mail

/// A job whose one command fails unless its flag file says `ok`.
fn flagged_job(env: &Env, name: &str, extra: &str) {
    env.job(
        name,
        &format!(
            "{extra}commands:\n  - name: check\n    run: grep -qx ok {}\n",
            env.path(&format!("{name}.flag")).display()
        ),
    );
}

/// Runs `job` once with its flag set to `flag`; the subjects of the mail it sent.
fn run_with_flag(env: &Env, job: &str, flag: &str) -> Vec<String> {
    env.write(&format!("{job}.flag"), &format!("{flag}\n"));
    let before = env.smtp.received().len();
    env.run(&["run", job])
        .code(if flag == "ok" { 0 } else { 1 })
        .stderr_quiet();
    env.smtp.received()[before..]
        .iter()
        .map(|m| m.header("Subject").unwrap_or_default())
        .collect()
}

#[test]
fn failures_before_mail_mails_from_the_nth_failure_and_then_the_recovery() {
    let env = Env::new("");
    flagged_job(&env, "raid", "send: on-failure\nfailures_before_mail: 3\n");
    let host = hostname();
    let subjects: Vec<Vec<String>> = ["bad", "bad", "bad", "bad", "ok", "ok"]
        .iter()
        .map(|flag| run_with_flag(&env, "raid", flag))
        .collect();
    let failed = vec![format!("[FAILED] raid on {host}")];
    assert_eq!(
        subjects,
        [
            vec![],
            vec![],
            failed.clone(),
            failed,
            vec![format!("[recovered] [OK] raid on {host}")],
            vec![],
        ]
    );
    let mut runs = env.history_json(&["raid"]);
    runs.reverse();
    let reasons: Vec<serde_json::Value> = runs.iter().map(|r| r["reason"].clone()).collect();
    assert_eq!(
        reasons[..3],
        [
            serde_json::json!(
                "send: on-failure, failing run 1 in a row of the 3 before mail (failures_before_mail: 3)"
            ),
            serde_json::json!(
                "send: on-failure, failing run 2 in a row of the 3 before mail (failures_before_mail: 3)"
            ),
            serde_json::Value::Null,
        ]
    );
    let sent: Vec<bool> = runs.iter().map(|r| r["sent"].as_bool().unwrap()).collect();
    assert_eq!(sent, [false, false, true, true, true, false]);
}

#[test]
fn failures_that_were_not_mailed_get_no_recovery_mail() {
    let env = Env::new("");
    flagged_job(&env, "raid", "send: on-failure\nfailures_before_mail: 3\n");
    for flag in ["bad", "bad", "ok"] {
        assert_eq!(
            run_with_flag(&env, "raid", flag),
            Vec::<String>::new(),
            "{flag}"
        );
    }
    let runs = env.history_json(&["raid"]);
    assert_eq!(
        runs[0]["reason"],
        "send: on-failure, recovered after 2 failing runs that were not mailed (failures_before_mail: 3)"
    );
    // The streak starts again after the ok run: two more failures are not mailed either.
    for flag in ["bad", "bad"] {
        assert_eq!(
            run_with_flag(&env, "raid", flag),
            Vec::<String>::new(),
            "{flag}"
        );
    }
}

#[test]
fn without_a_history_to_count_in_every_failure_is_mailed() {
    let env = Env::new("history_days: 0\n");
    flagged_job(&env, "raid", "send: on-failure\nfailures_before_mail: 3\n");
    let failed = vec![format!("[FAILED] raid on {}", hostname())];
    assert_eq!(run_with_flag(&env, "raid", "bad"), failed);
    assert_eq!(run_with_flag(&env, "raid", "bad"), failed);
}

// The SNMP sweep

/// A loopback UDP port nothing listens on now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Net-SNMP agent on 127.0.0.1:`port`, stopped when dropped.
struct Snmpd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Snmpd {
    fn start(port: u16) -> Snmpd {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("snmpd.conf");
        std::fs::write(
            &config,
            "rocommunity public 127.0.0.1\nsysName reporter-test-agent\n\
             sysDescr a throw-away agent of the reporter tests\n",
        )
        .unwrap();
        let child = Command::new(tool("snmpd", "snmpd"))
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&config)
            .arg(format!("udp:127.0.0.1:{port}"))
            // Its state (engine boots, ...) goes to the throw-away folder, not /var/lib/snmp.
            .env("SNMP_PERSISTENT_DIR", dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snmpd");
        let snmpd = Snmpd { child, _dir: dir };
        let snmpget = tool("snmpget", "snmp");
        let answers = wait_until(|| {
            Command::new(&snmpget)
                .args(["-On", "-v2c", "-c", "public", "-t", "1", "-r", "0"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("1.3.6.1.2.1.1.5.0")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        assert!(answers, "snmpd on 127.0.0.1:{port} did not answer");
        snmpd
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_shipped_snmp_sweep_lists_agents_and_a_silent_one_fails_cleanly() {
    let port = free_udp_port();
    let _agent = Snmpd::start(port);
    let silent = free_udp_port();
    let env = Env::new("");
    // The shipped job and template, pointed at the agent and at a port with none.
    let shipped = read(repo().join("jobs/snmp-sweep.yaml"));
    assert!(
        shipped.contains("enabled: false"),
        "off until pointed at agents"
    );
    let job = shipped.replace(
        "targets: [127.0.0.1]",
        &format!("targets: [\"127.0.0.1:{port}\", \"127.0.0.1:{silent}\"]"),
    );
    assert_ne!(job, shipped);
    env.job("snmp-sweep", &job);
    env.template(
        "snmp-sweep.txt.hbs",
        &read(repo().join("templates/snmp-sweep.txt.hbs")),
    );
    env.run(&["run", "snmp-sweep"]).code(1).stderr_only_not_ok();
    let mail = &env.smtp.received()[0];
    assert_eq!(
        mail.header("Subject").unwrap(),
        format!("SNMP sweep from {}: 1 of 2 agents answer", hostname())
    );
    let body = mail.body();
    let row = |target: &str| {
        body.lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("no row for {target} in:\n{body}"))
            .to_owned()
    };
    let answered = row(&format!("127.0.0.1:{port} "));
    assert!(
        answered.contains(" ok ")
            && answered.contains("reporter-test-agent | 0:0")
            && answered.ends_with("| a throw-away agent of the reporter tests"),
        "{answered}\n{body}"
    );
    let failed = row(&format!("127.0.0.1:{silent} "));
    assert!(
        failed.contains(" failed ")
            && failed.contains(&format!("Timeout: No Response from 127.0.0.1:{silent}")),
        "{failed}\n{body}"
    );
    assert!(body.contains("1 answered, 1 failed"), "{body}");
}
