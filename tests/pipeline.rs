//! The core pipeline end to end: job → commands → template → mail on a real SMTP server.

use crate::support::{Env, hostname};

#[test]
fn classic_disk_report_end_to_end() {
    let env = Env::shipped();
    // The shipped job fails (exit 1) when this machine has a filesystem at 90% or more.
    let run = env
        .run(&["run", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_empty();
    let messages = env.smtp.wait_for(1);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.mail_from, "reporter@test.example");
    assert_eq!(message.rcpt_to, ["admin@test.example"]);
    // The status first, then what was found (tests/reports.rs has the details).
    let subject = message.parsed().subject().unwrap().to_owned();
    let expected = if run.code == 0 { "[ok] " } else { "[FAILED] " };
    assert!(
        subject.starts_with(&format!("{expected}{}: ", hostname())),
        "{subject}"
    );
    assert_eq!(message.header("From").unwrap(), "reporter@test.example");
    assert_eq!(message.header("To").unwrap(), "admin@test.example");
    assert_eq!(message.header("Auto-Submitted").unwrap(), "auto-generated");
    assert_eq!(message.header("X-Reporter-Job").unwrap(), "disk-usage");
    let status = message.header("X-Reporter-Status").unwrap();
    assert_eq!(status, if run.code == 0 { "ok" } else { "failed" });
    assert_eq!(message.header("MIME-Version").unwrap(), "1.0");
    assert!(
        message
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative;")
    );
    let message_id = message.header("Message-ID").unwrap();
    assert!(
        message_id.starts_with('<') && message_id.contains(".disk-usage@"),
        "{message_id}"
    );
    assert!(message.parsed().date().is_some(), "Date parses");
    let body = message.body();
    assert!(body.contains("Filesystem"), "{body}");
    assert!(body.contains("Inodes"), "df -i output: {body}");
}

#[test]
fn preview_prints_mbox_and_sends_nothing() {
    let env = Env::shipped();
    let run = env
        .run(&["preview", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_empty();
    assert!(
        run.stdout.starts_with("From reporter@test.example "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "\nSubject: [{}",
            if run.code == 0 { "ok" } else { "FAILED" }
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\r'), "mbox has LF line ends");
    // The run has exited, so anything it sent has arrived.
    assert!(env.smtp.received().is_empty());
}

#[test]
fn shipped_examples_pass_check() {
    let env = Env::shipped();
    env.run(&["check"]).code(0).stderr_empty();
}

#[test]
fn results_keep_definition_order_under_parallelism() {
    let env = Env::new("");
    env.job(
        "order",
        "commands:\n  - sleep 0.6; echo first\n  - sleep 0.3; echo second\n  - echo third\n",
    );
    env.run(&["run", "order", "--jobs", "3"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let positions: Vec<usize> = ["first", "second", "third"]
        .iter()
        .map(|w| body.find(w).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{body}");
}

#[test]
fn jobs_flag_bounds_concurrency() {
    let env = Env::new("");
    // Each command registers itself, waits, and reports how many were registered at once.
    let command = "    - mkdir -p /RUN && touch /RUN/$$ && sleep 0.4 && echo \"seen=$(ls /RUN | wc -l)\" && rm /RUN/$$\n";
    let command = command.replace("/RUN", env.path("running").to_str().unwrap());
    env.job("bounded", &format!("commands:\n{}", command.repeat(6)));
    env.run(&["run", "bounded", "--jobs", "2"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let seen: Vec<usize> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("seen="))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert_eq!(seen.len(), 6, "{body}");
    assert!(
        seen.iter().all(|&n| n <= 2),
        "more than 2 at once: {seen:?}"
    );
    assert!(
        seen.contains(&2),
        "the pool should use both slots: {seen:?}"
    );
}

#[test]
fn failing_command_still_delivers_and_exits_1() {
    let env = Env::new("");
    env.job(
        "mixed",
        "commands:\n  - echo fine\n  - {name: broken, run: 'echo bad >&2; exit 3'}\n",
    );
    env.run(&["run", "mixed"]).code(1).stderr_only_not_ok();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "failed");
    let body = message.body();
    assert!(body.contains("== broken: failed (exit 3)"), "{body}");
    assert!(body.contains("bad"), "{body}");
}

#[test]
fn to_flag_overrides_recipients() {
    let env = Env::new("");
    env.job(
        "j",
        "mail: {to: [staff@test.example], cc: [boss@test.example]}\ncommands: [uptime]\n",
    );
    env.run(&["run", "j", "--to", "me@test.example"])
        .code(0)
        .stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.rcpt_to, ["me@test.example"]);
    assert_eq!(message.header("To").unwrap(), "me@test.example");
    assert_eq!(message.header("Cc"), None);
}

#[test]
fn builtin_template_reports_every_command() {
    let env = Env::new("");
    env.job("plain", "description: Plain report\ncommands:\n  - echo hello\n  - {name: second, run: echo world}\n");
    env.run(&["run", "plain"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(
        message.header("Subject").unwrap(),
        format!("[OK] plain on {}", hostname())
    );
    let body = message.body();
    assert!(body.contains("Plain report"), "{body}");
    assert!(body.contains("== echo hello: ok\nhello\n"), "{body}");
    assert!(body.contains("== second: ok\nworld\n"), "{body}");
    assert!(body.contains("2 commands: 2 ok"), "{body}");
}

#[test]
fn markup_characters_arrive_unescaped() {
    let env = Env::new("");
    env.template("markup.txt.hbs", "{{#each results}}{{stdout}}{{/each}}");
    env.write("jobs/markup.yaml", "mail: {template: markup, subject: '{{results.0.stdout}}'}\ncommands: [\"echo '<b>fish & chips</b>'\"]\n");
    env.run(&["run", "markup"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.body().trim_end(), "<b>fish & chips</b>");
    assert_eq!(message.header("Subject").unwrap(), "<b>fish & chips</b>");
}

#[test]
fn multi_line_subject_stays_one_header() {
    let env = Env::new("");
    env.job(
        "inject",
        "mail: {subject: 'Report {{results.0.stdout}}'}\ncommands: [\"printf 'a\\\\r\\\\nBcc: victim@evil.example\\\\nX-Evil: 1\\\\n'\"]\n",
    );
    env.run(&["run", "inject"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.rcpt_to, ["admin@test.example"]);
    let subject = message.header("Subject").unwrap();
    assert!(subject.starts_with("Report a"), "{subject}");
    assert!(subject.contains("Bcc: victim@evil.example"), "{subject}");
    assert_eq!(message.header("X-Evil"), None);
    assert_eq!(message.header("Bcc"), None);
}

#[test]
fn facts_only_job_renders() {
    let env = Env::new("");
    env.job(
        "facts",
        "description: just facts\nmail: {template: facts}\n",
    );
    env.template(
        "facts.txt.hbs",
        "host {{host.hostname}} fqdn {{host.fqdn}} results {{summary.total}}\n",
    );
    env.run(&["run", "facts"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(
        body.starts_with("host ") && body.trim_end().ends_with("results 0"),
        "{body}"
    );
}

#[test]
fn commands_get_config_path_job_env_and_cwd() {
    let env = Env::new("path: /usr/bin:/bin:/opt/custom\n");
    env.job("envs", "env: {GREETING: hello, NUMBER: 42}\ncwd: /tmp\ncommands: ['echo \"$PATH|$GREETING|$NUMBER|$(pwd)\"; cat']\n");
    env.run(&["run", "envs"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(
        body.contains("/usr/bin:/bin:/opt/custom|hello|42|/tmp\n"),
        "{body}"
    );
}

#[test]
fn list_json_shows_jobs() {
    let env = Env::new("");
    env.job(
        "b-job",
        "description: second\nschedule: daily\ncommands: [true]\n",
    );
    env.job("a-job", "commands: [true]\n");
    let run = env.run(&["list", "--json"]).code(0).stderr_empty();
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["name"], "a-job");
    assert_eq!(list[1]["name"], "b-job");
    assert_eq!(list[1]["description"], "second");
    assert_eq!(list[1]["schedule"], "daily");
    for key in ["next_run", "last_status"] {
        assert!(list[0].get(key).is_some(), "{key} present");
    }
    let table = env.run(&["list"]).code(0).stderr_empty();
    assert!(
        table
            .stdout
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("b-job  daily"),
        "{}",
        table.stdout
    );
}

#[test]
fn all_runs_valid_jobs_despite_a_broken_one() {
    let env = Env::new("");
    env.job("good", "commands: [echo good]\n");
    env.job("bad", "commands: [echo bad]\ntimeout: soon\n");
    env.run(&["run", "--all"])
        .code(2)
        .stderr_contains("bad.yaml:2:10: timeout: invalid duration \"soon\"");
    let messages = env.smtp.wait_for(2);
    assert_eq!(messages.len(), 2);
    let good = messages
        .iter()
        .find(|m| m.header("X-Reporter-Job").unwrap() == "good");
    assert!(good.is_some(), "the valid job ran");
    let problems = messages
        .iter()
        .find(|m| m.header("X-Reporter-Job").unwrap() == "bad")
        .expect("an error report");
    assert_eq!(problems.rcpt_to, ["admin@test.example"]);
    assert_eq!(problems.header("X-Reporter-Status").unwrap(), "error");
    assert!(
        problems
            .header("Subject")
            .unwrap()
            .ends_with(": 1 configuration problem")
    );
    let body = problems.body();
    assert!(
        body.contains("bad.yaml:2:10: timeout: invalid duration \"soon\""),
        "{body}"
    );
}

#[test]
fn unknown_job_is_a_usage_error() {
    let env = Env::new("");
    env.job("known", "commands: [true]\n");
    env.run(&["run", "nope"])
        .code(2)
        .stderr_contains("no job `nope` (known jobs: known)");
    env.run(&["run"])
        .code(2)
        .stderr_contains("name the jobs to run");
}

#[test]
fn date_header_uses_the_configured_time_zone() {
    let env = Env::new("timezone: Asia/Tokyo\n");
    env.job("tz", "commands: [true]\n");
    env.run(&["run", "tz"]).code(0).stderr_empty();
    let date = env.smtp.wait_for(1)[0].header("Date").unwrap();
    assert!(date.ends_with(" +0900"), "{date}");
}

#[test]
fn completions_and_man_page_need_no_configuration() {
    let env = Env::new("");
    std::fs::remove_file(env.path("reporter.yaml")).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let run = env.run(&["completions", shell]).code(0).stderr_empty();
        assert!(run.stdout.contains("preview"), "{shell}: {}", run.stdout);
    }
    env.run(&["completions", "tcsh"])
        .code(2)
        .stderr_contains("invalid value 'tcsh'");
    let man = env.run(&["man"]).code(0).stderr_empty();
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH reporter"),
        "{}",
        &man.stdout[..200]
    );
}

#[test]
fn color_marks_statuses_only_when_asked() {
    let env = Env::new("");
    env.job("fine", "commands: [true]\n");
    env.run(&["run", "fine"]).code(0).stderr_empty();
    let plain = env.run(&["list"]).code(0).stderr_empty();
    assert!(!plain.stdout.contains('\x1b'), "not a terminal: no colour");
    let colored = env
        .run(&["--color", "always", "list"])
        .code(0)
        .stderr_empty();
    assert!(
        colored.stdout.contains("\x1b[32mok\x1b[0m"),
        "{}",
        colored.stdout
    );
    let errors = env
        .run(&["--color", "always", "run", "missing"])
        .code(2)
        .stderr_contains("no job `missing`");
    assert!(
        errors
            .stderr
            .starts_with("reporter: \x1b[1;31merror: \x1b[0m"),
        "{:?}",
        errors.stderr
    );
}
