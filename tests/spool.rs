//! Mail that cannot be delivered waits in the spool; nothing is lost, nothing is sent twice
//! by concurrent flushes.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::smtp::{SmtpServer, closed_port};
use crate::support::{Behaviour, Env, read, wait_until};

#[test]
fn refused_mail_is_spooled_and_flushed_later() {
    let env = Env::refusing();
    env.job("lost", "commands: [echo hi]\n");
    env.run(&["run", "lost"])
        .code(75)
        .stderr_contains("kept in");
    let spooled = env.spooled("state/spool");
    assert_eq!(spooled.len(), 1);
    let text = read(&spooled[0]);
    assert!(
        text.contains("X-Reporter-Job: lost"),
        "the complete message is spooled"
    );

    env.write_config("");
    env.run(&["flush"]).code(0).stderr_empty();
    assert!(env.spooled("state/spool").is_empty());
    let messages = env.smtp.wait_for(1);
    assert_eq!(messages[0].header("X-Reporter-Job").unwrap(), "lost");
    assert_eq!(messages[0].rcpt_to, ["admin@test.example"]);
}

#[test]
fn every_run_flushes_the_spool_first() {
    let env = Env::refusing();
    env.job("first", "commands: [echo one]\n");
    env.job("second", "commands: [echo two]\n");
    env.run(&["run", "first"])
        .code(75)
        .stderr_contains("first: report not delivered");
    env.write_config("");
    env.run(&["run", "second"]).code(0).stderr_empty();
    let mut jobs = env.smtp.jobs();
    jobs.sort();
    assert_eq!(jobs, ["first", "second"]);
    assert!(env.spooled("state/spool").is_empty());
}

#[test]
fn permanent_rejection_goes_to_dead_letters() {
    let env = Env::with_smtp(Behaviour::Reject, "");
    env.job("rejected", "commands: [echo hi]\n");
    env.run(&["run", "rejected"])
        .code(75)
        .stderr_contains("rejected: report rejected permanently")
        .stderr_contains("moved to");
    assert!(env.spooled("state/spool").is_empty());
    assert_eq!(env.spooled("state/spool/dead").len(), 1);
}

#[test]
fn old_mail_goes_to_dead_letters() {
    let env = Env::refusing();
    env.job("stale", "commands: [echo hi]\n");
    env.run(&["run", "stale"])
        .code(75)
        .stderr_contains("stale: report not delivered");
    let port = closed_port();
    env.write_config_for(port, "  spool_max_age: 1s\n");
    // `mail:` is the last section of the generated config, so the key lands inside it.
    // The spool dates a message by its `created:` line: make it an hour old, rather than
    // wait for it to age.
    let [spooled] = &env.spooled("state/spool")[..] else {
        panic!("one message spooled")
    };
    let text = read(spooled);
    let created: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("created: "))
        .unwrap_or_else(|| panic!("a `created:` line in {text}"))
        .parse()
        .unwrap();
    let old = text.replacen(
        &format!("created: {created}\n"),
        &format!("created: {}\n", created - 3600),
        1,
    );
    std::fs::write(spooled, old).unwrap();
    env.run(&["flush"])
        .code(75)
        .stderr_contains("undeliverable for more than 1s");
    assert_eq!(env.spooled("state/spool/dead").len(), 1);
}

#[test]
fn a_crash_after_the_relay_took_the_message_sends_it_again_not_never() {
    let slow = SmtpServer::start(Behaviour::AcceptAfter(Duration::from_secs(30)));
    let env = Env::new("");
    env.write_config_for(slow.port, "");
    env.job("crash", "commands: [echo hi]\n");
    let child = env.start(&["run", "crash"]);
    assert!(
        wait_until(|| slow.received().len() == 1),
        "the relay got the message"
    );
    child.signal(Signal::SIGKILL);
    child.wait().killed_by(Signal::SIGKILL).stderr_empty();
    assert_eq!(
        env.spooled("state/spool").len(),
        1,
        "the message is still spooled"
    );

    env.write_config("");
    env.run(&["flush"]).code(0).stderr_empty();
    let again = env.smtp.received();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].header("Message-ID"),
        slow.received()[0].header("Message-ID"),
        "a duplicate, recognisable as one"
    );
    assert!(env.spooled("state/spool").is_empty());
}

#[test]
fn concurrent_flushes_send_each_message_once() {
    let env = Env::refusing();
    for name in ["a", "b", "c", "d"] {
        env.job(name, "commands: [true]\n");
    }
    env.run(&["run", "--all"])
        .code(75)
        .stderr_contains("report not delivered");
    assert_eq!(env.spooled("state/spool").len(), 4);
    let slow = SmtpServer::start(Behaviour::AcceptAfter(Duration::from_millis(200)));
    env.write_config_for(slow.port, "");
    let flushes: Vec<_> = (0..3).map(|_| env.start(&["flush"])).collect();
    for flush in flushes {
        flush.wait().code(0).stderr_empty();
    }
    assert!(env.spooled("state/spool").is_empty());
    // Every flush has exited: every message they delivered has arrived.
    assert_eq!(slow.received().len(), 4, "each message exactly once");
}

