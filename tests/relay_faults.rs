//! Relays that misbehave in the ways TCP allows, and a sendmail that never ends: nothing duplicated, nothing unbounded, a dead relay costs one timeout (docs/failure-handling.md).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::smtp::SmtpServer;
use crate::support::{Behaviour, Env, Reap, processes_matching, unique, wait_until, wait_up_to};

/// Writes the config with `smtp` as the inside of the `mail.smtp` mapping.
fn config(env: &Env, smtp: &str, extra: &str) {
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp: {{{smtp}}}\n{extra}"
        ),
    );
}

/// A password file as reporter accepts one (mode 0600).
fn password_file(env: &Env, password: &str) -> String {
    let path = env.write("smtp.pass", &format!("{password}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// Standard base64, as SMTP AUTH encodes credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The text of every file below `dir`.
fn texts_below(dir: &Path) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return texts;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            texts.extend(texts_below(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            texts.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    texts
}

#[test]
fn auth_data_a_relay_echoes_appears_nowhere() {
    const PASSWORD: &str = "s3cret-Pa55w0rd";
    let secrets = [
        PASSWORD.to_owned(),
        base64(format!("\0bob\0{PASSWORD}").as_bytes()),
        base64(PASSWORD.as_bytes()),
    ];
    for behaviour in [Behaviour::EchoAuthPlain, Behaviour::EchoAuthLogin] {
        let env = Env::with_smtp(behaviour, "");
        let file = password_file(&env, PASSWORD);
        config(
            &env,
            &format!(
                "host: 127.0.0.1, port: {}, timeout: 5s, username: bob, password_file: {file}",
                env.smtp.port
            ),
            "",
        );
        env.job("authfail", "commands: [echo hi]\n");
        // A broken job: its problems report goes to the relay too.
        env.job("broken", "bogus: 1\n");
        let run = env
            .run(&["run", "--all"])
            .code(2)
            .stderr_contains("(535): 5.7.8")
            .stderr_contains("[redacted]");
        let flush = env
            .run(&["flush"])
            .code(75)
            .stderr_contains("(535): 5.7.8")
            .stderr_contains("[redacted]");
        assert_eq!(
            env.spooled("state/spool").len(),
            2,
            "{behaviour:?}: the report and the problems report wait for a relay that takes the password"
        );
        let mut texts = vec![
            ("run's stderr".to_owned(), run.stderr.clone()),
            ("flush's stderr".to_owned(), flush.stderr.clone()),
        ];
        texts.extend(texts_below(&env.path("state")));
        for (what, text) in &texts {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{behaviour:?}: {what} shows `{secret}`:\n{text}"
                );
            }
        }
    }
}

#[test]
fn check_warns_of_a_password_sent_unencrypted_to_another_host() {
    let env = Env::new("");
    let file = password_file(&env, "hunter2");
    env.job("fine", "commands: [true]\n");
    config(
        &env,
        &format!("host: relay.invalid, port: 25, username: bob, password_file: {file}"),
        "",
    );
    env.run(&["check"])
        .code(0)
        .stderr_contains(&format!(
            "reporter: warning: {}: mail.smtp.tls: the password of `bob` goes unencrypted to `relay.invalid`",
            env.path("reporter.yaml").display()
        ))
        .stderr_lacks("hunter2")
        .stdout_contains("1 job ok");
    // A relay on this machine is fine; and check talks to no relay.
    for host in ["127.0.0.1", "localhost"] {
        config(
            &env,
            &format!(
                "host: {host}, port: {}, username: bob, password_file: {file}",
                env.smtp.port
            ),
            "",
        );
        env.run(&["check"]).code(0).stderr_empty();
    }
    assert_eq!(env.smtp.connections(), 0, "check connected to the relay");
}

#[test]
fn a_relay_that_hangs_on_quit_has_the_message_once() {
    let env = Env::with_smtp(Behaviour::HangOnQuit, "");
    config(
        &env,
        &format!("host: 127.0.0.1, port: {}, timeout: 3s", env.smtp.port),
        "",
    );
    env.job("once", "commands: [echo hi]\n");
    env.run(&["run", "once"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 1);
    assert!(
        env.spooled("state/spool").is_empty(),
        "delivered, not spooled"
    );
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 1, "no second copy");
}

#[test]
fn an_endless_reply_line_fails_the_delivery_in_bounded_memory() {
    let env = Env::with_smtp(Behaviour::EndlessLine, "");
    config(
        &env,
        &format!("host: 127.0.0.1, port: {}, timeout: 60s", env.smtp.port),
        "",
    );
    env.job("flood", "commands: [echo hi]\n");
    let started = Instant::now();
    let (run, peak_kib) = env.run_measured(&["run", "flood"]);
    run.code(75)
        .stderr_contains("flood: report not delivered")
        .stderr_contains("reply line longer than 4 KiB");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: the limit, not the timeout, should end it",
        started.elapsed()
    );
    assert!(
        peak_kib < 100 * 1024,
        "reporter grew to {} MiB",
        peak_kib / 1024
    );
    assert_eq!(env.spooled("state/spool").len(), 1);
}

#[test]
fn a_dead_relay_costs_one_timeout_not_one_per_message() {
    let env = Env::refusing();
    for i in 0..10 {
        env.job(&format!("j{i}"), "commands: [true]\n");
    }
    env.run(&["run", "--all"])
        .code(75)
        .stderr_contains("report not delivered");
    assert_eq!(env.spooled("state/spool").len(), 10);

    let silent = SmtpServer::start(Behaviour::Silent);
    config(
        &env,
        &format!("host: 127.0.0.1, port: {}, timeout: 2s", silent.port),
        "",
    );
    let started = Instant::now();
    env.run(&["flush"])
        .code(75)
        .stderr_contains("did not finish within 2s");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "flush took {took:?}");
    assert_eq!(env.spooled("state/spool").len(), 10, "all still spooled");

    // A run retries the spool first, and stops there too.
    let started = Instant::now();
    env.run(&["run", "j0"])
        .code(75)
        .stderr_contains("did not finish within 2s");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "run took {took:?}");
    assert_eq!(env.spooled("state/spool").len(), 11);
}

