//! `reporter daemon` end to end: real schedules firing every second, real signals, real
//! mail on a loopback SMTP server. Timing appears only as generous bounds against hangs.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Env, Run, Running, read, wait_until};

/// `reporter daemon` in the background; its stderr is its log.
struct Daemon {
    running: Running,
}

impl Daemon {
    fn start(env: &Env) -> Daemon {
        let daemon = Daemon {
            running: env.start(&["daemon"]),
        };
        daemon.wait_log("daemon started", 1);
        daemon
    }

    fn log(&self) -> String {
        self.running.stderr_so_far()
    }

    /// Waits until `text` appears `times` times in the log.
    #[track_caller]
    fn wait_log(&self, text: &str, times: usize) -> String {
        let mut log = String::new();
        let seen = wait_until(|| {
            log = self.log();
            log.matches(text).count() >= times
        });
        assert!(seen, "no {text:?} ×{times} in:\n{log}");
        log
    }

    fn signal(&self, signal: Signal) {
        self.running.signal(signal);
    }

    /// Sends SIGTERM and waits for the daemon to exit; the run's stderr is the whole log.
    #[track_caller]
    #[must_use = "check the daemon's exit code and log"]
    fn stop(self) -> Run {
        self.signal(Signal::SIGTERM);
        self.running.wait()
    }
}

fn jobs_received(env: &Env, job: &str) -> usize {
    env.smtp.jobs().iter().filter(|j| *j == job).count()
}

#[test]
fn every_second_job_mails_until_sigterm_then_exits_zero() {
    let env = Env::new("");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo tick]\n");
    let daemon = Daemon::start(&env);
    assert!(env.smtp.wait_for(3).len() >= 3, "{}", daemon.log());
    let run = daemon
        .stop()
        .code(0)
        .stderr_contains("tick: started")
        .stderr_contains("tick: report delivered")
        .stderr_contains("tick: finished in ")
        .stderr_contains("SIGTERM: stopping")
        .stderr_contains("daemon stopped");
    // One line per event, each with a timestamp.
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("tick: started"))
        .unwrap();
    assert!(
        line.len() > 26 && line.as_bytes()[4] == b'-' && line.as_bytes()[10] == b'T',
        "{line}"
    );
    let runs = env.history_json(&["tick", "--limit", "1000"]);
    assert!(runs.len() >= 3, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r["trigger"] == "daemon" && r["sent"] == true),
        "{runs:#?}\n{}",
        run.stderr
    );
}

#[test]
fn the_daemon_mails_a_template_named_like_a_partial_not_the_partial() {
    // The daemon compiles every template and partial: `templates/disks.txt.hbs` and the
    // shipped `templates/partials/disks.txt.hbs` (and `.html.hbs`) side by side.
    let env = Env::new("");
    env.shipped_partials();
    env.job(
        "disks",
        "schedule: \"* * * * * *\"\nmail: {template: disks}\ncommands: [echo hi]\n",
    );
    env.template("disks.txt.hbs", "Own report of {{job.name}}\n");
    let daemon = Daemon::start(&env);
    let message = env.smtp.wait_for(1).remove(0);
    daemon
        .stop()
        .code(0)
        .stderr_contains("disks: report delivered")
        .stderr_lacks("error");
    assert_eq!(message.body().trim_end(), "Own report of disks");
    let kind = message.header("Content-Type").unwrap_or_default();
    assert!(kind.starts_with("text/plain"), "no HTML part: {kind}");
}

#[test]
fn a_tzdata_update_read_at_sighup_moves_the_fire_times() {
    // A zone of a tz database of the test's own, whose rules change as a tzdata update
    // changes them: the daemon reads them again when it reloads.
    let zones = tempfile::tempdir().unwrap();
    std::fs::create_dir(zones.path().join("Test")).unwrap();
    let zone = zones.path().join("Test/Zone");
    std::fs::copy("/usr/share/zoneinfo/Etc/UTC", &zone).expect("tzdata is installed");
    let env = Env::new("timezone: Test/Zone\n");
    env.job("noon", "schedule: 0 12 * * *\ncommands: [echo noon]\n");
    let tzdir = zones.path().to_str().unwrap();
    let daemon = Daemon {
        running: env.start_with_env(&[("TZDIR", tzdir)], &["-vv", "daemon"]),
    };
    let log = daemon.wait_log("noon: next run at ", 1);
    assert!(log.contains("T12:00:00Z"), "{log}");
    std::fs::copy("/usr/share/zoneinfo/Asia/Tokyo", &zone).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("reloaded: 1 scheduled job", 1);
    // Noon in the new rules, not the old fire time shown in them (21:00+09:00).
    daemon.wait_log("T12:00:00+09:00", 1);
    daemon.stop().code(0).stderr_contains("daemon stopped");
}

