//! `commands[].parse`: a command's stdout read as JSON into its result's `data`, for
//! templates, `run --json` and webhooks; an output that does not parse fails the result
//! with a `parse_error`, and the report still goes out.

use crate::support::Env;
use crate::support::http::HttpServer;

fn json_of(run: crate::support::run::Run) -> serde_json::Value {
    let stdout = run.into_stdout();
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// A job `name` whose commands print the given outputs, each from a file: `(name, parse,
/// output)`, `parse` left out when empty.
fn job_printing(env: &Env, name: &str, extra: &str, commands: &[(&str, &str, &str)]) {
    let mut yaml = format!("{extra}commands:\n");
    for (i, (command, parse, output)) in commands.iter().enumerate() {
        let file = env.write(&format!("{name}-{i}.out"), output);
        yaml.push_str(&format!(
            "  - name: {command}\n    run: cat {}\n",
            file.display()
        ));
        if !parse.is_empty() {
            yaml.push_str(&format!("    parse: {parse}\n"));
        }
    }
    env.job(name, &yaml);
}

#[test]
fn templates_go_through_what_a_json_command_printed() {
    let env = Env::new("");
    job_printing(
        &env,
        "disks",
        "mail: {template: disks}\n",
        &[
            (
                "usage",
                "json",
                r#"{"disks": [{"mount": "/", "used": 91}, {"mount": "/var", "used": 40}]}"#,
            ),
            (
                "events",
                "json-lines",
                "{\"unit\": \"a\"}\n\n{\"unit\": \"b\"}\n",
            ),
            ("plain", "", "text\n"),
        ],
    );
    env.template(
        "disks.txt.hbs",
        "{{#with (lookup results 0)}}{{#each data.disks}}{{mount}}={{used}};{{/each}}{{/with}}\n\
         {{results.[0].data.disks.[1].mount}}\n\
         {{#each results.[1].data}}{{unit}},{{/each}}\n\
         plain: {{#if results.[2].data}}data{{else}}null{{/if}}\n",
    );
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["run", "disks"]).code(0).stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].body().trim_end(),
        "/=91;/var=40;\n/var\na,b,\nplain: null"
    );
}

#[test]
fn run_json_carries_data_and_parse_error() {
    let env = Env::new("");
    job_printing(
        &env,
        "events",
        "",
        &[("lines", "json-lines", "1\n[2]\n"), ("plain", "", "hi\n")],
    );
    let outcome = json_of(env.run(&["run", "--json", "events"]).code(0).stderr_empty());
    let results = &outcome["jobs"][0]["results"];
    assert_eq!(results[0]["data"], serde_json::json!([1, [2]]));
    assert!(results[0]["parse_error"].is_null());
    assert!(results[1]["data"].is_null());
    assert!(results[1]["parse_error"].is_null());
}

#[test]
fn the_built_in_webhook_body_carries_data() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    job_printing(
        &env,
        "sockets",
        &format!("webhooks: [{{url: '{}'}}]\n", hook.url("/hook")),
        &[("listening", "json", "{\"tcp\": [22, 25]}\n")],
    );
    env.run(&["run", "sockets"]).code(0).stderr_empty();
    let body = hook.wait_for(1)[0].json();
    assert_eq!(
        body["results"][0]["data"],
        serde_json::json!({"tcp": [22, 25]})
    );
    assert!(body["results"][0]["parse_error"].is_null());
}

#[test]
fn an_output_that_does_not_parse_fails_the_result_and_the_mail_still_goes() {
    let env = Env::new("");
    job_printing(
        &env,
        "kernel",
        "",
        &[(
            "kernel errors",
            "json-lines",
            "{\"a\": 1}\n{\"a\": 2}\noops\n",
        )],
    );
    let outcome = json_of(
        env.run(&["run", "--json", "kernel"])
            .code(1)
            .stderr_only_not_ok(),
    );
    let result = &outcome["jobs"][0]["results"][0];
    assert_eq!(result["status"], "failed");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["parse_error"], "line 3: expected value at column 1");
    assert!(result["data"].is_null());
    assert_eq!(outcome["jobs"][0]["sent"], true);
    let mail = &env.smtp.wait_for(1)[0];
    let subject = mail.header("Subject").unwrap_or_default();
    assert!(subject.starts_with("[FAILED] kernel"), "{subject}");
    let body = mail.body();
    assert!(
        body.contains(
            "== kernel errors: failed\n{\"a\": 1}\n{\"a\": 2}\noops\n\
             -- parse error: line 3: expected value at column 1\n"
        ),
        "{body}"
    );
    // The history records the failed status as for any other failure.
    let runs = env.history_json(&["kernel"]);
    assert_eq!(runs[0]["status"], "failed", "{runs:?}");
}