/// A message the relay refused, spooled by a real run; its path and contents.
fn spooled_message(env: &Env, job: &str) -> (std::path::PathBuf, Vec<u8>) {
    env.job(job, "commands: [echo hi]\n");
    env.run(&["run", job])
        .code(75)
        .stderr_contains(&format!("{job}: report not delivered"));
    let path = env
        .spooled("state/spool")
        .into_iter()
        .find(|p| read(p).contains(&format!("X-Reporter-Job: {job}")))
        .expect("spooled");
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn a_truncated_or_empty_spool_file_is_never_sent() {
    let env = Env::refusing();
    let (cut, bytes) = spooled_message(&env, "cut");
    // Cut in the middle of the message's own header.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\r\nSubject: ").expect("a Subject header") + 6;
    std::fs::write(&cut, &bytes[..at]).unwrap();
    let empty = env.write("state/spool/20260101T000000Z.1.000000.empty.msg", "");
    env.write_config("");
    let dead = env.path("state/spool/dead");
    let body = text.find("\n\n").unwrap() + 2;
    env.run(&["flush"])
        .code(75)
        .stderr_contains(&format!(
            "`{}`: the message is {} bytes, its head says {}: truncated or edited; moving it to `{}`",
            cut.display(),
            at - body,
            bytes.len() - body,
            dead.display()
        ))
        .stderr_contains(&format!(
            "`{}`: empty file; moving it to `{}`",
            empty.display(),
            dead.display()
        ));
    assert!(env.smtp.received().is_empty(), "nothing sent");
    assert!(env.spooled("state/spool").is_empty());
    assert_eq!(env.spooled("state/spool/dead").len(), 2);
}

#[test]
fn an_edited_spool_file_is_never_sent() {
    let env = Env::refusing();
    let (path, bytes) = spooled_message(&env, "edited");
    let text = String::from_utf8(bytes).unwrap();
    // The command's output line, in the body: same length, other bytes.
    let edited = text.replacen("\r\nhi\r\n", "\r\nho\r\n", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    env.write_config("");
    env.run(&["flush"]).code(75).stderr_contains(&format!(
        "`{}`: the message does not match its checksum: edited or damaged; moving it to",
        path.display()
    ));
    assert!(env.smtp.received().is_empty(), "nothing sent");
    assert_eq!(env.spooled("state/spool/dead").len(), 1);
}

#[test]
fn spool_files_of_the_first_format_are_still_sent() {
    let env = Env::new("");
    env.write(
        "state/spool/20250101T000000Z.1.000000.old.msg",
        "reporter-spool 1\njob: old\ncreated: 4102444800\nfrom: r@test.example\nto: admin@test.example\n\nSubject: from the old release\r\nX-Reporter-Job: old\r\n\r\nhi\r\n",
    );
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(env.smtp.jobs(), ["old"]);
    assert!(env.spooled("state/spool").is_empty());
}

/// A process id no process has: a child that has exited and been waited for.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn temporary_files_a_killed_writer_left_are_taken_in_or_removed() {
    let env = Env::refusing();
    let (complete, bytes) = spooled_message(&env, "complete");
    let name = complete.file_name().unwrap().to_str().unwrap().to_owned();
    let spool = env.path("state/spool");
    // What `put` leaves when its process dies before the rename: `.NAME.PID.tmp`.
    let pid = dead_pid();
    let left = spool.join(format!(".{name}.{pid}.tmp"));
    std::fs::rename(&complete, &left).unwrap();
    let half = spool.join(format!(".20260101T000000Z.1.000000.half.msg.{pid}.tmp"));
    std::fs::write(&half, &bytes[..bytes.len() - 10]).unwrap();
    // A writer that is still alive (this test) is left alone.
    let busy = spool.join(format!(
        ".20260101T000000Z.1.000000.busy.msg.{}.tmp",
        std::process::id()
    ));
    std::fs::write(&busy, &bytes[..20]).unwrap();

    env.write_config("");
    env.run(&["flush"]).code(0).stderr_contains(&format!(
        "removed `{}`: an incomplete message left by process {pid}, which died while writing it",
        half.display()
    ));
    assert_eq!(env.smtp.jobs(), ["complete"]);
    assert!(!left.exists() && !half.exists() && !complete.exists());
    assert!(busy.exists());
}

/// Spools one message for each of `jobs` against a relay that refuses connections.
fn spool_reports(env: &Env, jobs: &[&str]) {
    for name in jobs {
        env.job(name, "commands: [true]\n");
    }
    env.run(&["run", "--all"])
        .code(75)
        .stderr_contains("report not delivered");
    assert_eq!(env.spooled("state/spool").len(), jobs.len());
}

#[test]
fn a_flush_sends_its_messages_over_one_connection() {
    let env = Env::refusing();
    let jobs = ["a", "b", "c", "d", "e"];
    spool_reports(&env, &jobs);
    let relay = SmtpServer::start(Behaviour::Accept);
    env.write_config_for(relay.port, "");
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(relay.received().len(), 5);
    assert_eq!(relay.connections(), 1, "one connection");
    // Four round trips a message, the least SMTP allows without PIPELINING: a message
    // accepted ends its transaction, so no RSET is needed before the next.
    let verbs: Vec<String> = relay
        .commands()
        .iter()
        .map(|c| c.line.split(' ').next().unwrap().to_owned())
        .collect();
    let mut expected = vec!["EHLO"];
    expected.extend(["MAIL", "RCPT", "DATA"].repeat(5));
    expected.push("QUIT");
    assert_eq!(verbs, expected);
    assert!(env.spooled("state/spool").is_empty());
    // Their runs are marked sent, in one transaction for the whole flush.
    let runs = env.history_json(&[]);
    assert!(runs.iter().all(|r| r["sent"] == true), "{runs:?}");
}

#[test]
fn a_relay_that_closes_after_each_message_gets_them_all() {
    let env = Env::refusing();
    spool_reports(&env, &["a", "b", "c"]);
    let relay = SmtpServer::start(Behaviour::OnePerConnection);
    env.write_config_for(relay.port, "");
    env.run(&["flush"]).code(0).stderr_empty();
    assert_eq!(relay.received().len(), 3);
    assert_eq!(
        relay.connections(),
        3,
        "a closed connection is opened again"
    );
    assert!(env.spooled("state/spool").is_empty());
}
