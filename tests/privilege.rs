//! Running as root against an attacker with one unprivileged account: files swapped under reporter, folders others can write, job names that are paths, targets in quotes (SPEC §11).

use crate::support::Env;

/// `{{target}}` is substituted shell-quoted; inside quotes the quoting is undone and a
/// target's `$(...)` would run.
#[test]
fn target_inside_quotes_is_a_configuration_error() {
    let env = Env::new("");
    let marker = env.path("pwned");
    let targets = format!("targets: ['$(touch {})']\n", marker.display());
    env.job(
        "double",
        &format!("{targets}commands:\n  - echo \"{{{{target}}}}\"\n"),
    );
    env.job(
        "single",
        &format!("{targets}commands:\n  - name: ping\n    run: echo '{{{{target}}}}' up\n"),
    );
    let message = "`{{target}}` inside quotes in `run`: it is substituted already shell-quoted, \
                   and inside quotes a target's `$(...)` would run; write it without quotes";
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!("jobs/double.yaml:3:5: commands[0]: {message}"))
        .stderr_contains(&format!(
            "jobs/single.yaml:4:10: commands[0].run: {message}"
        ));
    for job in ["double", "single"] {
        env.run(&["run", job])
            .code(2)
            .stderr_contains(&format!("jobs/{job}.yaml:"))
            .stderr_contains(message);
    }
    assert!(!marker.exists(), "a target ran as shell code");

    // Unquoted, and quoted inside a command substitution, it is one word.
    env.job(
        "double",
        &format!("{targets}commands:\n  - echo {{{{target}}}} \"$(echo {{{{target}}}})\"\n"),
    );
    env.job("single", "commands: [echo fine]\n");
    // (The runs above mailed the reports of their problems.)
    let before = env.smtp.received().len();
    env.run(&["run", "double"]).code(0).stderr_empty();
    assert!(!marker.exists(), "a target ran as shell code");
    let received = env.smtp.received();
    assert_eq!(received.len(), before + 1);
    let body = received[before].body();
    let literal = format!("$(touch {}) $(touch {0})", marker.display());
    assert!(body.contains(&literal), "{body}");
}

/// `run ../elsewhere/job` must not load a file outside `jobs_dir`: arguments are names.
#[test]
fn job_arguments_are_names_never_paths() {
    let env = Env::new("");
    let marker = env.path("pwned");
    env.write(
        "elsewhere/job.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    env.write(
        "jobs/sub/job.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    env.job("x", "commands: [echo x]\n");
    env.write(
        "jobs/.hidden.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    for argument in [
        "../elsewhere/job",
        "sub/job",
        "./x",
        ".hidden",
        "x.yaml",
        "",
    ] {
        for command in ["run", "preview"] {
            env.run(&[command, argument, "x"])
                .code(2)
                .stderr_contains(&format!(
                    "(command line): `{argument}` is not a job name: a job is named by its file \
                     stem in `jobs_dir` (letters, digits, `-` and `_`), never by a path"
                ));
        }
    }
    env.run(&["run", "x.yaml"])
        .code(2)
        .stderr_contains("(did you mean `x`?)");
    assert!(!marker.exists(), "a job outside jobs_dir ran");
    // A command line that names a path runs nothing, not even the valid names on it.
    assert!(env.smtp.jobs().is_empty(), "{:?}", env.smtp.jobs());
    env.run(&["run", "x"]).code(0).stderr_empty();
}
