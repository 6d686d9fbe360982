//! Each way a message can leave, and what happens when it cannot.

use std::time::{Duration, Instant};

use crate::support::{Behaviour, Env, read};

#[test]
fn file_transport_writes_one_eml_per_message() {
    let env = Env::new("");
    env.write("reporter.yaml", "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: file\n  file: {dir: outbox}\n");
    env.job("one", "commands: [echo one]\n");
    env.job("two", "commands: [echo two]\n");
    env.run(&["run", "--all"]).code(0).stderr_empty();
    let mut files: Vec<_> = std::fs::read_dir(env.path("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.extension().unwrap() == "eml"));
    let text = read(&files[0]);
    assert!(text.contains("X-Reporter-Job: one\r\n"), "{text}");
    assert!(text.contains("To: admin@test.example\r\n"), "{text}");
}

#[test]
fn sendmail_transport_pipes_the_message() {
    let env = Env::new("");
    let fake = env.write(
        "bin/sendmail",
        &format!(
            "#!/bin/sh\necho \"$@\" > {0}/args\ncat > {0}/message\n",
            env.dir.path().display()
        ),
    );
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&fake).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write("reporter.yaml", &format!(
        "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: sendmail\n  sendmail: {{path: {}}}\n",
        fake.display()
    ));
    env.job("viasendmail", "commands: [echo hi]\n");
    env.run(&["run", "viasendmail"]).code(0).stderr_empty();
    let args = read(env.path("args"));
    assert!(
        args.contains("r@test.example") && args.contains("admin@test.example"),
        "{args}"
    );
    let message = read(env.path("message"));
    assert!(message.contains("X-Reporter-Job: viasendmail"), "{message}");
}

#[test]
fn refused_connection_exits_75() {
    let env = Env::refusing();
    env.job("lost", "commands: [echo hi]\n");
    env.run(&["run", "lost"])
        .code(75)
        .stderr_contains("lost: report not delivered");
}

#[test]
fn temporary_and_permanent_rejections_exit_75() {
    for (behaviour, expected) in [(Behaviour::TempFail, "451"), (Behaviour::Reject, "550")] {
        let env = Env::with_smtp(behaviour, "");
        env.job("rejected", "commands: [echo hi]\n");
        env.run(&["run", "rejected"])
            .code(75)
            .stderr_contains(expected);
        assert!(env.smtp.received().is_empty());
    }
}

#[test]
fn silent_relay_does_not_hang_past_the_timeout() {
    let env = Env::with_smtp(Behaviour::Silent, "");
    env.write(
        "reporter.yaml",
        &format!(
            "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  smtp: {{host: 127.0.0.1, port: {}, timeout: 1s}}\n",
            env.smtp.port
        ),
    );
    env.job("quiet", "commands: [echo hi]\n");
    let started = Instant::now();
    env.run(&["run", "quiet"])
        .code(75)
        .stderr_contains("quiet: report not delivered");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
