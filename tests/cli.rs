//! Command-line manners: output into a closed pipe, completions, unknown names.

use crate::support::Env;

#[test]
fn output_into_a_closed_pipe_ends_quietly_with_status_0() {
    let env = Env::new("");
    env.job(
        "hello",
        "schedule: daily\ncommands: [echo hello]\nmail: {template: hello}\n",
    );
    env.template("hello.txt.hbs", "{{results.0.stdout}}");
    env.template("hello.html.hbs", "<p>{{results.0.stdout}}</p>");
    env.run(&["run", "hello"]).code(0).stderr_empty();
    for args in [
        &["history"][..],
        &["history", "--json"],
        &["list"],
        &["list", "--json"],
        &["status"],
        &["status", "--json"],
        &["check"],
        &["man"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["preview", "hello"],
        &["preview", "--html", "hello"],
    ] {
        env.run_into_closed_pipe(args).code(0).stderr_empty();
    }
}

/// What bash completes for `words` (the last one being completed) with reporter's script.
fn bash_completes(env: &Env, words: &[&str]) -> Vec<String> {
    let script = env
        .run(&["completions", "bash"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    let path = env.write("reporter.bash", &script);
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_reporter"));
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; _reporter_jobs reporter; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let output = std::process::Command::new("bash")
        .args(["--norc", "-c", &line])
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", binary.parent().unwrap().display()),
        )
        .env("REPORTER_CONFIG", env.path("reporter.yaml"))
        .output()
        .expect("run bash");
    let mut words: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

#[test]
fn completion_completes_job_names() {
    let env = Env::new("");
    env.job("disk-usage", "commands: [df]\n");
    env.job("disk-inodes", "commands: [df -i]\n");
    env.job("load", "commands: [uptime]\n");
    env.run(&["list", "--names"])
        .code(0)
        .stderr_empty()
        .stdout_is("disk-inodes\ndisk-usage\nload\n");
    assert_eq!(
        bash_completes(&env, &["reporter", "run", "disk"]),
        ["disk-inodes", "disk-usage"]
    );
    assert_eq!(
        bash_completes(&env, &["reporter", "-v", "history", ""]),
        ["disk-inodes", "disk-usage", "load"]
    );
    assert_eq!(
        bash_completes(&env, &["reporter", "preview", "load", "d"]),
        ["disk-inodes", "disk-usage"]
    );
    assert_eq!(
        bash_completes(&env, &["reporter", "silence", "lo"]),
        ["load"]
    );
    let reason = bash_completes(&env, &["reporter", "silence", "load", "--reason", ""]);
    assert!(!reason.contains(&"load".to_owned()), "{reason:?}");
    // Options and their values are not job names.
    let value = bash_completes(&env, &["reporter", "run", "--jobs", ""]);
    assert!(!value.contains(&"load".to_owned()), "{value:?}");
    assert!(bash_completes(&env, &["reporter", "run", "--di"]).contains(&"--digest".to_owned()));
    let fish = env.run(&["completions", "fish"]).code(0).stderr_empty();
    assert_eq!(bash_completes(&env, &["reporter", "status", "l"]), ["load"]);
    fish.stdout_contains("__fish_seen_subcommand_from run preview history silence status\" -f -a \"(reporter list --names 2>/dev/null)\"");
}

#[test]
fn history_of_an_unknown_job_says_so() {
    let env = Env::new("");
    env.job("disk", "commands: [df]\n");
    env.job("load", "commands: [uptime]\n");
    env.run(&["history", "dsik"])
        .code(2)
        .stderr_contains("no job `dsik` (known jobs: disk, load)");
    // Known but never run: an empty history, not an error.
    env.run(&["history", "disk"]).code(0).stderr_empty();
    // Run once, then removed: its runs are still shown.
    env.run(&["run", "load"]).code(0).stderr_empty();
    std::fs::remove_file(env.path("jobs/load.yaml")).unwrap();
    env.run(&["history", "load"])
        .code(0)
        .stderr_empty()
        .stdout_contains(" load ");
}

/// The lines of `stderr`, each parsed as a JSON object.
fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    assert!(!stderr.is_empty(), "nothing logged");
    stderr
        .lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(serde_json::Value::Object(object)) => object,
            other => panic!("not a JSON object ({other:?}): {line}\nstderr:\n{stderr}"),
        })
        .collect()
}