#[test]
fn sigterm_stops_a_flush_at_once() {
    let env = Env::refusing();
    for name in ["a", "b", "c"] {
        env.job(name, "commands: [true]\n");
    }
    env.run(&["run", "--all"])
        .code(75)
        .stderr_contains("report not delivered");
    let silent = SmtpServer::start(Behaviour::Silent);
    config(
        &env,
        &format!("host: 127.0.0.1, port: {}, timeout: 30s", silent.port),
        "",
    );
    let flush = env.start(&["flush"]);
    assert!(wait_until(|| silent.connections() > 0), "flush connects");
    let signalled = Instant::now();
    flush.signal(Signal::SIGTERM);
    flush
        .wait()
        .code(143)
        .stderr_contains("terminated: the flush stops; the messages stay in the spool");
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert_eq!(env.spooled("state/spool").len(), 3);
}

#[test]
fn a_sendmail_that_never_exits_is_killed_after_its_timeout() {
    let env = Env::new("");
    let marker = format!("sleep {}", unique("9"));
    let _reap = Reap(marker.clone());
    let fake = env.sendmail_that_never_ends(&marker, "1s");
    env.job("stuck", "commands: [echo hi]\n");
    let started = Instant::now();
    env.start(&["run", "stuck"])
        .wait()
        .code(75)
        .stderr_contains(&format!(
            "stuck: report not delivered (sendmail `{}` did not finish within 1s; stopped it)",
            fake.display()
        ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(env.spooled("state/spool").len(), 1);
    assert!(
        wait_up_to(Duration::from_secs(5), || processes_matching(&marker)
            .is_empty()),
        "left behind: {:?}",
        processes_matching(&marker)
    );
}

#[test]
fn a_bad_sendmail_timeout_is_a_configuration_error() {
    let env = Env::new("");
    env.write(
        "reporter.yaml",
        "mail:\n  transport: sendmail\n  sendmail: {path: /usr/sbin/sendmail, timeout: soon}\n",
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains("reporter.yaml:3:")
        .stderr_contains("mail.sendmail.timeout:");
}

#[test]
fn a_killed_run_keeps_the_history_of_the_jobs_already_mailed() {
    let env = Env::new("");
    let marker = format!("sleep {}", unique("3"));
    let _reap = Reap(marker.clone());
    env.job("quick", "commands: [echo hi]\n");
    env.job("slow", &format!("timeout: 1h\ncommands: ['{marker}']\n"));
    let run = env.start(&["run", "quick", "slow"]);
    assert_eq!(env.smtp.wait_for(1).len(), 1, "quick's report arrives");
    let recorded = |env: &Env| {
        env.history_json(&[])
            .iter()
            .any(|r| r["job"] == "quick" && r["sent"] == true)
    };
    assert!(
        wait_until(|| recorded(&env)),
        "quick's run is recorded while slow still runs"
    );
    run.signal(Signal::SIGKILL);
    run.wait().killed_by(Signal::SIGKILL).stderr_empty();
    let runs = env.history_json(&[]);
    let jobs: Vec<&str> = runs.iter().map(|r| r["job"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["quick"], "{runs:?}");
}

#[test]
fn a_message_flushed_later_marks_its_run_as_sent() {
    let env = Env::with_smtp(Behaviour::TempFail, "");
    env.job("later", "commands: [echo hi]\n");
    env.run(&["run", "later"])
        .code(75)
        .stderr_contains("(451): 4.3.0");
    let runs = env.history_json(&[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["sent"], false, "{runs:?}");

    let accepting = SmtpServer::start(Behaviour::Accept);
    env.write_config_for(accepting.port, "");
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(accepting.received().len(), 1);
    let runs = env.history_json(&[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["job"], "later");
    assert_eq!(runs[0]["sent"], true, "{runs:?}");
}