#[test]
fn sighup_adds_jobs_and_a_broken_reload_keeps_the_old_configuration() {
    let env = Env::new("");
    env.job(
        "first",
        "schedule: \"* * * * * *\"\ncommands: [echo first]\n",
    );
    let daemon = Daemon::start(&env);
    env.job(
        "second",
        "schedule: \"* * * * * *\"\ncommands: [echo second]\n",
    );
    daemon.signal(Signal::SIGHUP);
    daemon.wait_log("reloaded: 2 scheduled jobs", 1);
    assert!(
        wait_until(|| jobs_received(&env, "second") > 0),
        "{}",
        daemon.log()
    );

    // A broken job file: that job keeps its previous version.
    env.job(
        "second",
        "schedule: \"* * * * * *\"\ncomands: [echo second]\n",
    );
    daemon.signal(Signal::SIGHUP);
    let log = daemon.wait_log("reloaded: 2 scheduled jobs", 2);
    assert!(
        log.contains("jobs/second.yaml:2:1: comands: unknown field `comands`")
            && log.contains("second: keeping the previous version of the job"),
        "{log}"
    );

    // A broken config: everything stays as it was.
    env.write("reporter.yaml", "pool_size: lots\n");
    daemon.signal(Signal::SIGHUP);
    let log = daemon.wait_log("reload failed: keeping the previous configuration", 1);
    assert!(
        log.contains("reporter.yaml:1:12: pool_size: invalid type"),
        "{log}"
    );
    let seen = jobs_received(&env, "second");
    assert!(
        wait_until(|| jobs_received(&env, "second") > seen + 1),
        "still running: {}",
        daemon.log()
    );
    daemon.stop().code(0).stderr_contains("daemon stopped");
}

#[test]
fn a_job_never_overlaps_itself_and_sigterm_waits_for_it() {
    let env = Env::new("");
    env.job("slow", "schedule: \"* * * * * *\"\ncommands: [sleep 2]\n");
    let daemon = Daemon::start(&env);
    let log = daemon.wait_log(
        "slow: still running from an earlier start: the run due at ",
        1,
    );
    assert_eq!(log.matches("slow: started").count(), 1, "{log}");
    daemon
        .stop()
        .code(0)
        .stderr_contains("waiting up to 30 s for 1 running job")
        .stderr_contains("slow: finished in ")
        .stderr_contains("daemon stopped");
    assert!(
        jobs_received(&env, "slow") >= 1,
        "its report went out before exit"
    );
    let runs = env.history_json(&["slow", "--limit", "1000"]);
    let skipped: Vec<_> = runs.iter().filter(|r| r["status"] == "skipped").collect();
    assert!(!skipped.is_empty(), "{runs:?}");
    assert_eq!(skipped[0]["summary"], serde_json::Value::Null);
    assert!(runs.iter().any(|r| r["status"] == "ok"), "{runs:?}");
}

#[test]
fn jobs_that_fire_together_share_one_pool() {
    // Two jobs of three commands each fire in the same second; with `pool_size: 2` at most
    // two commands may run at once in all (each job with a pool of its own ran four).
    let env = Env::new("pool_size: 2\n");
    let running = env.path("running");
    std::fs::create_dir(&running).unwrap();
    let command = format!(
        "    - touch {dir}/$$ && sleep 0.4 && ls {dir} | wc -l >> {dir}.seen && rm {dir}/$$\n",
        dir = running.display()
    );
    for name in ["left", "right"] {
        env.job(
            name,
            &format!(
                "schedule: \"* * * * * *\"\ncommands:\n{}",
                command.repeat(3)
            ),
        );
    }
    let daemon = Daemon::start(&env);
    assert!(
        wait_until(|| jobs_received(&env, "left") > 0 && jobs_received(&env, "right") > 0),
        "{}",
        daemon.log()
    );
    daemon
        .stop()
        .code(0)
        .stderr_contains("left: started")
        .stderr_contains("right: started")
        .stderr_contains("daemon stopped");
    let seen: Vec<usize> = read(env.path("running.seen"))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(seen.len() >= 6, "{seen:?}");
    assert_eq!(seen.iter().max(), Some(&2), "at most 2 at once: {seen:?}");
}

