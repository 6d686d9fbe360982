//! Many hosts and many targets: commands through a real sshd on loopback, address ranges
//! pinged for real, per-host mail, host groups and `--hosts`.

use std::time::{Duration, Instant};

use crate::support::sshd::{DOWN, Sshd};
use crate::support::{Env, processes_matching, repo, tool, unique, wait_until};

/// An installation whose ssh reaches `sshd`'s aliases; `extra` is appended to the config.
fn env_with(sshd: &Sshd, extra: &str) -> Env {
    Env::new(&format!("{}{extra}", sshd.options()))
}

/// Prints each result as `<host|target|status>stdout</>` so tests can compare exactly.
const RAW: &str = "{{#each results}}<{{host}}|{{target}}|{{status}}>{{stdout}}</>\n{{/each}}";

#[test]
fn commands_run_on_every_host_grouped_in_listed_order() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    env.job(
        "fleet",
        "hosts: [gamma, alpha, localhost, beta]\ncommands:\n  - {name: first, run: 'echo \"first on ${REPORTER_ALIAS:-here}\"'}\n  - {name: second, run: 'echo \"second on ${REPORTER_ALIAS:-here}\"'}\n",
    );
    env.run(&["run", "fleet"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let mut expected = Vec::new();
    for (host, alias) in [
        ("gamma", "gamma"),
        ("alpha", "alpha"),
        ("localhost", "here"),
        ("beta", "beta"),
    ] {
        expected.push(format!("=== {host}: ok (2 of 2 ok)\n"));
        expected.push(format!("== first: ok\nfirst on {alias}\n"));
        expected.push(format!("== second: ok\nsecond on {alias}\n"));
    }
    let mut from = 0;
    for part in &expected {
        let at = body[from..]
            .find(part.as_str())
            .unwrap_or_else(|| panic!("{part:?} not in order in:\n{body}"));
        from += at + part.len();
    }
}

#[test]
fn an_unreachable_host_is_an_error_for_its_tasks_only() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    env.template("raw.txt.hbs", RAW);
    env.job(
        "reach",
        &format!(
            "hosts: [alpha, {DOWN}, beta]\nmail: {{template: raw}}\ncommands: [echo up, echo again]\n"
        ),
    );
    env.run(&["run", "reach"]).code(1).stderr_only_not_ok();
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "error");
    let body = message.body();
    for host in ["alpha", "beta"] {
        assert_eq!(
            body.matches(&format!("<{host}||ok>up\n</>"))
                .chain(body.matches(&format!("<{host}||ok>again\n</>")))
                .count(),
            2,
            "{body}"
        );
    }
    assert_eq!(
        body.matches(&format!("<{DOWN}||error></>")).count(),
        2,
        "{body}"
    );

    // ssh's own message reaches the report, in the built-in template too.
    env.job(
        "reach",
        &format!("hosts: [alpha, {DOWN}]\ncommands: [echo up]\n"),
    );
    env.run(&["run", "reach"]).code(1).stderr_only_not_ok();
    let body = env.smtp.wait_for(2)[1].body();
    assert!(
        body.contains(&format!("=== {DOWN}: error (0 of 1 ok)\n\n== echo up: error\n-- stderr:\nssh: connect to host 127.0.0.1 port")),
        "{body}"
    );
    assert!(body.contains("Connection refused"), "{body}");
    assert!(body.contains("=== alpha: ok (1 of 1 ok)"), "{body}");
}

#[test]
fn odd_run_texts_arrive_exactly_as_written() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    env.template("raw.txt.hbs", RAW);
    // Quotes of both kinds, `$` expansions, a backslash, a glob, a comment, a tab and a
    // second line: the remote shell must see what the local one sees.
    let script = r#"x='single $x "double"'; printf '%s|' "$x" 'it'\''s' "\$HOME" "a\\b" '*' "$((6*7))"	# tab and comment
