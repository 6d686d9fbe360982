//! `commands[].values` and `expect` (docs/values.md): numbers read from stdout or `data`,
//! kept in the history run after run, judged by bounds, by the change from the previous
//! run and by anomalies against the command's own past; the report, `run --json`, webhooks
//! and the metrics file all carry them.

use crate::support::http::HttpServer;
use crate::support::{Env, promtool_accepts, read};

fn json_of(run: crate::support::run::Run) -> serde_json::Value {
    let stdout = run.into_stdout();
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// A job `name` whose one command, `count`, prints the file `NAME.out` (rewritten before
/// each run by [`print`]), with `values_and_expect` below it.
fn counting_job(env: &Env, name: &str, extra: &str, values_and_expect: &str) {
    let file = env.write(&format!("{name}.out"), "");
    env.job(
        name,
        &format!(
            "{extra}commands:\n  - name: count\n    run: cat {}\n{values_and_expect}",
            file.display()
        ),
    );
}

fn print(env: &Env, name: &str, output: &str) {
    env.write(&format!("{name}.out"), output);
}

/// One `run --json` of `name`, which exits `code`: its only result.
fn run_once(env: &Env, name: &str, code: i32) -> serde_json::Value {
    let run = env.run(&["run", "--json", name]).code(code);
    let run = if code == 0 {
        run.stderr_empty()
    } else {
        run.stderr_only_not_ok()
    };
    let outcome = json_of(run);
    outcome["jobs"][0]["results"][0].clone()
}

fn texts(result: &serde_json::Value) -> Vec<(String, bool)> {
    result["expectations"]
        .as_array()
        .unwrap_or_else(|| panic!("no expectations: {result}"))
        .iter()
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_owned(),
                e["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_kth_run_is_an_anomaly_and_the_earlier_ones_are_not() {
    let env = Env::new("");
    counting_job(
        &env,
        "import",
        "send: on-failure\n",
        "    values: {rows: 'rows: (\\d+)'}\n    expect: {rows: {anomaly: 4}}\n",
    );
    // Four earlier values are too few to judge by: even a wild fifth one passes (and, with
    // a median, does not move what is usual).
    for rows in [1000, 1010, 990, 1005, 50000] {
        print(&env, "import", &format!("imported\nrows: {rows}\n"));
        let result = run_once(&env, "import", 0);
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(result["values"]["rows"], rows, "{result}");
        assert_eq!(result["expectations"], serde_json::json!([]), "{result}");
    }
    // The sixth run is judged: median 1005, robust deviation 5% of it (the median
    // absolute deviation, 5, is below that).
    print(&env, "import", "imported\nrows: 1002\n");
    let sixth = run_once(&env, "import", 0);
    assert_eq!(
        texts(&sixth),
        [("rows 1002 (median 1005; within 4)".to_owned(), true)]
    );
    // The seventh is far off: failed, and mailed under send: on-failure.
    print(&env, "import", "imported\nrows: 10\n");
    let seventh = run_once(&env, "import", 1);
    assert_eq!(seventh["status"], "failed");
    assert_eq!(
        seventh["expectations"],
        serde_json::json!([{"value": "rows", "rule": "anomaly", "ok": false,
                            "text": "rows 10 (median 1003.5; anomaly > 4)"}])
    );
    let mail = &env.smtp.wait_for(1)[0];
    assert_eq!(
        mail.header("Subject").unwrap(),
        format!(
            "[FAILED] import on {}: rows 10 (median 1003.5; anomaly > 4)",
            crate::support::hostname()
        )
    );
    let body = mail.body();
    assert!(
        body.contains("== count: failed\n-- expectation failed: rows 10 (median 1003.5; anomaly > 4)\nimported\n"),
        "{body}"
    );
    assert!(body.contains("-- values:\n"), "{body}");
    assert_eq!(env.smtp.received().len(), 1, "the ok runs were not mailed");
}

#[test]
fn a_steady_series_alarms_past_five_percent_and_a_zero_one_past_one() {
    let env = Env::new("");
    counting_job(
        &env,
        "steady",
        "",
        "    values: {steady: 'steady (\\d+)', zero: 'zero (\\d+)'}\n    \
         expect: {steady: {anomaly: 1}, zero: {anomaly: 1}}\n",
    );
    for _ in 0..5 {
        print(&env, "steady", "steady 200\nzero 0\n");
        run_once(&env, "steady", 0);
    }
    // The median absolute deviation is 0: the robust deviation is 5% of 200 (10), and 1
    // for a median of 0, so 205 and 1 are within one.
    print(&env, "steady", "steady 205\nzero 1\n");
    let within = run_once(&env, "steady", 0);
    assert_eq!(
        texts(&within),
        [
            ("steady 205 (median 200; within 1)".to_owned(), true),
            ("zero 1 (median 0; within 1)".to_owned(), true)
        ]
    );
    print(&env, "steady", "steady 215\nzero 2\n");
    let beyond = run_once(&env, "steady", 1);
    assert_eq!(
        texts(&beyond),
        [
            ("steady 215 (median 200; anomaly > 1)".to_owned(), false),
            ("zero 2 (median 0; anomaly > 1)".to_owned(), false)
        ]
    );
}

#[test]
fn a_change_is_judged_against_the_previous_run() {
    let env = Env::new("");
    counting_job(
        &env,
        "sync",
        "",
        "    values: {files: 'files: (\\d+)'}\n    expect: {files: {max: 100000, change: 50%}}\n",
    );
    print(&env, "sync", "files: 42\n");
    let first = run_once(&env, "sync", 0);
    assert_eq!(
        texts(&first),
        [("files 42 (≤ max 100000)".to_owned(), true)],
        "no previous value, no change judged"
    );
    print(&env, "sync", "files: 99\n");
    let second = run_once(&env, "sync", 1);
    assert_eq!(
        texts(&second),
        [
            ("files 42 → 99 (+136%, change > 50%)".to_owned(), false),
            ("files 99 (≤ max 100000)".to_owned(), true)
        ]
    );
    // Judged against the run just before, failed or not.
    print(&env, "sync", "files: 100\n");
    let third = run_once(&env, "sync", 0);
    assert_eq!(
        texts(&third),
        [
            ("files 100 (≤ max 100000)".to_owned(), true),
            ("files 99 → 100 (+1%, change ≤ 50%)".to_owned(), true)
        ]
    );
}

#[test]
fn sizes_read_as_bytes_and_show_as_df_h_shows_them() {
    let env = Env::new("");
    counting_job(
        &env,
        "backup",
        "",
        "    values:\n      sent: 'sent ([0-9.]+ ?[KMGT]?i?B?) bytes'\n      \
         log: 'log: (.+)'\n      small: 'small: (.+)'\n    expect: {sent: {min: 2GiB}}\n",
    );
    print(&env, "backup", "sent 1.5G bytes\nlog: 20 MiB\nsmall: 3kB\n");
    let result = run_once(&env, "backup", 1);
    assert_eq!(result["values"]["sent"], 1610612736u64);
    assert_eq!(result["values"]["log"], 20971520);
    assert_eq!(result["values"]["small"], 3072);
    assert_eq!(
        texts(&result),
        [("sent 1.5 GiB (< min 2.0 GiB)".to_owned(), false)]
    );
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("   sent           1.5 GiB    █\n"), "{body}");
    assert!(body.contains("   log            20 MiB     █\n"), "{body}");
}

#[test]
fn a_json_pointer_reads_the_parsed_output() {
    let env = Env::new("");
    counting_job(
        &env,
        "space",
        "",
        "    parse: json\n    values: {avail: {json: /filesystems/0/avail}, \
         size: {json: /filesystems/0/size}, name: {json: /filesystems/0/target}}\n    \
         expect: {avail: {min: 5GiB}}\n",
    );
    print(
        &env,
        "space",
        r#"{"filesystems": [{"target": "/", "avail": 41654538240, "size": "1.5T"}]}"#,
    );
    let result = run_once(&env, "space", 0);
    assert_eq!(result["values"]["avail"], 41654538240u64, "{result}");
    assert_eq!(result["values"]["size"], 1649267441664u64, "{result}");
    assert_eq!(
        result["values"]["name"],
        serde_json::Value::Null,
        "{result}"
    );
    assert_eq!(
        texts(&result),
        [("avail 39 GiB (≥ min 5.0 GiB)".to_owned(), true)]
    );
    print(&env, "space", r#"{"filesystems": [{"avail": 1024}]}"#);
    let low = run_once(&env, "space", 1);
    assert_eq!(
        texts(&low),
        [("avail 1.0 KiB (< min 5.0 GiB)".to_owned(), false)]
    );
}

#[test]
fn a_value_that_vanished_fails_its_result_and_names_itself() {
    let env = Env::new("metrics_file: reporter.prom\n");
    counting_job(
        &env,
        "queue",
        "",
        "    values: {waiting: 'waiting: (\\d+)', oldest: 'oldest: (\\d+)'}\n    \
         expect: {waiting: {max: 100}}\n",
    );
    print(&env, "queue", "waiting: 3\noldest: 40\n");
    run_once(&env, "queue", 0);
    print(&env, "queue", "queue is unreachable\n");
    let gone = run_once(&env, "queue", 1);
    assert_eq!(gone["values"]["waiting"], serde_json::Value::Null);
    assert_eq!(gone["values"]["oldest"], serde_json::Value::Null);
    assert_eq!(
        gone["expectations"],
        serde_json::json!([{"value": "waiting", "rule": "value", "ok": false,
                            "text": "waiting: no value"}])
    );
    let subject = env.smtp.wait_for(2)[1].header("Subject").unwrap();
    assert!(subject.ends_with(": waiting: no value"), "{subject}");
    // A null value is no sample of the metrics file.
    let metrics = read(env.path("reporter.prom"));
    assert!(!metrics.contains("name=\"waiting\""), "{metrics}");
    assert!(
        metrics.contains("reporter_value{job=\"queue\",command=\"count\",name=\"duration_ms\"} "),
        "{metrics}"
    );
}

#[test]
fn values_reach_the_metrics_file_that_promtool_accepts() {
    let env = Env::new("metrics_file: metrics/reporter.prom\n");
    counting_job(
        &env,
        "backup",
        "",
        "    values: {sent: 'sent (\\S+)', files: 'files: (\\d+)'}\n",
    );
    env.job(
        "pings",
        "targets: [a, 'b \"quoted\"']\ncommands:\n  - name: echo\n    run: echo 'took 12.5' {{target}}\n    \
         values: {took: 'took ([0-9.]+)'}\n",
    );
    print(&env, "backup", "sent 1.5G\nfiles: 42\n");
    env.run(&["run", "backup", "pings"]).code(0).stderr_empty();
    let path = env.path("metrics/reporter.prom");
    let text = read(&path);
    promtool_accepts(&path);
    for sample in [
        "reporter_value{job=\"backup\",command=\"count\",name=\"sent\"} 1610612736\n",
        "reporter_value{job=\"backup\",command=\"count\",name=\"files\"} 42\n",
        "reporter_value{job=\"pings\",command=\"echo\",name=\"took\",target=\"a\"} 12.5\n",
        "reporter_value{job=\"pings\",command=\"echo\",name=\"took\",target=\"b \\\"quoted\\\"\"} 12.5\n",
        "# TYPE reporter_value gauge\n",
    ] {
        assert!(text.contains(sample), "{sample}\n{text}");
    }
    assert!(
        text.contains("reporter_value{job=\"backup\",command=\"count\",name=\"duration_ms\"} "),
        "{text}"
    );
}

#[test]
fn trends_draw_the_recorded_series_and_previous_has_the_values() {
    let env = Env::new("");
    counting_job(
        &env,
        "grow",
        "mail: {template: grow}\n",
        "    values: {size: 'size (\\d+)'}\n",
    );
    env.template(
        "grow.txt.hbs",
        "{{#each results}}{{values.size}} {{values_text.size}} [{{#each trends.size}}{{this}},{{/each}}] {{sparkline trends.size}}{{/each}}\n\
         previous: {{#if previous}}{{previous.[0].values.size}}{{else}}none{{/if}}\n",
    );
    env.run(&["check"]).code(0).stderr_empty();
    for size in [10, 20, 40] {
        print(&env, "grow", &format!("size {size}\n"));
        env.run(&["run", "grow"]).code(0).stderr_empty();
    }
    let mails = env.smtp.wait_for(3);
    assert_eq!(mails[0].body().trim_end(), "10 10 [100,] █\nprevious: none");
    assert_eq!(
        mails[2].body().trim_end(),
        "40 40 [25,50,100,] ▃▅█\nprevious: 20"
    );
}

#[test]
fn webhooks_carry_values_and_expectations_and_the_ping_fails() {
    let env = Env::new("");
    let hook = HttpServer::answering(200);
    let hc = HttpServer::answering(200);
    counting_job(
        &env,
        "hooked",
        &format!(
            "webhooks: [{{url: '{}'}}]\nping: {{url: '{}'}}\n",
            hook.url("/hook"),
            hc.url("/key")
        ),
        "    values: {files: 'files: (\\d+)'}\n    expect: {files: {min: 10}}\n",
    );
    print(&env, "hooked", "files: 3\n");
    run_once(&env, "hooked", 1);
    let body = hook.wait_for(1)[0].json();
    let result = &body["results"][0];
    assert_eq!(result["values"]["files"], 3, "{body}");
    assert_eq!(
        result["expectations"][0]["text"], "files 3 (< min 10)",
        "{body}"
    );
    assert_eq!(body["summary"]["failed_expectation"], "files 3 (< min 10)");
    let pings = hc.wait_for(2);
    assert_eq!(pings[1].path(), "/key/fail", "{pings:?}");
}

#[test]
fn a_bad_value_is_an_error_naming_the_file_line_and_key() {
    let env = Env::new("");
    env.job(
        "bad",
        "commands:\n  - run: df\n    values:\n      used: 'used \\d+'\n",
    );
    env.run(&["check"]).code(2).stderr_contains(
        "jobs/bad.yaml:4:13: commands[0].values.used: the regular expression \"used \\\\d+\" has no capture group",
    );
}

#[test]
fn a_duration_that_jumps_is_an_anomaly() {
    let env = Env::new("");
    let pause = env.write("pause", "0.8");
    env.job(
        "backup",
        &format!(
            "commands:\n  - name: backup\n    run: sleep $(cat {})\n    expect: {{duration_ms: {{anomaly: 4}}}}\n",
            pause.display()
        ),
    );
    for _ in 0..5 {
        env.run(&["run", "backup"]).code(0).stderr_empty();
    }
    env.write("pause", "0");
    env.run(&["run", "backup"]).code(1).stderr_only_not_ok();
    let mails = env.smtp.wait_for(6);
    let subject = mails[5].header("Subject").unwrap();
    let line = subject.split_once(": ").map(|(_, l)| l.to_owned()).unwrap();
    assert!(line.starts_with("duration_ms "), "{subject}");
    assert!(line.contains("ms (median "), "{subject}");
    assert!(line.ends_with("; anomaly > 4)"), "{subject}");
    let body = mails[5].body();
    assert!(
        body.contains(&format!("-- expectation failed: {line}\n")),
        "{body}"
    );
}
