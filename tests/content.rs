//! What reports contain: system facts, helpers, result rules, attachments, the size
//! limit, and HTML mail (parsed by a real MIME parser, rendered by headless Chromium).

use std::process::Command;

use mail_parser::{MessagePart, MimeHeaders};

use crate::support::{Env, chromium};

/// The MIME tree of a message, e.g. `multipart/mixed[text/plain,text/plain(x.txt)]`.
fn structure(message: &mail_parser::Message<'_>) -> String {
    fn node(message: &mail_parser::Message<'_>, part: &MessagePart<'_>) -> String {
        let kind = part.content_type().map_or("text/plain".to_owned(), |c| {
            format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default())
        });
        match part.sub_parts() {
            Some(ids) => {
                let inner: Vec<String> = ids
                    .iter()
                    .map(|&id| node(message, &message.parts[id as usize]))
                    .collect();
                format!("{kind}[{}]", inner.join(","))
            }
            None => match part.attachment_name() {
                Some(name) => format!("{kind}({name})"),
                None => kind,
            },
        }
    }
    node(message, message.root_part())
}

#[test]
fn facts_reach_templates() {
    let env = Env::new("");
    env.job("facts", "mail: {template: facts}\n");
    env.template(
        "facts.txt.hbs",
        "kernel={{host.kernel}}\ncpus={{host.cpus}}\nmemory={{host.memory.total}}\nboot={{host.boot_time}}\nload={{host.load.one}}\n{{#each host.disks}}disk={{mount}} {{fs}} {{this.percent}}\n{{/each}}",
    );
    env.run(&["run", "facts"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let uname = Command::new("uname").arg("-r").output().unwrap();
    let kernel = String::from_utf8(uname.stdout).unwrap();
    assert!(
        body.contains(&format!("kernel={}\n", kernel.trim())),
        "{body}"
    );
    let field = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {body}"))
            .to_owned()
    };
    assert!(field("cpus").parse::<u32>().unwrap() >= 1, "{body}");
    assert!(field("memory").parse::<u64>().unwrap() > 0, "{body}");
    assert!(field("load").parse::<f64>().is_ok(), "{body}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&field("boot")).is_ok(),
        "{body}"
    );
    for disk in body.lines().filter_map(|l| l.strip_prefix("disk=")) {
        let fs = disk.split(' ').nth(1).unwrap();
        assert!(
            !["tmpfs", "devtmpfs", "proc", "sysfs", "overlay", "cgroup2"].contains(&fs),
            "{body}"
        );
    }
}

#[test]
fn facts_only_system_summary_is_multipart_alternative() {
    let env = Env::shipped();
    env.run(&["run", "system-summary"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    let parsed = message.parsed();
    assert_eq!(
        structure(&parsed),
        "multipart/alternative[text/plain,text/html]"
    );
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "ok");
    let subject = message.header("Subject").unwrap();
    assert!(subject.contains(", load "), "{subject}");
    let text = message.body();
    assert!(text.contains("\nMemory    ["), "{text}");
    assert!(text.contains(" of "), "{text}");
    let html = parsed.body_html(0).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains(">Memory</td>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src=\"http"), "no remote images: {html}");
}

#[test]
fn fail_if_marks_failed_and_shows_the_matching_lines() {
    let env = Env::new("");
    env.job(
        "disk",
        r#"commands:
  - name: usage
    run: "printf 'Filesystem Use%% Mounted\n/dev/a 93%% /\n/dev/b 12%% /b\n'"
    fail_if: '\s(9[0-9]|100)%\s'
"#,
    );
    env.run(&["run", "disk"]).code(1).stderr_only_not_ok();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "failed");
    let body = message.body();
    assert!(body.contains("== usage: failed\n"), "{body}");
    assert!(
        body.contains("-- fail_if matched:\n/dev/a 93% /\n"),
        "{body}"
    );
    assert!(!body.contains("matched:\n/dev/a 93% /\n/dev/b"), "{body}");
}

#[test]
fn ok_exit_codes_decide_what_counts_as_ok() {
    let env = Env::new("");
    env.template(
        "codes.txt.hbs",
        "{{#each results}}{{name}}={{status}}/{{exit_code}}\n{{/each}}",
    );
    env.job(
        "codes",
        "mail: {template: codes}\ncommands:\n  - {name: grep-none, run: 'exit 1', ok_exit_codes: [0, 1]}\n  - {name: grep-error, run: 'exit 2', ok_exit_codes: [0, 1]}\n  - {name: plain, run: 'exit 1'}\n",
    );
    env.run(&["run", "codes"]).code(1).stderr_only_not_ok();
    let body = env.smtp.wait_for(1)[0].body();
    assert_eq!(
        body.trim_end(),
        "grep-none=ok/1\ngrep-error=failed/2\nplain=failed/1"
    );
}

