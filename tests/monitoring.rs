//! Beside the mail (docs/monitoring.md): the dead man's switch ping, webhooks through the spool, the
//! Prometheus metrics file checked by the real `promtool`, and `run --json` — each against
//! a real HTTP server on loopback.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, SystemTime};

use crate::support::http::{Answer, HttpServer};
use crate::support::{Env, Run, promtool_accepts, read, repo};

fn json_of(run: Run) -> serde_json::Value {
    let stdout = run.into_stdout();
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}"))
}

fn hooks_in(env: &Env, folder: &str) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(env.path(folder)) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hook"))
        .collect()
}

// ping

#[test]
fn ping_starts_before_the_commands_and_succeeds_after_with_the_same_rid_and_the_report() {
    let hc = HttpServer::answering(200);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "ping: {{url: '{}'}}\ncommands: ['date +%s.%N > {}; echo ping-marker-output']\n",
            hc.url("/key/{{job.name}}"),
            env.path("started").display()
        ),
    );
    env.run(&["run", "disk"]).code(0).stderr_empty();
    let requests = hc.wait_for(2);
    assert_eq!(requests.len(), 2, "{requests:?}");
    let (start, done) = (&requests[0], &requests[1]);
    assert_eq!(start.method, "GET");
    assert_eq!(start.path(), "/key/disk/start");
    assert_eq!(done.method, "POST");
    assert_eq!(done.path(), "/key/disk");
    let rid = start.query("rid").expect("a rid");
    assert_eq!(rid.len(), 36, "a UUID: {rid}");
    assert_eq!(done.query("rid").as_deref(), Some(rid.as_str()));
    assert_eq!(
        done.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        done.body_text().contains("ping-marker-output"),
        "{}",
        done.body_text()
    );
    // The /start ping was in before the command ran.
    let started: f64 = read(env.path("started")).trim().parse().unwrap();
    let start_at = start
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        start_at <= started,
        "/start at {start_at}, command at {started}"
    );
    // The mail went out as ever.
    assert_eq!(env.smtp.received().len(), 1);
}

#[test]
fn a_failing_job_pings_fail_and_a_new_rid_each_run_in_cron_mode_too() {
    let hc = HttpServer::answering(200);
    let env = Env::new("");
    env.job(
        "backup",
        &format!(
            "schedule: daily\nping: {{url: '{}/'}}\ncommands: ['echo out; exit 3']\n",
            hc.url("/k/{{host.hostname}}-{{job.name}}")
        ),
    );
    env.run(&["run", "--schedule", "daily"])
        .code(1)
        .stderr_only_not_ok();
    env.run(&["run", "backup"]).code(1).stderr_only_not_ok();
    let requests = hc.wait_for(4);
    let host = crate::support::hostname();
    assert_eq!(requests[0].path(), format!("/k/{host}-backup/start"));
    assert_eq!(requests[1].path(), format!("/k/{host}-backup/fail"));
    assert_eq!(requests[1].query("rid"), requests[0].query("rid"));
    assert_eq!(requests[3].path(), format!("/k/{host}-backup/fail"));
    assert_ne!(
        requests[2].query("rid"),
        requests[0].query("rid"),
        "one rid per job run"
    );
}

#[test]
fn a_ping_that_fails_is_tried_three_times_and_never_changes_the_outcome() {
    let hc = HttpServer::answering(503);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "ping: {{url: '{}', timeout: 5s}}\ncommands: [true]\n",
            hc.url("/secret-key")
        ),
    );
    env.run(&["run", "disk"])
        .code(0)
        .stderr_contains("disk: ping /start failed 3 times, last: answered 503")
        .stderr_contains("disk: ping failed 3 times, last: answered 503")
        .stderr_lacks("secret-key");
    let requests = hc.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(
        requests[..3]
            .iter()
            .all(|r| r.path() == "/secret-key/start")
    );
    assert!(requests[3..].iter().all(|r| r.path() == "/secret-key"));
    assert_eq!(env.smtp.received().len(), 1, "the report went out");
}

#[test]
fn a_hanging_ping_server_costs_at_most_the_timeout_and_the_report_still_goes_out() {
    let hc = HttpServer::start(&[Answer::Hang]);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "ping: {{url: '{}', timeout: 1s}}\ncommands: [true]\n",
            hc.url("/k")
        ),
    );
    let began = Instant::now();
    env.run(&["run", "disk"])
        .code(0)
        .stderr_contains("disk: ping /start");
    // Two pings of at most 1 s each; a generous bound that only catches a hang.
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(env.smtp.received().len(), 1);
}