#[test]
fn log_format_json_prints_one_object_per_line() {
    let env = Env::new("");
    env.job("hello", "commands: [echo hello]\n");
    let run = env.run(&["--log-format", "json", "-v", "run", "hello", "nosuch"]);
    let run = run.code(2).stderr_contains("\"level\":\"ERROR\"");
    let stderr = run.stderr.clone();
    let lines = json_lines(&stderr);
    for line in stderr.lines() {
        assert!(line.starts_with("{\"timestamp\":\""), "{line}");
    }
    for line in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(line.contains_key(key), "no {key}: {line:?}");
        }
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "not RFC 3339: {timestamp}"
        );
    }
    let messages: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert!(
        messages
            .iter()
            .any(|(level, m)| *level == "ERROR" && m.contains("no job `nosuch`")),
        "{messages:?}"
    );
}

#[test]
fn log_format_from_the_config_applies_unless_the_command_line_says_otherwise() {
    let env = Env::new("log_format: json\n");
    env.job("hello", "commands: [echo hello]\n");
    let run = env
        .run(&["-v", "run", "hello"])
        .code(0)
        .stderr_contains("hello: report delivered");
    let stderr = run.stderr.clone();
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["message"]
                .as_str()
                .unwrap()
                .contains("hello: report delivered")),
        "{stderr}"
    );
    env.run(&["--log-format", "text", "-v", "run", "hello"])
        .code(0)
        .stderr_is("reporter: hello: report delivered\n");
    // A value the key cannot take is an error naming the file, key and line.
    env.write_config("log_format: xml\n");
    env.run(&["check"]).code(2).stderr_contains(
        "reporter.yaml:6:13: log_format: unknown variant `xml`, expected `text` or `json`",
    );
    env.run(&["--log-format", "xml", "check"])
        .code(2)
        .stderr_contains("invalid value 'xml' for '--log-format <FORMAT>'");
}

/// Starts reporter with stderr on a file and `JOURNAL_STREAM` set as systemd sets it when
/// stderr is the journal: the file's device and inode, or else `journal_stream`.
fn start_under_journal(
    env: &Env,
    journal_stream: Option<&str>,
    args: &[&str],
) -> (std::process::Child, tempfile::NamedTempFile) {
    use std::os::unix::fs::MetadataExt;
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let meta = stderr.as_file().metadata().unwrap();
    let value =
        journal_stream.map_or_else(|| format!("{}:{}", meta.dev(), meta.ino()), str::to_owned);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_reporter"))
        .args(["--config", env.path("reporter.yaml").to_str().unwrap()])
        .args(args)
        .current_dir(env.dir.path())
        .env_remove("REPORTER_CONFIG")
        .env("JOURNAL_STREAM", value)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .expect("start reporter");
    (child, stderr)
}

/// Like [`start_under_journal`], to the end: the exit code and stderr.
fn run_under_journal(env: &Env, journal_stream: Option<&str>, args: &[&str]) -> (i32, String) {
    let (mut child, stderr) = start_under_journal(env, journal_stream, args);
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(stderr.path()).unwrap(),
    )
}