#[test]
fn long_outputs_are_attached_named_and_never_empty() {
    let env = Env::new("");
    env.job(
        "logs",
        "mail: {attach_output_over: 1KiB}\ncommands:\n  - seq 1 5000\n  - {name: quiet, run: 'true'}\n  - {name: short, run: 'echo short'}\n",
    );
    env.run(&["run", "logs"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    let parsed = message.parsed();
    assert_eq!(
        structure(&parsed),
        "multipart/mixed[text/plain,text/plain(logs.seq-1-5000.txt)]"
    );
    let attachment = parsed.attachment(0).unwrap();
    let expected: String = (1..=5000).map(|i| format!("{i}\n")).collect();
    // Text parts travel with CRLF line ends (RFC 2046 canonical form).
    let attached = attachment.text_contents().unwrap().replace("\r\n", "\n");
    assert!(attached == expected, "{} bytes attached", attached.len());
    let body = message.body();
    assert!(body.contains("== seq 1 5000: ok\n1\n2\n"), "{body}");
    assert!(
        body.contains(
            "20\n[... 5000 lines, 23 KiB in all: the whole output is attached as logs.seq-1-5000.txt]\n"
        ),
        "{body}"
    );
    assert!(!body.contains("\n21\n"), "{body}");
    assert!(body.contains("== short: ok\nshort\n"), "{body}");
}

#[test]
fn messages_stay_under_the_size_limit() {
    let env = Env::new("");
    // 3 × 6 MiB of output, twice with attachments: far over the 9 MiB limit.
    let print = "head -c 6291456 /dev/zero | tr '\\\\0' x";
    env.job(
        "flood",
        &format!(
            "max_output: 64MiB\nmail: {{attach_output_over: 1MiB}}\ncommands:\n  - {{name: one, run: \"{print}\"}}\n  - {{name: two, run: \"{print}\"}}\n  - {{name: three, run: \"{print}; echo done\"}}\n"
        ),
    );
    env.run(&["run", "flood"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert!(
        message.data.len() <= 9 << 20,
        "{} bytes",
        message.data.len()
    );
    let parsed = message.parsed();
    assert_eq!(parsed.attachment_count(), 3, "{}", structure(&parsed));
    for attachment in parsed.attachments() {
        let text = attachment.text_contents().unwrap();
        assert!(
            text.contains("bytes cut to keep the message under 9 MiB"),
            "{}",
            &text[..100]
        );
    }
    let body = message.body();
    assert!(
        body.contains(
            "Cut to keep this message under 9 MiB:\n- attachment flood.one.txt: 6.0 MiB cut to "
        ),
        "{}",
        &body[body.len().saturating_sub(500)..]
    );
}

#[test]
fn huge_inline_outputs_are_cut_too() {
    let env = Env::new("");
    env.job(
        "flood",
        "max_output: 64MiB\ncommands:\n  - {name: big, run: \"head -c 20971520 /dev/zero | tr '\\\\0' y\"}\n",
    );
    env.run(&["run", "flood"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert!(message.data.len() <= 9 << 20, "{}", message.data.len());
    let body = message.body();
    assert!(body.contains("bytes cut to keep the message under 9 MiB ...]"));
    assert!(
        body.contains("Cut to keep this message under 9 MiB:\n- stdout of `big`: 20 MiB cut to "),
        "{}",
        &body[body.len().saturating_sub(300)..]
    );
}

#[test]
fn helper_errors_name_the_template_line_and_still_deliver() {
    let env = Env::new("");
    env.job("bad", "mail: {template: bad}\ncommands: [echo hi]\n");
    let template = env.template("bad.txt.hbs", "ok\n{{bytes host.hostname}}\n");
    env.run(&["run", "bad"]).code(2).stderr_contains(&format!(
        "{}:2:1: `bytes`: expected a number, got \"",
        template.display()
    ));
    let body = env.smtp.wait_for(1)[0].body();
    assert!(
        body.starts_with("The template of this job failed, so the built-in one was used:"),
        "{body}"
    );
}

#[test]
fn a_template_named_like_a_partial_is_the_one_checked_previewed_and_mailed() {
    // `mail.template: disks` is `templates/disks.txt.hbs`; `{{> disks}}` is the shipped
    // partial `templates/partials/disks.txt.hbs` (with its HTML version).
    let env = Env::new("");
    env.shipped_partials();
    env.job("disks", "mail: {template: disks}\ncommands: [echo hi]\n");
    let own = env.template("disks.txt.hbs", "Own report of {{job.nmae}}\n");
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!(
            "{}:1:15: unknown variable job.nmae (`job` has description, name, schedule)",
            own.display()
        ))
        .stderr_contains("1 problem found");

    env.template("disks.txt.hbs", "Own report of {{job.name}}\n{{> disks}}");
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["preview", "disks"])
        .code(0)
        .stderr_empty()
        .stdout_contains("\nOwn report of disks\n    Size     Used    Avail  Use%");
    // The partial's HTML version is no HTML version of the report.
    env.run(&["preview", "--html", "disks"])
        .code(2)
        .stderr_contains(&format!(
            "disks.yaml: no HTML template to preview (expected `{}`)",
            env.path("templates/disks.html.hbs").display()
        ))
        .stdout_empty();
    env.run(&["run", "disks"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(structure(&message.parsed()), "text/plain");
    let body = message.body();
    assert!(
        body.starts_with("Own report of disks\n    Size     Used    Avail  Use%"),
        "{body}"
    );

    // Nor is a partial a report template: a job naming one has no template.
    std::fs::remove_file(&own).unwrap();
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "mail.template: template `disks` not found (expected `{}`)",
        own.display()
    ));
}

#[test]
fn preview_html_prints_only_the_html_body() {
    let env = Env::new("");
    env.job("page", "mail: {template: page}\ncommands: [echo '<b>']\n");
    env.template("page.txt.hbs", "text version\n");
    env.template(
        "page.html.hbs",
        "<p>{{#each results}}{{stdout}}{{/each}}</p>",
    );
    env.run(&["preview", "--html", "page"])
        .code(0)
        .stderr_empty()
        .stdout_is("<p>&lt;b&gt;\n</p>\n");

    env.job("plain", "commands: [true]\n");
    env.run(&["preview", "--html", "plain"])
        .code(2)
        .stderr_contains(&format!(
            "plain.yaml: no HTML template to preview (expected `{}`)",
            env.path("templates/default.html.hbs").display()
        ))
        .stdout_empty();

    env.job("broken", "mail: {template: broken}\ncommands: [true]\n");
    env.template("broken.txt.hbs", "fine\n");
    let html = env.template("broken.html.hbs", "<p>\n{{duration \"soon\"}}</p>");
    env.run(&["preview", "--html", "broken"])
        .code(2)
        .stderr_contains(&format!(
            "{}:2:1: `duration`: expected a number, got \"soon\"",
            html.display()
        ))
        .stderr_lacks("no HTML template");
}

#[test]
fn html_disk_report_renders_in_chromium() {
    let env = Env::shipped();
    // The shipped job fails (exit 1) when this machine has a filesystem at 90% or more.
    let html = env
        .run(&["preview", "--html", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_empty();
    assert!(
        html.stdout.starts_with("<!DOCTYPE html>"),
        "{}",
        html.stdout
    );
    let page = env.write("disk-usage.html", &html.stdout);

    let screenshot = env.path("disk-usage.png");
    let shot = chromium(
        &page,
        (1000, 1200),
        &[&format!("--screenshot={}", screenshot.display())],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000,
        "{} bytes",
        png.len()
    );

    let dump = chromium(&page, (1000, 1200), &["--dump-dom"]);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dom = String::from_utf8(dump.stdout).unwrap();
    let mounts: Vec<&str> = dom
        .split("<tr data-mount=\"")
        .skip(1)
        .map(|row| &row[..row.find('"').unwrap()])
        .collect();
    // The same disks as the text version of the same report lists.
    let text = env
        .run(&["preview", "disk-usage"])
        .code_in(&[0, 1])
        .stderr_empty()
        .into_stdout();
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("    Size     Used"))
        .skip(1)
        .take_while(|l| l.contains("] "))
        .map(|l| {
            let mount = l.split("%  ").nth(1).unwrap().trim_start();
            mount.split("  <--").next().unwrap()
        })
        .collect();
    assert_eq!(mounts, listed, "{dom}");
    if mounts.is_empty() {
        assert!(dom.contains("No local disks found."), "{dom}");
    }
    // Every row has its usage bar and percentage.
    assert_eq!(dom.matches("data-percent=").count(), mounts.len(), "{dom}");
}

#[test]
fn a_template_that_repeats_the_output_still_fits() {
    let env = Env::new("");
    env.template(
        "echo.txt.hbs",
        "{{#each results}}{{stdout}}{{stdout}}{{stdout}}{{stdout}}{{/each}}",
    );
    env.job(
        "echo",
        "max_output: 64MiB\nmail: {template: echo}\ncommands:\n  - \"head -c 4194304 /dev/zero | tr '\\\\0' z\"\n",
    );
    env.run(&["run", "echo"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert!(message.data.len() <= 9 << 20, "{}", message.data.len());
    let body = message.body();
    assert!(
        body.contains("Cut to keep this message under 9 MiB:\n- stdout of `head -c"),
        "{}",
        &body[body.len().saturating_sub(300)..]
    );
}

#[test]
fn a_template_too_large_by_itself_is_cut_and_says_so() {
    let env = Env::new("");
    env.template("huge.txt.hbs", &"static text\n".repeat(1 << 20));
    env.template("huge.html.hbs", "<p>html</p>");
    env.job("huge", "mail: {template: huge}\ncommands: [echo hi]\n");
    env.run(&["run", "huge"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    assert!(message.data.len() <= 9 << 20, "{}", message.data.len());
    let parsed = message.parsed();
    assert_eq!(structure(&parsed), "text/plain");
    let body = message.body();
    assert!(
        body.trim_end()
            .ends_with("over the 9 MiB limit; the HTML version and attachments were left out]"),
        "{}",
        &body[body.len().saturating_sub(300)..]
    );
}

#[test]
fn list_helpers_filter_count_and_tally_what_commands_print() {
    let env = Env::new("");
    env.job(
        "auth",
        "mail: {template: auth}\ncommands:\n  - name: sshd\n    run: printf 'Failed password for root from 10.0.0.9 port 22\\nFailed password for bob from 10.0.0.7 port 22\\n'\n  - {name: ntp, run: 'exit 3'}\n  - {name: cron, run: 'exit 4'}\n  - {name: disk, run: 'echo fine'}\n",
    );
    let template = env.template(
        "auth.txt.hbs",
        concat!(
            "first source: {{capture results.[0].stdout \"from ([0-9.]+) port\"}}\n",
            "port: {{capture results.[0].stdout \"port (\\\\d+)\"}}\n",
            "not ok: {{count (where results \"status\" \"^failed$\")}} of {{count results}}\n",
            "{{#each (take (tally results \"status\") 1)}}most: {{value}} × {{count}}{{/each}}\n",
            "{{#each (sort_by (where results \"exit_code\" \"[1-9]\") \"exit_code\" desc=true)}}{{name}}={{exit_code}} {{/each}}\n",
            "statuses: {{#each (unique results \"status\")}}{{this}} {{/each}}\n",
            "exit codes add up to {{sum results \"exit_code\"}}\n",
        ),
    );
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["run", "auth"]).code(1).stderr_only_not_ok();
    let body = env.smtp.wait_for(1)[0].body();
    assert_eq!(
        body.trim_end(),
        "first source: 10.0.0.9\nport: 22\nnot ok: 2 of 4\nmost: ok × 2\ncron=4 ntp=3 \nstatuses: ok failed \nexit codes add up to 7"
    );

    // `check` follows a filtered list's items, and a bad pattern names the helper.
    env.template(
        "auth.txt.hbs",
        "{{#each (where results \"status\" \"ok\")}}{{nmae}}{{/each}}\n",
    );
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{}:1:40: unknown variable nmae (here: attempts, ",
        template.display()
    ));
    // Alone, a helper's name reads the field of that name, which must exist there.
    env.template("auth.txt.hbs", "{{#each results}}{{count}}{{/each}}\n");
    env.run(&["check"]).code(2).stderr_contains(&format!(
        "{}:1:18: unknown variable count (here: attempts, ",
        template.display()
    ));
    env.template(
        "auth.txt.hbs",
        "ok\n{{count (where results \"status\" \"(\")}}\n",
    );
    env.run(&["run", "auth"]).code(2).stderr_contains(&format!(
        "{}:2:1: `where`: invalid pattern: unclosed group\n",
        template.display()
    ));
}
