//! Send rules, `previous`/`changed` and `--digest`: sequences of real runs against a real
//! SMTP server, with the run history in a real SQLite file in between.

use crate::support::{Env, Run, hostname};

/// A job whose one command prints the flag file and fails unless it says `ok`.
fn flagged_job(env: &Env, name: &str, extra: &str) {
    let flag = env.path(&format!("{name}.flag"));
    env.job(
        name,
        &format!(
            "{extra}commands:\n  - name: check\n    run: cat {0}; grep -qx ok {0}\n",
            flag.display()
        ),
    );
}

fn set_flag(env: &Env, name: &str, value: &str) {
    env.write(&format!("{name}.flag"), &format!("{value}\n"));
}

/// Runs `args` and returns the run with the messages the server received during it.
fn mail_run(env: &Env, args: &[&str]) -> (Run, Vec<String>) {
    let before = env.smtp.received().len();
    let run = env.run(args);
    // Every delivery is finished when reporter exits.
    let subjects = env.smtp.received()[before..]
        .iter()
        .map(|m| m.header("Subject").unwrap_or_default())
        .collect();
    (run, subjects)
}

#[test]
fn on_failure_mails_failures_and_once_on_recovery() {
    let env = Env::new("");
    flagged_job(&env, "raid", "send: on-failure\n");
    let host = hostname();
    let failed = vec![format!("[FAILED] raid on {host}")];
    for (step, (flag, code, expected)) in [
        ("ok", 0, vec![]),
        ("degraded", 1, failed.clone()),
        ("degraded", 1, failed),
        ("ok", 0, vec![format!("[recovered] [OK] raid on {host}")]),
        ("ok", 0, vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        set_flag(&env, "raid", flag);
        let (run, subjects) = mail_run(&env, &["run", "raid"]);
        run.code(code).stderr_quiet();
        assert_eq!(subjects, expected, "run {step} ({flag})");
    }
    let recovery = env.smtp.received()[2].body();
    assert!(
        recovery.contains("Recovered: every command is ok again after the last run failed."),
        "{recovery}"
    );

    let mut runs = env.history_json(&["raid"]);
    runs.reverse();
    let sent: Vec<bool> = runs.iter().map(|r| r["sent"].as_bool().unwrap()).collect();
    assert_eq!(sent, [false, true, true, true, false]);
    assert_eq!(
        runs[0]["reason"],
        "send: on-failure, and every result is ok"
    );
    assert_eq!(runs[0]["status"], "ok", "an unmailed run is still recorded");
    assert_eq!(runs[1]["reason"], serde_json::Value::Null);
    env.run(&["history", "raid"])
        .code(0)
        .stderr_empty()
        .stdout_contains("no: send: on-failure, and every result is ok");
}

#[test]
fn on_change_mails_the_first_run_and_then_only_changes() {
    let env = Env::new("");
    flagged_job(&env, "updates", "send: on-change\n");
    // An unchanged failing run is not mailed but still exits 1: the exit code says how the
    // commands did, whatever the send rule decided.
    for (step, (flag, code, mailed)) in [
        ("ok", 0, 1),
        ("ok", 0, 0),
        ("3 pending", 1, 1),
        ("3 pending", 1, 0),
        ("ok", 0, 1),
    ]
    .into_iter()
    .enumerate()
    {
        set_flag(&env, "updates", flag);
        let (run, subjects) = mail_run(&env, &["run", "updates"]);
        run.code(code).stderr_quiet();
        assert_eq!(subjects.len(), mailed, "run {step} ({flag}): {subjects:?}");
    }
    let mut runs = env.history_json(&["updates"]);
    runs.reverse();
    assert_eq!(
        runs[3]["reason"],
        "send: on-change, and nothing changed since the last run"
    );
    assert_eq!(runs[3]["sent"], false);
    assert_eq!(runs[3]["status"], "failed");
}

#[test]
fn never_records_without_mailing() {
    let env = Env::new("");
    flagged_job(&env, "quiet", "send: never\n");
    set_flag(&env, "quiet", "broken");
    let (run, subjects) = mail_run(&env, &["run", "quiet"]);
    run.code(1).stderr_only_not_ok();
    assert!(subjects.is_empty(), "{subjects:?}");
    let runs = env.history_json(&["quiet"]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["reason"], "send: never");
    assert_eq!(runs[0]["status"], "failed");

    // A preview shows what run would send, and says why it leaves the report out.
    env.run(&["preview", "quiet"])
        .code(1)
        .stderr_contains("quiet: run would not mail this report (send: never)")
        .stdout_empty();
}

#[test]
fn templates_see_the_previous_run_and_what_changed() {
    let env = Env::new("");
    env.template(
        "compare.txt.hbs",
        "{{#each results}}{{name}}: {{status}}, {{#if (eq changed null)}}no previous run{{else if changed}}changed{{else}}unchanged{{/if}}\n{{/each}}\
         {{#each previous}}before: {{name}} {{status}} exit {{exit_code}} output {{stdout}}{{else}}first run\n{{/each}}",
    );
    flagged_job(
        &env,
        "cmp",
        "mail:\n  template: compare\n  subject: \"{{#if run.recovered}}cmp is fine again{{else}}cmp: {{summary.status}}{{/if}}\"\n",
    );
    let mut bodies = Vec::new();
    let mut subjects = Vec::new();
    for flag in ["ok", "ok", "bad"] {
        set_flag(&env, "cmp", flag);
        let (run, mut subject) = mail_run(&env, &["run", "cmp"]);
        run.code(if flag == "ok" { 0 } else { 1 }).stderr_quiet();
        subjects.append(&mut subject);
        let body = env.smtp.received().last().unwrap().body();
        bodies.push(body.trim_end().to_owned());
    }
    set_flag(&env, "cmp", "ok");
    let (run, mut subject) = mail_run(&env, &["run", "cmp"]);
    run.code(0).stderr_empty();
    subjects.append(&mut subject);
    assert_eq!(bodies[0], "check: ok, no previous run\nfirst run");
    assert_eq!(
        bodies[1],
        "check: ok, unchanged\nbefore: check ok exit 0 output ok"
    );
    assert_eq!(
        bodies[2],
        "check: failed, changed\nbefore: check ok exit 0 output ok"
    );
    // A subject that handles run.recovered itself gets no [recovered] in front.
    assert_eq!(
        subjects,
        ["cmp: ok", "cmp: ok", "cmp: failed", "cmp is fine again"]
    );
}

#[test]
fn a_digest_has_a_section_per_job_its_rule_lets_through() {
    let env = Env::new("");
    env.job("alpha", "commands: [echo alpha-output]\n");
    flagged_job(&env, "beta", "");
    set_flag(&env, "beta", "beta-broken");
    env.job(
        "gamma",
        "send: on-failure\nmail: {to: [other@test.example]}\ncommands: [echo gamma-output]\n",
    );
    let (run, subjects) = mail_run(&env, &["run", "--digest", "alpha", "beta", "gamma"]);
    run.code(1).stderr_only_not_ok();
    assert_eq!(subjects, [format!("[{}] 2 jobs: 1 failed", hostname())]);
    let message = env.smtp.received().pop().unwrap();
    assert_eq!(
        message.rcpt_to,
        ["admin@test.example"],
        "the config's mail.to"
    );
    assert_eq!(message.header("From").unwrap(), "reporter@test.example");
    assert_eq!(message.header("X-Reporter-Job").unwrap(), "digest");
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "failed");
    let body = message.body();
    assert!(
        body.contains("  FAILED  beta (0 of 1 ok)\n  OK      alpha (1 of 1 ok)\n"),
        "{body}"
    );
    let alpha = body.find("======== alpha: ok").expect(&body);
    let beta = body.find("======== beta: failed").expect(&body);
    assert!(beta < alpha, "failed first: {body}");
    assert!(body.contains("alpha-output"), "{body}");
    assert!(body.contains("beta-broken"), "{body}");
    assert!(
        !body.contains("gamma"),
        "gamma's rule leaves it out: {body}"
    );

    let gamma = env.history_json(&["gamma"]);
    assert_eq!(gamma[0]["sent"], false);
    assert_eq!(
        gamma[0]["reason"],
        "send: on-failure, and every result is ok"
    );
    assert_eq!(env.history_json(&["beta"])[0]["sent"], true);

    // No section at all: no message.
    let (run, subjects) = mail_run(&env, &["run", "--digest", "gamma"]);
    run.code(0).stderr_empty();
    assert_eq!(subjects.len(), 0, "{subjects:?}");
}

