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
    // Options and their values are not job names.
    let value = bash_completes(&env, &["reporter", "run", "--jobs", ""]);
    assert!(!value.contains(&"load".to_owned()), "{value:?}");
    assert!(bash_completes(&env, &["reporter", "run", "--di"]).contains(&"--digest".to_owned()));
    let fish = env.run(&["completions", "fish"]).code(0).stderr_empty();
    fish.stdout_contains("__fish_seen_subcommand_from run preview history\" -f -a \"(reporter list --names 2>/dev/null)\"");
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
