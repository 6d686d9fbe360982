//! Commands that misbehave: hang, fork, flood, print garbage, cannot start; overlapping
//! runs; signals. Nothing hangs, nothing is left behind, the report still goes out.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::{Env, processes_matching, unique, wait_until};

#[test]
fn timeout_kills_the_whole_process_tree() {
    let env = Env::new("");
    let sleep = unique("sleep 7771.");
    env.job(
        "hang",
        &format!("timeout: 1s\ncommands: ['echo started; {sleep} & {sleep}']\n"),
    );
    let started = Instant::now();
    env.run(&["run", "hang"]).code(1).stderr_only_not_ok();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        processes_matching(&sleep).is_empty(),
        "{:?}",
        processes_matching(&sleep)
    );
    let message = &env.smtp.wait_for(1)[0];
    assert_eq!(message.header("X-Reporter-Status").unwrap(), "timeout");
    let body = message.body();
    assert!(body.contains(": timeout"), "{body}");
    assert!(
        body.contains("started"),
        "output before the timeout is kept: {body}"
    );
    assert!(body.contains("timed out after"), "{body}");
}

#[test]
fn background_grandchild_holding_stdout_does_not_keep_the_run_waiting() {
    let env = Env::new("");
    let sleep = unique("sleep 7772.");
    env.job("bg", &format!("commands: ['({sleep} &); echo hi']\n"));
    let started = Instant::now();
    env.run(&["run", "bg"]).code(0).stderr_empty();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        processes_matching(&sleep).is_empty(),
        "{:?}",
        processes_matching(&sleep)
    );
    assert!(env.smtp.wait_for(1)[0].body().contains("hi\n"));
}