#[test]
fn a_second_sigterm_kills_running_commands_and_their_report_still_goes_out() {
    let env = Env::new("");
    env.job(
        "stuck",
        "schedule: \"* * * * * *\"\ncommands: [sleep 120]\n",
    );
    let daemon = Daemon::start(&env);
    daemon.wait_log("stuck: started", 1);
    daemon.signal(Signal::SIGTERM);
    daemon.wait_log("waiting up to 30 s for 1 running job", 1);
    let run = daemon
        .stop()
        .code(0)
        .stderr_contains("SIGTERM again: killing the commands still running")
        .stderr_contains("daemon stopped");
    let received = env.smtp.received();
    assert_eq!(received.len(), 1, "{}", run.stderr);
    assert_eq!(received[0].header("X-Reporter-Status").unwrap(), "error");
    assert!(
        received[0].body().contains("interrupted"),
        "{}",
        received[0].body()
    );
}

#[test]
fn catch_up_runs_a_missed_job_once_at_start_up() {
    use reporter::history::{History, RunRecord};
    use reporter::report::Trigger;
    let env = Env::new("");
    for (name, catch_up) in [("yearly", true), ("no-catch-up", false)] {
        env.job(
            name,
            &format!("schedule: \"@yearly\"\ncatch_up: {catch_up}\ncommands: [echo {name}]\n"),
        );
        // Its last run was 400 days ago: the yearly fire time since then was missed.
        let mut old = RunRecord::skipped("old", name, Trigger::Daemon, "test".into());
        old.started_at = chrono::Utc::now() - chrono::Duration::days(400);
        History::new(&env.path("state"), 900)
            .record(&[old])
            .unwrap();
    }
    env.job(
        "fresh",
        "schedule: \"@yearly\"\ncatch_up: true\ncommands: [echo fresh]\n",
    );
    let daemon = Daemon::start(&env);
    let log = daemon.wait_log("yearly: finished in ", 1);
    assert!(
        log.contains("yearly: catching up on a run missed while the daemon was down"),
        "{log}"
    );
    let run = daemon.stop().code(0).stderr_contains("daemon stopped");
    let log = &run.stderr;
    assert_eq!(jobs_received(&env, "yearly"), 1);
    assert_eq!(jobs_received(&env, "no-catch-up"), 0, "{log}");
    assert_eq!(
        jobs_received(&env, "fresh"),
        0,
        "never ran, so nothing was missed: {log}"
    );
}

#[test]
fn detach_writes_a_pidfile_and_logs_to_the_file() {
    let env = Env::new("");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo tick]\n");
    let (pidfile, log) = (env.path("run/reporter.pid"), env.path("reporter.log"));
    std::fs::create_dir_all(env.path("run")).unwrap();
    env.run(&[
        "daemon",
        "--detach",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ])
    .code(0)
    .stderr_empty();
    let pid: i32 = read(&pidfile).trim().parse().unwrap();
    let daemon = Pid::from_raw(pid);
    assert!(env.smtp.wait_for(2).len() >= 2, "{}", read(&log));
    assert!(read(&log).contains("daemon started"));
    // A second daemon on the same pidfile refuses to start.
    env.run(&["daemon", "--pidfile", pidfile.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "{}: a daemon is already running as process {pid}",
            pidfile.display()
        ));
    kill(daemon, Signal::SIGTERM).unwrap();
    assert!(wait_until(|| !pidfile.exists()), "{}", read(&log));
    assert!(read(&log).contains("daemon stopped"));
}

#[test]
fn start_up_problems_are_reported_before_it_runs() {
    let env = Env::new("pool_size: 0\n");
    env.run(&["daemon"])
        .code(2)
        .stderr_contains("reporter.yaml:6:12: pool_size: must be between 1 and 1024");

    let env = Env::new("");
    let log = env.path("no/such/folder/reporter.log");
    env.run(&["daemon", "--log-file", log.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "reporter: error: {}: cannot open the log file: No such file or directory",
            log.display()
        ));
}

#[test]
fn detach_needs_a_pidfile_and_a_log_file() {
    let env = Env::new("");
    env.run(&["daemon", "--detach"])
        .code(2)
        .stderr_contains("--pidfile <P>")
        .stderr_contains("--log-file <F>");
}

#[test]
fn mail_left_in_the_spool_goes_out_when_the_daemon_starts() {
    let env = Env::refusing();
    env.job("lost", "commands: [echo hi]\n");
    env.run(&["run", "lost"])
        .code(75)
        .stderr_contains("lost: report not delivered");
    assert_eq!(env.spooled("state/spool").len(), 1);
    env.write_config("");
    let daemon = Daemon::start(&env);
    let messages = env.smtp.wait_for(1);
    assert_eq!(messages[0].header("X-Reporter-Job").unwrap(), "lost");
    daemon.wait_log("spool: 1 sent", 1);
    assert!(env.spooled("state/spool").is_empty());
    daemon.stop().code(0).stderr_contains("daemon stopped");
}
