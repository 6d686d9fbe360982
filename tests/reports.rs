//! Reports people act on: subjects that name the status and the worst finding, HTML that
//! fits a phone (measured in headless Chromium), `check` that knows the context, numbers
//! that agree, and `enabled: false`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{Env, chromium, hostname, repo, tool, wait_until};

/// The shipped jobs and templates, with commands finding only the `tools` given (name,
/// script) and the real programs `real` on their PATH.
fn shipped_with_tools(tools: &[(&str, &str)], real: &[&str]) -> Env {
    let env = Env::new("");
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, script) in tools {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for name in real {
        std::os::unix::fs::symlink(tool(name, "coreutils"), bin.join(name)).unwrap();
    }
    let repo = repo();
    env.write_config(&format!(
        "jobs_dir: {}\ntemplates_dir: {}\npath: {}\n",
        repo.join("jobs").display(),
        repo.join("templates").display(),
        bin.display()
    ));
    env
}

/// Runs shipped job `job` expecting exit `code`; its subject (decoded) and text body.
#[track_caller]
fn subject_of(env: &Env, job: &str, code: i32) -> (String, String) {
    env.run(&["run", job]).code(code).stderr_quiet();
    let message = &env.smtp.wait_for(1)[0];
    let subject = message.parsed().subject().unwrap().to_owned();
    (subject, message.body())
}

const DF_GOOD: &str = "printf 'Filesystem Size Used Avail Use%% Mounted on\\n/dev/sda1 20G 9.0G 10G 48%% /\\n/dev/sdb1 100G 80G 20G 80%% /data\\n'";
const DF_FULL: &str = "printf 'Filesystem Size Used Avail Use%% Mounted on\\n/dev/sda1 20G 19G 1.0G 91%% /\\n/dev/sdb1 100G 95G 5.0G 95%% /data\\n'";

#[test]
fn disk_usage_subject_names_the_fullest_filesystem() {
    let host = hostname();
    let env = shipped_with_tools(&[("df", DF_GOOD)], &[]);
    let (subject, _) = subject_of(&env, "disk-usage", 0);
    assert_eq!(subject, format!("[ok] {host}: disks below 90%"));

    let env = shipped_with_tools(&[("df", DF_FULL)], &[]);
    let (subject, body) = subject_of(&env, "disk-usage", 1);
    assert_eq!(
        subject,
        format!("[FAILED] {host}: /data 95% full (disk usage)")
    );
    assert!(body.contains("/dev/sdb1 100G 95G 5.0G 95% /data"), "{body}");

    let env = shipped_with_tools(
        &[(
            "df",
            "echo 'df: cannot read table of mounted file systems' >&2; exit 1",
        )],
        &[],
    );
    let (subject, _) = subject_of(&env, "disk-usage", 1);
    assert_eq!(
        subject,
        format!("[FAILED] {host}: disk usage failed (exit 1)")
    );
}

#[test]
fn failed_units_subject_lists_the_units() {
    let host = hostname();
    let env = shipped_with_tools(&[("systemctl", "exit 0")], &[]);
    let (subject, body) = subject_of(&env, "failed-units", 0);
    assert_eq!(subject, format!("[ok] {host}: no failed units"));
    assert!(body.contains("(end of list)"), "{body}");

    let units = "echo 'nginx.service loaded failed failed A high performance web server'; echo 'backup.timer loaded failed failed Nightly backup'";
    let env = shipped_with_tools(&[("systemctl", units)], &[]);
    let (subject, _) = subject_of(&env, "failed-units", 1);
    assert_eq!(
        subject,
        format!("[FAILED] {host}: 2 failed units: nginx.service, backup.timer")
    );
}

#[test]
fn listening_sockets_subject_counts_them() {
    let host = hostname();
    let ss = "echo 'Netid State Recv-Q Send-Q Local Peer'; echo 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*'; echo 'tcp LISTEN 0 128 [::]:22 [::]:*'; echo 'udp UNCONN 0 0 0.0.0.0:68 0.0.0.0:*'";
    let env = shipped_with_tools(&[("ss", ss)], &[]);
    assert_eq!(
        subject_of(&env, "listening-sockets", 0).0,
        format!("[ok] {host}: 3 listening sockets")
    );
    let env = shipped_with_tools(&[("ss", "exit 1")], &[]);
    assert_eq!(
        subject_of(&env, "listening-sockets", 1).0,
        format!("[FAILED] {host}: listening sockets failed (exit 1)")
    );
}

/// `text` with this machine's numbers made comparable: the whole part of a number becomes
/// one `9` and each of its decimals a `9`, so a load of 12.28 on a busy machine reads
/// `9.99` as 0.52 does, while the decimals a template prints are still counted.
fn digits_as_nines(text: &str) -> String {
    let mut shape = String::with_capacity(text.len());
    let (mut in_digits, mut in_decimals) = (false, false);
    for c in text.chars() {
        if c.is_ascii_digit() {
            if in_decimals || !in_digits {
                shape.push('9');
            }
            in_digits = true;
        } else {
            in_decimals = c == '.' && in_digits;
            in_digits = false;
            shape.push(c);
        }
    }
    shape
}

