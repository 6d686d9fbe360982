//! `reporter status`: the table, the JSON and the status page, from a history made by real
//! runs (docs/status.md).

use std::path::Path;

use serde_json::Value;

use crate::support::sshd::{DOWN, Sshd};
use crate::support::{Env, chromium, repo};

/// Jobs with a history: `good` ok twice (scheduled daily), `flaky` ok once then failing
/// twice (its output is markup), `never` without a run.
fn env_with_history(extra: &str) -> Env {
    let env = Env::new(extra);
    env.job(
        "good",
        "schedule: daily\ndescription: all is well\ncommands: [echo fine]\n",
    );
    let flag = env.path("broken");
    env.job(
        "flaky",
        &format!(
            "send: never\ncommands:\n  - \"echo '<script>alert(1)</script> & <b>'; test ! -e {}\"\n",
            flag.display()
        ),
    );
    env.job("never", "commands: [true]\n");
    env.run(&["run", "good"]).code(0).stderr_empty();
    env.run(&["run", "flaky"]).code(0).stderr_empty();
    std::fs::write(&flag, "").unwrap();
    for _ in 0..2 {
        env.run(&["run", "flaky"])
            .code(1)
            .stderr_contains("not ok: flaky");
    }
    env.run(&["run", "good"]).code(0).stderr_empty();
    env
}

/// `status --json`, parsed, by job name.
fn status_json(env: &Env, args: &[&str]) -> (Value, Vec<Value>) {
    let mut all = vec!["status", "--json"];
    all.extend_from_slice(args);
    let stdout = env.run(&all).code(0).stderr_empty().into_stdout();
    let status: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let jobs = status["jobs"].as_array().expect("jobs").clone();
    (status, jobs)
}

#[test]
fn status_json_tells_streaks_last_ok_durations_and_next_run() {
    let env = env_with_history("");
    let history = env.history_json(&["flaky"]);
    let (status, jobs) = status_json(&env, &[]);
    assert_eq!(status["host"], crate::support::hostname());
    assert!(status["generated_at"].as_str().unwrap().starts_with("20"));
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(names, ["flaky", "good", "never"], "by name");

    let flaky = &jobs[0];
    assert_eq!(flaky["status"], "failed");
    assert_eq!(flaky["streak"], 2);
    // Newest first: the failing streak began with the second run; the first was ok.
    assert_eq!(flaky["status_since"], history[1]["started_at"]);
    assert_eq!(flaky["last_run"], history[0]["started_at"]);
    assert_eq!(flaky["last_ok"], history[2]["finished_at"]);
    let durations: Vec<&Value> = history
        .iter()
        .rev()
        .map(|r| &r["summary"]["duration_ms"])
        .collect();
    assert_eq!(
        flaky["durations"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        durations,
        "oldest first"
    );
    assert_eq!(flaky["duration_ms"], history[0]["summary"]["duration_ms"]);
    assert_eq!(flaky["next_run"], Value::Null, "no schedule");

    let good = &jobs[1];
    assert_eq!(good["status"], "ok");
    assert_eq!(good["streak"], 2);
    assert_eq!(good["durations"].as_array().unwrap().len(), 2);
    assert!(good["next_run"].as_str().is_some(), "{good}");

    let never = &jobs[2];
    assert_eq!(never["status"], Value::Null);
    assert_eq!(never["streak"], 0);
    assert_eq!(never["durations"], serde_json::json!([]));
    let keys: Vec<&String> = never.as_object().unwrap().keys().collect();
    // (sorted by the parser)
    assert_eq!(
        keys,
        [
            "duration_ms",
            "durations",
            "job",
            "last_ok",
            "last_run",
            "next_run",
            "silenced",
            "status",
            "status_since",
            "streak",
            "units",
            "values",
        ]
    );
    assert_eq!(never["values"], serde_json::json!({}));
    assert_eq!(never["silenced"], Value::Null);

    // Only the jobs asked for, in that order.
    let (_, some) = status_json(&env, &["never", "good"]);
    let names: Vec<&str> = some.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(names, ["never", "good"]);
}

#[test]
fn status_shows_each_values_series_and_the_silence_a_job_is_in() {
    let env = Env::new("");
    let count = env.path("count");
    env.job(
        "backup",
        &format!(
            "send: never\ncommands:\n  - name: copy\n    run: \"n=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}; echo sent ${{n}}M bytes\"\n    values:\n      sent: 'sent ([0-9]+M) bytes'\n",
            count.display()
        ),
    );
    env.job("quiet", "send: never\ncommands: [true]\n");
    for _ in 0..3 {
        env.run(&["run", "backup"]).code(0).stderr_empty();
    }
    env.run(&[
        "silence",
        "backup",
        "--for",
        "1h",
        "--reason",
        "moving <racks>",
    ])
    .code(0)
    .stderr_empty()
    .stdout_is("1\n");

    let (_, jobs) = status_json(&env, &[]);
    let mib = 1024.0 * 1024.0;
    assert_eq!(
        jobs[0]["values"],
        serde_json::json!({"sent": [mib, 2.0 * mib, 3.0 * mib]}),
        "oldest first"
    );
    assert_eq!(jobs[0]["units"], serde_json::json!({"sent": "bytes"}));
    let silenced = &jobs[0]["silenced"];
    assert_eq!(silenced["reason"], "1: moving <racks>");
    assert!(
        silenced["until"].as_str().unwrap().starts_with("20"),
        "{silenced}"
    );
    assert_eq!(jobs[1]["values"], serde_json::json!({}));
    assert_eq!(jobs[1]["units"], serde_json::json!({}));
    assert_eq!(jobs[1]["silenced"], Value::Null);

    let table = env.run(&["status"]).code(0).stderr_empty().into_stdout();
    let row = table.lines().find(|l| l.starts_with("backup")).unwrap();
    assert!(row.contains("  silenced until 20"), "{table}");
    assert!(row.ends_with(" (1: moving <racks>)"), "{table}");
    let quiet = table.lines().find(|l| l.starts_with("quiet")).unwrap();
    assert!(!quiet.contains("silenced"), "{table}");

    let page = env.path("status.html");
    env.run(&["status", "--html", page.to_str().unwrap()])
        .code(0)
        .stderr_empty();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<p class=\"silenced\">silenced until ")
            && html.contains("(1: moving &lt;racks&gt;)</p>"),
        "{html}"
    );
    assert!(html.contains("<div class=\"value\" data-value=\"sent\" data-points=\"3\">"));
    assert!(
        html.contains("<span>sent 3.0 MiB</span>"),
        "the last value, a size"
    );
}

