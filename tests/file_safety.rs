//! What reporter writes outside its state folder (the metrics file, the file transport's
//! folder, the daemon's log) and the kinds of file it reads, attacked as root would meet
//! them: a folder swapped for a link by the user who owns the folder above, a folder others
//! can write, a link planted at the log after a rotation, a FIFO named like a job file.

use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::{Env, read, require_root, tool, wait_until};

const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `folder`, made, with `mode`, owned by `uid`.
fn folder(path: &Path, mode: u32, uid: u32) {
    std::fs::create_dir_all(path).unwrap();
    chmod(path, mode);
    chown(path, Some(uid), None).unwrap();
}

/// Runs `script` with `sh` as the user `nobody`, as an attacker on the machine would.
fn as_nobody(script: &str) {
    let status = Command::new(tool("setpriv", "util-linux"))
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args(["sh", "-c", script])
        .status()
        .unwrap();
    assert!(status.success(), "as nobody: {script}");
}

/// A root-only folder (0700), still empty, that an attacker wants root to write into.
fn root_only(env: &Env) -> std::path::PathBuf {
    let secret = env.path("secret");
    folder(&secret, 0o700, 0);
    secret
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The owner of `user/` swaps the folder below it for a link to a root-only folder.
fn swap_for_link(env: &Env, name: &str, secret: &Path) {
    let user = env.path("user");
    as_nobody(&format!(
        "cd '{}' && mv {name} {name}.old && ln -s '{}' {name}",
        user.display(),
        secret.display()
    ));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn metrics_through_a_folder_its_parents_owner_swapped_for_a_link_are_refused() {
    require_root();
    let env = Env::new("metrics_file: user/metrics/reporter.prom\n");
    chmod(env.dir.path(), 0o755);
    folder(&env.path("user"), 0o755, NOBODY);
    folder(&env.path("user/metrics"), 0o755, 0);
    env.job("disk", "commands: [true]\n");
    env.run(&["run", "disk"]).code(0).stderr_empty();
    assert!(read(env.path("user/metrics/reporter.prom")).contains("reporter_spool_messages 0"));

    let secret = root_only(&env);
    swap_for_link(&env, "metrics", &secret);
    let dir = env.dir.path().display();
    env.run(&["run", "disk"]).code(0).stderr_is(&format!(
        "reporter: warning: metrics_file: `{dir}/user/metrics` is a symbolic link in `{dir}/user`, a folder someone other than root can change: refusing to write `{dir}/user/metrics/reporter.prom` through it (fix: name the real folder, or make `{dir}/user` root's and not writable by others)\n"
    ));
    assert_eq!(entries(&secret), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn metrics_in_a_folder_others_can_swap_files_in_are_refused_and_a_sticky_one_is_fine() {
    require_root();
    let env = Env::new("metrics_file: shared/reporter.prom\n");
    let shared = env.path("shared");
    folder(&shared, 0o775, 0);
    env.job("disk", "commands: [true]\n");
    let dir = env.dir.path().display();
    env.run(&["run", "disk"]).code(0).stderr_is(&format!(
        "reporter: warning: metrics_file: `{dir}/shared` is writable by group or others (mode 0775) without the sticky bit: they could swap what is written in it; refusing to write `{dir}/shared/reporter.prom` (fix: chmod go-w {dir}/shared)\n"
    ));
    assert_eq!(entries(&shared), Vec::<String>::new());

    chown(&shared, Some(NOBODY), None).unwrap();
    chmod(&shared, 0o755);
    env.run(&["run", "disk"]).code(0).stderr_is(&format!(
        "reporter: warning: metrics_file: `{dir}/shared` is owned by uid 65534, who could swap what is written in it: refusing to write `{dir}/shared/reporter.prom` (fix: chown root {dir}/shared, or choose a folder of root's)\n"
    ));
    assert_eq!(entries(&shared), Vec::<String>::new());

    // Like /tmp: others may write, but only the owner of a name may swap it.
    chown(&shared, Some(0), None).unwrap();
    chmod(&shared, 0o1777);
    env.run(&["run", "disk"]).code(0).stderr_empty();
    assert!(read(shared.join("reporter.prom")).contains("reporter_spool_messages 0"));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn the_file_transport_never_writes_through_a_folder_swapped_for_a_link() {
    require_root();
    let env = Env::new("");
    env.write(
        "reporter.yaml",
        "state_dir: state\nmail:\n  to: [admin@test.example]\n  from: r@test.example\n  transport: file\n  file: {dir: user/outbox}\n",
    );
    chmod(env.dir.path(), 0o755);
    folder(&env.path("user"), 0o755, NOBODY);
    folder(&env.path("user/outbox"), 0o700, 0);
    env.job("disk", "commands: [echo used 42%]\n");
    env.run(&["run", "disk"]).code(0).stderr_empty();
    assert_eq!(entries(&env.path("user/outbox")).len(), 1);

    let secret = root_only(&env);
    swap_for_link(&env, "outbox", &secret);
    let dir = env.dir.path().display();
    env.run(&["run", "disk"]).code(75).stderr_contains(&format!(
        "reporter: warning: disk: report not delivered (`{dir}/user/outbox` is a symbolic link in `{dir}/user`, a folder someone other than root can change: refusing to write `{dir}/user/outbox/"
    ));
    assert_eq!(entries(&secret), Vec::<String>::new());
    assert_eq!(
        env.spooled("state/spool").len(),
        1,
        "the report waits in the spool"
    );
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_link_planted_at_the_log_after_a_rotation_is_not_followed_on_sighup() {
    require_root();
    let env = Env::new("");
    env.job("tick", "schedule: \"0 0 1 1 *\"\ncommands: [true]\n");
    // Like /var/tmp: anyone may put a name there, so anyone may plant a link.
    let logs = env.path("logs");
    folder(&logs, 0o1777, 0);
    let log = logs.join("reporter.log");
    let daemon = env.start(&["daemon", "--log-file", log.to_str().unwrap()]);
    let text = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    assert!(wait_until(|| text(&log).contains("daemon started")));

    let rotated = logs.join("reporter.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let target = env.write("secret/shadow", "root:*:20000::::::\n");
    chmod(&target, 0o600);
    symlink(&target, &log).unwrap();
    daemon.signal(Signal::SIGHUP);
    let refused = format!(
        "reporter: error: cannot open the log file: `{}` is a symbolic link: refusing to write through it; logging on to the file opened before\n",
        log.display()
    );
    assert!(
        wait_until(|| text(&rotated).contains(&refused)),
        "{}",
        text(&rotated)
    );
    assert!(wait_until(
        || text(&rotated).contains("reloaded: 1 scheduled job")
    ));
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_empty();
    assert_eq!(read(&target), "root:*:20000::::::\n");
    assert!(read(&rotated).contains("daemon stopped"));

    // At start, the same link is refused before anything runs.
    run_bounded(&env, &["daemon", "--log-file", log.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "reporter: error: cannot open the log file: `{}` is a symbolic link: refusing to write through it\n",
            log.display()
        ));
    assert_eq!(read(&target), "root:*:20000::::::\n");
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn the_daemon_log_in_a_folder_others_can_swap_it_in_is_refused() {
    require_root();
    let env = Env::new("");
    let logs = env.path("logs");
    folder(&logs, 0o775, 0);
    let log = logs.join("reporter.log");
    run_bounded(&env, &["daemon", "--log-file", log.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "reporter: error: cannot open the log file: `{0}` is writable by group or others (mode 0775) without the sticky bit: they could swap what is written in it; refusing to write `{1}` (fix: chmod go-w {0})\n",
            logs.display(),
            log.display()
        ));
    assert!(!log.exists());
    chmod(&logs, 0o755);
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    run_bounded(&env, &["daemon", "--log-file", log.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "reporter: error: cannot open the log file: `{}` is not a regular file (a FIFO): refusing to write to it\n",
            log.display()
        ));
}

/// Starts `args` and waits for it with a bound against a hang: a FIFO read blocks forever.
#[track_caller]
fn run_bounded(env: &Env, args: &[&str]) -> crate::support::Run {
    let started = Instant::now();
    let run = env.start(args).wait();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "`{args:?}` took {:?}",
        started.elapsed()
    );
    run
}

#[test]
fn a_fifo_named_like_a_job_file_is_an_error_not_a_hang() {
    let env = Env::new("");
    env.job("disk", "commands: [true]\n");
    let fifo = env.path("jobs/x.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let refused = format!(
        "reporter: error: {0}: `{0}` is not a regular file (a FIFO): refusing to read it\n",
        fifo.display()
    );
    run_bounded(&env, &["check"])
        .code(2)
        .stderr_contains(&refused);
    run_bounded(&env, &["list"])
        .code(2)
        .stderr_contains(&refused)
        .stdout_contains("disk");
    run_bounded(&env, &["run", "--all"])
        .code(2)
        .stderr_contains(&refused);
    assert!(
        env.smtp.jobs().contains(&"disk".to_owned()),
        "the other jobs still run"
    );
    // The daemon starts without it, and says why.
    let daemon = env.start(&["daemon"]);
    assert!(wait_until(|| daemon
        .stderr_so_far()
        .contains("daemon started")));
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains(&refused);

    // A configuration file that is a FIFO is refused the same way.
    let fifo = env.path("reporter.yaml");
    std::fs::remove_file(&fifo).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    run_bounded(&env, &["check"])
        .code(2)
        .stderr_contains(&format!(
            "`{}` is not a regular file (a FIFO): refusing to read it",
            fifo.display()
        ));
}

#[test]
fn a_fifo_put_among_the_jobs_is_an_error_of_the_daemon_reload_not_a_hang() {
    let env = Env::new("");
    env.job("tick", "schedule: \"0 0 1 1 *\"\ncommands: [true]\n");
    let daemon = env.start(&["daemon"]);
    assert!(wait_until(|| daemon
        .stderr_so_far()
        .contains("daemon started")));
    let fifo = env.path("jobs/x.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(
        wait_until(|| daemon.stderr_so_far().contains("reloaded: 1 scheduled job")),
        "{}",
        daemon.stderr_so_far()
    );
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains(&format!(
        "reporter: error: {0}: `{0}` is not a regular file (a FIFO): refusing to read it\n",
        fifo.display()
    ));
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn the_pidfile_is_never_written_through_a_swapped_folder_nor_read_from_a_fifo() {
    require_root();
    let env = Env::new("");
    chmod(env.dir.path(), 0o755);
    folder(&env.path("user"), 0o755, NOBODY);
    folder(&env.path("user/run"), 0o755, 0);
    let secret = root_only(&env);
    swap_for_link(&env, "run", &secret);
    let pidfile = env.path("user/run/reporter.pid");
    let dir = env.dir.path().display();
    run_bounded(&env, &["daemon", "--pidfile", pidfile.to_str().unwrap()])
        .code(2)
        .stderr_contains(&format!(
            "reporter: error: cannot write the pidfile: `{dir}/user/run` is a symbolic link in `{dir}/user`, a folder someone other than root can change: refusing to write `{dir}/user/run/reporter.pid` through it"
        ));
    assert_eq!(entries(&secret), Vec::<String>::new());

    // A FIFO where the pidfile goes is no pidfile: the daemon starts and replaces it.
    let pidfile = env.path("reporter.pid");
    nix::unistd::mkfifo(&pidfile, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let daemon = env.start(&["daemon", "--pidfile", pidfile.to_str().unwrap()]);
    assert!(
        wait_until(|| daemon.stderr_so_far().contains("daemon started")),
        "{}",
        daemon.stderr_so_far()
    );
    assert!(std::fs::metadata(&pidfile).unwrap().is_file());
    daemon.signal(Signal::SIGTERM);
    daemon.wait().code(0).stderr_contains("daemon stopped");
    assert!(!pidfile.exists());
}
