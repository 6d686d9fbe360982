//! The state folder as root sees it: private modes, foreign owners and planted symlinks refused, locks on read-only folders, spool files checked before sending (docs/jobs.md, docs/failure-handling.md, docs/security.md).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Behaviour, Env, read, require_root, wait_until};

const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Every file and folder under `dir`, `dir` first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_owned()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&all[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            all.extend(children);
        }
        i += 1;
    }
    all
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn root_refuses_a_state_dir_another_user_owns_or_can_write() {
    require_root();
    let env = Env::new("");
    env.job("j", "commands: [echo hi]\n");
    let state = env.path("state");
    std::fs::create_dir(&state).unwrap();
    chown_nobody(&state);
    let shown = state.display().to_string();
    for args in [&["run", "j"][..], &["flush"], &["history"]] {
        env.run(args).code(2).stderr_contains(&format!(
            "state_dir: `{shown}` is owned by uid 65534, not root, and reporter runs as root: refusing it (fix: chown root {shown}, once you have checked what is in it)"
        ));
    }
    assert!(
        !state.join("locks").exists() && !state.join("spool").exists(),
        "nothing was written into it"
    );
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!("state_dir: `{shown}` is owned by uid 65534"));

    // Root's own, but a folder in it others can write to.
    std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    let spool = state.join("spool");
    std::fs::create_dir(&spool).unwrap();
    chmod(&spool, 0o777);
    let spool_shown = spool.display().to_string();
    env.run(&["run", "j"]).code(2).stderr_contains(&format!(
        "state_dir: `{spool_shown}` is writable by group or others (mode 0777) and reporter runs as root: refusing it (fix: chmod 700 {spool_shown})"
    ));

    // A folder in it that is a symbolic link.
    std::fs::remove_dir(&spool).unwrap();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &spool).unwrap();
    env.run(&["run", "j"]).code(2).stderr_contains(&format!(
        "state_dir: `{spool_shown}` is a symbolic link; reporter does not follow links in its state folder: refusing it (fix: replace it with a folder)"
    ));
    assert!(env.smtp.received().is_empty(), "nothing ran, nothing sent");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    std::fs::remove_file(&spool).unwrap();
    env.run(&["run", "j"]).code(0).stderr_empty();
    assert_eq!(env.smtp.jobs(), ["j"]);
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_lock_file_planted_as_a_symlink_is_not_followed() {
    require_root();
    let env = Env::new("");
    env.job("j", "commands: [echo hi]\n");
    let precious = env.write("precious", "root's data\n");
    let locks = env.path("state/locks");
    std::fs::create_dir_all(&locks).unwrap();
    chmod(&env.path("state"), 0o700);
    chmod(&locks, 0o700);
    let lock = locks.join("j.lock");
    std::os::unix::fs::symlink(&precious, &lock).unwrap();
    env.run(&["run", "j"]).code(0).stderr_contains(&format!(
        "j: not locked: `{}` is a symbolic link; reporter does not follow links in its state folder (fix: rm {}); running it anyway",
        lock.display(),
        lock.display()
    ));
    assert_eq!(
        read(&precious),
        "root's data\n",
        "the link's target is untouched"
    );
    assert_eq!(mode(&precious), 0o644);
    assert!(std::fs::symlink_metadata(&lock).unwrap().is_symlink());
    assert_eq!(env.smtp.jobs(), ["j"], "the report still went out");
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_spool_file_root_does_not_own_is_never_sent() {
    require_root();
    let env = Env::refusing();
    env.job("planted", "commands: [echo planted]\n");
    env.job("honest", "commands: [echo honest]\n");
    env.run(&["run", "planted"])
        .code(75)
        .stderr_contains("planted: report not delivered");
    let [spooled] = &env.spooled("state/spool")[..] else {
        panic!("one message spooled")
    };
    // As if another user had written it: a well-formed message, but not root's.
    chown_nobody(spooled);
    let name = spooled.file_name().unwrap();
    let buried = env.path("state/spool/dead").join(name);

    env.write_config("");
    env.run(&["flush"]).code(75).stderr_contains(&format!(
        "`{}` is owned by uid 65534, not root: reporter running as root never sends it; moving it to `{}`",
        spooled.display(),
        env.path("state/spool/dead").display()
    ));
    assert!(env.smtp.received().is_empty(), "not delivered by flush");
    assert!(env.spooled("state/spool").is_empty());
    assert!(buried.is_file());

    // Planted again, and a run (which flushes first) does not send it either.
    std::fs::rename(&buried, spooled).unwrap();
    env.run(&["run", "honest"])
        .code(0)
        .stderr_contains("is owned by uid 65534, not root");
    assert_eq!(env.smtp.jobs(), ["honest"], "only the run's own report");
    assert!(buried.is_file());
}

#[test]
fn everything_in_the_state_dir_is_private_whatever_the_umask() {
    let env = Env::with_smtp(Behaviour::Reject, "");
    env.job("rejected", "commands: [echo no]\n");
    env.job("kept", "commands: [echo later]\n");
    env.run_with_umask(0o000, &["run", "rejected"])
        .code(75)
        .stderr_contains("rejected: report rejected permanently");
    env.write_config_for(crate::support::smtp::closed_port(), "");
    env.run_with_umask(0o000, &["run", "kept"])
        .code(75)
        .stderr_contains("kept: report not delivered");
    assert_eq!(env.spooled("state/spool/dead").len(), 1);
    assert_eq!(env.spooled("state/spool").len(), 1);
    let all = walk(&env.path("state"));
    let names: Vec<String> = all
        .iter()
        .map(|p| {
            p.strip_prefix(env.dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "state/history.sqlite3",
        "state/locks/kept.lock",
        "state/locks/rejected.lock",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let loose: Vec<String> = all
        .iter()
        .zip(&names)
        // `jobs/` alone is searchable by others, for `user:` jobs to reach their own
        // folders in it (docs/security.md).
        .filter(|(path, name)| {
            let private = match (path.is_dir(), name.as_str()) {
                (true, "state/jobs") => 0o711,
                (true, _) => 0o700,
                (false, _) => 0o600,
            };
            mode(path) != private
        })
        .map(|(path, name)| format!("{name} {:04o}", mode(path)))
        .collect();
    assert!(loose.is_empty(), "not private: {loose:?} (of {names:?})");
}

#[test]
fn outbox_files_are_private_whatever_the_umask() {
    let env = Env::new("");
    env.write(
        "reporter.yaml",
        "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: file\n  file: {dir: outbox/new}\n",
    );
    env.job("filed", "commands: [echo hi]\n");
    env.run_with_umask(0o000, &["run", "filed"])
        .code(0)
        .stderr_empty();
    let files = walk(&env.path("outbox"));
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(mode(&files[0]), 0o700, "{}", files[0].display());
    assert_eq!(mode(&files[1]), 0o700, "{}", files[1].display());
    assert_eq!(mode(&files[2]), 0o600, "{}", files[2].display());
}

#[test]
fn the_daemons_pidfile_is_world_readable_and_no_more() {
    let env = Env::new("");
    let (pidfile, log) = (env.path("run/reporter.pid"), env.path("reporter.log"));
    env.run_with_umask(
        0o000,
        &[
            "daemon",
            "--detach",
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
    )
    .code(0)
    .stderr_empty();
    assert_eq!(mode(&pidfile), 0o644);
    let pid: i32 = read(&pidfile).trim().parse().unwrap();
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert!(wait_until(|| !pidfile.exists()), "{}", read(&log));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn the_lock_holds_on_a_read_only_state_dir() {
    require_root();
    let env = Env::new("");
    let marks = env.path("marks");
    std::fs::create_dir(&marks).unwrap();
    chown_nobody(&marks);
    let ran = marks.join("ran");
    env.job(
        "slow",
        &format!("commands: ['echo ran >> {}; sleep 3']\n", ran.display()),
    );
    // The state a run before left, now read-only to the user reporter runs as: the lock
    // file exists but cannot be opened for writing, and nothing can be created.
    let state = env.path("state");
    let locks = state.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let lock = locks.join("slow.lock");
    std::fs::write(&lock, "").unwrap();
    let jobs = state.join("jobs");
    std::fs::create_dir_all(jobs.join("slow")).unwrap();
    chmod(&jobs, 0o711);
    chmod(&jobs.join("slow"), 0o700);
    for path in [&lock, &locks, &jobs.join("slow"), &jobs, &state] {
        chown_nobody(path);
    }
    chmod(&lock, 0o400);
    chmod(&locks, 0o500);
    chmod(&state, 0o500);

    let first = env.start_as_nobody(&["run", "slow"]);
    assert!(
        wait_until(|| ran.exists()),
        "the first run started its command"
    );
    env.run_as_nobody(&["run", "slow"])
        .code(0)
        .stderr_contains("slow: skipped: another run holds its lock");
    first
        .wait()
        .code(0)
        .stderr_contains("cannot write to the spool");
    assert_eq!(read(&ran), "ran\n", "the command ran once");
    assert_eq!(env.smtp.jobs(), ["slow"], "one report");
}