#[test]
fn status_table_has_a_row_per_job_coloured_only_when_asked() {
    let env = env_with_history("");
    let table = env.run(&["status"]).code(0).stderr_empty().into_stdout();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("JOB    STATUS   STREAK  SINCE"),
        "{table}"
    );
    let flaky: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&flaky[..3], ["flaky", "failed", "×2"], "{table}");
    // Since, last ok (date and minute each), duration, a sparkline of 3 runs, no next run.
    assert_eq!(flaky.len(), 10, "{table}");
    assert_eq!(flaky[8].chars().count(), 3, "{table}");
    assert!(
        flaky[8].chars().all(|c| ('▁'..='█').contains(&c)),
        "{table}"
    );
    assert_eq!(flaky[9], "-", "{table}");
    let good: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&good[..3], ["good", "ok", "×2"], "{table}");
    assert_ne!(good.last(), Some(&"-"), "a next run: {table}");
    let never: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        never,
        ["never", "never", "-", "-", "-", "-", "-"],
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour in a pipe: {table}");

    let coloured = env
        .run(&["--color", "always", "status", "flaky"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(coloured.contains("\x1b[1;31mfailed\x1b[0m"), "{coloured:?}");
    assert_eq!(coloured.lines().count(), 2, "{coloured}");
}

#[test]
fn status_of_an_unknown_job_says_which_exist() {
    let env = env_with_history("");
    env.run(&["status", "good", "flakey"])
        .code(2)
        .stderr_contains("no job `flakey` (known jobs: flaky, good, never)")
        .stdout_empty();
    env.run(&["status", "--json", "../good"])
        .code(2)
        .stderr_contains("no job `../good`")
        .stdout_empty();
}

#[test]
fn a_broken_job_file_is_reported_and_its_history_still_shown() {
    let env = env_with_history("");
    env.job("good", "commands: [echo fine]\nschedul: daily\n");
    let run = env
        .run(&["status"])
        .code(2)
        .stderr_contains("good.yaml:2:1: schedul");
    let good = run.into_stdout();
    let row = good.lines().find(|l| l.starts_with("good ")).expect(&good);
    assert!(row.contains(" ok ") && row.contains("×2"), "{good}");
}

/// The page's job sections in order, each `(job, status, streak)`.
fn sections(page: &str) -> Vec<(String, String, u64)> {
    page.split("<section class=\"job\" ")
        .skip(1)
        .map(|section| {
            let attr = |name: &str| {
                let start = section.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                section[start..start + section[start..].find('"').unwrap()].to_owned()
            };
            (
                attr("data-job"),
                attr("data-status"),
                attr("data-streak").parse().unwrap(),
            )
        })
        .collect()
}

/// The page's section of `job`.
fn section<'a>(page: &'a str, job: &str) -> &'a str {
    let start = page
        .find(&format!("data-job=\"{job}\""))
        .unwrap_or_else(|| panic!("no section of {job}: {page}"));
    &page[start..start + page[start..].find("</section>").unwrap()]
}