#[test]
fn load_memory_subject_shows_load_with_two_decimals() {
    let host = hostname();
    let tools = [
        (
            "uptime",
            "echo ' 07:00:00 up 1 day, load average: 0.50, 0.40, 0.30'",
        ),
        ("free", "echo fine"),
        ("vmstat", "echo fine"),
    ];
    let env = shipped_with_tools(&tools, &[]);
    let (subject, _) = subject_of(&env, "load-memory", 0);
    let shape = digits_as_nines(&subject);
    let prefix = format!("[ok] {host}: ");
    assert!(subject.starts_with(&prefix), "{subject}");
    let rest = shape[digits_as_nines(&prefix).len()..].trim_start_matches("busy: ");
    assert!(rest.starts_with("load 9.99 on 9"), "{subject}");
    assert!(rest.contains(", memory 9"), "{subject}");

    let env = shipped_with_tools(
        &[
            ("uptime", "exit 3"),
            ("free", "echo fine"),
            ("vmstat", "echo fine"),
        ],
        &[],
    );
    let (subject, _) = subject_of(&env, "load-memory", 1);
    assert!(
        subject.starts_with(&format!("[FAILED] {host}: ")),
        "{subject}"
    );
    assert!(
        subject.ends_with("; uptime and load failed (exit 3)"),
        "{subject}"
    );
}

#[test]
fn top_processes_subject_names_the_top_ones() {
    let host = hostname();
    let ps = r#"case "$*" in
  *-rss*) printf '  PID USER RSS VSZ %%CPU ELAPSED COMMAND\n  812 postgres 1200000 2000000 3.0 10:00 postgres\n' ;;
  *-pcpu*) printf '  PID USER %%CPU RSS ELAPSED COMMAND\n  901 app 85.0 500000 01:00 java\n' ;;
esac"#;
    let env = shipped_with_tools(&[("ps", ps)], &["head"]);
    assert_eq!(
        subject_of(&env, "top-processes", 0).0,
        format!("[ok] {host}: most memory: postgres, most CPU: java (85.0%)")
    );
    // A ps that cannot sort, and no `head` to cut its list: the first command fails.
    let env = shipped_with_tools(&[("ps", "exit 1")], &[]);
    assert_eq!(
        subject_of(&env, "top-processes", 1).0,
        format!("[FAILED] {host}: top 15 by memory failed (exit 127)")
    );
}

#[test]
fn package_updates_subject_counts_updates_and_security_ones() {
    let host = hostname();
    let apt = "printf 'Listing...\\nbash/stable-security 5.2 amd64 [upgradable from: 5.1]\\ncurl/stable 8.1 amd64 [upgradable from: 7.9]\\n'";
    let env = shipped_with_tools(&[("apt", apt)], &["sed"]);
    assert_eq!(
        subject_of(&env, "package-updates", 0).0,
        format!("[ok] {host}: 2 pending updates, 1 from security")
    );
    let env = shipped_with_tools(&[("apt", "printf 'Listing...\\n'")], &["sed"]);
    assert_eq!(
        subject_of(&env, "package-updates", 0).0,
        format!("[ok] {host}: no pending updates")
    );
    let env = shipped_with_tools(&[("apt", "exit 100")], &["sed"]);
    assert_eq!(
        subject_of(&env, "package-updates", 1).0,
        format!("[FAILED] {host}: pending updates failed (exit 100)")
    );
}

#[test]
fn system_summary_subject_shows_uptime_load_memory_and_the_fullest_disk() {
    let host = hostname();
    let env = shipped_with_tools(&[], &[]);
    let (subject, body) = subject_of(&env, "system-summary", 0);
    assert!(
        subject.starts_with(&format!("[ok] {host}: up ")),
        "{subject}"
    );
    let shape = digits_as_nines(&subject);
    assert!(shape.contains(", load 9.99, memory 9"), "{subject}");
    let load = body.lines().find(|l| l.starts_with("Load ")).unwrap();
    assert!(
        digits_as_nines(load).starts_with("Load      9.99 9.99 9.99 on 9"),
        "{body}"
    );
}

#[test]
fn ping_sweep_checks_for_ping_and_says_each_error_once() {
    let host = hostname();
    let env = shipped_with_tools(&[("ping", "echo '1 packets transmitted, 1 received'")], &[]);
    // Disabled, so only by name.
    let (subject, _) = subject_of(&env, "ping-sweep", 0);
    assert_eq!(
        subject,
        format!("[ok] {host}: all 16 addresses answer ping")
    );

    let env = shipped_with_tools(&[], &[]);
    let (subject, body) = subject_of(&env, "ping-sweep", 1);
    assert_eq!(
        subject,
        format!(
            "[FAILED] {host}: 0 of 16 addresses answer ping: ping is not installed (package iputils-ping): nothing was swept"
        )
    );
    assert_eq!(body.matches("ping is not installed").count(), 1, "{body}");
    assert!(
        body.contains("\n16 addresses did not answer: ping is not installed (package iputils-ping): nothing was swept\n  127.0.0.0, 127.0.0.1, "),
        "{body}"
    );
    assert!(body.contains("127.0.0.14, 127.0.0.15\n"), "{body}");
}

#[test]
fn default_subject_starts_with_the_status() {
    let env = Env::new("");
    env.job("fine", "commands: [true]\n");
    env.job("broken", "commands: ['exit 3']\n");
    env.run(&["run", "fine"]).code(0).stderr_empty();
    env.run(&["run", "broken"]).code(1).stderr_only_not_ok();
    let host = hostname();
    let subjects: Vec<String> = env
        .smtp
        .wait_for(2)
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            format!("[OK] fine on {host}"),
            format!("[FAILED] broken on {host}")
        ]
    );
}

