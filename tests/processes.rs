//! Processes a command starts never outlive it, and `user:` commands get a clean environment (docs/jobs.md, docs/security.md).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::sshd::Sshd;
use crate::support::{Env, Process, Run, processes_matching, require_root, unique, wait_until};

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
    // reporter's own variables, which every command gets (docs/jobs.md).
    let state = env.path("state/jobs/as-nobody").display().to_string();
    assert_eq!(seen.get("REPORTER_JOB_STATE"), Some(&state.as_str()));
    let since = seen.get("REPORTER_SINCE").expect("REPORTER_SINCE");
    assert!(since.ends_with('Z') && since.len() == 20, "{since}");
    assert!(seen.contains_key("REPORTER_SINCE_EPOCH"));
    let seen: BTreeMap<&str, &str> = seen
        .into_iter()
        .filter(|(name, _)| !name.starts_with("REPORTER_"))
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
    env.job(
        "own",
        "env: {FOO: bar}\ncommands: ['echo \"$PATH $KEPT $FOO\"']\n",
    );
    run_with_environment(&env, &[("KEPT", "yes")], &["run", "own"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("/usr/bin:/bin yes bar\n"), "{body}");
}

/// The `sleep` processes with `marker` in their command line (not the shells that start them).
fn sleeps(marker: &str) -> Vec<Process> {
    processes_matching(marker)
        .into_iter()
        .filter(|p| p.cmdline.starts_with("sleep "))
        .collect()
}

/// Fails the test when a process with `marker` is still alive, killing it first so that a
/// failure leaves nothing behind.
#[track_caller]
fn assert_none_left(marker: &str) {
    let left = processes_matching(marker);
    for process in &left {
        let _ = kill(Pid::from_raw(process.pid as i32), Signal::SIGKILL);
    }
    assert!(left.is_empty(), "outlived their command: {left:?}");
}

/// Kills every process with `marker`, and fails the test when there were others than the
/// `expected` count.
#[track_caller]
fn assert_none_left_but(marker: &str, expected: usize) {
    let left = processes_matching(marker);
    for process in &left {
        let _ = kill(Pid::from_raw(process.pid as i32), Signal::SIGKILL);
    }
    assert_eq!(left.len(), expected, "outlived their command: {left:?}");
}

#[test]
fn a_timed_out_command_leaves_nothing_behind_even_in_another_session() {
    let marker = unique("1001.");
    let env = Env::new("");
    env.job(
        "hang",
        &format!(
            "timeout: 1s\ncommands: ['setsid sleep {marker} >/dev/null 2>&1 & (setsid sleep {marker} >/dev/null 2>&1 &); sleep {marker}']\n"
        ),
    );
    env.run(&["run", "hang"]).code(1).stderr_only_not_ok();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("timeout"), "{body}");
    assert_none_left(&marker);
}

#[test]
fn a_command_that_exits_takes_its_detached_children_with_it() {
    let marker = unique("1002.");
    let env = Env::new("");
    env.job(
        "daemonize",
        &format!(
            "commands: ['setsid sleep {marker} >/dev/null 2>&1 & (setsid sleep {marker} >/dev/null 2>&1 &); echo started']\n"
        ),
    );
    env.run(&["run", "daemonize"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("started"), "{body}");
    assert_none_left(&marker);
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    let marker = unique("1003.");
    let env = Env::new("");
    env.job(
        "long",
        &format!("commands: ['setsid sleep {marker} >/dev/null 2>&1 & sleep {marker}']\n"),
    );
    let running = env.start(&["run", "long"]);
    assert!(
        wait_until(|| sleeps(&marker).len() == 2),
        "{:?}",
        sleeps(&marker)
    );
    running.signal(Signal::SIGTERM);
    running
        .wait()
        .code(143)
        .stderr_contains("terminated: stopping the running commands");
    assert_none_left(&marker);
}

/// The zombie processes whose parent is `parent`.
fn zombies_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse::<u32>().ok()?;
            (state == "Z" && ppid == parent).then_some(pid)
        })
        .collect()
}