#[test]
fn under_the_journal_lines_carry_syslog_priorities_and_no_timestamps() {
    let env = Env::new("");
    env.job("hello", "commands: [echo hello]\n");
    let (code, stderr) = run_under_journal(&env, None, &["-v", "run", "hello", "nosuch"]);
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<3>error: ") && l.contains("no job `nosuch`")),
        "{stderr}"
    );
    assert!(lines.contains(&"<6>hello: report delivered"), "{stderr}");
    for line in &lines {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "a line without its priority: {line}\n{stderr}"
        );
    }
    let refusing = Env::refusing();
    refusing.job("hello", "commands: [echo hello]\n");
    let (code, stderr) = run_under_journal(&refusing, None, &["run", "hello"]);
    assert_eq!(code, 75, "{stderr}");
    assert!(stderr.starts_with("<4>warning: hello: "), "{stderr}");
    // The daemon's lines have no timestamp of their own there either.
    env.job("hello", "schedule: daily\ncommands: [echo hello]\n");
    let (mut daemon, stderr) = start_under_journal(&env, None, &["daemon"]);
    let started = crate::support::wait_until(|| {
        std::fs::read_to_string(stderr.path())
            .unwrap()
            .contains("\n")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    let stderr = std::fs::read_to_string(stderr.path()).unwrap();
    assert!(started, "{stderr}");
    assert!(stderr.starts_with("<6>daemon started "), "{stderr}");
    // JSON stays JSON.
    let (code, stderr) = run_under_journal(&env, None, &["--log-format", "json", "run", "nosuch"]);
    assert_eq!(code, 2, "{stderr}");
    json_lines(&stderr);
    // A JOURNAL_STREAM inherited by a process whose stderr went elsewhere is not the journal.
    let (code, stderr) = run_under_journal(&env, Some("1:2"), &["run", "nosuch"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("reporter: error: "), "{stderr}");
}

#[test]
fn reporter_yaml_5_documents_every_config_and_job_key() {
    let env = Env::new("");
    let page = env
        .run(&["man", "reporter.yaml"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(page.starts_with(".TH REPORTER.YAML 5 "), "{page}");
    // The keys of reporter.yaml(5): job files (ping and webhooks included) and reporter.yaml.
    let job = [
        "description",
        "schedule",
        "send",
        "catch_up",
        "enabled",
        "random_delay",
        "retries",
        "retry_delay",
        "failures_before_mail",
        "disk_full_within",
        "ping",
        "url",
        "webhooks",
        "headers_file",
        "timeout",
        "max_output",
        "env",
        "cwd",
        "user",
        "hosts",
        "targets",
        "mail",
        "from",
        "to",
        "cc",
        "reply_to",
        "subject",
        "template",
        "attach_output_over",
        "per_host",
        "commands",
        "name",
        "run",
        "ok_exit_codes",
        "fail_if",
    ];
    let config = [
        "jobs_dir",
        "templates_dir",
        "state_dir",
        "pool_size",
        "shell",
        "path",
        "timezone",
        "history_days",
        "defaults",
        "transport",
        "smtp",
        "host",
        "port",
        "tls",
        "username",
        "password_file",
        "sendmail",
        "file",
        "dir",
        "spool_max_age",
        "ssh",
        "command",
        "options",
        "host_groups",
        "inventory",
        "metrics_file",
        "log_format",
    ];
    let missing: Vec<&str> = job
        .iter()
        .chain(&config)
        .filter(|key| !page.contains(&format!("\\fB{key}\\fR")))
        .copied()
        .collect();
    assert!(missing.is_empty(), "not in reporter.yaml(5): {missing:?}");
    // Every key the code accepts, found by asking it rather than listed here, is in the entry
    // of the key it is under: `mail.smtp.timeout` in the entry of `smtp` in the entry of
    // `mail` in CONFIGURATION. The config's `defaults` take job keys, which JOBS describes.
    let configuration = section(&page, "CONFIGURATION");
    let jobs = section(&page, "JOBS");
    let mut undocumented = Vec::new();
    let config_keys = accepted_keys(&env, Probed::Config);
    for path in &config_keys {
        let (scope, keys) = match path.split_first() {
            Some((first, rest)) if first == "defaults" && !rest.is_empty() => (jobs, rest),
            _ => (configuration, &path[..]),
        };
        if !documented(scope, keys) {
            undocumented.push(path.join(".").replace(".[]", "[]"));
        }
    }
    let job_keys = accepted_keys(&env, Probed::Job);
    for path in &job_keys {
        if !documented(jobs, path) {
            undocumented.push(format!("job: {}", path.join(".").replace(".[]", "[]")));
        }
    }
    for (keys, expected) in [
        (&config_keys, ["mail", "smtp", "password_file"]),
        (&job_keys, ["commands", "[]", "fail_if"]),
        (&job_keys, ["webhooks", "[]", "headers_file"]),
    ] {
        assert!(
            keys.iter().any(|path| path == &expected),
            "the keys found by asking miss {expected:?}: {keys:?}"
        );
    }
    assert!(
        undocumented.is_empty(),
        "not in reporter.yaml(5): {undocumented:?}"
    );
}

/// The file whose keys [`accepted_keys`] asks for.
#[derive(Clone, Copy)]
enum Probed {
    Config,
    Job,
}

/// A key the code cannot know, put where keys are asked for.
const PROBE: &str = "zz_probe";

/// Every key path the code accepts in a file, by asking it: a key it does not know is
/// refused with the keys it knows there (serde's `unknown field `x`, expected one of ...`),
/// so each level is probed with a map holding an unknown key, and each key found with a
/// map or a list of maps of its own. `[]` stands for the items of a list.
fn accepted_keys(env: &Env, file: Probed) -> Vec<Vec<String>> {
    // The other file as the installation has it: a valid config, no job.
    env.write_config("");
    let _ = std::fs::remove_file(env.path("jobs/probe.yaml"));
    let mut found = Vec::new();
    let mut pending = vec![Vec::new()];
    while let Some(at) = pending.pop() {
        let Answer::Keys(keys) = ask(env, file, &at) else {
            continue;
        };
        assert!(at.len() < 8, "keys nested without end: {at:?}");
        for key in keys {
            let mut path = at.clone();
            path.push(key);
            match ask(env, file, &path) {
                Answer::Keys(_) => pending.push(path.clone()),
                Answer::List => {
                    let mut items = path.clone();
                    items.push("[]".to_owned());
                    pending.push(items);
                }
                Answer::Neither => {}
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

/// What the code says to a map holding an unknown key.
enum Answer {
    /// It is refused, with the keys a map there may have.
    Keys(Vec<String>),
    /// A list belongs there.
    List,
    /// Something else belongs there (a text, a map of any keys), or anything goes.
    Neither,
}

/// What the code says to a map holding an unknown key at `path`.
fn ask(env: &Env, file: Probed, path: &[String]) -> Answer {
    let mut value = serde_json::json!({ PROBE: 1 });
    for step in path.iter().rev() {
        value = if step == "[]" {
            serde_json::json!([value])
        } else {
            serde_json::json!({ step: value })
        };
    }
    let run = match file {
        Probed::Config => {
            // The state stays in the test's folder whatever the probe leaves out.
            if let Some(map) = value.as_object_mut() {
                map.entry("state_dir").or_insert("state".into());
            }
            env.write("reporter.yaml", &value.to_string());
            env.run(&["check"])
        }
        Probed::Job => {
            env.job("probe", &value.to_string());
            env.run(&["check"])
        }
    };
    // Refused (a probe, or what the probe put in place of what belongs there), or accepted.
    let run = if run.code == 2 {
        run.code(2).stderr_contains("reporter: error: ")
    } else {
        run.code(0).stderr_empty()
    };
    let stderr = run.stderr.clone();
    let refused = stderr
        .lines()
        .find_map(|line| line.split_once(&format!("unknown field `{PROBE}`, expected ")));
    match refused {
        Some((_, expected)) => {
            let names = regex::Regex::new("`([a-z0-9_]+)`").unwrap();
            Answer::Keys(
                names
                    .captures_iter(expected)
                    .map(|name| name[1].to_owned())
                    .collect(),
            )
        }
        None if stderr.contains("invalid type: map, expected a sequence") => Answer::List,
        None => Answer::Neither,
    }
}

/// The text of the `.SH` section `name` of a page.
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!("\n.SH {name}\n"))
        .unwrap_or_else(|| panic!("no {name} section"));
    let rest = &page[start + 1..];
    let end = rest[1..].find("\n.SH ").map_or(rest.len(), |at| at + 1);
    &rest[..end]
}

/// Whether each key of `path` is named in the entry of the one before (the first in
/// `scope`); `[]` steps into the items of a list, which the same entry describes.
fn documented(scope: &str, path: &[String]) -> bool {
    let mut scope = scope;
    for key in path.iter().filter(|key| *key != "[]") {
        if !scope.contains(&format!("\\fB{key}\\fR")) {
            return false;
        }
        scope = entry(scope, key).unwrap_or(scope);
    }
    true
}

/// The `.TP` entry whose tag names `key`, down to the next entry at its level (entries in
/// `.RS` ... `.RE` below it are part of it).
fn entry<'a>(scope: &'a str, key: &str) -> Option<&'a str> {
    let lines: Vec<&str> = scope.lines().collect();
    let tag = format!("\\fB{key}\\fR");
    // The keys a tag names come before its `: ` (`\fBtransport\fR: \fBsmtp\fR | ...` is
    // the entry of `transport`).
    let names = |line: &str| line.split(": ").next().unwrap_or(line).contains(&tag);
    let start = (1..lines.len()).find(|&i| lines[i - 1] == ".TP" && names(lines[i]))?;
    let mut depth = 0;
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        match *line {
            ".RS" => depth += 1,
            ".RE" if depth == 0 => {
                end = i;
                break;
            }
            ".RE" => depth -= 1,
            ".TP" | ".SH" | ".SS" if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let from = lines[..start].iter().map(|l| l.len() + 1).sum::<usize>();
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>();
    Some(&scope[from..to.min(scope.len())])
}

#[test]
fn reporter_1_has_every_section_and_points_only_to_pages_that_exist() {
    let env = Env::new("");
    let page = env.run(&["man"]).code(0).stderr_empty().into_stdout();
    assert!(page.contains("\n.TH reporter 1 "), "{page}");
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "FILES",
        "EXIT STATUS",
        "ENVIRONMENT",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        let heading = if section.contains(' ') {
            format!(".SH \"{section}\"\n")
        } else {
            format!(".SH {section}\n")
        };
        assert!(
            page.contains(&heading) || page.contains(&format!(".SH {section}\n")),
            "no {section} section"
        );
    }
    for variable in ["REPORTER_CONFIG", "NO_COLOR", "JOURNAL_STREAM"] {
        assert!(page.contains(&format!(".B {variable}\n")), "{variable}");
    }
    for command in [
        "run",
        "preview",
        "list",
        "check",
        "flush",
        "history",
        "daemon",
        "completions",
        "man",
    ] {
        assert!(page.contains(&format!(".SS {command}\n")), "{command}");
    }
    for option in [
        "\\-\\-schedule",
        "\\-\\-digest",
        "\\-\\-to",
        "\\-\\-hosts",
        "\\-\\-html",
        "\\-\\-limit",
        "\\-\\-pidfile",
        "\\-\\-log\\-file",
        "\\-\\-detach",
        "\\-\\-log\\-format",
        "\\-\\-color",
    ] {
        assert!(page.contains(option), "{option}");
    }
    // Pages that do not exist (clap's reporter-run(1) and friends) are not named.
    let named = regex::Regex::new(r"\\fB([a-z_.\\-]+)\\fR\((\d)\)").unwrap();
    for found in named.captures_iter(&page) {
        let name = found[1].replace("\\-", "-");
        assert!(
            !name.starts_with("reporter-"),
            "points to {name}({})",
            &found[2]
        );
    }
    assert!(!page.contains("reporter\\-run(1)") && !page.contains("reporter-run(1)"));
}

#[test]
fn reporter_templates_7_is_printed_named_and_completed() {
    let env = Env::new("");
    let page = env
        .run(&["man", "reporter-templates"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(page.starts_with(".TH REPORTER-TEMPLATES 7 "), "{page}");
    for section in ["CONTEXT", "HELPERS", "EXAMPLES", "SEE ALSO"] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "{section}");
    }
    // The other pages send readers there, and each page they name is one `man` prints.
    let reporter_1 = env.run(&["man"]).code(0).stderr_empty().into_stdout();
    let reporter_yaml_5 = env
        .run(&["man", "reporter.yaml"])
        .code(0)
        .stderr_empty()
        .into_stdout();
    assert!(reporter_1.contains("\n.BR reporter\\-templates (7)"));
    assert!(reporter_yaml_5.contains("\\fBreporter\\-templates\\fR(7)"));
    assert!(
        !reporter_yaml_5.contains("README"),
        "reporter.yaml(5) sends readers to the README"
    );
    let named =
        regex::Regex::new(r"(?:\\fB|\.BR )(reporter[a-z_.\\-]*)(?:\\fR| )\((\d)\)").unwrap();
    for page in [&reporter_1, &reporter_yaml_5, &page] {
        for found in named.captures_iter(page) {
            let name = found[1].replace("\\-", "-");
            assert!(
                ["reporter 1", "reporter.yaml 5", "reporter-templates 7"]
                    .contains(&format!("{name} {}", &found[2]).as_str()),
                "points to {name}({})",
                &found[2]
            );
        }
    }
    for shell in ["bash", "zsh", "fish"] {
        env.run(&["completions", shell])
            .code(0)
            .stderr_empty()
            .stdout_contains("reporter-templates");
    }
}

/// The packaged manual pages and completion scripts are generated from the binary
/// (`packaging/generate.sh`), never edited by hand: they are what it prints now.
#[test]
fn packaged_pages_and_completions_are_what_the_binary_prints() {
    let env = Env::new("");
    let dir = crate::support::repo().join("packaging");
    for (args, file) in [
        (&["man"][..], "man/reporter.1"),
        (&["man", "reporter.yaml"], "man/reporter.yaml.5"),
        (&["man", "reporter-templates"], "man/reporter-templates.7"),
        (&["completions", "bash"], "completions/reporter.bash"),
        (&["completions", "zsh"], "completions/_reporter"),
        (&["completions", "fish"], "completions/reporter.fish"),
    ] {
        let printed = env.run(args).code(0).stderr_empty().into_stdout();
        let packaged = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            printed == packaged,
            "packaging/{file} differs from `reporter {}`: run packaging/generate.sh",
            args.join(" ")
        );
    }
}