// ---- phone-first HTML ----

/// What Chromium measured of a page shown `width` pixels wide.
#[derive(Debug, serde::Deserialize)]
struct Layout {
    inner: f64,
    scroll: f64,
    /// Each usage bar: its percentage, its width and the width of its filled part.
    bars: Vec<(String, f64, Option<f64>)>,
    /// Elements reaching past the right edge.
    over: Vec<String>,
}

const MEASURE: &str = r#"<script>
(function () {
  var d = document.documentElement;
  var bars = [].map.call(document.querySelectorAll('[data-bar]'), function (t) {
    var fill = t.querySelector('td[width$="%"]');
    return [t.getAttribute('data-bar'), t.getBoundingClientRect().width,
      fill ? fill.getBoundingClientRect().width : null];
  });
  var over = [].filter.call(document.querySelectorAll('body *'), function (e) {
    return e.getBoundingClientRect().right > innerWidth + 0.5;
  }).slice(0, 5).map(function (e) { return e.outerHTML.slice(0, 120); });
  parent.document.body.setAttribute('data-measure', JSON.stringify(
    {inner: innerWidth, scroll: d.scrollWidth, bars: bars, over: over}));
})();
</script>"#;

/// Shows `html` in headless Chromium in a frame `width` pixels wide (a phone is 375) and
/// measures it. (Headless windows are at least 500 pixels wide; a frame can be narrower.)
fn measure(html: &str, width: u32) -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let measured = format!("{html}{MEASURE}");
    let escaped = measured
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = dir.path().join("frame.html");
    std::fs::write(
        &page,
        format!("<!DOCTYPE html><html><body style=\"margin:0\"><iframe style=\"width:{width}px;height:3000px;border:0\" srcdoc=\"{escaped}\"></iframe></body></html>"),
    )
    .unwrap();
    let output = chromium(&page, (1000, 3000), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&output.stdout);
    let Some(at) = dom.find("data-measure=\"") else {
        panic!(
            "no measurement in Chromium's DOM:\n{dom}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let rest = &dom[at + "data-measure=\"".len()..];
    let json = rest[..rest.find('"').unwrap()]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// `html` fits `width` pixels: nothing wider than the frame, every bar visible, and the
/// filled part of each bar above 0% visible too.
#[track_caller]
fn assert_fits(what: &str, html: &str, width: u32, bars: usize) {
    let layout = measure(html, width);
    assert_eq!(layout.inner, f64::from(width), "{what}: {layout:?}");
    assert!(
        layout.scroll <= layout.inner && layout.over.is_empty(),
        "{what} at {width} px overflows: {layout:?}"
    );
    assert!(
        layout.bars.len() >= bars,
        "{what} at {width} px: {layout:?}"
    );
    for (percent, bar, fill) in &layout.bars {
        assert!(
            *bar >= 30.0,
            "{what} at {width} px: bar for {percent}% is {bar} px: {layout:?}"
        );
        let percent: f64 = percent.parse().unwrap();
        if percent > 0.0 {
            let fill = fill.expect("a filled part");
            assert!(
                fill > 0.0,
                "{what} at {width} px: {percent}% fills {fill} px"
            );
            // The filled part is its share of the bar, within a pixel or two.
            assert!(
                (fill - bar * percent.min(100.0) / 100.0).abs() <= 2.0,
                "{what} at {width} px: {percent}% of {bar} px is {fill} px"
            );
        }
    }
}

/// The shipped HTML templates (`templates/*.html.hbs`), by name.
fn shipped_html_templates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("templates"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".html.hbs").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

const LONG_MOUNT: &str =
    "/srv/backups/very/long/mount/point/that/goes/on/and/on/without/a/single/break/anywhere";

/// A context with hard cases: a long mount, disks at 0%, 95% and 100%, a long unbroken
/// output line, earlier runs.
fn hard_context() -> serde_json::Value {
    let disk = |mount: &str, percent: f64| {
        // Fourteen runs climbing to `percent`, the most a trend holds.
        let trend: Vec<f64> = (0..14).map(|i| percent * f64::from(i + 1) / 14.0).collect();
        let days_to_full = (percent > 0.0 && percent < 100.0).then_some(0.4 + percent / 10.0);
        serde_json::json!({"mount": mount, "device": "/dev/mapper/volume-group-with-a-long-name-data",
            "fs": "ext4", "total": 1100u64 << 30, "used": ((percent as u64) * 11) << 30,
            "available": ((100 - percent as u64) * 11) << 30, "percent": percent,
            "trend": trend, "days_to_full": days_to_full})
    };
    let long_line = format!("{LONG_MOUNT}{}", "x".repeat(300));
    let result = serde_json::json!({"name": "disk usage", "command": "df -h", "host": null,
        "target": null, "status": "failed", "exit_code": 0, "signal": null,
        "stdout": format!("Filesystem Size Used Avail Use% Mounted on\n/dev/sdb1 100G 95G 5.0G 95% {long_line}\n"),
        "stderr": long_line, "duration_ms": 12, "truncated": false,
        "started_at": "2026-11-22T06:00:00Z", "changed": null, "attempts": 1, "diff": null,
        "matches": [format!("/dev/sdb1 100G 95G 5.0G 95% {long_line}")],
        "values": {"used_on_a_very_long_named_value": 102005473280u64, "duration_ms": 12},
        "values_text": {"used_on_a_very_long_named_value": "95 GiB", "duration_ms": "12ms"},
        "trends": {"used_on_a_very_long_named_value": [10, 40, 70, 100], "duration_ms": [100, 90, 100, 80]},
        "expectations": [{"value": "used_on_a_very_long_named_value", "rule": "change", "ok": false,
            "text": "used_on_a_very_long_named_value 11 GiB → 95 GiB (+764%, change > 50%)"}],
        "stdout_attachment": null, "stderr_attachment": null});
    let history: Vec<serde_json::Value> = (0..13)
        .map(|i| serde_json::json!({"percent": 60 + i * 3, "at": "2026-11-20T06:00:00Z"}))
        .collect();
    serde_json::json!({
        "job": {"name": "disk-usage", "description": "Nightly disk usage report", "schedule": "daily"},
        "host": {"hostname": "web1", "fqdn": "web1.a-rather-long-domain-name.example.com",
            "os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-18-cloud-amd64", "arch": "x86_64",
            "uptime_secs": 90000, "uptime": "1d 01h", "boot_time": "2026-11-21T07:00:00Z",
            "load": {"one": 0.5, "five": 0.25, "fifteen": 0.1}, "cpus": 4,
            "memory": {"total": 8u64 << 30, "used": 2u64 << 30, "available": 6u64 << 30, "percent": 25.0},
            "swap": {"total": 1u64 << 30, "used": 1u64 << 29, "percent": 50.0},
            "disks": [disk("/", 47.0), disk(LONG_MOUNT, 95.0), disk("/boot", 0.0), disk("/full", 100.0)]},
        "results": [result],
        "hosts": [],
        "summary": {"total": 1, "ok": 0, "failed": 1, "timeout": 0, "error": 0, "duration_ms": 12,
            "all_ok": false, "status": "failed",
            "failed_expectation": "used_on_a_very_long_named_value 11 GiB → 95 GiB (+764%, change > 50%)"},
        "run": {"id": "20261122T060000Z.1.abcdef", "started_at": "2026-11-22T06:00:00Z",
            "finished_at": "2026-11-22T06:00:01Z", "trigger": "cron", "interrupted": false, "recovered": false},
        "previous": null,
        "disk_history": {"/": history, LONG_MOUNT: [], "/boot": [], "/full": []},
        "node": null,
        "section": false
    })
}

/// The summary a shipped log report's command prints (docs/logs.md), with hard cases: long
/// unbroken names, commands and messages, and markup an attacker wrote; `None` for the
/// other templates.
fn hard_log_data(template: &str) -> Option<serde_json::Value> {
    let long = format!("{LONG_MOUNT}{}", "x".repeat(200));
    let attack = "x\"y</td><script>alert(1)</script>";
    let list = |rows: serde_json::Value| {
        let count = rows.as_array().map_or(0, Vec::len);
        serde_json::json!({"total": 312, "distinct": count, "others": 3, "top": rows})
    };
    let data = match template {
        "logins" => serde_json::json!({"since": "2026-12-06 06:25", "alert": true,
            "failed_ssh_from_one_address": 250,
            "limits": {"ssh_failures_from_one_address": 20, "sudo_failures": 1},
            "accepted": list(serde_json::json!([{"user": long, "address": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "method": "keyboard-interactive/pam", "count": 1234}])),
            "failed": {"total": 312, "addresses": list(serde_json::json!([{"address": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "count": 250}])),
                "users": list(serde_json::json!([{"user": attack, "count": 12}, {"user": long, "count": 1}]))},
            "sudo": {"commands": list(serde_json::json!([{"user": "alice", "as": "root", "command": long, "count": 99999}])),
                "failures": list(serde_json::json!([{"user": "bob", "count": 2}])),
                "denied": list(serde_json::json!([{"user": "eve", "reason": long, "count": 1}]))},
            "su": {"sessions": list(serde_json::json!([{"user": long, "as": "root", "count": 1}])),
                "failures": list(serde_json::json!([{"user": "eve", "as": long, "count": 1}]))}}),
        "system-errors" => serde_json::json!({"since": "2026-12-06 06:25", "alert": true,
            "limits": {"oom_kills": 1, "io_errors": 1, "failed_units": 1},
            "findings": [{"what": "OOM kill", "count": 2, "worst": long}],
            "oom_kills": list(serde_json::json!([{"name": attack, "pid": "812", "count": 1}])),
            "io_errors": list(serde_json::json!([{"device": long, "count": 1}])),
            "failed_units": list(serde_json::json!([{"unit": long, "result": "exit-code", "count": 1}])),
            "restarts": list(serde_json::json!([{"unit": long, "count": 7}])),
            "segfaults": list(serde_json::json!([{"program": long, "count": 1}])),
            "kernel_errors": list(serde_json::json!([{"message": long, "count": 100000}]))}),
        "package-changes" => serde_json::json!({"since": "2026-12-06 06:25", "total": 3,
            "findings": [{"what": "upgraded", "count": 1, "first": long}],
            "upgraded": list(serde_json::json!([{"package": long, "old": long, "new": "1.0"}])),
            "installed": list(serde_json::json!([{"package": long, "version": long}])),
            "removed": list(serde_json::json!([{"package": "telnet", "version": long}])),
            "purged": list(serde_json::json!([{"package": long}]))}),
        _ => return None,
    };
    Some(data)
}

/// The digest's context for the sections of `context`'s job, twice (one failing), each
/// with the job's report rendered as a section (HTML for one, only text for the other).
fn hard_digest_context(templates: &reporter::render::Templates) -> serde_json::Value {
    let job = hard_context();
    let mut as_section = job.clone();
    as_section["section"] = true.into();
    let text = templates.render_text("disk-usage", &as_section).unwrap();
    let html = templates
        .render_html("disk-usage", &as_section)
        .unwrap()
        .unwrap();
    assert!(!html.contains("<html"), "a section is no page: {html}");
    let section = |name: &str, html: Option<&str>| {
        let mut section = serde_json::json!({"job": job["job"].clone(), "summary": job["summary"].clone(),
            "results": job["results"].clone(), "hosts": [], "run": job["run"].clone(), "previous": null,
            "text": text, "html": html});
        section["job"]["name"] = name.into();
        section
    };
    serde_json::json!({
        "host": job["host"].clone(), "run": job["run"].clone(),
        "summary": {"jobs": 2, "ok": 0, "failed": 2, "timeout": 0, "error": 0, "recovered": 0,
            "all_ok": false, "status": "failed"},
        "jobs": [section("disk-usage", Some(&html)),
            section("a-job-with-a-rather-long-name-for-a-phone-screen", None)],
    })
}

#[test]
fn shipped_html_fits_a_phone_and_a_desktop_with_hard_content() {
    let templates = reporter::render::Templates::load(&repo().join("templates")).unwrap();
    let names = shipped_html_templates();
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        let context = if name == "digest" {
            hard_digest_context(&templates)
        } else if let Some(data) = hard_log_data(name) {
            let mut context = hard_context();
            context["results"][0]["data"] = data;
            context
        } else {
            hard_context()
        };
        let html = templates
            .render_html(name, &context)
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!html.contains("<script>"), "{name}: {html}");
        let bars = if html.contains("data-bar=") { 1 } else { 0 };
        for width in [375, 900] {
            assert_fits(name, &html, width, bars);
        }
    }
}

