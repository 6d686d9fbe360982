//! The window since the last run (`REPORTER_SINCE`, `run.since`) and each job's own state
//! folder (`REPORTER_JOB_STATE`), through real runs.

use chrono::{DateTime, Utc};

use crate::support::{Env, read};

/// A job whose command appends where its window starts to the file `seen`.
fn window_job(env: &Env, name: &str, extra: &str) {
    let seen = env.path("seen");
    env.job(
        name,
        &format!(
            "{extra}commands:\n  - echo \"$REPORTER_SINCE_EPOCH $REPORTER_SINCE\" >> {}\n",
            seen.display()
        ),
    );
}

/// Each line of `seen`: the epoch seconds and the RFC 3339 text, which must agree.
fn seen(env: &Env) -> Vec<i64> {
    read(env.path("seen"))
        .lines()
        .map(|line| {
            let (epoch, text) = line.split_once(' ').expect("two words");
            let epoch: i64 = epoch.parse().expect("REPORTER_SINCE_EPOCH is a number");
            let at = DateTime::parse_from_rfc3339(text).expect("REPORTER_SINCE is RFC 3339");
            assert!(text.ends_with('Z'), "UTC: {text}");
            assert_eq!(at.timestamp(), epoch, "{line}");
            epoch
        })
        .collect()
}

fn near(seen: i64, expected: i64) {
    assert!(
        (seen - expected).abs() <= 5,
        "window starts at {seen}, expected about {expected}"
    );
}

#[test]
fn a_first_run_looks_since_default_back_and_the_next_from_its_start() {
    let env = Env::new("");
    window_job(&env, "daily", "");
    window_job(&env, "hourly", "since_default: 2h\n");
    env.run(&["run", "daily", "hourly"]).code(0).stderr_empty();
    let now = Utc::now().timestamp();
    let first = seen(&env);
    assert_eq!(first.len(), 2);
    let (daily, hourly) = (first[0].min(first[1]), first[0].max(first[1]));
    near(daily, now - 86_400);
    near(hourly, now - 7_200);

    env.run(&["run", "daily"]).code(0).stderr_empty();
    let runs = env.history_json(&["daily"]);
    let started = DateTime::parse_from_rfc3339(runs[1]["started_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(seen(&env)[2], started, "the first run's start: {runs:?}");
}

#[test]
fn a_preview_shows_the_window_and_records_nothing() {
    let env = Env::new("");
    window_job(&env, "daily", "");
    env.run(&["run", "daily"]).code(0).stderr_empty();
    let started = DateTime::parse_from_rfc3339(
        env.history_json(&["daily"])[0]["started_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .timestamp();
    env.run(&["preview", "daily"]).code(0).stderr_empty();
    env.run(&["run", "daily"]).code(0).stderr_empty();
    assert_eq!(seen(&env)[1..], [started, started]);
    assert_eq!(
        env.history_json(&["daily"]).len(),
        2,
        "the preview is not a run"
    );
}

#[test]
fn templates_read_the_window_as_run_since() {
    let env = Env::new("");
    env.template("since.txt.hbs", "window from {{run.since}}\n");
    window_job(&env, "daily", "mail: {template: since}\n");
    let preview = env.run(&["preview", "daily"]).code(0).stderr_empty();
    let line = preview
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("window from "))
        .unwrap_or_else(|| panic!("{}", preview.stdout));
    let at = DateTime::parse_from_rfc3339(line).unwrap().timestamp();
    assert_eq!([at], seen(&env)[..]);
}

#[test]
fn a_since_default_that_is_not_a_duration_is_refused_where_it_is_written() {
    let env = Env::new("");
    window_job(&env, "daily", "since_default: yesterday\n");
    env.run(&["check"])
        .code(2)
        .stderr_contains("jobs/daily.yaml:1:16: since_default: invalid duration \"yesterday\"");
    let env = Env::new("defaults: {since_default: 1 day}\n");
    window_job(&env, "daily", "");
    env.run(&["check"])
        .code(2)
        .stderr_contains("reporter.yaml:6:27: defaults.since_default: invalid duration \"1 day\"");
}
