//! Running as root: files only root may have written, private passwords, `user:` dropping
//! privileges fully, and secrets kept out of every output.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Uid, User};

use crate::support::{Env, Run, require_root, tool};

/// `reporter check` on `env` by a user other than root, and that user's uid: as root, run
/// as `nobody` through `setpriv`; otherwise as the user running the tests.
#[track_caller]
#[must_use = "check the run's exit code and stderr"]
fn check_unprivileged(env: &Env) -> (Run, Uid) {
    if !Uid::effective().is_root() {
        return (env.run(&["check"]), Uid::effective());
    }
    let nobody = User::from_name("nobody").unwrap().expect("a user `nobody`");
    chmod(env.dir.path(), 0o755);
    let output = Command::new(tool("setpriv", "util-linux"))
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_reporter"))
        .args([
            "--config",
            env.path("reporter.yaml").to_str().unwrap(),
            "check",
        ])
        .env("HOME", "/nonexistent")
        .output()
        .expect("run setpriv");
    (Run::new("reporter check (as nobody)", output), nobody.uid)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn root_refuses_files_others_could_have_written() {
    require_root();
    let env = Env::new("");
    let open = env.job("open", "commands: [echo open]\n");
    chmod(&open, 0o666);
    let foreign = env.job("foreign", "commands: [echo foreign]\n");
    let template = env.template("loose.txt.hbs", "{{job.name}}\n");
    chmod(&template, 0o664);
    env.job("fine", "commands: [echo fine]\n");
    std::os::unix::fs::chown(&foreign, Some(65534), None).unwrap();
    let shown = |p: &Path| p.display().to_string();
    env.run(&["run", "--all"])
        .code(2)
        .stderr_contains(&format!(
            "{}: `{}` is writable by group or others (mode 0666) and reporter runs as root: refusing it (fix: chmod go-w {})",
            shown(&open), shown(&open), shown(&open)
        ))
        .stderr_contains(&format!(
            "`{}` is owned by uid 65534, not root",
            shown(&foreign)
        ))
        // A run reads only the templates its jobs use; `check` reads them all.
        .stderr_lacks("loose.txt.hbs");
    env.run(&["check"])
        .code(2)
        .stderr_contains("loose.txt.hbs` is writable by group or others (mode 0664)");
    // The runs have exited: every message they sent has arrived.
    let jobs = env.smtp.jobs();
    assert!(jobs.contains(&"fine".to_owned()), "{jobs:?}");
    assert!(
        !jobs.contains(&"open".to_owned()) && !jobs.contains(&"foreign".to_owned()),
        "{jobs:?}"
    );

    let config = env.path("reporter.yaml");
    chmod(&config, 0o646);
    env.run(&["check"])
        .code(2)
        .stderr_contains("reporter.yaml` is writable by group or others (mode 0646)");
}

#[test]
fn password_file_must_be_private_and_never_shown() {
    let env = Env::new("");
    let secret = "s3cr3t-PASSWORD-7781";
    let password = env.write("smtp.pass", &format!("{secret}\n"));
    chmod(&password, 0o644);
    let config = format!(
        "state_dir: state\nmail:\n  from: r@test.example\n  to: [admin@test.example]\n  smtp: {{host: 127.0.0.1, port: {}, timeout: 5s, username: reporter, password_file: smtp.pass}}\n",
        env.smtp.port
    );
    env.write("reporter.yaml", &config);
    env.job("j", "commands: [echo hi]\n");
    let check = env
        .run(&["check"])
        .code(2)
        .stderr_contains("mail.smtp.password_file: `")
        .stderr_contains(
            "smtp.pass` has mode 0644; a password file must be 0600 or 0400 (fix: chmod 600 ",
        );

    chmod(&password, 0o600);
    env.run(&["check"]).code(0).stderr_empty();
    // The test relay offers no AUTH, so the login fails: the error must not carry the secret.
    let run = env
        .run(&["-vv", "run", "j"])
        .code(75)
        .stderr_contains("j: report not delivered (relay 127.0.0.1:");
    for output in [&run.stdout, &run.stderr, &check.stderr] {
        assert!(!output.contains(secret), "secret leaked: {output}");
    }
    for file in env.spooled("state/spool") {
        assert!(!std::fs::read_to_string(file).unwrap().contains(secret));
    }
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn user_runs_commands_with_that_users_ids() {
    require_root();
    let env = Env::new("");
    env.job(
        "as-nobody",
        "user: nobody\ncwd: /\ncommands: ['id -u; id -g; id -G; echo \"$HOME $USER\"']\n",
    );
    env.run(&["run", "as-nobody"]).code(0).stderr_empty();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let name = std::ffi::CString::new("nobody").unwrap();
    let groups: Vec<String> = nix::unistd::getgrouplist(&name, nobody.gid)
        .unwrap()
        .iter()
        .map(|g| g.to_string())
        .collect();
    let body = env.smtp.wait_for(1)[0].body();
    let expected = format!(
        "{}\n{}\n{}\n{} nobody\n",
        nobody.uid,
        nobody.gid,
        groups.join(" "),
        nobody.dir.display()
    );
    assert!(body.contains(&expected), "expected {expected:?} in {body}");
}

#[test]
fn user_needs_root() {
    let env = Env::new("");
    env.job("as-daemon", "user: daemon\ncommands: [id]\n");
    let (run, uid) = check_unprivileged(&env);
    run.code(2).stderr_contains(&format!(
        "as-daemon.yaml:1:7: user: running commands as `daemon` needs reporter to run as root (it runs as uid {uid})"
    ));
}

#[test]
fn unknown_user_is_a_config_error() {
    let env = Env::new("");
    env.job("ghost", "user: no-such-user-7782\ncommands: [id]\n");
    env.run(&["check"])
        .code(2)
        .stderr_contains("ghost.yaml:1:7: user: no user `no-such-user-7782` on this system");
}

#[test]
fn check_warns_other_users_about_files_anyone_could_change() {
    let env = Env::new("");
    let open = env.job("open", "commands: [echo open]\n");
    chmod(&open, 0o666);
    let (run, _) = check_unprivileged(&env);
    // A warning, not an error.
    run.code(0).stderr_contains(&format!(
        "reporter: warning: `{}` is writable by group or others (mode 0666): they can change what reporter runs",
        open.display()
    ));
}
