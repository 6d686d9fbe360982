//! Schedules as users see them: `list`, load-time errors, `check` lints, and the
//! cron.daily drop-in run by Debian's real `run-parts`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Env, Run, tool};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn list_shows_next_run_in_the_config_timezone_and_last_status() {
    let env = Env::new("timezone: Asia/Kolkata\n");
    env.job("morning", "schedule: 30 6 * * *\ncommands: [echo hi]\n");
    env.job("broken", "schedule: \"@hourly\"\ncommands: [\"false\"]\n");
    env.job(
        "by-hand",
        "description: only by hand\ncommands: [echo hi]\n",
    );
    let before = env.run(&["list", "--json"]).code(0).stderr_empty();
    let list = json(&before.stdout);
    let by_name = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed: {list}"))
            .clone()
    };
    let morning = by_name("morning");
    assert_eq!(morning["schedule"], "30 6 * * *");
    let next = morning["next_run"].as_str().unwrap();
    assert!(next.ends_with("T06:30:00+05:30"), "{next}");
    assert!(
        by_name("broken")["next_run"]
            .as_str()
            .unwrap()
            .ends_with(":00:00+05:30")
    );
    assert_eq!(by_name("by-hand")["next_run"], serde_json::Value::Null);
    assert_eq!(morning["last_status"], serde_json::Value::Null);

    env.run(&["run", "morning", "broken"])
        .code(1)
        .stderr_only_not_ok();
    let after = json(
        &env.run(&["list", "--json"])
            .code(0)
            .stderr_empty()
            .into_stdout(),
    );
    let status = |name: &str| {
        after
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["last_status"]
            .clone()
    };
    assert_eq!(status("morning"), "ok");
    assert_eq!(status("broken"), "failed");
    assert_eq!(status("by-hand"), serde_json::Value::Null);

    env.run(&["list"])
        .code(0)
        .stderr_empty()
        .stdout_contains("T06:30:00+05:30");
}

#[test]
fn a_bad_cron_field_is_named_with_file_and_line() {
    let env = Env::new("");
    env.job("night", "commands: [df]\nschedule: \"0 25 * * *\"\n");
    env.job("weekday", "commands: [df]\nschedule: 0 6 * * MON-FRY\n");
    env.run(&["check"])
        .code(2)
        .stderr_contains(
            "jobs/night.yaml:2:11: schedule: invalid schedule \"0 25 * * *\": bad hour field: 25 is out of range 0-23"
        )
        .stderr_contains(
            "jobs/weekday.yaml:2:11: schedule: invalid schedule \"0 6 * * MON-FRY\": bad day-of-week field: \"FRY\" is not a value"
        );
}

#[test]
fn check_warns_about_a_schedule_in_a_dst_gap() {
    let env = Env::new("timezone: Europe/Berlin\n");
    env.job("night", "schedule: 30 2 * * *\ncommands: [df]\n");
    env.job("early", "schedule: 30 3 * * *\ncommands: [df]\n");
    // A warning is not an error: exit 0.
    env.run(&["check"])
        .code(0)
        .stderr_contains("reporter: warning: ")
        .stderr_contains(
            "jobs/night.yaml:1:11: schedule: `30 2 * * *` names 02:30:00, which does not exist on ",
        )
        .stderr_contains(" in time zone Europe/Berlin (clocks go forward); that day it runs at ")
        .stderr_contains("T03:00:00+02:00 instead")
        .stderr_lacks("early.yaml");
}

