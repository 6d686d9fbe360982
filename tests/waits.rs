//! Every wait is bounded: a signal cuts deliveries short (SMTP, sendmail, pings, webhooks)
//! with what they carried left in the spool, a webhook endpoint that never answers costs one
//! timeout per flush, and an inventory command's stray helper holds neither a run nor the
//! daemon's schedule (docs/failure-handling.md, docs/fleets.md, docs/scheduling.md).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::http::{Answer, HttpServer};
use crate::support::smtp::SmtpServer;
use crate::support::{Behaviour, Env, Reap, Running, processes_matching, unique, wait_up_to};

/// Long enough that a wait for it shows as a hang; the bounds below are a few seconds.
const LONG: &str = "30s";
/// What a signalled process may take to exit: generous, against hangs of 30 s.
const PROMPT: Duration = Duration::from_secs(5);

/// Writes the config with mail to the loopback relay on `port` (waiting `LONG` for it).
fn relay_config(env: &Env, port: u16, extra: &str) {
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  from: reporter@test.example\n  to: [admin@test.example]\n  smtp: {{host: 127.0.0.1, port: {port}, timeout: {LONG}}}\n{extra}"
        ),
    );
}

/// The files in the spool whose names end in `suffix`.
fn spooled(env: &Env, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(env.path("state/spool")) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|p| p.ends_with(suffix)))
        .collect()
}

/// Waits (bounded) until `condition` holds, then sends `signal` and returns the moment.
#[track_caller]
fn signal_once(running: &Running, signal: Signal, condition: impl FnMut() -> bool) -> Instant {
    assert!(
        wait_up_to(Duration::from_secs(20), condition),
        "never got there: {}",
        running.stderr_so_far()
    );
    let signalled = Instant::now();
    running.signal(signal);
    signalled
}

#[track_caller]
fn assert_prompt(since: Instant) {
    let took = since.elapsed();
    assert!(took < PROMPT, "took {took:?} to exit after the signal");
}

#[test]
fn sigterm_stops_a_run_delivering_to_a_relay_that_never_answers() {
    let env = Env::new("");
    let silent = SmtpServer::start(Behaviour::Silent);
    relay_config(&env, silent.port, "");
    env.job("disk", "commands: [echo kept]\n");
    let run = env.start(&["run", "disk"]);
    let signalled = signal_once(&run, Signal::SIGTERM, || silent.connections() > 0);
    let exited = run.wait();
    assert_prompt(signalled);
    exited
        .code(143)
        .stderr_contains("disk: report delivery stopped by a signal; kept in `");
    assert_eq!(env.spooled("state/spool").len(), 1);
    // The next flush delivers it, once.
    env.write_config("");
    env.run(&["flush"]).code(0).stderr_empty();
    let received = env.smtp.wait_for(1);
    assert_eq!(received.len(), 1);
    assert!(
        received[0].body().contains("kept"),
        "{}",
        received[0].body()
    );
    assert!(env.spooled("state/spool").is_empty());
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 1);
}

#[test]
fn sigint_stops_a_run_waiting_on_a_ping_that_never_answers() {
    let env = Env::new("");
    let hc = HttpServer::start(&[Answer::Hang]);
    env.job(
        "disk",
        &format!(
            "ping: {{url: '{}', timeout: {LONG}}}\ncommands: [echo never]\n",
            hc.url("/k")
        ),
    );
    let run = env.start(&["run", "disk"]);
    let signalled = signal_once(&run, Signal::SIGINT, || !hc.requests().is_empty());
    let exited = run.wait();
    assert_prompt(signalled);
    exited
        .code(130)
        .stderr_contains("disk: ping /start stopped by a signal")
        .stderr_contains("disk: ping /fail not sent: `/start` got no answer");
    // The report still goes out, marked interrupted, its commands never started.
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("The run was interrupted"), "{body}");
    assert!(env.spooled("state/spool").is_empty());
}

#[test]
fn sigterm_stops_a_run_posting_to_a_webhook_that_never_answers() {
    let env = Env::new("");
    // The first request hangs; the ones after are answered.
    let hook = HttpServer::start(&[Answer::Hang, Answer::Status(200)]);
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', timeout: {LONG}}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    let run = env.start(&["run", "disk"]);
    let signalled = signal_once(&run, Signal::SIGTERM, || !hook.requests().is_empty());
    let exited = run.wait();
    assert_prompt(signalled);
    exited
        .code(143)
        .stderr_contains("disk: webhook delivery stopped by a signal; kept in `");
    assert_eq!(spooled(&env, ".hook").len(), 1);
    assert_eq!(env.smtp.wait_for(1).len(), 1);
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(hook.requests().len(), 2);
    assert!(spooled(&env, ".hook").is_empty());
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(hook.requests().len(), 2);
}

#[test]
fn sigterm_kills_a_sendmail_that_never_ends_and_keeps_the_message() {
    let env = Env::new("");
    let marker = format!("sleep {}", unique("8"));
    let _reap = Reap(marker.clone());
    env.sendmail_that_never_ends(&marker, LONG);
    env.job("stuck", "commands: [echo kept]\n");
    let run = env.start(&["run", "stuck"]);
    let signalled = signal_once(&run, Signal::SIGTERM, || {
        processes_matching(&marker).len() == 2
    });
    let exited = run.wait();
    assert_prompt(signalled);
    exited
        .code(143)
        .stderr_contains("stuck: report delivery stopped by a signal; kept in `");
    assert!(
        wait_up_to(PROMPT, || processes_matching(&marker).is_empty()),
        "sendmail's group is left: {:?}",
        processes_matching(&marker)
    );
    assert_eq!(env.spooled("state/spool").len(), 1);
    env.write_config("");
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(env.smtp.wait_for(1).len(), 1);
    assert!(env.spooled("state/spool").is_empty());
}

