//! Processes a command starts never outlive it, and `user:` commands get a clean environment (SPEC §6, §11).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::support::{Env, Run, require_root};

/// `reporter ARGS` on `env` with reporter's own environment set to exactly `vars`.
#[track_caller]
#[must_use = "check the run's exit code and stderr"]
fn run_with_environment(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_reporter"))
        .args(["--config", env.path("reporter.yaml").to_str().unwrap()])
        .args(args)
        .current_dir(env.dir.path())
        .env_clear()
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run reporter");
    Run::new(format!("reporter {}", args.join(" ")), output)
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn user_commands_get_a_clean_environment() {
    require_root();
    let env = Env::new("path: /usr/bin:/bin\n");
    env.job(
        "as-nobody",
        "user: nobody\ncwd: /\nenv: {FOO: bar}\ncommands: [env]\n",
    );
    let root_env = [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        ("HOME", "/root"),
        ("SSH_AUTH_SOCK", "/tmp/agent"),
        ("SECRET_TOKEN", "x"),
        ("GIT_CONFIG_FILE", "/root/.gitconfig"),
        ("LANG", "C.UTF-8"),
        ("LC_TIME", "C"),
        ("TZ", "UTC"),
    ];
    run_with_environment(&env, &root_env, &["run", "as-nobody"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    // What the shell sets for itself is not reporter's doing.
    let seen: BTreeMap<&str, &str> = body
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .filter(|(name, _)| !matches!(*name, "PWD" | "SHLVL" | "_" | "OLDPWD"))
        .collect();
    let home = nobody.dir.display().to_string();
    let shell = nobody.shell.display().to_string();
    let expected = BTreeMap::from([
        ("PATH", "/usr/bin:/bin"),
        ("HOME", home.as_str()),
        ("USER", "nobody"),
        ("LOGNAME", "nobody"),
        ("SHELL", shell.as_str()),
        ("LANG", "C.UTF-8"),
        ("LC_TIME", "C"),
        ("TZ", "UTC"),
        ("FOO", "bar"),
    ]);
    assert_eq!(seen, expected, "in the mail:\n{body}");
}

#[test]
fn commands_of_reporter_itself_keep_its_environment() {
    let env = Env::new("path: /usr/bin:/bin\n");
    env.job("own", "env: {FOO: bar}\ncommands: ['echo \"$PATH $KEPT $FOO\"']\n");
    run_with_environment(&env, &[("KEPT", "yes")], &["run", "own"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("/usr/bin:/bin yes bar\n"), "{body}");
}