#[test]
fn a_ping_url_that_does_not_render_is_reported_with_the_job_file() {
    let env = Env::new("");
    let path = env.job(
        "disk",
        "ping: {url: 'http://127.0.0.1:9/{{job.nmae}}'}\ncommands: [true]\n",
    );
    env.run(&["run", "disk"])
        .code(0)
        .stderr_contains(&format!("{}: ping.url:", path.display()))
        .stderr_contains("not pinging");
}

// run --json

#[test]
fn run_json_prints_one_object_with_the_schema_and_keeps_the_exit_code() {
    let env = Env::new("");
    env.job("mixed", "commands: [echo fine, 'echo bad >&2; exit 4']\n");
    env.job("quiet", "send: never\ncommands: [echo hush]\n");
    let outcome = json_of(
        env.run(&["run", "--json", "mixed", "quiet"])
            .code(1)
            .stderr_only_not_ok(),
    );
    assert_eq!(outcome["exit_code"], 1);
    assert!(outcome["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    let jobs = outcome["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    let mixed = &jobs[0];
    assert_eq!(mixed["job"], "mixed");
    assert_eq!(mixed["status"], "failed");
    assert_eq!(mixed["sent"], true);
    assert!(mixed["reason"].is_null());
    assert_eq!(mixed["summary"]["total"], 2);
    assert_eq!(mixed["summary"]["failed"], 1);
    let results = mixed["results"].as_array().unwrap();
    let keys: Vec<&str> = results[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "name",
        "command",
        "host",
        "target",
        "status",
        "exit_code",
        "signal",
        "duration_ms",
        "attempts",
        "truncated",
        "stdout",
        "stderr",
        "data",
        "parse_error",
        "values",
        "expectations",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(results[0]["stdout"], "fine\n");
    assert_eq!(results[1]["exit_code"], 4);
    assert_eq!(results[1]["stderr"], "bad\n");
    assert_eq!(results[1]["attempts"], 1);
    let quiet = &jobs[1];
    assert_eq!(quiet["sent"], false);
    assert_eq!(quiet["reason"], "send: never");
    assert_eq!(env.smtp.received().len(), 1);
}

#[test]
fn run_json_says_75_when_the_report_is_spooled() {
    let env = Env::refusing();
    env.job("disk", "commands: [true]\n");
    let outcome = json_of(
        env.run(&["run", "--json", "disk"])
            .code(75)
            .stderr_contains("disk: report not delivered"),
    );
    assert_eq!(outcome["exit_code"], 75);
    assert_eq!(outcome["jobs"][0]["status"], "ok");
}

// webhooks

#[test]
fn a_webhook_posts_the_jobs_run_json_object_by_default() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}'}}]\ncommands: [echo hi]\n",
            hook.url("/hook/{{job.name}}")
        ),
    );
    let outcome = json_of(env.run(&["run", "--json", "disk"]).code(0).stderr_empty());
    let requests = hook.wait_for(1);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path(), "/hook/disk");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].json(), outcome["jobs"][0]);
    assert!(
        hooks_in(&env, "state/spool").is_empty(),
        "delivered: not spooled"
    );
}

#[test]
fn a_webhook_answered_500_stays_spooled_and_flush_delivers_it() {
    let hook = HttpServer::start(&[Answer::Status(500), Answer::Status(200)]);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}'}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: webhook not delivered (the webhook answered 500)");
    assert_eq!(hooks_in(&env, "state/spool").len(), 1);
    assert_eq!(env.smtp.received().len(), 1, "the mail is not held up");
    env.run(&["flush"]).code(0).stderr_empty();
    let requests = hook.wait_for(2);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body, "the same body, again");
    assert!(hooks_in(&env, "state/spool").is_empty());
}

#[test]
fn a_later_run_retries_a_spooled_webhook() {
    let hook = HttpServer::start(&[Answer::Status(429), Answer::Status(200)]);
    let env = Env::new("");
    env.job(
        "hooked",
        &format!(
            "webhooks: [{{url: '{}'}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    env.job("plain", "commands: [true]\n");
    env.run(&["run", "hooked"])
        .code(75)
        .stderr_contains("hooked: webhook not delivered (the webhook answered 429)");
    env.run(&["run", "plain"]).code(0).stderr_empty();
    hook.wait_for(2);
    assert!(hooks_in(&env, "state/spool").is_empty());
}

#[test]
fn a_webhook_answered_404_goes_to_the_dead_letters_and_is_not_retried() {
    let hook = HttpServer::answering(404);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}'}}]\ncommands: [true]\n",
            hook.url("/gone")
        ),
    );
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: webhook refused: the webhook answered 404");
    assert!(hooks_in(&env, "state/spool").is_empty());
    assert_eq!(hooks_in(&env, "state/spool/dead").len(), 1);
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(hook.requests().len(), 1, "never again");
}