#[test]
fn a_digest_previews_as_one_message() {
    let env = Env::new("");
    env.job("alpha", "commands: [echo alpha-output]\n");
    env.job("beta", "commands: [echo beta-output]\n");
    let preview = env
        .run(&["preview", "--digest", "--all"])
        .code(0)
        .stderr_empty();
    assert_eq!(preview.stdout.matches("\nFrom ").count() + 1, 1);
    assert!(
        preview
            .stdout
            .contains(&format!("Subject: [{}] 2 jobs: all ok", hostname())),
        "{}",
        preview.stdout
    );

    env.run(&["preview", "--digest", "--html", "--all"])
        .code(2)
        .stderr_contains(&format!(
            "no HTML template to preview (expected `{}`)",
            env.path("templates/digest.html.hbs").display()
        ));
    env.template(
        "digest.html.hbs",
        "<ul>{{#each jobs}}<li>{{job.name}}: {{summary.status}}</li>{{/each}}</ul>",
    );
    env.run(&["preview", "--digest", "--html", "--all"])
        .code(0)
        .stderr_empty()
        .stdout_is("<ul><li>alpha: ok</li><li>beta: ok</li></ul>\n");
}

#[test]
fn the_disk_report_shows_usage_over_earlier_runs() {
    let env = Env::shipped();
    // The shipped job fails (exit 1) when this machine has a filesystem at 90% or more.
    let first = env
        .run(&["preview", "--html", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_quiet()
        .into_stdout();
    assert_eq!(first.matches("<tr data-trend=").count(), 0, "{first}");
    let mounts = first.matches("<tr data-mount=").count();
    for _ in 0..2 {
        env.run(&["run", "disk-usage"])
            .code_in(&[0, 1])
            .stderr_quiet();
    }
    let html = env
        .run(&["preview", "--html", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_quiet()
        .into_stdout();
    // Each disk's trend: the two earlier runs and now.
    assert_eq!(html.matches("<tr data-trend=").count(), mounts, "{html}");
    assert_eq!(html.matches("data-sample=").count(), 3 * mounts, "{html}");

    // The shipped digest has an HTML version too.
    let digest = env
        .run(&[
            "preview",
            "--digest",
            "--html",
            "disk-usage",
            "system-summary",
        ])
        .code_in(&[0, 1])
        .stderr_quiet();
    assert!(
        digest.stdout.starts_with("<!DOCTYPE html>")
            && digest.stdout.contains("<tr data-job=\"disk-usage\">")
            && digest.stdout.contains("<tr data-job=\"system-summary\">"),
        "{}",
        digest.stdout
    );
}