#[test]
fn shipped_html_reports_fit_a_phone_and_a_desktop() {
    let long = format!("/dev/sdb1 100G 95G 5.0G 95% {LONG_MOUNT}");
    let env = shipped_with_tools(
        &[(
            "df",
            &format!("echo 'Filesystem Size Used Avail Use% Mounted on'; echo '{long}'"),
        )],
        &[],
    );
    let reports: Vec<(String, Vec<&str>)> = shipped_html_templates()
        .into_iter()
        .map(|name| {
            let args = if name == "digest" {
                vec![
                    "preview",
                    "--html",
                    "--digest",
                    "disk-usage",
                    "system-summary",
                ]
            } else {
                vec!["preview", "--html"]
            };
            (name, args)
        })
        .collect();
    for (name, mut args) in reports {
        if name != "digest" {
            args.push(&name);
        }
        let html = env.run(&args).code_in(&[0, 1]).stderr_quiet().into_stdout();
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
        // Every disk of this machine has its bar (the system summary also memory's).
        let bars = html.matches("data-bar=").count();
        for width in [375, 900] {
            assert_fits(&name, &html, width, bars);
        }
    }
}

// ---- check ----

#[test]
fn check_reports_variables_helpers_and_partials_that_cannot_exist() {
    let env = Env::new("");
    env.job(
        "oops",
        "mail: {template: oops, subject: 'x {{summary.stauts}}'}\ncommands: [true]\n",
    );
    let text = env.template(
        "oops.txt.hbs",
        "Hi {{job.nmae}}\n{{#each results}}{{name}} {{../host.hostname}}{{/each}}\n{{> rows}}\n",
    );
    let html = env.template("oops.html.hbs", "<p>{{shout job.name}}</p>");
    let rows = env.template(
        "partials/rows.txt.hbs",
        "{{#each host.disks}}{{mount}} {{avail}}{{/each}}",
    );
    let fine = env.template(
        "fine.txt.hbs",
        "{{#each results}}{{#with (worst ../results)}}{{name}}{{/with}}{{/each}}",
    );
    let run = env.run(&["check"]).code(2);
    let run = run
        .stderr_contains(&format!(
            "{}:1:4: unknown variable job.nmae (`job` has description, name, schedule)",
            text.display()
        ))
        .stderr_contains(&format!("{}:1:4: unknown helper `shout`", html.display()))
        .stderr_contains(&format!(
            "{}:1:31: unknown variable avail (here: available, ",
            rows.display()
        ))
        .stderr_contains(&format!(
            "{}: mail.subject: 1:3: unknown variable summary.stauts",
            env.path("jobs/oops.yaml").display()
        ))
        .stderr_contains("4 problems found")
        .stderr_lacks(&fine.display().to_string());
    assert!(!run.stderr.contains("strict mode"), "{}", run.stderr);
}