echo "second line ${x%% *}""#;
    env.job(
        "odd",
        &format!(
            "hosts: [localhost, alpha]\nmail: {{template: raw}}\ncommands:\n  - |\n    {}\n",
            script.replace('\n', "\n    ")
        ),
    );
    env.run(&["run", "odd"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let expected = "single $x \"double\"|it's|$HOME|a\\b|*|42|second line single\n";
    assert!(
        body.contains(&format!("<localhost||ok>{expected}</>")),
        "{body}"
    );
    assert!(
        body.contains(&format!("<alpha||ok>{expected}</>")),
        "{body}"
    );
}

#[test]
fn targets_expand_in_order_and_are_never_executed() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    env.template("raw.txt.hbs", RAW);
    let marker = env.path("pwned");
    let marker = marker.display();
    env.job(
        "targets",
        &format!(
            "hosts: [localhost, beta]\nmail: {{template: raw}}\ntargets:\n  - 'a b; touch {marker}1'\n  - '$(touch {marker}2)'\n  - \"it's `touch {marker}3`\"\n  - 127.0.0.254/31\ncommands: ['printf \"[%s]\" {{{{target}}}}']\n"
        ),
    );
    env.run(&["run", "targets"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let mut expected = String::new();
    for host in ["localhost", "beta"] {
        for target in [
            format!("a b; touch {marker}1"),
            format!("$(touch {marker}2)"),
            format!("it's `touch {marker}3`"),
            "127.0.0.254".to_owned(),
            "127.0.0.255".to_owned(),
        ] {
            expected.push_str(&format!("<{host}|{target}|ok>[{target}]</>\n"));
        }
    }
    assert_eq!(body.trim_end(), expected.trim_end());
    for n in 1..=3 {
        assert!(
            !env.path(&format!("pwned{n}")).exists(),
            "target {n} was executed"
        );
    }
}

#[test]
fn a_timeout_leaves_no_ssh_process_behind() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    // A marker unique to this test finds its processes; the remote loop keeps writing, so
    // it ends (SIGPIPE) once ssh is gone and the session is closed. The timeout leaves the
    // login time to print `started` on a loaded machine.
    let marker = unique("reporter-timeout-");
    env.job(
        "slow",
        &format!(
            "hosts: [alpha]\ntimeout: 4s\ncommands: ['echo started; while :; do echo {marker}; sleep 0.2; done']\n"
        ),
    );
    let started = Instant::now();
    env.run(&["run", "slow"]).code(1).stderr_only_not_ok();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        processes_matching(&marker)
            .iter()
            .all(|p| !p.cmdline.starts_with("ssh")),
        "ssh outlived the run: {:?}",
        processes_matching(&marker)
    );
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("=== alpha: timeout"), "{body}");
    assert!(body.contains("started\n"), "{body}");
    assert!(body.contains("[timed out after"), "{body}");
    assert!(
        wait_until(|| processes_matching(&marker).is_empty()),
        "the remote command outlived its session: {:?}",
        processes_matching(&marker)
    );
}

#[test]
fn per_host_messages_see_their_host_as_node() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "");
    env.template("raw.txt.hbs", &format!("node {{{{node}}}}\n{RAW}"));
    env.job(
        "each",
        &format!(
            "hosts: [beta, {DOWN}, alpha]\nmail: {{per_host: true, template: raw, subject: '{{{{node}}}}: {{{{summary.status}}}}'}}\ncommands: ['echo \"hi from ${{REPORTER_ALIAS}}\"']\n"
        ),
    );
    env.run(&["run", "each"]).code(1).stderr_only_not_ok();
    let mut messages = env.smtp.wait_for(3);
    messages.sort_by_key(|m| m.header("Subject"));
    let subjects: Vec<String> = messages
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .collect();
    assert_eq!(subjects, ["alpha: ok", "beta: ok", "down: error"]);
    let ids: std::collections::BTreeSet<String> = messages
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().any(|id| id.contains(".each.beta@")), "{ids:?}");
    assert_eq!(
        messages[0].body().trim_end(),
        "node alpha\n<alpha||ok>hi from alpha\n</>"
    );
    assert_eq!(
        messages[1].body().trim_end(),
        "node beta\n<beta||ok>hi from beta\n</>"
    );
    assert_eq!(messages[2].header("X-Reporter-Status").unwrap(), "error");
    assert_eq!(messages[2].body().trim_end(), "node down\n<down||error></>");
}