#[test]
fn huge_output_keeps_head_and_tail_only() {
    let env = Env::new("");
    env.job(
        "flood",
        "max_output: 64KiB\ncommands: [\"printf start; head -c 100000000 /dev/zero | tr '\\\\0' x; printf end\"]\n",
    );
    env.run(&["run", "flood"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    let omitted = 100_000_000 + 8 - 65_536;
    assert!(
        body.contains(&format!("[... {omitted} bytes omitted ...]")),
        "{}",
        &body[..200.min(body.len())]
    );
    assert!(
        body.contains("startxxx") && body.contains("xxxend"),
        "head and tail kept"
    );
    assert!(body.len() < 80_000, "body is {} bytes", body.len());
}

#[test]
fn many_large_outputs_stay_within_the_jobs_output_budget() {
    // 300 commands of 2 MB each: held whole at 1 MiB a stream, their outputs alone would
    // take 300 MiB until the report is out.
    let env = Env::new("");
    let commands: String = (0..300)
        .map(|i| {
            format!("  - {{name: c{i:03}, run: \"head -c 2000000 /dev/zero | tr '\\\\0' x\"}}\n")
        })
        .collect();
    env.job("many", &format!("commands:\n{commands}"));
    let (run, peak_kib) = env.run_measured(&["run", "many"]);
    run.code(0).stderr_empty();
    assert!(
        peak_kib <= 256 * 1024,
        "reporter grew to {} MiB",
        peak_kib / 1024
    );
    let body = env.smtp.wait_for(1)[0].body();
    assert!(
        body.contains(
            "Output cut while the commands ran, to keep the job's outputs together within its output budget"
        ) && body.contains("300 of 300 commands kept 55 KiB of stdout and of stderr each (the first and last halves): `c000`, `c001`, `c002`, `c003`, `c004`, 295 more"),
        "{}",
        &body[body.len().saturating_sub(600)..]
    );
}

#[test]
fn on_change_sees_a_change_in_the_part_of_an_output_the_budget_left_out() {
    // 20 tasks at 1 MiB a stream would go over the budget: each keeps less, and the
    // byte that changes is in the middle nobody keeps.
    let env = Env::new("");
    let middle = env.write("middle", "a");
    let targets: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    env.job(
        "wide",
        &format!(
            "send: on-change\ntargets: [{}]\ncommands:\n  - \"head -c 1000000 /dev/zero | tr '\\\\0' x; cat {}; head -c 1000000 /dev/zero | tr '\\\\0' y\"\n",
            targets.join(", "),
            middle.display()
        ),
    );
    env.run(&["run", "wide"]).code(0).stderr_empty();
    assert_eq!(env.smtp.wait_for(1).len(), 1, "the first run mails");
    env.run(&["run", "wide"]).code(0).stderr_empty();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.smtp.received().len(), 1, "nothing changed: no mail");
    std::fs::write(&middle, "b").unwrap();
    env.run(&["run", "wide"]).code(0).stderr_empty();
    let mails = env.smtp.wait_for(2);
    assert!(
        mails[1]
            .body()
            .contains("Output cut while the commands ran"),
        "{}",
        mails[1].body()
    );
}

#[test]
fn binary_output_stays_within_max_output_as_text() {
    // Each NUL becomes the three bytes of U+FFFD: kept whole, 64 KiB of them would be
    // 192 KiB of text in the report.
    let env = Env::new("");
    env.job(
        "binary",
        "max_output: 64KiB\ncommands: [\"printf start; head -c 10000000 /dev/zero; printf end\"]\n",
    );
    env.run(&["run", "binary"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    // Each half of the cap (32 KiB of text) holds `start` or `end` and 10,921 of them.
    let shown = ("start".len() + 10_921) + (10_921 + "end".len());
    let omitted = 10_000_008 - shown;
    assert!(
        body.contains(&format!(
            "start{}\n[... {omitted} bytes omitted ...]\n{}end",
            "\u{fffd}".repeat(10_921),
            "\u{fffd}".repeat(10_921)
        )),
        "{}",
        &body[..200.min(body.len())]
    );
    assert!(body.len() < 70_000, "body is {} bytes", body.len());
}

#[test]
fn garbage_bytes_never_break_the_mail() {
    let env = Env::new("");
    env.job("garbage", "commands: [\"printf 'bad \\\\377 nul \\\\000 cr\\\\r esc \\\\033[31mred\\\\033[0m\\\\n'\"]\n");
    env.run(&["run", "garbage"]).code(0).stderr_empty();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(
        body.contains("bad \u{fffd} nul \u{fffd} cr\u{fffd} esc red\n"),
        "{body:?}"
    );
}

#[test]
fn commands_that_cannot_start_are_reported() {
    let env = Env::new("");
    env.job("nocwd", "cwd: /nonexistent/dir\ncommands: [pwd]\n");
    env.job("nobinary", "commands: [no-such-command-7774]\n");
    env.run(&["run", "nocwd", "nobinary"])
        .code(1)
        .stderr_only_not_ok();
    let messages = env.smtp.wait_for(2);
    let by_job = |job: &str| {
        messages
            .iter()
            .find(|m| m.header("X-Reporter-Job").as_deref() == Some(job))
            .unwrap()
    };
    let nocwd = by_job("nocwd");
    assert_eq!(nocwd.header("X-Reporter-Status").unwrap(), "error");
    assert!(
        nocwd
            .body()
            .contains("working directory `/nonexistent/dir` does not exist"),
        "{}",
        nocwd.body()
    );
    let nobinary = by_job("nobinary");
    assert_eq!(nobinary.header("X-Reporter-Status").unwrap(), "failed");
    assert!(
        nobinary.body().contains("(exit 127)"),
        "{}",
        nobinary.body()
    );
    assert!(nobinary.body().contains("not found"), "{}", nobinary.body());

    let env = Env::new("shell: /nonexistent/sh\n");
    env.job("noshell", "commands: [true]\n");
    env.run(&["run", "noshell"]).code(1).stderr_only_not_ok();
    let body = env.smtp.wait_for(1)[0].body();
    assert!(body.contains("cannot start `/nonexistent/sh`"), "{body}");
}

#[test]
fn a_second_run_of_a_running_job_skips_it() {
    let env = Env::new("");
    env.job("slow", "commands: ['sleep 2; echo done']\n");
    env.job("quick", "commands: ['echo quick']\n");
    let first = env.start(&["run", "slow"]);
    let lock = env.path("state/locks/slow.lock");
    assert!(wait_until(
        || std::fs::read_to_string(&lock).is_ok_and(|pid| !pid.is_empty())
    ));
    env.run(&["run", "slow", "quick"])
        .code(0)
        .stderr_contains("slow: skipped: another run holds its lock");
    first.wait().code(0).stderr_empty();
    // Both runs have exited: every message they delivered has arrived.
    let jobs = env.smtp.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        jobs.contains(&"slow".to_owned()) && jobs.contains(&"quick".to_owned()),
        "{jobs:?}"
    );
}

#[test]
fn signals_kill_commands_and_still_send_the_reports() {
    for (signal, code, marker, word) in [
        (Signal::SIGTERM, 143, unique("sleep 7775."), "terminated"),
        (Signal::SIGINT, 130, unique("sleep 7776."), "interrupted"),
    ] {
        let env = Env::new("");
        env.job(
            "long",
            &format!("commands: ['echo before; {marker}', 'echo other']\n"),
        );
        let child = env.start(&["run", "long"]);
        assert!(wait_until(|| !processes_matching(&marker).is_empty()));
        let started = Instant::now();
        child.signal(signal);
        // The warning, then the line naming what the signal stopped.
        let run = child.wait().code(code).stderr_contains(&format!(
            "reporter: warning: {word}: stopping the running commands\n"
        ));
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].starts_with("reporter: warning: not ok: long: "),
            "{lines:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            processes_matching(&marker).is_empty(),
            "{:?}",
            processes_matching(&marker)
        );
        let body = env.smtp.wait_for(1)[0].body();
        assert!(body.contains("The run was interrupted"), "{body}");
        assert!(body.contains("before"), "{body}");
        assert!(
            body.contains("[interrupted; the command was killed]"),
            "{body}"
        );
    }
}