#[test]
fn sigterm_stops_the_daemon_delivering_to_a_relay_that_never_answers() {
    let env = Env::new("");
    let silent = SmtpServer::start(Behaviour::Silent);
    relay_config(&env, silent.port, "");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo kept]\n");
    let daemon = env.start(&["daemon"]);
    let signalled = signal_once(&daemon, Signal::SIGTERM, || silent.connections() > 0);
    let exited = daemon.wait();
    assert_prompt(signalled);
    exited
        .code(0)
        .stderr_contains("tick: report delivery stopped by a signal; kept in `")
        .stderr_contains("daemon stopped");
    assert_eq!(env.spooled("state/spool").len(), 1);
    env.write_config("");
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(env.smtp.wait_for(1).len(), 1);
}

#[test]
fn a_webhook_endpoint_that_never_answers_costs_one_timeout_per_flush() {
    let env = Env::new("");
    let dead = HttpServer::start(&[Answer::Hang]);
    // Refused once (kept in the spool), answered by the flush.
    let alive = HttpServer::start(&[Answer::Status(503), Answer::Status(200)]);
    let mut hooks: Vec<String> = (0..6)
        .map(|i| format!("{{url: '{}', timeout: 2s}}", dead.url(&format!("/h{i}"))))
        .collect();
    hooks.push(format!("{{url: '{}', timeout: 2s}}", alive.url("/ok")));
    env.job(
        "disk",
        &format!("webhooks: [{}]\ncommands: [true]\n", hooks.join(", ")),
    );
    env.job("quiet", "commands: [echo quiet]\n");
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: webhook not delivered (the webhook answered 503)");
    assert_eq!(spooled(&env, ".hook").len(), 7);
    let started = Instant::now();
    let flush = env
        .run(&["flush"])
        .code(75)
        .stderr_contains("disk: webhook not delivered (timed out after 2s)");
    assert_eq!(
        flush.stderr.matches("timed out").count(),
        1,
        "{}",
        flush.stderr
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "flush took {took:?}");
    assert_eq!(alive.requests().len(), 2);
    assert_eq!(spooled(&env, ".hook").len(), 6);
    // A run of a job without webhooks retries the spool too, at the same cost.
    let started = Instant::now();
    let run = env
        .run(&["run", "quiet"])
        .code(0)
        .stderr_contains("disk: webhook not delivered (timed out after 2s)");
    assert_eq!(run.stderr.matches("timed out").count(), 1, "{}", run.stderr);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "run took {took:?}");
    assert_eq!(spooled(&env, ".hook").len(), 6);
    assert!(env.smtp.jobs().contains(&"quiet".to_owned()));
}

/// An inventory command that runs `script` (sh) with `timeout`.
fn inventory(env: &Env, script: &str, timeout: &str) {
    let script = env.write("bin/inventory", &format!("#!/bin/sh\n{script}\n"));
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write_config(&format!(
        "inventory: {{command: [{}], timeout: {timeout}}}\n",
        script.display()
    ));
}

#[test]
fn an_inventory_helper_holding_the_output_is_bounded_by_the_timeout() {
    let env = Env::new("");
    let marker = format!("sleep {}", unique("60."));
    let _reap = Reap(marker.clone());
    // The helper starts a session of its own (given the time to, before the command
    // exits): killing the command's group misses it.
    inventory(
        &env,
        &format!(
            "echo '{{\"web\": {{\"hosts\": [\"localhost\"]}}}}'\nsetsid {marker} &\nsleep 0.5"
        ),
        "2s",
    );
    env.job("local", "commands: [echo here]\n");
    let started = Instant::now();
    let run = env.run(&["run", "local"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "run took {took:?}");
    run.code(2).stderr_contains(&format!(
        "inventory command `{}` exited, but a process it left running held its output open for more than 2s",
        env.path("bin/inventory").display()
    ));
    // The job uses none of the inventory's groups: it ran, and the problem is mailed too.
    env.smtp.wait_for(2);
    assert!(env.smtp.jobs().contains(&"local".to_owned()));
}

#[test]
fn the_daemon_fires_on_time_while_a_reload_waits_for_the_inventory() {
    let env = Env::new("");
    let slow = env.path("slow");
    inventory(
        &env,
        &format!("[ -e {} ] && sleep 6\necho '{{}}'", slow.display()),
        "20s",
    );
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [true]\n");
    let daemon = env.start(&["daemon"]);
    let started = |daemon: &Running| daemon.stderr_so_far().matches("tick: started").count();
    assert!(wait_up_to(Duration::from_secs(20), || started(&daemon) >= 1));
    std::fs::write(&slow, "").unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(wait_up_to(Duration::from_secs(5), || {
        daemon.stderr_so_far().contains("SIGHUP: reloading")
    }));
    // The inventory takes 6 s; the job fires every second meanwhile.
    let before = started(&daemon);
    assert!(
        wait_up_to(Duration::from_secs(4), || started(&daemon) >= before + 3),
        "the schedule stalled during the reload:\n{}",
        daemon.stderr_so_far()
    );
    assert!(
        !daemon.stderr_so_far().contains("reloaded:"),
        "the reload was not slow: {}",
        daemon.stderr_so_far()
    );
    assert!(wait_up_to(Duration::from_secs(20), || {
        daemon.stderr_so_far().contains("reloaded: 1 scheduled job")
    }));
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("daemon stopped");
}