#[test]
fn a_hanging_webhook_times_out_and_waits_in_the_spool() {
    let hook = HttpServer::start(&[Answer::Hang]);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', timeout: 1s}}]\ncommands: [true]\n",
            hook.url("/slow")
        ),
    );
    let began = Instant::now();
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: webhook not delivered (timed out");
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(hooks_in(&env, "state/spool").len(), 1);
    assert_eq!(env.smtp.received().len(), 1);
}

#[test]
fn webhooks_follow_their_own_send_rule() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "send: never\nwebhooks: [{{url: '{}', send: on-failure}}, {{url: '{}'}}]\ncommands: ['test -e {} && exit 1; true']\n",
            hook.url("/on-failure"),
            hook.url("/default"),
            env.path("fail").display()
        ),
    );
    env.run(&["run", "disk"]).code(0).stderr_empty();
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    env.write("fail", "");
    env.run(&["run", "disk"]).code(1).stderr_only_not_ok();
    let requests = hook.wait_for(1);
    assert_eq!(
        requests.len(),
        1,
        "the second follows the job's `send: never`"
    );
    assert_eq!(requests[0].path(), "/on-failure");
    assert_eq!(requests[0].json()["sent"], false);
    assert_eq!(requests[0].json()["reason"], "send: never");
}

#[test]
fn a_template_with_the_json_helper_and_a_headers_file() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    env.template(
        "chat.json.hbs",
        "{\"text\": {{json (lower summary.status)}}, \"out\": {{json results.0.stdout}}}\n",
    );
    let headers = env.write(
        "hook.headers",
        "# secrets\nAuthorization: Bearer s3cr3t-token\n",
    );
    std::fs::set_permissions(&headers, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', template: chat, headers_file: hook.headers}}]\ncommands: ['printf \"say \\\"hi\\\"\\n\"']\n",
            hook.url("/chat")
        ),
    );
    env.run(&["run", "disk"]).code(0).stderr_empty();
    let request = &hook.wait_for(1)[0];
    assert_eq!(
        request.json(),
        serde_json::json!({"text": "ok", "out": "say \"hi\"\n"})
    );
    assert_eq!(request.header("authorization"), Some("Bearer s3cr3t-token"));
}

#[test]
fn a_webhook_template_sees_the_system_facts_the_mail_does_not_read() {
    // The mail's templates read no system facts, so a run would not gather them; the
    // webhook's template is read only when it is posted, and must still find them.
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    env.template(
        "facts.json.hbs",
        "{\"memory\": {{json host.memory.total}}}\n",
    );
    env.job(
        "mem",
        &format!(
            "webhooks: [{{url: '{}', template: facts}}]\ncommands: [true]\n",
            hook.url("/facts")
        ),
    );
    env.run(&["run", "mem"]).code(0).stderr_empty();
    let body = hook.wait_for(1)[0].json();
    assert!(body["memory"].as_u64().is_some_and(|m| m > 0), "{body}");
}

#[test]
fn a_headers_file_others_can_read_is_refused_naming_it() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    let headers = env.write("hook.headers", "Authorization: Bearer s3cr3t\n");
    std::fs::set_permissions(&headers, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', headers_file: hook.headers}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains(&format!("headers_file: `{}`", headers.display()))
        .stderr_lacks("s3cr3t");
    assert!(
        hook.requests().is_empty(),
        "nothing posted without its headers"
    );
    assert_eq!(
        hooks_in(&env, "state/spool").len(),
        1,
        "kept until the file is fixed"
    );
}

#[test]
fn a_webhook_template_that_renders_no_json_is_an_error_naming_it() {
    let hook = HttpServer::answering(200);
    let env = Env::new("");
    let template = env.template("bad.json.hbs", "{\"text\": {{summary.status}}}\n");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', template: bad}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    env.run(&["run", "disk"]).code(2).stderr_contains(&format!(
        "{}: the rendered body is not JSON",
        template.display()
    ));
    assert!(hook.requests().is_empty());
}

