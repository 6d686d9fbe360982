//! The state folder as root sees it: private modes, foreign owners and planted symlinks refused, locks on read-only folders, spool files checked before sending (SPEC §6, §9, §11).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::{Env, read, require_root, wait_until};

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
    for path in [&lock, &locks, &state] {
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