#[test]
fn the_daemon_kills_and_reaps_what_its_commands_leave_behind() {
    let marker = unique("1004.");
    let env = Env::new("");
    env.job(
        "tick",
        &format!(
            "schedule: \"* * * * * *\"\ncommands: ['(setsid sleep {marker} >/dev/null 2>&1 &); setsid sleep {marker} >/dev/null 2>&1 & echo tick']\n"
        ),
    );
    let daemon = env.start(&["daemon"]);
    let config = env.path("reporter.yaml").display().to_string();
    let pid = {
        let mut found = Vec::new();
        assert!(wait_until(|| {
            found = processes_matching(&config);
            found.len() == 1
        }));
        found[0].pid
    };
    assert!(
        env.smtp.wait_for(3).len() >= 3,
        "{}",
        daemon.stderr_so_far()
    );
    assert!(
        wait_until(|| sleeps(&marker).is_empty() && zombies_of(pid).is_empty()),
        "left: {:?}, zombies: {:?}",
        sleeps(&marker),
        zombies_of(pid)
    );
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("daemon stopped");
    assert_none_left(&marker);
}

#[test]
fn a_process_one_command_detached_lives_while_that_command_runs() {
    let marker = unique("1005.");
    let env = Env::new("pool_size: 2\n");
    let helper = env.path("helper.pid");
    let other = env.path("other.pid");
    let (helper, other) = (helper.display(), other.display());
    // The first command detaches a helper it still needs after the second one has ended
    // (and been swept); only the end of the first may take the helper away.
    env.job(
        "pair",
        &format!(
            "commands:\n  - >-\n    (setsid sh -c 'echo $$ > {helper}; exec sleep {marker}' >/dev/null 2>&1 &);\n    while [ ! -s {other} ]; do sleep 0.02; done;\n    while kill -0 $(cat {other}) 2>/dev/null; do sleep 0.02; done; sleep 0.3;\n    kill -0 $(cat {helper}) && echo helper-alive\n  - echo $$ > {other}.tmp; while [ ! -s {helper} ]; do sleep 0.02; done; mv {other}.tmp {other}\n"
        ),
    );
    env.run(&["run", "pair"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("helper-alive"), "{body}");
    assert_none_left(&marker);
}

#[test]
fn a_program_named_ssh_is_killed_with_its_command() {
    let marker = unique("1006.");
    let env = Env::new("");
    let folder = env.path(&marker);
    std::fs::create_dir(&folder).unwrap();
    let ssh = folder.join("ssh");
    let ssh = ssh.display();
    // Only the connection master reporter's own ssh left behind is spared, never a
    // program by its name; the command ends once that name is the one running.
    env.job(
        "fake-ssh",
        &format!(
            "commands: ['cp /bin/sleep {ssh}; (setsid {ssh} 300 >/dev/null 2>&1 & echo $! > {pid});\n  \
             while [ \"$(readlink /proc/$(cat {pid})/exe)\" != {ssh} ]; do sleep 0.02; done; echo started']\n",
            pid = folder.join("pid").display()
        ),
    );
    env.run(&["run", "fake-ssh"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("started"), "{body}");
    assert_none_left(&marker);
}

#[test]
fn a_process_cannot_hide_in_the_process_group_of_reporter() {
    let marker = unique("1007.");
    let env = Env::new("");
    let said = env.path("said");
    // reporter is the shell's parent; its process group would be out of the sweep's way.
    let hide = format!(
        "import errno, os, sys, time\n\
         try:\n    os.setpgid(0, os.getpgid(int(sys.argv[1]))); said = 'joined'\n\
         except OSError as e:\n    said = 'refused ' + errno.errorcode[e.errno]\n\
         open('{said}.tmp', 'w').write(said); os.rename('{said}.tmp', '{said}')\n\
         time.sleep(300)\n",
        said = said.display()
    );
    env.write("hide.py", &hide);
    env.job(
        "hide",
        &format!(
            "commands: ['(python3 {} $PPID {marker} >/dev/null 2>&1 &); while [ ! -e {said} ]; do sleep 0.02; done; cat {said}']\n",
            env.path("hide.py").display(),
            said = said.display()
        ),
    );
    env.run(&["run", "hide"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert_none_left(&marker);
    assert!(body.contains("refused EPERM"), "{body}");
}

#[test]
fn the_connection_master_of_reporters_own_ssh_is_left_to_persist() {
    let marker = unique("1008.");
    let sshd = Sshd::start();
    let env = Env::new("");
    let sockets = env.path(&marker);
    std::fs::create_dir(&sockets).unwrap();
    // One master per host alias (all of them are 127.0.0.1, which %C would share).
    env.write_config(&format!(
        "ssh: {{command: ssh, options: [-o, ControlMaster=auto, -o, 'ControlPath={}/cm-%n', -o, ControlPersist=60, -F, {}]}}\n",
        sockets.display(),
        sshd.ssh_config().display()
    ));
    env.job(
        "remote",
        "hosts: [alpha, beta, gamma]\ncommands: ['echo remote-ran', 'echo again']\n",
    );
    // One command at a time: each host's second command finds its first one's master.
    env.run(&["run", "--jobs", "1", "remote"])
        .code(0)
        .stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert_eq!(body.matches("\nremote-ran\n").count(), 3, "{body}");
    let masters: Vec<Process> = processes_matching(&marker)
        .into_iter()
        .filter(|p| p.cmdline.contains(" [mux]"))
        .collect();
    // Killed first, so that a failure leaves nothing behind.
    assert_none_left_but(&marker, masters.len());
    assert_eq!(
        masters.len(),
        3,
        "the masters did not outlive their commands: {masters:?}"
    );
    let logins = sshd.log().matches("Accepted publickey").count();
    assert_eq!(
        logins,
        3,
        "a master was killed between two commands:\n{}",
        sshd.log()
    );
}

/// A job of `count` commands, each sleeping a little so that the pool fills, and one that
/// prints its descriptor limit.
fn many_commands(env: &Env, count: usize) {
    let mut commands = String::from("commands:\n  - echo \"limit $(ulimit -n)\"\n");
    for _ in 1..count {
        commands.push_str("  - sleep 0.5\n");
    }
    env.job("many", &format!("timeout: 60s\n{commands}"));
}

/// `argv` run by prlimit(1) with the descriptor limit `nofile` (SOFT:HARD).
fn under_prlimit(nofile: &str, argv: Vec<String>) -> Vec<String> {
    let mut line = vec!["prlimit".to_string(), format!("--nofile={nofile}")];
    line.extend(argv);
    line
}

#[test]
fn a_pool_larger_than_the_soft_descriptor_limit_runs_every_command() {
    let env = Env::new("");
    many_commands(&env, 1000);
    let run = env
        .run_through(
            |argv| under_prlimit("1024:4096", argv),
            &["run", "--jobs", "512", "many"],
        )
        .code(0)
        .stderr_empty();
    drop(run);
    let body = env.smtp.wait_for(1)[0].body();
    // Commands see the limit reporter was started with, not the one it raised.
    assert!(body.contains("limit 1024\n"), "{body}");
}

#[test]
fn a_pool_the_soft_descriptor_limit_holds_leaves_reporters_limit_as_it_was() {
    let env = Env::new("");
    // The command's parent is reporter itself.
    env.job(
        "limits",
        "commands:\n  - echo \"limit $(ulimit -n)\"\n  - grep 'Max open files' /proc/$PPID/limits\n",
    );
    let run = env
        .run_through(
            |argv| under_prlimit("1024:4096", argv),
            &["run", "--jobs", "2", "limits"],
        )
        .code(0)
        .stderr_empty();
    drop(run);
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("limit 1024\n"), "{body}");
    let reporters: Vec<&str> = body
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no limits in:\n{body}"))
        .split_whitespace()
        .collect();
    assert_eq!(reporters[3..5], ["1024", "4096"], "{body}");
}

#[test]
fn commands_start_with_no_signal_blocked_or_ignored() {
    let env = Env::new("");
    let status = "grep -E '^Sig(Blk|Ign)' /proc/self/status";
    // Both ways a command starts: posix_spawn, and the fork a `user:` command needs.
    env.job("signals", &format!("commands: [\"{status}\"]\n"));
    env.job(
        "signals-nobody",
        &format!("user: nobody\ncommands: [\"{status}\"]\n"),
    );
    // reporter started as under `nohup` in a shell's background job: SIGHUP, SIGINT and
    // SIGQUIT ignored, which a command must not inherit.
    let ignoring = "import os, signal, sys\nfor s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):\n    signal.signal(s, signal.SIG_IGN)\nos.execv(sys.argv[1], sys.argv[1:])\n";
    env.run_through(
        |argv| {
            let mut line = vec!["python3".to_string(), "-c".into(), ignoring.into()];
            line.extend(argv);
            line
        },
        &["run", "signals", "signals-nobody"],
    )
    .code(0)
    .stderr_empty();
    for message in env.smtp.wait_for(2) {
        let body = message.body();
        let mask = |name: &str| {
            let line = body
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in:\n{body}"));
            u64::from_str_radix(line.trim(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{body}");
        // Signals 1 to 31 (SIGPIPE, which reporter ignores, among them); 32 and 33 are
        // glibc's own, which posix_spawn(3) hands on ignored and glibc's programs handle
        // themselves.
        assert_eq!(mask("SigIgn:") & 0x7fff_ffff, 0, "{body}");
    }
}

#[test]
fn a_pool_the_hard_descriptor_limit_cannot_hold_is_made_smaller_with_one_warning() {
    let env = Env::new("");
    many_commands(&env, 300);
    let run = env
        .run_through(
            |argv| under_prlimit("256:256", argv),
            &["run", "--jobs", "512", "many"],
        )
        .code(0)
        .stderr_is(
            "reporter: warning: a pool of 512 commands needs about 2112 file descriptors, more than the \
             limit of 256 (RLIMIT_NOFILE): running at most 48 commands at once; raise the hard \
             limit (`ulimit -Hn`, `LimitNOFILE=`) to run more\n",
        );
    drop(run);
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("limit 256\n"), "{body}");
}

#[test]
fn what_sendmail_leaves_delivering_in_the_background_is_left_alone() {
    let env = Env::new("");
    let outbox = env.path("outbox");
    std::fs::create_dir(&outbox).unwrap();
    // Like a sendmail that queues the message and delivers it from a background process.
    let fake = env.write(
        "bin/sendmail",
        &format!(
            "#!/bin/sh\ncat > {0}/$$.tmp\n(sleep 2; mv {0}/$$.tmp {0}/$$.eml) >/dev/null 2>&1 &\n",
            outbox.display()
        ),
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: sendmail\n  sendmail: {{path: {}}}\n",
            fake.display()
        ),
    );
    // `quick` is mailed at once; `slow` ends, and the sweep looks, while `quick`'s
    // message is still being delivered.
    env.job("quick", "commands: ['true']\n");
    env.job("slow", "commands: ['sleep 1']\n");
    env.run(&["run", "quick", "slow"]).code(0).stderr_empty();
    let delivered = || {
        std::fs::read_dir(&outbox)
            .unwrap()
            .flatten()
            .filter(|entry| entry.path().extension().is_some_and(|e| e == "eml"))
            .count()
    };
    assert!(wait_until(|| delivered() == 2), "delivered {}", delivered());
}
