//! Every configuration mistake a user can make gets a message naming the file, the line
//! where known, and the key.

use crate::support::{Env, Run};

/// `reporter check`, which must fail with exit 2; the caller checks what stderr says.
#[track_caller]
fn check(env: &Env) -> Run {
    env.run(&["check"]).code(2)
}

#[test]
fn unknown_key() {
    let env = Env::new("");
    env.job("disk", "description: x\ncomands:\n  - df -h\n");
    check(&env)
        .stderr_contains("jobs/disk.yaml:2:1: comands: unknown field `comands`, expected one of");
}

#[test]
fn unknown_key_in_config() {
    let env = Env::new("pool_sise: 3\n");
    check(&env).stderr_contains("reporter.yaml:6:1: pool_sise: unknown field `pool_sise`");
}

#[test]
fn time_zones_are_read_from_the_system_database() {
    let env = Env::new("timezone: Europe/Berln\n");
    check(&env).stderr_contains(
        "reporter.yaml:6:11: timezone: unknown time zone \"Europe/Berln\" (not in \
         /usr/share/zoneinfo; expected an IANA name such as Europe/Berlin or UTC)",
    );
    // `TZDIR` moves the database, as for libc; without one, the error names the package.
    env.write_config("timezone: Europe/Berlin\n");
    env.run_with_env(&[("TZDIR", "/nonexistent")], &["check"])
        .code(2)
        .stderr_contains(
            "timezone: unknown time zone \"Europe/Berlin\" (no time zone database in \
             /nonexistent (Debian package tzdata);",
        );
    // UTC needs no database.
    env.write_config("timezone: UTC\n");
    env.run_with_env(&[("TZDIR", "/nonexistent")], &["check"])
        .code(0)
        .stderr_empty();
}

#[test]
fn bad_address() {
    let env = Env::new("");
    env.job(
        "disk",
        "commands: [df]\nmail:\n  to: [ops@example.com, not an address]\n",
    );
    check(&env).stderr_contains(
        "jobs/disk.yaml:3:25: mail.to[1]: invalid mail address \"not an address\"",
    );
}

#[test]
fn misspelt_variable_in_an_address() {
    let env = Env::new("defaults:\n  mail: {cc: 'audit+{{job.nmae}}@example.com'}\n");
    env.job(
        "disk",
        "commands: [df]\nmail:\n  to: [ops@example.com, 'ops+{{job.nmae}}@example.com']\n  \
         reply_to: '{{job.name}}@example.com'\n",
    );
    check(&env)
        .stderr_contains(
            "jobs/disk.yaml:3:25: mail.to[1]: 1:5: unknown variable job.nmae (`job` has description, name, schedule)",
        )
        .stderr_contains(
            "reporter.yaml:7:14: defaults.mail.cc: 1:7: unknown variable job.nmae (`job` has description, name, schedule)",
        )
        .stderr_contains("2 problems found");
}

#[test]
fn address_that_renders_to_no_address_where_check_can_know() {
    let env = Env::new("");
    // `node` is each host of a per-host job, `job` the job itself; the results and the
    // summary exist only in a run, so an address that reads them is left to the run.
    env.job(
        "each",
        "hosts: [localhost, 'db1:2222']\ncommands: [true]\nmail:\n  per_host: true\n  \
         to: 'ops+{{node}}@example.com'\n  from: '{{job.description}}'\n  \
         cc: ['{{results.0.stdout}}', '{{#unless summary.all_ok}}oncall{{/unless}}@example.com']\n",
    );
    check(&env)
        .stderr_contains(
            "jobs/each.yaml:5:7: mail.to: invalid mail address \"ops+db1:2222@example.com\" (expected user@host or \"Name <user@host>\")",
        )
        .stderr_contains("jobs/each.yaml:6:9: mail.from: invalid mail address \"\"")
        .stderr_lacks("mail.cc")
        .stderr_contains("2 problems found");
}

#[test]
fn bad_duration() {
    let env = Env::new("");
    env.job(
        "disk",
        "commands:\n  - run: df -h\n  - run: df -i\n    timeout: 5 minutes\n",
    );
    check(&env).stderr_contains(
            "jobs/disk.yaml:4:14: commands[1].timeout: invalid duration \"5 minutes\" (expected e.g. 30s, 5m, 1h30m)"
        );
}

#[test]
fn missing_template() {
    let env = Env::new("");
    env.job("disk", "commands: [df]\nmail: {template: fancy}\n");
    check(&env)
        .stderr_contains(
            "jobs/disk.yaml:2:18: mail.template: template `fancy` not found (expected `",
        )
        .stderr_contains("templates/fancy.txt.hbs`)");
}

#[test]
fn yaml_syntax_error() {
    let env = Env::new("");
    env.job("disk", "commands:\n  - df -h\n  - [unclosed\n");
    let run = check(&env).stderr_contains("jobs/disk.yaml:");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("disk.yaml"))
        .unwrap();
    let location = line.split(':').nth(3).unwrap();
    assert!(location.parse::<usize>().is_ok(), "line number in {line}");
}