#[test]
fn cron_daily_drop_in_runs_through_run_parts() {
    let env = Env::new("");
    env.job("nightly", "schedule: daily\ncommands: [echo nightly]\n");
    env.job("hourly", "schedule: hourly\ncommands: [echo hourly]\n");
    env.job("by-hand", "commands: [echo by hand]\n");
    let folder = env.path("cron.daily");
    std::fs::create_dir_all(&folder).unwrap();
    let binary = env!("CARGO_BIN_EXE_reporter");
    std::os::unix::fs::symlink(binary, folder.join("reporter")).unwrap();
    // run-parts skips names with a dot: this copy must not run a second time.
    std::os::unix::fs::symlink(binary, folder.join("reporter.sh")).unwrap();

    let output = Command::new(tool("run-parts", "debianutils"))
        .arg(&folder)
        .env("REPORTER_CONFIG", env.path("reporter.yaml"))
        .current_dir(env.dir.path())
        .output()
        .expect("run run-parts");
    // run-parts passes reporter's exit code and stderr through.
    Run::new("run-parts cron.daily", output)
        .code(0)
        .stderr_empty();
    // run-parts has waited for reporter: every message it sent has arrived.
    let received = env.smtp.received();
    assert_eq!(received.len(), 1, "only the daily job, once");
    assert_eq!(received[0].header("X-Reporter-Job").unwrap(), "nightly");
    let history = env.history_json(&[]);
    assert_eq!(history[0]["trigger"], "cron", "{history:?}");

    // check names the copy run-parts skips, and one without an exec bit.
    let no_exec = folder.join("reporter-old");
    std::fs::copy(binary, &no_exec).unwrap();
    std::fs::set_permissions(&no_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = Command::new(folder.join("reporter"))
        .args([
            "--config",
            env.path("reporter.yaml").to_str().unwrap(),
            "check",
        ])
        .output()
        .unwrap();
    Run::new("cron.daily/reporter check", check)
        .code(2)
        .stderr_contains(&format!(
            "{}: run-parts skips this copy of reporter: its name may only have letters, digits, `_` and `-` (rename it to `{}`)",
            folder.join("reporter.sh").display(),
            folder.join("reporter").display()
        ))
        .stderr_contains(&format!(
            "{}: run-parts skips this copy of reporter: it is not executable (chmod 0755 {0})",
            no_exec.display()
        ))
        // The well-named copy is fine.
        .stderr_lacks(&format!("{}: ", folder.join("reporter").display()));
}

/// `list --json`'s next run of each job with the clock set to `now` (UTC) by libfaketime.
fn next_runs_at(env: &Env, now: &str) -> Vec<(String, String)> {
    let output = Command::new(tool("faketime", "faketime"))
        .arg(now)
        .arg(env!("CARGO_BIN_EXE_reporter"))
        .args(["--config", env.path("reporter.yaml").to_str().unwrap()])
        .args(["list", "--json"])
        .env("TZ", "UTC")
        .output()
        .expect("run faketime");
    let list = Run::new(format!("reporter list --json at {now}"), output)
        .code(0)
        .stderr_empty()
        .into_stdout();
    json(&list)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            (name, e["next_run"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn hourly_schedules_follow_the_clock_across_dst_and_fixed_times_run_once() {
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let env = Env::new("timezone: Europe/Berlin\nhistory_days: 0\n");
    env.job("every20", "schedule: \"*/20 * * * *\"\n");
    env.job("fixed", "schedule: 30 2 * * *\n");
    env.job("half-past", "schedule: 30 * * * *\n");
    // 02:50 CEST, ten minutes before the clock goes back to 02:00 CET.
    assert_eq!(
        next_runs_at(&env, "2026-10-25 00:50:00"),
        pairs(&[
            ("every20", "2026-10-25T02:00:00+01:00"),
            ("fixed", "2026-10-26T02:30:00+01:00"),
            ("half-past", "2026-10-25T02:30:00+01:00"),
        ])
    );
    // 01:50 CET, ten minutes before the clock springs to 03:00 CEST.
    assert_eq!(
        next_runs_at(&env, "2026-03-29 00:50:00"),
        pairs(&[
            ("every20", "2026-03-29T03:00:00+02:00"),
            ("fixed", "2026-03-29T03:00:00+02:00"),
            ("half-past", "2026-03-29T03:30:00+02:00"),
        ])
    );
    env.write_config("timezone: Australia/Lord_Howe\nhistory_days: 0\n");
    // 01:55 +10:30, five minutes before the clock springs half an hour to 02:30 +11:00.
    assert_eq!(
        next_runs_at(&env, "2026-10-03 15:25:00"),
        pairs(&[
            ("every20", "2026-10-04T02:40:00+11:00"),
            ("fixed", "2026-10-04T02:30:00+11:00"),
            ("half-past", "2026-10-04T02:30:00+11:00"),
        ])
    );
}
