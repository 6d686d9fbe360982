//! The window since the last run (`REPORTER_SINCE`, `run.since`) and each job's own state
//! folder (`REPORTER_JOB_STATE`), through real runs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};

use crate::support::{Env, read, require_root};

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

/// A job whose command counts its runs in a file of its state folder and prints the count.
const COUNTER: &str = "commands:\n  - f=\"$REPORTER_JOB_STATE/count\"; n=$(cat \"$f\" 2>/dev/null || echo 0); echo $((n + 1)) > \"$f\"; echo \"run $((n + 1))\"\n";

fn owner_and_mode(path: &Path) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.mode() & 0o7777)
}

#[test]
fn each_job_keeps_a_private_folder_across_runs() {
    let env = Env::new("");
    env.job("counted", COUNTER);
    env.run(&["run", "counted"]).code(0).stderr_empty();
    env.run(&["run", "counted"]).code(0).stderr_empty();
    let folder = env.path("state/jobs/counted");
    assert_eq!(read(folder.join("count")), "2\n", "a file kept across runs");
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(owner_and_mode(&folder), (me, 0o700));
    assert_eq!(owner_and_mode(&env.path("state/jobs")), (me, 0o711));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_user_job_owns_its_folder_and_cannot_replace_it() {
    require_root();
    let env = Env::new("");
    // Only so that nobody can reach the state folder inside the test's own folder, as it
    // reaches /var/lib/reporter.
    std::fs::set_permissions(env.path(""), std::fs::Permissions::from_mode(0o711)).unwrap();
    env.job("counted", &format!("user: nobody\n{COUNTER}"));
    env.run(&["run", "counted"]).code(0).stderr_empty();
    let folder = env.path("state/jobs/counted");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(owner_and_mode(&folder), (nobody.uid.as_raw(), 0o700));
    assert_eq!(owner_and_mode(&env.path("state/jobs")), (0, 0o711));
    assert_eq!(owner_and_mode(&env.path("state")), (0, 0o711));

    // Its owner can write in it, not beside it: the folder's name is root's.
    let moved = Command::new("runuser")
        .args(["-u", "nobody", "--", "mv"])
        .arg(&folder)
        .arg(env.path("state/jobs/elsewhere"))
        .output()
        .expect("runuser (util-linux)");
    assert!(!moved.status.success(), "nobody moved its folder away");
    env.run(&["run", "counted"]).code(0).stderr_empty();
    assert_eq!(read(folder.join("count")), "2\n");

    // Were it a link all the same (made by root here), it is refused, not followed.
    for target in ["/etc", "/root"] {
        let before = owner_and_mode(Path::new(target));
        std::fs::remove_dir_all(&folder).unwrap();
        std::os::unix::fs::symlink(target, &folder).unwrap();
        env.run(&["run", "counted"])
            .code(1)
            .stderr_contains(&format!(
                "the job's state folder `{}` is a symbolic link; reporter does not follow links",
                folder.display()
            ));
        assert_eq!(
            owner_and_mode(Path::new(target)),
            before,
            "{target} untouched"
        );
        let mail = env.smtp.wait_for(3 + usize::from(target == "/root"));
        let text = mail.last().unwrap().text();
        assert!(text.contains("[ERROR] counted"), "{text}");
        std::fs::remove_file(&folder).unwrap();
        std::fs::create_dir(&folder).unwrap();
    }
}
