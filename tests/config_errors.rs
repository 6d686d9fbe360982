//! Every configuration mistake a user can make gets a message naming the file, the line
//! where known, and the key.

use crate::support::Env;

fn check(env: &Env) -> String {
    let run = env.run(&["check"]);
    assert_eq!(run.code, 2, "check should fail: {}", run.stderr);
    run.stderr
}

#[test]
fn unknown_key() {
    let env = Env::new("");
    env.job("disk", "description: x\ncomands:\n  - df -h\n");
    let stderr = check(&env);
    assert!(
        stderr.contains("jobs/disk.yaml:2:1: comands: unknown field `comands`, expected one of"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_in_config() {
    let env = Env::new("pool_sise: 3\n");
    let stderr = check(&env);
    assert!(
        stderr.contains("reporter.yaml:6:1: pool_sise: unknown field `pool_sise`"),
        "{stderr}"
    );
}

#[test]
fn bad_address() {
    let env = Env::new("");
    env.job(
        "disk",
        "commands: [df]\nmail:\n  to: [ops@example.com, not an address]\n",
    );
    let stderr = check(&env);
    assert!(
        stderr.contains("jobs/disk.yaml:3:25: mail.to[1]: invalid mail address \"not an address\""),
        "{stderr}"
    );
}

#[test]
fn bad_duration() {
    let env = Env::new("");
    env.job(
        "disk",
        "commands:\n  - run: df -h\n  - run: df -i\n    timeout: 5 minutes\n",
    );
    let stderr = check(&env);
    assert!(
        stderr.contains(
            "jobs/disk.yaml:4:14: commands[1].timeout: invalid duration \"5 minutes\" (expected e.g. 30s, 5m, 1h30m)"
        ),
        "{stderr}"
    );
}

#[test]
fn missing_template() {
    let env = Env::new("");
    env.job("disk", "commands: [df]\nmail: {template: fancy}\n");
    let stderr = check(&env);
    assert!(
        stderr
            .contains("jobs/disk.yaml:2:18: mail.template: template `fancy` not found (expected `"),
        "{stderr}"
    );
    assert!(stderr.contains("templates/fancy.txt.hbs`)"), "{stderr}");
}

#[test]
fn yaml_syntax_error() {
    let env = Env::new("");
    env.job("disk", "commands:\n  - df -h\n  - [unclosed\n");
    let stderr = check(&env);
    assert!(stderr.contains("jobs/disk.yaml:"), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("disk.yaml")).unwrap();
    let location = line.split(':').nth(3).unwrap();
    assert!(location.parse::<usize>().is_ok(), "line number in {line}");
}

#[test]
fn template_syntax_error() {
    let env = Env::new("");
    env.template("broken.txt.hbs", "line one\n{{#each results}}\n");
    let stderr = check(&env);
    assert!(stderr.contains("templates/broken.txt.hbs:"), "{stderr}");
}

#[test]
fn bad_config_file_stops_everything_with_exit_2() {
    let env = Env::new("");
    env.write("reporter.yaml", "mail:\n  smtp:\n    tls: ssl\n");
    let run = env.run(&["run", "--all"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("reporter.yaml:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("tls: unknown variant `ssl`"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let env = Env::new("");
    env.job("one", "commands: [df]\ntimeout: 1 hour\n");
    env.job("two", "commands: [df]\nsend: sometimes\n");
    env.job("three", "cwd: relative\nuser: \"a b\"\ncommands: [df]\n");
    let stderr = check(&env);
    for expected in [
        "one.yaml:2:10: timeout:",
        "two.yaml:2:7: send:",
        "three.yaml:1:6: cwd:",
        "three.yaml:2:7: user:",
    ] {
        assert!(stderr.contains(expected), "{expected} missing in {stderr}");
    }
    assert!(stderr.contains("4 problems found"), "{stderr}");
}

#[test]
fn several_mistakes_in_one_file_are_reported_together() {
    let env = Env::new("pool_sise: 3\nshel: /bin/bash\n");
    env.job(
        "disk",
        "comands: [df]\ntimeout: 5 minutes\nmail: {to: [nobody]}\n",
    );
    let stderr = check(&env);
    for expected in [
        "reporter.yaml:6:1: pool_sise: unknown field `pool_sise`",
        "reporter.yaml:7:1: shel: unknown field `shel`",
    ] {
        assert!(stderr.contains(expected), "{expected} missing in {stderr}");
    }
    // A broken config stops there; with it fixed, the job's three mistakes show at once.
    env.write_config("");
    let stderr = check(&env);
    for expected in [
        "disk.yaml:1:1: comands: unknown field `comands`",
        "disk.yaml:2:10: timeout: invalid duration \"5 minutes\"",
        "disk.yaml:3:13: mail.to[0]: invalid mail address \"nobody\"",
    ] {
        assert!(stderr.contains(expected), "{expected} missing in {stderr}");
    }
}