#[test]
fn hosts_flag_overrides_the_jobs_hosts() {
    let sshd = Sshd::start();
    let env = env_with(&sshd, "host_groups:\n  pair: [gamma, localhost]\n");
    env.template("raw.txt.hbs", RAW);
    env.job(
        "one",
        "hosts: [alpha]\nmail: {template: raw}\ncommands: ['echo \"${REPORTER_ALIAS:-here}\"']\n",
    );
    env.run(&["run", "one", "--hosts", "beta,@pair"])
        .code(0)
        .stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].body().trim_end(),
        "<beta||ok>beta\n</>\n<gamma||ok>gamma\n</>\n<localhost||ok>here\n</>"
    );

    let preview = env
        .run(&["preview", "one", "--hosts", "gamma"])
        .code(0)
        .stderr_empty();
    assert!(
        preview.stdout.contains("<gamma||ok>gamma\n</>"),
        "{}",
        preview.stdout
    );
    assert!(!preview.stdout.contains("alpha"), "{}", preview.stdout);

    env.run(&["run", "one", "--hosts", "beta,web 1"])
        .code(2)
        .stderr_contains("invalid value 'web 1' for '--hosts <H1,H2>': invalid host \"web 1\": expected host, user@host or host:port");
    env.run(&["run", "one", "--hosts", "beta,@nope"])
        .code(2)
        .stderr_is("reporter: error: (command line): --hosts: unknown host group `@nope` (not in the config's host_groups or inventory)\n");
    // Both runs have exited, so anything they sent has arrived.
    assert_eq!(env.smtp.received().len(), 1, "nothing ran on bad --hosts");
}

#[test]
fn check_accepts_addresses_that_name_the_node() {
    let env = Env::new("");
    env.job(
        "each",
        "hosts: [localhost]\nmail: {per_host: true, to: 'ops+{{node}}@test.example'}\ncommands: [true]\n",
    );
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["run", "each"]).code(0).stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].rcpt_to,
        ["ops+localhost@test.example"]
    );
}

#[test]
fn host_and_target_mistakes_are_located() {
    let env = Env::new("host_groups:\n  web: [web1, web2]\n");
    env.job("groups", "hosts: [web1, \"@db\"]\ncommands: [uptime]\n");
    env.job(
        "bad-host",
        "hosts:\n  - web1\n  - db1:99999\ncommands: [uptime]\n",
    );
    env.job("no-targets", "commands:\n  - ping -c 1 {{target}}\n");
    env.job(
        "big",
        "targets: [10.0.0.0/15]\ncommands: ['ping {{target}}']\n",
    );
    let mut run = env.run(&["check"]).code(2);
    for expected in [
        "jobs/groups.yaml:1:15: hosts[1]: unknown host group `@db` (not in the config's host_groups or inventory)",
        "jobs/bad-host.yaml:3:5: hosts[1]: invalid host \"db1:99999\": port must be 1-65535",
        "jobs/no-targets.yaml:2:5: commands[0]: `{{target}}` in `run` needs a `targets:` list to take its values from",
        "jobs/big.yaml:1:11: targets[0]: address range \"10.0.0.0/15\" has 131072 addresses (at most 65536 in all)",
    ] {
        run = run.stderr_contains(expected);
    }
}

#[test]
fn shipped_ping_sweep_runs_on_loopback() {
    tool("ping", "iputils-ping");
    let env = Env::shipped();
    env.run(&["run", "ping-sweep"]).code(0).stderr_empty();
    let message = &env.smtp.wait_for(1)[0];
    let subject = message.header("Subject").unwrap();
    assert!(
        subject.ends_with(": all 16 addresses answer ping"),
        "{subject}"
    );
    let body = message.body();
    assert!(body.contains("\n16 answer (in "), "{body}");
    assert!(
        !body.contains("127.0.0.1:"),
        "only failures are listed: {body}"
    );
}