#[test]
fn template_syntax_error() {
    let env = Env::new("");
    env.template("broken.txt.hbs", "line one\n{{#each results}}\n");
    check(&env).stderr_contains("templates/broken.txt.hbs:");
}

#[test]
fn bad_config_file_stops_everything_with_exit_2() {
    let env = Env::new("");
    env.write("reporter.yaml", "mail:\n  smtp:\n    tls: ssl\n");
    env.run(&["run", "--all"])
        .code(2)
        .stderr_contains("reporter.yaml:")
        .stderr_contains("tls: unknown variant `ssl`");
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let env = Env::new("");
    env.job("one", "commands: [df]\ntimeout: 1 hour\n");
    env.job("two", "commands: [df]\nsend: sometimes\n");
    env.job("three", "cwd: relative\nuser: \"a b\"\ncommands: [df]\n");
    check(&env)
        .stderr_contains("one.yaml:2:10: timeout:")
        .stderr_contains("two.yaml:2:7: send:")
        .stderr_contains("three.yaml:1:6: cwd:")
        .stderr_contains("three.yaml:2:7: user:")
        .stderr_contains("4 problems found");
}

#[test]
fn several_mistakes_in_one_file_are_reported_together() {
    let env = Env::new("pool_sise: 3\nshel: /bin/bash\n");
    env.job(
        "disk",
        "comands: [df]\ntimeout: 5 minutes\nmail: {to: [nobody]}\n",
    );
    check(&env)
        .stderr_contains("reporter.yaml:6:1: pool_sise: unknown field `pool_sise`")
        .stderr_contains("reporter.yaml:7:1: shel: unknown field `shel`");
    // A broken config stops there; with it fixed, the job's three mistakes show at once.
    env.write_config("");
    check(&env)
        .stderr_contains("disk.yaml:1:1: comands: unknown field `comands`")
        .stderr_contains("disk.yaml:2:10: timeout: invalid duration \"5 minutes\"")
        .stderr_contains("disk.yaml:3:13: mail.to[0]: invalid mail address \"nobody\"");
}

/// `reporter check` that must come back with exit 2 in a time that only a hang exceeds
/// (parsing deep YAML used to take minutes).
#[track_caller]
fn check_promptly(env: &Env) -> Run {
    let started = std::time::Instant::now();
    let run = env.start(&["check"]).wait();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(30),
        "check took {took:?}"
    );
    run.code(2)
}

#[test]
fn job_and_config_files_over_1_mib_are_refused() {
    let env = Env::new("");
    let padding = "# padding padding padding padding padding padding padding padding\n";
    let big = format!(
        "commands: [df]\n{}",
        padding.repeat((2 << 20) / padding.len())
    );
    env.job("big", &big);
    check_promptly(&env).stderr_contains(
        "jobs/big.yaml` is larger than 1 MiB, the most reporter reads of a job or config file",
    );
    env.run(&["run", "big"])
        .code(2)
        .stderr_contains("jobs/big.yaml` is larger than 1 MiB");
    env.job("big", "commands: [df]\n");
    env.write_config(&big.replace("commands: [df]\n", ""));
    check_promptly(&env).stderr_contains(
        "reporter.yaml` is larger than 1 MiB, the most reporter reads of a job or config file",
    );
}

#[test]
fn yaml_nested_deeper_than_64_levels_is_refused() {
    let env = Env::new("");
    env.job("deep", &format!("commands: {}\n", "[".repeat(100_000)));
    env.job(
        "dashes",
        &format!("commands:\n  {}x\n", "- ".repeat(100_000)),
    );
    env.job("fine", "commands: [df]\n");
    check_promptly(&env)
        .stderr_contains(
            "jobs/deep.yaml:1:75: nested deeper than 64 levels, the most reporter reads in a job or config file",
        )
        .stderr_contains("jobs/dashes.yaml:2:")
        .stderr_contains("2 problems found");

    let nested: String = (0..100)
        .map(|level| format!("{}k{level}:\n", " ".repeat(level + 2)))
        .collect();
    env.write_config(&format!("defaults:\n{nested}"));
    check_promptly(&env).stderr_contains("reporter.yaml:70:69: nested deeper than 64 levels");
    env.run(&["run", "fine"])
        .code(2)
        .stderr_contains("nested deeper than 64 levels");
}