#[test]
fn nesting_ten_thousand_deep_is_a_parse_error_not_a_crash() {
    let env = Env::new("");
    env.write("deep.json", &"[".repeat(10_000));
    env.job(
        "deep",
        &format!(
            "commands:\n  - {{name: deep, parse: json, run: 'cat {}'}}\n",
            env.path("deep.json").display()
        ),
    );
    let outcome = json_of(
        env.run(&["run", "--json", "deep"])
            .code(1)
            .stderr_only_not_ok(),
    );
    let result = &outcome["jobs"][0]["results"][0];
    assert_eq!(result["status"], "failed");
    assert_eq!(
        result["parse_error"],
        "line 1: nested deeper than 127 levels at column 128"
    );
    assert_eq!(env.smtp.wait_for(1).len(), 1);
}

#[test]
fn an_output_cut_at_max_output_is_not_parsed() {
    let env = Env::new("");
    // 20,000 valid lines, more than the 4 KiB kept.
    env.job(
        "long",
        "max_output: 4KiB\ncommands:\n  - {name: long, parse: json-lines, run: 'seq 20000'}\n",
    );
    let outcome = json_of(
        env.run(&["run", "--json", "long"])
            .code(1)
            .stderr_only_not_ok(),
    );
    let result = &outcome["jobs"][0]["results"][0];
    assert_eq!(result["status"], "failed");
    assert_eq!(result["truncated"], true);
    assert_eq!(
        result["parse_error"],
        "the output was cut at max_output, so it was not parsed (raise max_output to keep all of it)"
    );
    assert!(result["data"].is_null());
}

#[test]
fn check_accepts_any_path_below_data_and_still_refuses_unknown_names() {
    let env = Env::new("");
    env.job(
        "j",
        "mail: {template: deep}\ncommands: [{run: 'echo {}', parse: json}]\n",
    );
    env.template(
        "deep.txt.hbs",
        "{{results.[0].data.any.path}} {{#each results}}{{data.x.[3].y}}{{/each}}\n",
    );
    env.run(&["check"]).code(0).stderr_empty();
    env.template(
        "deep.txt.hbs",
        "{{results.[0].data.any}} {{reslts.[0].data}}\n",
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains("deep.txt.hbs:1:26: unknown variable reslts.[0].data (here: disk_history, host, hosts, job, node, previous, results, run, section, summary)");
}

#[test]
fn an_unknown_parse_value_is_a_configuration_error() {
    let env = Env::new("");
    env.job("j", "commands:\n  - run: cat x.yaml\n    parse: yaml\n");
    env.run(&["check"]).code(2).stderr_contains(
        "jobs/j.yaml:3:12: commands[0].parse: unknown variant `yaml`, expected one of `none`, `json`, `json-lines`",
    );
}

#[test]
fn the_shipped_html_shows_the_parse_error() {
    let env = Env::new(&format!(
        "templates_dir: {}\n",
        crate::support::repo().join("templates").display()
    ));
    job_printing(
        &env,
        "inventory",
        "mail: {template: disk-usage}\n",
        &[("hosts", "json", "{\"web1\": <up>}\n")],
    );
    let html = env
        .run(&["preview", "--html", "inventory"])
        .code(1)
        .stderr_only_not_ok()
        .into_stdout();
    assert!(
        html.contains("Parse error: line 1: expected value at column 10</p>"),
        "{html}"
    );
}

#[test]
fn a_parse_error_is_retried_like_any_failure() {
    let env = Env::new("");
    let flag = env.path("tried");
    let script = env.write(
        "flaky.sh",
        &format!(
            "if [ -e {0} ]; then echo '[1]'; else touch {0}; echo oops; fi\n",
            flag.display()
        ),
    );
    env.job(
        "flaky",
        &format!(
            "retries: 1\nretry_delay: 1s\ncommands:\n  - {{name: flaky, parse: json, run: 'sh {}'}}\n",
            script.display()
        ),
    );
    let outcome = json_of(env.run(&["run", "--json", "flaky"]).code(0).stderr_quiet());
    let result = &outcome["jobs"][0]["results"][0];
    assert_eq!(result["attempts"], 2);
    assert_eq!(result["status"], "ok");
    assert_eq!(result["data"], serde_json::json!([1]));
}