#[test]
fn a_slash_24_sweep_summarises_and_lists_only_failures() {
    tool("ping", "iputils-ping");
    let env = Env::new(&format!(
        "templates_dir: {}\n",
        repo().join("templates").display()
    ));
    // Every loopback address answers, so two are made to fail without leaving the host.
    env.job(
        "sweep",
        "targets: [127.0.0.0/24]\ntimeout: 10s\nmail: {template: ping-sweep}\ncommands:\n  - name: ping\n    run: 'case {{target}} in *.13|*.200) echo no answer >&2; exit 1;; esac; ping -n -c 1 -W 1 {{target}}'\n",
    );
    let pool = 32;
    let started = Instant::now();
    let run = env.run(&["run", "sweep", "--jobs", &pool.to_string()]);
    let took = started.elapsed();
    run.code(1).stderr_only_not_ok();
    // Each ping answers in well under its 1 s wait; a pool that did not run them side by
    // side would need minutes. Generous, to catch only a hang or a serial pool.
    assert!(
        took < Duration::from_secs(256 / pool + 20),
        "256 pings at pool {pool} took {took:?}"
    );
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("254 answer, 2 did not"), "{body}");
    // The two failed alike: one line says what they printed, one lists them.
    assert!(
        body.contains("\n2 addresses did not answer: no answer\n  127.0.0.13, 127.0.0.200\n"),
        "{body}"
    );
    assert_eq!(body.matches("no answer").count(), 1, "{body}");
    assert!(
        !body.contains("127.0.0.14"),
        "ok targets are not listed: {body}"
    );
    eprintln!("256 pings at pool {pool}: {took:?}");
}

/// The current user's login name, for inventories that name it.
fn login() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .expect("a passwd entry")
        .name
}

#[test]
fn inventory_groups_are_host_groups_and_reports_use_inventory_names() {
    let sshd = Sshd::start();
    let inventory = serde_json::json!({
        "_meta": {"hostvars": {
            "web-a": {"ansible_host": "alpha"},
            "web-b": {"ansible_host": "beta", "ansible_user": login()},
        }},
        "all": {"children": ["ungrouped", "prod"]},
        "prod": {"children": ["web", "db"]},
        "web": {"hosts": ["web-a", "web-b"]},
        "db": {"hosts": ["web-b"]},
    });
    let env = env_with(&sshd, "inventory: {command: [sh, inventory.sh]}\n");
    env.write("inventory.sh", &format!("cat <<'EOF'\n{inventory}\nEOF\n"));
    env.template("raw.txt.hbs", RAW);
    env.job(
        "fleet",
        "hosts: [\"@prod\"]\nmail: {template: raw}\ncommands: ['echo \"on ${REPORTER_ALIAS}\"']\n",
    );
    env.run(&["check"]).code(0).stderr_empty();
    env.run(&["run", "fleet"]).code(0).stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].body().trim_end(),
        "<web-a||ok>on alpha\n</>\n<web-b||ok>on beta\n</>"
    );

    // A group in both places, and a failing command, are configuration errors naming it.
    env.write_config(&format!(
        "{}inventory: {{command: [sh, inventory.sh]}}\nhost_groups: {{web: [alpha]}}\n",
        sshd.options()
    ));
    env.run(&["check"])
        .code(2)
        .stderr_contains("inventory.command: group `web` is both in host_groups and in the inventory; rename one of them");
    env.write_config(&format!(
        "{}inventory: {{command: [sh, -c, 'echo cannot reach the cloud >&2; exit 4']}}\n",
        sshd.options()
    ));
    env.run(&["run", "fleet"])
        .code(2)
        .stderr_contains("inventory command `sh -c echo cannot reach the cloud >&2; exit 4` failed (exit status: 4): cannot reach the cloud")
        .stderr_contains("unknown host group `@prod` (not in the config's host_groups or inventory)");
}

#[test]
fn inventory_host_names_with_control_characters_are_a_configuration_error() {
    let forged = "web1\r\nreporter: error: forged";
    for (name, escaped) in [
        (forged, "web1\\r\\nreporter: error: forged"),
        ("\u{1b}[31mweb2\u{7}", "\\u{1b}[31mweb2\\u{7}"),
    ] {
        let inventory = serde_json::json!({
            "_meta": {"hostvars": {name: {"ansible_host": "alpha"}}},
            "web": {"hosts": ["web0", name]},
        });
        let env = Env::new("inventory: {command: [sh, inventory.sh]}\n");
        env.write("inventory.sh", &format!("cat <<'EOF'\n{inventory}\nEOF\n"));
        env.job("fleet", "hosts: [\"@web\"]\ncommands: [uptime]\n");
        for args in [&["check"][..], &["run", "fleet"]] {
            let run = env.run(args).code(2).stderr_contains(&format!(
                "reporter: error: {}:6:22: inventory.command: inventory command `sh inventory.sh` host `{escaped}` of group `web`: a host name must not be empty, start with `-`, or hold spaces or control characters\n",
                env.path("reporter.yaml").display()
            ));
            assert!(
                !run.stderr.contains("\nreporter: error: forged") && !run.stderr.contains('\u{1b}'),
                "{}",
                run.stderr
            );
        }
        // The report of the configuration's problems, mailed by `run`, names it escaped too.
        let body = env.smtp.wait_for(1)[0].body();
        assert!(body.contains(&format!("host `{escaped}`")), "{body}");
        assert!(!body.contains(['\u{1b}', '\u{7}', '\r']), "{body:?}");
    }
}