#[test]
fn a_timeout_below_one_second_is_refused() {
    let env = Env::new("defaults: {timeout: 500ms}\n");
    env.job("fine", "timeout: 1s\ncommands: [df]\n");
    check(&env).stderr_contains(
        "reporter.yaml:6:21: defaults.timeout: timeout \"500ms\" is below the minimum of 1s (every command would time out)",
    );
    env.write_config("");
    env.job(
        "zero",
        "timeout: 0s\ncommands:\n  - run: df\n    timeout: 0s\n",
    );
    check(&env)
        .stderr_contains(
            "jobs/zero.yaml:1:10: timeout: timeout \"0s\" is below the minimum of 1s (every command would time out)",
        )
        .stderr_contains(
            "jobs/zero.yaml:4:14: commands[0].timeout: timeout \"0s\" is below the minimum of 1s",
        )
        .stderr_contains("2 problems found");
    // A run refuses it too, before any command starts.
    env.run(&["run", "zero"])
        .code(2)
        .stderr_contains("jobs/zero.yaml:1:10: timeout: timeout \"0s\" is below the minimum of 1s");
}

#[test]
fn a_random_delay_longer_than_the_time_between_two_runs_is_refused() {
    let env = Env::new("defaults: {random_delay: 2d}\n");
    env.job(
        "hourly",
        "schedule: hourly\nrandom_delay: 61m\ncommands: [df]\n",
    );
    env.job(
        "twice",
        "schedule: 0 0,23 * * *\nrandom_delay: 90m\ncommands: [df]\n",
    );
    env.job("daily", "schedule: daily\ncommands: [df]\n");
    // Up to the interval is fine: the offset stays below it.
    env.job(
        "full",
        "schedule: hourly\nrandom_delay: 1h\ncommands: [df]\n",
    );
    env.job("manual", "commands: [df]\n");
    check(&env)
        .stderr_contains(
            "jobs/hourly.yaml:2:15: random_delay: random_delay 1h1m is longer than 1h, the shortest time between two runs of schedule `hourly` (a run could be delayed past the next one)",
        )
        .stderr_contains("jobs/twice.yaml:2:15: random_delay: random_delay 1h30m is longer than 1h, the shortest time between two runs of schedule `0 0,23 * * *`")
        .stderr_contains("jobs/daily.yaml: defaults.random_delay: random_delay 2d is longer than 1d, the shortest time between two runs of schedule `daily`")
        .stderr_contains("3 problems found");
    env.run(&["run", "hourly"]).code(2).stderr_contains(
        "jobs/hourly.yaml:2:15: random_delay: random_delay 1h1m is longer than 1h",
    );
}

#[test]
fn a_headers_file_that_cannot_be_used_is_refused_by_check() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("");
    let bad = env.write("bad.headers", "Authorization Bearer s3cr3t\n");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let good = env.write("good.headers", "Authorization: Bearer s3cr3t\n");
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    let hook = |file: &str| {
        format!(
            "webhooks:\n  - url: http://127.0.0.1:9/h\n    headers_file: {file}\ncommands: [df]\n"
        )
    };
    env.job("missing", &hook("nowhere.headers"));
    env.job("malformed", &hook("bad.headers"));
    env.job("fine", &hook("good.headers"));
    check(&env)
        .stderr_contains(&format!(
            "jobs/missing.yaml:3:19: webhooks[0].headers_file: cannot read `{}`",
            env.path("nowhere.headers").display()
        ))
        .stderr_contains(&format!(
            "jobs/malformed.yaml:3:19: webhooks[0].headers_file: `{}` line 1: expected `Name: value`",
            bad.display()
        ))
        .stderr_contains("2 problems found")
        .stderr_lacks("s3cr3t");
}

#[test]
fn a_ping_or_webhook_url_that_is_not_http_is_refused_by_check() {
    let env = Env::new("defaults:\n  ping:\n    url: \"gopher://127.0.0.1/{{job.name}}\"\n");
    env.job(
        "hooks",
        "commands: [df]\nwebhooks:\n  - url: \"HTTPS://127.0.0.1:9/{{job.name}}\"\n  - url: file:///etc/passwd\n  - url: \"{{job.name}}\"\n",
    );
    env.job(
        "pinged",
        "commands: [df]\nping:\n  url: ftp://127.0.0.1/x\n",
    );
    env.job("plain", "commands: [df]\n");
    check(&env)
        .stderr_contains("jobs/hooks.yaml:4:10: webhooks[1].url: scheme `file` is not http or https: pings and webhooks are HTTP requests\n")
        .stderr_contains("jobs/pinged.yaml:3:8: ping.url: scheme `ftp` is not http or https: pings and webhooks are HTTP requests\n")
        .stderr_contains("reporter.yaml:8:10: defaults.ping.url: scheme `gopher` is not http or https: pings and webhooks are HTTP requests\n")
        .stderr_contains("3 problems found")
        .stderr_lacks("webhooks[0]")
        .stderr_lacks("webhooks[2]");
}

#[test]
fn an_exit_code_that_is_both_ok_and_an_error_is_refused() {
    let env = Env::new("");
    env.job(
        "logs",
        "commands:\n  - run: journalctl\n    ok_exit_codes: [0, 3]\n    error_exit_codes: [3]\n",
    );
    check(&env).stderr_contains(
        "jobs/logs.yaml:4:23: commands[0].error_exit_codes: exit code 3 is also in ok_exit_codes",
    );
}