#[test]
fn the_page_shows_failing_jobs_first_with_their_runs_and_escaped_output() {
    let env = env_with_history("");
    let path = env.path("status.html");
    env.run(&["status", "--html", path.to_str().unwrap()])
        .code(0)
        .stderr_empty()
        .stdout_empty();
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert_eq!(
        sections(&page),
        [
            ("flaky".to_owned(), "failed".to_owned(), 2),
            ("good".to_owned(), "ok".to_owned(), 2),
            ("never".to_owned(), "never".to_owned(), 0),
        ]
    );
    assert!(
        page.contains("data-jobs=\"3\" data-failing=\"1\" data-ok=\"1\""),
        "{page}"
    );
    // Self-contained: no script, nothing fetched.
    for banned in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(banned), "{banned} in {page}");
    }
    let flaky = section(&page, "flaky");
    let runs = &flaky[flaky.find("<div class=\"runs\">").expect(flaky)..];
    let cells: Vec<&str> = runs[..runs.find("</div>").unwrap()]
        .split("<i class=\"s-")
        .skip(1)
        .map(|cell| cell.split('"').next().unwrap())
        .collect();
    assert_eq!(cells, ["ok", "failed", "failed"], "oldest first: {flaky}");
    // Each with its start (to the minute), status and duration.
    let history = env.history_json(&["flaky"]);
    let oldest = history[2]["started_at"].as_str().unwrap();
    let minute = oldest[..16].replace('T', " ");
    assert!(
        flaky.contains(&format!("<i class=\"s-ok\" title=\"{minute}, ok, ")),
        "{flaky}"
    );
    assert!(flaky.contains("<svg class=\"spark\""), "{flaky}");
    assert!(flaky.contains("<details><summary>"), "{flaky}");
    // The output, escaped.
    assert!(
        flaky.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;"),
        "{flaky}"
    );
    assert!(section(&page, "good").contains("all is well"));
    assert!(!section(&page, "never").contains("class=\"runs\""));
}

/// `page` laid out in a frame `width` pixels wide (headless windows are at least 500 px
/// wide): the page's own width and scroll width, and how many cells, sparklines and
/// badges it has and how many of them are not wholly on screen.
fn layout(dir: &Path, page: &Path, width: u32) -> [u64; 4] {
    let measure = "<script>var d=document.documentElement,w=d.clientWidth,\
        e=document.querySelectorAll('.runs i,.spark,.badge'),\
        out=[].filter.call(e,function(x){var r=x.getBoundingClientRect();\
        return r.width<=0||r.height<=0||r.left<0||r.right>w+0.5;}).length;\
        parent.document.body.setAttribute('data-layout',[w,d.scrollWidth,e.length,out].join(' '));</script>";
    let html = std::fs::read_to_string(page).unwrap() + measure;
    let escaped = html
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let frame = dir.join(format!("frame-{width}.html"));
    std::fs::write(
        &frame,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe style=\"width:{width}px;height:3000px;border:0\" srcdoc=\"{escaped}\"></iframe></body></html>"
        ),
    )
    .unwrap();
    let dump = chromium(&frame, (1300, 3000), &["--dump-dom"]);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dom = String::from_utf8(dump.stdout).unwrap();
    let start = dom.find("data-layout=\"").expect(&dom) + "data-layout=\"".len();
    let numbers: Vec<u64> = dom[start..start + dom[start..].find('"').unwrap()]
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    numbers.try_into().unwrap()
}