#[test]
fn the_shipped_chat_and_ntfy_templates_render_json() {
    let hook = HttpServer::answering(200);
    let repo = repo();
    let env = Env::new(&format!(
        "templates_dir: {}\n",
        repo.join("templates").display()
    ));
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}', template: chat}}, {{url: '{}', template: ntfy}}]\ncommands: ['exit 1']\n",
            hook.url("/slack"),
            hook.url("/ntfy")
        ),
    );
    env.run(&["run", "disk"]).code(1).stderr_only_not_ok();
    let mut requests = hook.wait_for(2);
    requests.sort_by(|a, b| a.target.cmp(&b.target));
    let ntfy = requests[0].json();
    assert_eq!(requests[0].path(), "/ntfy");
    assert!(ntfy["title"].as_str().unwrap().contains("disk"), "{ntfy}");
    assert!(ntfy["message"].as_str().is_some(), "{ntfy}");
    let chat = requests[1].json();
    assert!(chat["text"].as_str().unwrap().contains("disk"), "{chat}");
    assert!(chat["text"].as_str().unwrap().contains("FAILED"), "{chat}");
}

// metrics_file

#[test]
fn the_metrics_file_passes_promtool_and_shows_every_job() {
    let env = Env::new("metrics_file: metrics/reporter.prom\n");
    env.job("good", "commands: [true]\n");
    env.job("bad", "commands: ['exit 1']\n");
    env.run(&["run", "good", "bad"])
        .code(1)
        .stderr_only_not_ok();
    env.run(&["run", "bad"]).code(1).stderr_only_not_ok();
    let path = env.path("metrics/reporter.prom");
    let text = read(&path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter runs as its own user");
    promtool_accepts(&path);
    assert!(
        text.contains("reporter_job_last_status{job=\"bad\",status=\"failed\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("reporter_job_last_status{job=\"good\",status=\"ok\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("reporter_job_consecutive_failures{job=\"bad\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("reporter_job_consecutive_failures{job=\"good\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("reporter_job_last_success_timestamp_seconds{job=\"bad\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("reporter_spool_messages 0\n"), "{text}");
    assert!(text.contains("reporter_dead_messages 0\n"), "{text}");
    assert!(
        text.contains("# TYPE reporter_job_last_run_timestamp_seconds gauge\n"),
        "{text}"
    );
}

#[test]
fn flush_rewrites_the_metrics_file_with_the_spool() {
    let env = Env::refusing();
    env.write_config_for(
        crate::support::smtp::closed_port(),
        "metrics_file: reporter.prom\n",
    );
    env.job("disk", "commands: [true]\n");
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: report not delivered");
    assert!(read(env.path("reporter.prom")).contains("reporter_spool_messages 1\n"));
    std::fs::remove_file(env.path("reporter.prom")).unwrap();
    env.run(&["flush"])
        .code(75)
        .stderr_contains("disk: report not delivered");
    assert!(read(env.path("reporter.prom")).contains("reporter_spool_messages 1\n"));
}

// the daemon

#[test]
fn the_daemon_pings_posts_webhooks_and_writes_metrics_for_each_run() {
    let hc = HttpServer::answering(200);
    let hook = HttpServer::answering(200);
    let env = Env::new("metrics_file: reporter.prom\n");
    env.job(
        "tick",
        &format!(
            "schedule: \"* * * * * *\"\nping: {{url: '{}'}}\nwebhooks: [{{url: '{}'}}]\ncommands: [echo tick]\n",
            hc.url("/k/tick"),
            hook.url("/hook")
        ),
    );
    let daemon = env.start(&["daemon"]);
    let hooks = hook.wait_for(2);
    let pings = hc.wait_for(4);
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("tick: started");
    assert_eq!(hooks[0].json()["job"], "tick");
    assert_eq!(pings[0].path(), "/k/tick/start");
    assert_eq!(pings[1].path(), "/k/tick");
    assert_eq!(pings[1].query("rid"), pings[0].query("rid"));
    assert!(
        read(env.path("reporter.prom"))
            .contains("reporter_job_last_status{job=\"tick\",status=\"ok\"} 1\n")
    );
}

#[test]
fn an_edited_spooled_webhook_goes_to_the_dead_letters_unsent() {
    let hook = HttpServer::start(&[Answer::Status(503), Answer::Status(200)]);
    let env = Env::new("");
    env.job(
        "disk",
        &format!(
            "webhooks: [{{url: '{}'}}]\ncommands: [true]\n",
            hook.url("/h")
        ),
    );
    env.run(&["run", "disk"])
        .code(75)
        .stderr_contains("disk: webhook not delivered (the webhook answered 503)");
    let spooled = hooks_in(&env, "state/spool");
    assert_eq!(spooled.len(), 1);
    let text = read(&spooled[0]).replace("\"status\":\"ok\"", "\"status\":\"OK\"");
    std::fs::write(&spooled[0], text).unwrap();
    env.run(&["flush"])
        .code(75)
        .stderr_contains("does not match its checksum");
    assert_eq!(hook.requests().len(), 1, "never posted again");
    assert_eq!(hooks_in(&env, "state/spool/dead").len(), 1);
}