#[test]
fn list_knows_the_inventory_groups_and_completion_never_runs_the_inventory() {
    let ansible = tool("ansible-inventory", "ansible-core (pip)");
    // Each run of the inventory leaves a line in `ran`.
    let env = Env::new("inventory: {command: [sh, inventory.sh], timeout: 60s}\n");
    env.write(
        "inventory.sh",
        &format!(
            "echo ran >> ran\nexec {} -i hosts.ini --list\n",
            ansible.display()
        ),
    );
    env.write("hosts.ini", "[web]\nweb-a ansible_host=alpha\n");
    env.job(
        "fleet",
        "description: uptime of the web servers\nschedule: daily\nhosts: [\"@web\"]\ncommands: [uptime]\n",
    );
    env.job("local", "commands: [uptime]\n");
    let runs = || read_or_empty(&env.path("ran")).lines().count();

    // What shell completion runs at every TAB, and `history`, need no host group.
    env.run(&["list", "--names"])
        .code(0)
        .stderr_empty()
        .stdout_is("fleet\nlocal\n");
    env.run(&["history", "fleet"]).code(0).stderr_empty();
    assert_eq!(
        runs(),
        0,
        "neither `list --names` nor `history` runs the inventory"
    );

    // `list` shows the job on `@web`.
    let listed = env.run(&["list"]).code(0).stderr_empty().into_stdout();
    let fleet = listed
        .lines()
        .find(|line| line.starts_with("fleet "))
        .unwrap_or_else(|| panic!("no `fleet` in the list:\n{listed}"));
    assert!(fleet.ends_with("uptime of the web servers"), "{fleet}");
    assert!(
        listed.lines().any(|line| line.starts_with("local ")),
        "{listed}"
    );
    assert_eq!(runs(), 1, "`list` runs the inventory once");

    // An inventory that fails is named; the job that needs it is reported, not listed.
    env.write("hosts.ini", "");
    let listed = env
        .run(&["list"])
        .code(2)
        .stderr_contains("jobs/fleet.yaml:3:9: hosts[0]: unknown host group `@web` (not in the config's host_groups or inventory)")
        .into_stdout();
    assert!(!listed.contains("fleet"), "{listed}");
    env.write_config("inventory: {command: [sh, -c, 'echo cannot reach the cloud >&2; exit 4']}\n");
    env.run(&["list"])
        .code(2)
        .stderr_contains("inventory command `sh -c echo cannot reach the cloud >&2; exit 4` failed (exit status: 4): cannot reach the cloud")
        .stderr_contains("unknown host group `@web`");
    env.run(&["list", "--names"])
        .code(0)
        .stderr_empty()
        .stdout_is("fleet\nlocal\n");
}

/// The text of `path`, or nothing when it does not exist.
fn read_or_empty(path: &std::path::Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

#[test]
fn inventory_from_ansible_inventory_over_an_ini_file() {
    let ansible = tool("ansible-inventory", "ansible-core (pip)");
    let sshd = Sshd::start();
    let env = env_with(
        &sshd,
        &format!(
            "inventory: {{command: [{}, -i, hosts.ini, --list], timeout: 60s}}\n",
            ansible.display()
        ),
    );
    env.write(
        "hosts.ini",
        &format!(
            "[web]\nweb-a ansible_host=alpha\nweb-b ansible_host=beta ansible_user={}\n[prod:children]\nweb\n",
            login()
        ),
    );
    env.template("raw.txt.hbs", RAW);
    env.job(
        "fleet",
        "hosts: [\"@prod\", \"@web\"]\nmail: {template: raw}\ncommands: ['echo \"on ${REPORTER_ALIAS}\"']\n",
    );
    env.run(&["run", "fleet"]).code(0).stderr_empty();
    assert_eq!(
        env.smtp.wait_for(1)[0].body().trim_end(),
        "<web-a||ok>on alpha\n</>\n<web-b||ok>on beta\n</>"
    );
}