#[test]
fn the_page_fits_a_phone_and_a_desktop_in_chromium() {
    let env = env_with_history("");
    // Long words and lines must wrap, not widen the page.
    env.job(
        "a-job-with-a-rather-long-name-that-does-not-fit-on-a-phone-at-all",
        "commands: [\"printf '%0300d\\\\n' 7\"]\n",
    );
    env.run(&[
        "run",
        "a-job-with-a-rather-long-name-that-does-not-fit-on-a-phone-at-all",
    ])
    .code(0)
    .stderr_empty();
    let path = env.path("status.html");
    env.run(&["status", "--html", path.to_str().unwrap()])
        .code(0)
        .stderr_empty();
    for width in [375, 1280] {
        let [client, scroll, elements, outside] = layout(env.dir.path(), &path, width);
        assert_eq!(u64::from(width), client, "the frame's width");
        assert!(
            scroll <= client,
            "{width} px: scrolls sideways to {scroll} px"
        );
        // 3 + 3 cells, 4 badges, 2 sparklines.
        assert!(
            elements >= 12,
            "{width} px: {elements} cells, sparklines and badges"
        );
        assert_eq!(outside, 0, "{width} px: not all visible");
    }
}

#[test]
fn status_page_is_rewritten_after_every_run_and_never_half_written() {
    let env = env_with_history("status_page: www/status.html\n");
    std::fs::create_dir_all(env.path("www")).unwrap();
    let path = env.path("www/status.html");
    env.run(&["run", "good"]).code(0).stderr_empty();
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(sections(&first)[1], ("good".to_owned(), "ok".to_owned(), 3));
    assert_eq!(sections(&first)[0].0, "flaky");

    // A reader never sees a page being written.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let page = std::fs::read_to_string(&path).unwrap();
                assert!(page.ends_with("</html>\n"), "half-written: {page}");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..4 {
        env.run(&["run", "good"]).code(0).stderr_empty();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let last = std::fs::read_to_string(&path).unwrap();
    assert_eq!(sections(&last)[1], ("good".to_owned(), "ok".to_owned(), 7));
    let names: Vec<_> = std::fs::read_dir(env.path("www"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["status.html"], "no temporary file left");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "for a web server to read");

    // A flush rewrites it too.
    std::fs::remove_file(&path).unwrap();
    env.run(&["flush"]).code(0).stderr_empty();
    assert!(path.exists());
}

#[test]
fn the_daemon_rewrites_the_status_page_after_each_fire() {
    let env = Env::new("status_page: status.html\n");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo tick]\n");
    let path = env.path("status.html");
    let daemon = env.start(&["daemon"]);
    // Every second: the page follows the streak up.
    let streak_of_three = crate::support::wait_until(|| {
        std::fs::read_to_string(&path)
            .is_ok_and(|page| sections(&page).first().is_some_and(|s| s.2 >= 3))
    });
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("tick: started");
    assert!(streak_of_three, "{:?}", std::fs::read_to_string(&path));
    assert_eq!(
        sections(&std::fs::read_to_string(&path).unwrap())[0].1,
        "ok"
    );
}

#[test]
fn status_page_in_a_folder_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = env_with_history("status_page: open/status.html\n");
    let open = env.path("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Written by the runs above, while the folder was safe.
    std::fs::remove_file(open.join("status.html")).unwrap();
    let message = format!(
        "`{}` is writable by group or others (mode 0777) without the sticky bit: they could swap what is written in it; refusing to write `{}`",
        open.display(),
        open.join("status.html").display()
    );
    // The run's report went out: the page is not the run's failure.
    env.run(&["run", "good"])
        .code(0)
        .stderr_contains(&format!("status_page: {message}"));
    assert!(!open.join("status.html").exists());
    env.run(&["status", "--html", open.join("page.html").to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "cannot write the status page `{}`",
            open.join("page.html").display()
        ))
        .stderr_contains("is writable by group or others (mode 0777)");
    assert!(!open.join("page.html").exists());
}