#[test]
fn check_passes_addresses_that_read_the_job_and_the_mail_goes_to_them() {
    let env = Env::new("");
    env.job(
        "badto",
        "commands: [true]\nmail:\n  to: ['ops+{{job.name}}@example.com']\n  \
         cc: ['{{lower job.name}}-audit@example.com']\n  \
         from: 'Reporter <reporter+{{job.name}}@{{host.fqdn}}>'\n  \
         reply_to: '{{#if job.description}}desk{{else}}ops{{/if}}@example.com'\n",
    );
    env.run(&["check"])
        .code(0)
        .stderr_empty()
        .stdout_contains("1 job ok");
    let preview = env
        .run(&["preview", "badto"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    for header in [
        "To: ops+badto@example.com\n",
        "Cc: badto-audit@example.com\n",
        "Reply-To: ops@example.com\n",
    ] {
        assert!(preview.contains(header), "{header} in {preview}");
    }
    env.run(&["run", "badto"]).code(0).stderr_empty();
    let received = &env.smtp.wait_for(1)[0];
    assert_eq!(
        received.rcpt_to,
        ["ops+badto@example.com", "badto-audit@example.com"]
    );
    let from = received.header("From").unwrap_or_default();
    assert!(from.starts_with("Reporter <reporter+badto@"), "{from}");
}

#[test]
fn render_errors_are_phrased_for_people() {
    let env = Env::new("");
    env.job("oops", "mail: {template: oops}\ncommands: [true]\n");
    let text = env.template(
        "oops.txt.hbs",
        "{{#if true}}\nHello {{job.nmae}}\n{{/if}}\n",
    );
    let run = env.run(&["run", "oops"]).code(2).stderr_contains(&format!(
        "{}:2:7: unknown variable job.nmae",
        text.display()
    ));
    assert!(
        !run.stderr.contains("strict mode") && !run.stderr.contains("Some("),
        "{}",
        run.stderr
    );
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("unknown variable job.nmae"), "{body}");
    assert!(!body.contains("Some("), "{body}");
}

// ---- numbers ----

#[test]
fn numbers_agree_inside_one_mail() {
    let env = Env::new("");
    env.job("one", "mail: {template: numbers}\ncommands: [true]\n");
    env.template(
        "numbers.txt.hbs",
        "{{bytes 83000000000}}|{{bytes 1025}}|{{fixed 1.8 2}}|{{plural 1 \"command\"}}|{{plural 2 \"command\"}}|{{duration 2065}}\n",
    );
    env.run(&["run", "one"]).code(0).stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].body().trim_end(),
        "78 GiB|1.1 KiB|1.80|1 command|2 commands|2.1s"
    );
    env.job("single", "commands: ['sleep 0.01']\n");
    env.run(&["run", "single"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(2)[1].body();
    assert!(body.contains("\n1 command: 1 ok, "), "{body}");
    // Durations go through `duration`: `12ms`, `1.5s`, never `(12 ms)`.
    assert!(!body.contains(" ms)"), "{body}");
    assert!(body.contains("could not run (in "), "{body}");

    // The shipped HTML counts right too.
    let env = Env::new(&format!(
        "templates_dir: {}\n",
        repo().join("templates").display()
    ));
    env.job(
        "one-check",
        "mail: {template: disk-usage}\ncommands: ['exit 1']\n",
    );
    let html = env
        .run(&["preview", "--html", "one-check"])
        .code(1)
        .stderr_only_not_ok()
        .into_stdout();
    assert!(html.contains("<b>0 of 1 check ok</b>"), "{html}");
}

#[test]
fn disk_tables_say_avail_in_text_and_html() {
    let env = shipped_with_tools(&[("df", DF_GOOD)], &[]);
    let text = env
        .run(&["preview", "disk-usage"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(text.contains("    Size     Used    Avail  Use%"), "{text}");
    let html = env
        .run(&["preview", "--html", "disk-usage"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(html.contains(">Avail</th>"), "{html}");
    for stale in ["AVAIL", ">Free<", ">Usage<"] {
        assert!(!html.contains(stale) && !text.contains(stale), "{stale}");
    }
}

// ---- enabled ----

#[test]
fn disabled_jobs_stay_out_of_all_and_schedules_but_run_by_name() {
    let env = Env::new("");
    env.job("on", "schedule: daily\ncommands: [echo on]\n");
    env.job(
        "off",
        "enabled: false\nschedule: daily\ncommands: [echo off]\n",
    );
    env.run(&["run", "--all"]).code(0).stderr_empty();
    env.run(&["run", "--schedule", "daily"])
        .code(0)
        .stderr_empty();
    env.run(&["run", "off"]).code(0).stderr_empty();
    env.smtp.wait_for(3);
    assert_eq!(env.smtp.jobs(), ["on", "on", "off"]);

    let list = env
        .run(&["list", "--json"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "off");
    assert_eq!(list[0]["enabled"], false);
    assert_eq!(list[0]["next_run"], serde_json::Value::Null);
    assert_eq!(list[1]["enabled"], true);
    assert!(list[1]["next_run"].is_string(), "{list}");
    let table = env.run(&["list"]).code(0).stderr_empty().into_stdout();
    let off = table.lines().find(|l| l.starts_with("off ")).unwrap();
    assert!(off.contains("  disabled "), "{table}");

    // `defaults:` may turn every job off; a job's own value wins.
    env.write_config("defaults: {enabled: false}\n");
    env.job("on", "enabled: true\ncommands: [echo on]\n");
    env.run(&["run", "--all"]).code(0).stderr_empty();
    env.smtp.wait_for(4);
    assert_eq!(env.smtp.jobs().last().unwrap(), "on");
    assert_eq!(env.smtp.jobs().len(), 4);
}

#[test]
fn the_daemon_never_fires_a_disabled_job() {
    let env = Env::new("");
    env.job("tick", "schedule: \"* * * * * *\"\ncommands: [echo tick]\n");
    env.job(
        "quiet",
        "enabled: false\nschedule: \"* * * * * *\"\ncommands: [echo quiet]\n",
    );
    let daemon = env.start(&["daemon"]);
    assert!(
        wait_until(|| env.smtp.jobs().iter().filter(|j| *j == "tick").count() >= 2),
        "{}",
        daemon.stderr_so_far()
    );
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("daemon stopped");
    assert!(
        !env.smtp.jobs().iter().any(|j| j == "quiet"),
        "{:?}",
        env.smtp.jobs()
    );
}

#[test]
fn the_shipped_ping_sweep_is_disabled() {
    let env = Env::shipped();
    let list = env
        .run(&["list", "--json"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let ping = list
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "ping-sweep")
        .unwrap();
    assert_eq!(ping["enabled"], false, "{list}");
    let enabled: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["enabled"] == true)
        .collect();
    assert_eq!(enabled.len(), 10, "{list}");
}

// ---- digests ----

#[test]
fn digest_sections_are_the_jobs_own_reports_failed_first() {
    let env = shipped_with_tools(&[("df", DF_FULL)], &[]);
    env.run(&["run", "--digest", "system-summary", "disk-usage"])
        .code(1)
        .stderr_only_not_ok();
    let message = &env.smtp.wait_for(1)[0];
    let text = message.body();
    // The summary lists the failed job first, and a facts-only job without "0 of 0 ok".
    let failed = text.find("  FAILED  disk-usage").expect(&text);
    let ok = text.find("  OK      system-summary").expect(&text);
    assert!(failed < ok, "{text}");
    assert!(!text.contains("0 of 0 ok"), "{text}");
    // Each section is what the job's own report shows: the facts of the system summary,
    // the disk table and the findings of the disk report.
    let summary = &text[text.find("======== system-summary").expect(&text)..];
    for shown in [
        "Uptime    ",
        "Load      ",
        "Memory    ",
        "    Size     Used    Avail  Use%",
    ] {
        assert!(
            summary.contains(shown),
            "{shown:?} missing from the section:\n{text}"
        );
    }
    let disks = &text[text.find("======== disk-usage").expect(&text)..];
    let disks = &disks[..disks.find("======== system-summary").unwrap_or(disks.len())];
    assert!(disks.contains("✘ disk usage: at 90% or more"), "{text}");
    assert!(disks.contains("    Size     Used    Avail  Use%"), "{text}");
    assert_eq!(
        text.matches("\n-- \n").count(),
        1,
        "one signature line: {text}"
    );

    let html = message
        .parsed()
        .body_html(0)
        .expect("an HTML part")
        .into_owned();
    assert_eq!(
        html.matches("<!DOCTYPE html>").count(),
        1,
        "one page: {html}"
    );
    assert_eq!(html.matches("</html>").count(), 1, "{html}");
    let section = &html[html.find("data-section=\"system-summary\"").expect(&html)..];
    assert!(
        section.contains(">Uptime</td>") && section.contains("data-bar="),
        "{html}"
    );
    let section = &html[html.find("data-section=\"disk-usage\"").expect(&html)..];
    assert!(
        section.contains("data-mount=") && section.contains("data-bar="),
        "{html}"
    );
    let row = |job: &str| html.find(&format!("<tr data-job=\"{job}\"")).expect(&html);
    assert!(
        row("disk-usage") < row("system-summary"),
        "failed first: {html}"
    );
}

// ---- what changed ----

#[test]
fn on_change_mails_show_the_diff_and_previous_has_the_outputs() {
    let env = Env::new("");
    let file = env.write("data/lines", "a\nb\nc\nd\ne\nf\ng\nh\n");
    env.job(
        "watch",
        &format!(
            "send: on-change\ncommands:\n  - name: lines\n    run: cat {}\n",
            file.display()
        ),
    );
    env.template(
        "was.txt.hbs",
        "{{#if previous}}{{#each previous}}was [{{stdout}}] err [{{stderr}}]{{/each}}{{/if}} diff [{{#each results}}{{diff}}{{/each}}]",
    );
    env.job(
        "earlier",
        &format!(
            "mail: {{template: was}}\ncommands:\n  - name: lines\n    run: cat {}; echo oops >&2\n",
            file.display()
        ),
    );
    env.run(&["run", "watch", "earlier"]).code(0).stderr_empty();
    let first = env.smtp.wait_for(2);
    let earlier = first.iter().find(|m| m.text().contains("diff [")).unwrap();
    assert_eq!(earlier.body().trim(), "diff []", "no previous run");
    assert!(!first.iter().any(|m| m.body().contains("--- previous")));

    env.run(&["run", "watch"]).code(0).stderr_empty();
    assert_eq!(env.smtp.received().len(), 2, "nothing changed: not mailed");

    std::fs::write(&file, "a\nb\nc\nd\nE\nf\ng\nh\n").unwrap();
    env.run(&["run", "watch", "earlier"]).code(0).stderr_empty();
    let all = env.smtp.wait_for(4);
    let watch = all[2..]
        .iter()
        .find(|m| !m.text().contains("diff ["))
        .unwrap();
    let body = watch.body();
    assert!(
        body.contains(
            "-- changed since the last run:\n--- previous\n+++ now\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        ),
        "{body}"
    );
    let earlier = all[2..]
        .iter()
        .find(|m| m.text().contains("diff ["))
        .unwrap();
    assert_eq!(
        earlier.body().trim_end(),
        "was [a\nb\nc\nd\ne\nf\ng\nh\n] err [oops\n] diff [--- previous\n+++ now\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n]"
    );
}

#[test]
fn a_digest_run_keeps_the_outputs_the_next_run_compares_with() {
    let env = Env::new("");
    let file = env.write("data/value", "one\n");
    env.job(
        "watch",
        &format!(
            "commands:\n  - name: value\n    run: cat {}\n",
            file.display()
        ),
    );
    env.run(&["run", "--digest", "watch"])
        .code(0)
        .stderr_empty();
    env.smtp.wait_for(1);
    std::fs::write(&file, "two\n").unwrap();
    env.run(&["run", "--digest", "watch"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(2)[1].body();
    assert!(
        body.contains(
            "-- changed since the last run:\n--- previous\n+++ now\n@@ -1 +1 @@\n-one\n+two\n"
        ),
        "{body}"
    );
}

// ---- disk forecast ----

/// A 64 MiB ext4 filesystem in a file, loop-mounted at `dir` until dropped.
struct LoopMount {
    dir: std::path::PathBuf,
}

impl LoopMount {
    fn new(image: &Path, dir: &Path) -> LoopMount {
        let run = |program: &str, args: &[&std::ffi::OsStr]| {
            let output = Command::new(program).args(args).output().unwrap();
            assert!(output.status.success(), "{program} {args:?}: {output:?}");
        };
        std::fs::File::create(image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        run("mkfs.ext4", &["-q".as_ref(), image.as_os_str()]);
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                dir.as_os_str(),
            ],
        );
        LoopMount {
            dir: dir.to_owned(),
        }
    }

    /// Makes `file` on the filesystem `mib` MiB long, on disk.
    fn fill(&self, file: &str, mib: usize) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join(file)).unwrap();
        f.write_all(&vec![7u8; mib << 20]).unwrap();
        f.sync_all().unwrap();
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_filling_disk_gets_a_forecast_and_fails_the_report_within_disk_full_within() {
    crate::support::require_root();
    let host = hostname();
    let env = Env::new("");
    // The shipped disk report, made from the facts alone (no `df` commands, so that this
    // machine's own disks cannot fail it).
    let shipped = std::fs::read_to_string(repo().join("jobs/disk-usage.yaml")).unwrap();
    let job = &shipped[..shipped.find("\ncommands:").unwrap()];
    assert!(job.contains("disk_full_within: 14d"), "{job}");
    env.job("disk-usage", job);
    env.write_config(&format!(
        "templates_dir: {}\n",
        repo().join("templates").display()
    ));
    let disk = LoopMount::new(&env.path("disk.img"), &env.path("mnt"));
    let mount = disk.dir.to_str().unwrap().to_owned();

    let mut subjects = Vec::new();
    for (run, mib) in [10, 22, 34].into_iter().enumerate() {
        disk.fill("growing", mib);
        let code = if run < 2 { 0 } else { 1 };
        env.run(&["run", "disk-usage"]).code(code).stderr_quiet();
        let message = env.smtp.wait_for(run + 1).pop().unwrap();
        subjects.push(message.parsed().subject().unwrap().to_owned());
        let text = message.body();
        let html = message.parsed().body_html(0).unwrap().into_owned();
        let row = text.lines().position(|l| l.ends_with(&mount)).expect(&text);
        let next = text.lines().nth(row + 1).unwrap_or_default();
        if run == 0 {
            assert!(!next.contains("last "), "no trend on the first run: {text}");
            continue;
        }
        // The trend: this disk's percent in the earlier runs and now, as a sparkline.
        let trend = format!("  last {} runs", run + 1);
        assert!(next.contains(&trend), "{next:?} in {text}");
        assert_eq!(
            next.trim_start()
                .chars()
                .take_while(|c| "▁▂▃▄▅▆▇█".contains(*c))
                .count(),
            run + 1,
            "{next}"
        );
        let at = html.find(&format!("data-trend=\"{mount}\"")).expect(&html);
        let samples = &html[at..];
        let samples = &samples[..samples.find("data-mount=").unwrap_or(samples.len())];
        assert_eq!(samples.matches("data-sample=").count(), run + 1, "{html}");
        if run == 1 {
            assert!(
                !next.contains("full"),
                "two points make no forecast: {next}"
            );
            continue;
        }
        assert!(next.contains("full within a day"), "{next}");
        let days = &html[html.find("data-days-to-full=\"").expect(&html) + 19..];
        let days: f64 = days[..days.find('"').unwrap()].parse().unwrap();
        assert!((0.0..1.0).contains(&days), "{days}");
        // The soonest full first (this machine's own disks may be growing too).
        assert!(
            text.contains(&format!("== disk forecast: failed\n{mount} ")),
            "{text}"
        );
        assert_eq!(
            message.header("X-Reporter-Status").as_deref(),
            Some("failed")
        );
    }
    assert_eq!(subjects[0], format!("[ok] {host}: disks below 90%"));
    assert_eq!(subjects[1], subjects[0]);
    let expected = format!("[FAILED] {host}: {mount} ");
    assert!(
        subjects[2].starts_with(&expected)
            && subjects[2].ends_with("% used, full within a day (disk forecast)"),
        "{:?}",
        subjects[2]
    );
}

#[test]
fn a_bad_disk_full_within_names_the_file_and_key() {
    let env = Env::new("");
    let path = env.job("disks", "disk_full_within: soon\ncommands: [df]\n");
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{}:1:19: disk_full_within: invalid duration \"soon\" (expected e.g. 30s, 5m, 1h30m)",
        path.display()
    ));
}