/// An installation that asks the loopback sshd's aliases for their status: `alpha` is
/// `alpha_home`'s reporter, `beta` is `beta_home`'s, `gamma` a reporter too old to have
/// `status`, `down` an alias nothing listens on. The aliases all reach this machine, so
/// `ssh.reporter` runs a script named after the alias (`$REPORTER_ALIAS`, set by the ssh
/// config) that starts that host's reporter with its own configuration.
fn fleet_env(sshd: &Sshd, alpha_home: &Env, beta_home: &Env) -> Env {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("");
    let script = |alias: &str, body: String| {
        let path = env.write(&format!("hosts/{alias}"), &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    for (alias, home) in [("alpha", alpha_home), ("beta", beta_home)] {
        script(
            alias,
            format!(
                "exec {} --config {} \"$@\"",
                env!("CARGO_BIN_EXE_reporter"),
                home.path("reporter.yaml").display()
            ),
        );
    }
    script(
        "gamma",
        "echo \"error: unrecognized subcommand 'status'\" >&2; exit 2".to_owned(),
    );
    env.write_config(&format!(
        "ssh: {{command: ssh, options: [-F, {}], reporter: '{}/$REPORTER_ALIAS'}}\nhost_groups:\n  all: [alpha, {DOWN}, beta, gamma]\n",
        sshd.ssh_config().display(),
        env.path("hosts").display()
    ));
    env
}

/// `beta`: `backup` failing once, `good` ok once.
fn beta_home() -> Env {
    let env = Env::new("");
    env.job("good", "commands: [true]\n");
    env.job("backup", "send: never\ncommands: [\"false\"]\n");
    env.run(&["run", "good"]).code(0).stderr_empty();
    env.run(&["run", "backup"])
        .code(1)
        .stderr_contains("not ok: backup");
    env
}

#[test]
fn status_hosts_shows_the_fleet_as_a_matrix_with_the_hosts_it_could_not_ask() {
    let sshd = Sshd::start();
    let (alpha, beta) = (env_with_history(""), beta_home());
    let env = fleet_env(&sshd, &alpha, &beta);
    let hosts = format!("alpha,{DOWN},beta,gamma");
    let run = env.run(&["status", "--hosts", &hosts]).code(0);
    let table = run.stderr_empty().into_stdout();
    let lines: Vec<Vec<&str>> = table
        .lines()
        .take(5)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["HOST", "backup", "flaky", "good", "never"],
        "{table}"
    );
    assert_eq!(
        lines[1],
        ["alpha", "-", "failed×2", "ok×2", "never"],
        "{table}"
    );
    assert_eq!(&lines[2][..2], [DOWN, "unreachable:"], "{table}");
    assert!(
        table.contains("Connection refused"),
        "ssh's own message: {table}\n{}",
        sshd.log()
    );
    assert_eq!(lines[3], ["beta", "failed×1", "-", "ok×1", "-"], "{table}");
    assert!(
        table
            .lines()
            .nth(4)
            .unwrap()
            .ends_with("no status: its reporter has no `status` (too old): error: unrecognized subcommand 'status'"),
        "{table}"
    );
    // Then each host's own table.
    let alpha_detail = table.split("\nalpha:\n").nth(1).expect(&table);
    assert!(alpha_detail.starts_with("JOB    STATUS"), "{table}");
    assert!(table.contains("\nbeta:\n"), "{table}");

    let json = env
        .run(&["status", "--hosts", &hosts, "--json"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    let fleet: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        fleet["counts"],
        serde_json::json!({"hosts": 4, "ok": 0, "not_ok": 2, "unreachable": 2})
    );
    assert_eq!(
        fleet["jobs"],
        serde_json::json!(["backup", "flaky", "good", "never"])
    );
    let rows = fleet["hosts"].as_array().unwrap();
    let states: Vec<&str> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["not ok", "unreachable", "not ok", "no status"]);
    assert_eq!(rows[0]["cells"][0], Value::Null, "alpha has no backup");
    assert_eq!(
        rows[0]["cells"][1],
        serde_json::json!({"job": "flaky", "status": "failed", "streak": 2, "text": "failed×2"})
    );
    assert_eq!(rows[1]["status"], Value::Null);
    // Each host's status is its own `status --json`, whole.
    let (_, alpha_jobs) = status_json(&alpha, &[]);
    assert_eq!(rows[0]["status"]["jobs"], Value::Array(alpha_jobs));

    let page_path = env.path("fleet.html");
    env.run(&[
        "status",
        "--hosts",
        &hosts,
        "--html",
        page_path.to_str().unwrap(),
    ])
    .code(0)
    .stderr_empty();
    let page = std::fs::read_to_string(&page_path).unwrap();
    for (host, state) in [
        ("alpha", "not ok"),
        (DOWN, "unreachable"),
        ("beta", "not ok"),
        ("gamma", "no status"),
    ] {
        assert!(
            page.contains(&format!("<tr data-host=\"{host}\" data-state=\"{state}\">")),
            "{host}: {page}"
        );
        assert!(
            page.contains(&format!("<div class=\"host\" id=\"host-{host}\">")),
            "{page}"
        );
    }
    // Each reachable host's jobs, failing first, as on its own page.
    let beta_part = &page[page.find("id=\"host-beta\"").unwrap()..];
    assert_eq!(sections(beta_part)[0].0, "backup");
    for width in [375, 1280] {
        let [client, scroll, _, outside] = layout(env.dir.path(), &page_path, width);
        assert!(
            scroll <= client,
            "{width} px: scrolls sideways to {scroll} px"
        );
        // The matrix scrolls in its own box; the cells and sparklines below it fit.
        assert_eq!(outside, 0, "{width} px");
    }
}

#[test]
fn the_shipped_fleet_status_job_mails_the_matrix() {
    let sshd = Sshd::start();
    let (alpha, beta) = (env_with_history(""), beta_home());
    let env = fleet_env(&sshd, &alpha, &beta);
    env.shipped_partials();
    for template in ["fleet-status.txt.hbs", "fleet-status.html.hbs"] {
        env.template(
            template,
            &crate::support::read(repo().join("templates").join(template)),
        );
    }
    // The shipped job, with this checkout's binary and configuration in its command.
    let shipped = crate::support::read(repo().join("jobs/fleet-status.yaml"));
    let command = format!(
        "run: {} --config {} status --hosts @all --json",
        env!("CARGO_BIN_EXE_reporter"),
        env.path("reporter.yaml").display()
    );
    assert!(shipped.contains("run: reporter status --hosts @all --json"));
    env.job(
        "fleet-status",
        &shipped.replace("run: reporter status --hosts @all --json", &command),
    );
    env.run(&["check"]).code(0).stderr_empty();
    // Disabled, so `run --all` leaves it out; by name it runs.
    env.run(&["run", "fleet-status"])
        .code(1)
        .stderr_contains("not ok: fleet-status");
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(
        message.header("Subject").unwrap(),
        "[FAILED] fleet: 2 of 4 hosts not ok, 2 not reached"
    );
    let text = message.body();
    assert!(
        text.contains("4 hosts, 0 ok, 2 not ok, 2 not reached"),
        "{text}"
    );
    let row = |host: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .unwrap_or_else(|| panic!("no row of {host}: {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("alpha"),
        ["alpha", "-", "failed×2", "ok×2", "never"],
        "{text}"
    );
    assert_eq!(
        row("beta"),
        ["beta", "failed×1", "-", "ok×1", "-"],
        "{text}"
    );
    assert_eq!(&row(DOWN)[..2], [DOWN, "unreachable:"], "{text}");
    assert!(
        text.contains("  flaky: failed, 2 in a row since "),
        "{text}"
    );
    let html = message
        .parsed()
        .body_html(0)
        .expect("an HTML body")
        .into_owned();
    assert!(
        html.contains("<tr data-host=\"gamma\" data-state=\"no status\">"),
        "{html}"
    );
    assert!(html.contains("data-job=\"flaky\""), "{html}");
    assert!(html.contains(">failed×2</td>"), "{html}");
}
