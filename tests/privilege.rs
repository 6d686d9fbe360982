//! Running as root against an attacker with one unprivileged account: files swapped under reporter, folders others can write, job names that are paths, targets in quotes, the terminal and descriptors a command could inherit (docs/security.md).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{RenameFlags, renameat2};

use crate::support::{Env, require_root, tool};

const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An attacker's job file, owned by `nobody`, whose command leaves `marker` behind.
fn attackers_job(env: &Env, relative: &str, marker: &Path) -> PathBuf {
    let evil = env.write(
        relative,
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    std::os::unix::fs::chown(&evil, Some(NOBODY), None).unwrap();
    evil
}

/// An attacker racing reporter: swaps two names (`renameat2(RENAME_EXCHANGE)`) over and
/// over until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            // Bounded in case the flag is never set.
            while !stopped.load(Ordering::Relaxed) && swaps < 50_000_000 {
                if renameat2(None, &a, None, &b, RenameFlags::RENAME_EXCHANGE).is_err() {
                    break;
                }
                swaps += 1;
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops swapping; how many swaps there were.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `reporter run x` `times` times (or for at most 5 s) while `x.yaml` is swapped between a
/// symbolic link to root's own job and an attacker's file; `each` checks every run.
fn race(env: &Env, times: usize, each: impl Fn(crate::support::Run)) {
    let swapper = Swapper::start(env.path("jobs/x.yaml"), env.path("jobs/.swap"));
    let started = Instant::now();
    let mut runs = 0;
    while runs < times && started.elapsed() < Duration::from_secs(5) {
        each(env.run(&["run", "x"]));
        runs += 1;
    }
    let swaps = swapper.stop();
    assert!(swaps > 1000 && runs > 0, "{swaps} swaps, {runs} runs");
}

/// The jobs whose reports were mailed, leaving out the reports of configuration problems.
fn jobs_mailed(env: &Env) -> Vec<String> {
    let mut jobs = env.smtp.jobs();
    jobs.retain(|job| job != "reporter");
    jobs
}

/// The jobs folder is root's, but `x.yaml` changes between root's job and another user's
/// file while reporter opens it: what is read is what was checked, so the other user's
/// command never runs.
#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_job_file_swapped_while_it_is_read_never_runs_as_root() {
    require_root();
    let env = Env::new("");
    let marker = env.path("pwned");
    let safe = env.write("elsewhere/safe.yaml", "commands: [echo safe]\n");
    std::os::unix::fs::symlink(&safe, env.path("jobs/x.yaml")).unwrap();
    let evil = attackers_job(&env, "jobs/.swap", &marker);
    race(&env, 50, |run| {
        if run.code == 0 {
            run.code(0).stderr_empty();
        } else {
            // The name is the link's; the file refused is the one that was opened.
            run.code(2).stderr_contains(&format!(
                "{}: `{0}` is owned by uid 65534, not root",
                env.path("jobs/x.yaml").display()
            ));
        }
        assert!(
            !marker.exists(),
            "root ran the command of {}",
            evil.display()
        );
    });
}

/// With a jobs folder others can write, the folder itself is refused: however its files
/// are swapped, no job in it runs.
#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn a_jobs_folder_others_can_write_is_refused_while_files_are_swapped() {
    require_root();
    let env = Env::new("");
    let jobs = env.path("jobs");
    let marker = env.path("pwned");
    let safe = env.write("elsewhere/safe.yaml", "commands: [echo safe]\n");
    std::os::unix::fs::symlink(&safe, env.path("jobs/x.yaml")).unwrap();
    attackers_job(&env, "jobs/.swap", &marker);
    chmod(&jobs, 0o1777);
    let refused = format!(
        "{}: `{0}` is a folder writable by group or others (mode 1777), and reporter runs as root: \
         they could swap the files in it; refusing it (fix: chmod go-w {0})",
        jobs.display()
    );
    race(&env, 20, |run| {
        run.code(2).stderr_contains(&refused);
        assert!(
            !marker.exists(),
            "root ran a job from a folder others can write"
        );
    });
    env.run(&["check"]).code(2).stderr_contains(&refused);

    chmod(&jobs, 0o755);
    std::os::unix::fs::chown(&jobs, Some(NOBODY), None).unwrap();
    let owned = format!(
        "{}: `{0}` is a folder owned by uid 65534, not root, and reporter runs as root: \
         they could swap the files in it; refusing it (fix: chown root {0})",
        jobs.display()
    );
    race(&env, 20, |run| {
        run.code(2).stderr_contains(&owned);
        assert!(
            !marker.exists(),
            "root ran a job from a folder another user owns"
        );
    });
    env.run(&["run", "--all"]).code(2).stderr_contains(&owned);
    // Only the reports of the problems were mailed, no job's.
    assert_eq!(jobs_mailed(&env), [] as [String; 0]);
}

/// The folders holding the config and the templates are checked like the jobs folder.
#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn config_and_template_folders_others_can_write_are_refused() {
    require_root();
    let env = Env::new("");
    env.job("fine", "commands: [echo fine]\n");
    env.template("partials/footer.hbs", "bye\n");
    let templates = env.path("templates");
    let partials = env.path("templates/partials");
    chmod(&templates, 0o775);
    chmod(&partials, 0o1777);
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!(
            "`{}` is a folder writable by group or others (mode 0775)",
            templates.display()
        ))
        .stderr_contains(&format!(
            "`{}` is a folder writable by group or others (mode 1777)",
            partials.display()
        ));
    chmod(&templates, 0o755);
    chmod(&partials, 0o755);
    env.run(&["check"]).code(0).stderr_empty();

    chmod(env.dir.path(), 0o777);
    env.run(&["run", "fine"])
        .code(2)
        .stderr_contains(&format!(
            "`{}` is a folder writable by group or others (mode 0777)",
            env.dir.path().display()
        ))
        .stderr_contains("(fix: chmod go-w");
    assert!(env.smtp.jobs().is_empty(), "{:?}", env.smtp.jobs());
}

/// `{{target}}` is substituted shell-quoted; inside quotes the quoting is undone and a
/// target's `$(...)` would run.
#[test]
fn target_inside_quotes_is_a_configuration_error() {
    let env = Env::new("");
    let marker = env.path("pwned");
    let targets = format!("targets: ['$(touch {})']\n", marker.display());
    env.job(
        "double",
        &format!("{targets}commands:\n  - echo \"{{{{target}}}}\"\n"),
    );
    env.job(
        "single",
        &format!("{targets}commands:\n  - name: ping\n    run: echo '{{{{target}}}}' up\n"),
    );
    let message = "`{{target}}` inside quotes in `run`: it is substituted already shell-quoted, \
                   and inside quotes a target's `$(...)` would run; write it without quotes";
    env.run(&["check"])
        .code(2)
        .stderr_contains(&format!("jobs/double.yaml:3:5: commands[0]: {message}"))
        .stderr_contains(&format!(
            "jobs/single.yaml:4:10: commands[0].run: {message}"
        ));
    for job in ["double", "single"] {
        env.run(&["run", job])
            .code(2)
            .stderr_contains(&format!("jobs/{job}.yaml:"))
            .stderr_contains(message);
    }
    assert!(!marker.exists(), "a target ran as shell code");

    // Unquoted, and quoted inside a command substitution, it is one word.
    env.job(
        "double",
        &format!("{targets}commands:\n  - echo {{{{target}}}} \"$(echo {{{{target}}}})\"\n"),
    );
    env.job("single", "commands: [echo fine]\n");
    // (The runs above mailed the reports of their problems.)
    let before = env.smtp.received().len();
    env.run(&["run", "double"]).code(0).stderr_empty();
    assert!(!marker.exists(), "a target ran as shell code");
    let received = env.smtp.received();
    assert_eq!(received.len(), before + 1);
    let body = received[before].body();
    let literal = format!("$(touch {}) $(touch {0})", marker.display());
    assert!(body.contains(&literal), "{body}");
}

/// `run ../elsewhere/job` must not load a file outside `jobs_dir`: arguments are names.
#[test]
fn job_arguments_are_names_never_paths() {
    let env = Env::new("");
    let marker = env.path("pwned");
    env.write(
        "elsewhere/job.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    env.write(
        "jobs/sub/job.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    env.job("x", "commands: [echo x]\n");
    env.write(
        "jobs/.hidden.yaml",
        &format!("commands: ['touch {}']\n", marker.display()),
    );
    for argument in [
        "../elsewhere/job",
        "sub/job",
        "./x",
        ".hidden",
        "x.yaml",
        "",
    ] {
        for command in ["run", "preview"] {
            env.run(&[command, argument, "x"])
                .code(2)
                .stderr_contains(&format!(
                    "(command line): `{argument}` is not a job name: a job is named by its file \
                     stem in `jobs_dir` (letters, digits, `-` and `_`), never by a path"
                ));
        }
    }
    env.run(&["run", "x.yaml"])
        .code(2)
        .stderr_contains("(did you mean `x`?)");
    assert!(!marker.exists(), "a job outside jobs_dir ran");
    // A command line that names a path runs nothing, not even the valid names on it.
    assert!(env.smtp.jobs().is_empty(), "{:?}", env.smtp.jobs());
    env.run(&["run", "x"]).code(0).stderr_empty();
}

/// `words` as one line for a POSIX shell, each single-quoted.
fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bodies of the mails the relay received, by job (the subject names it).
fn bodies_by_job(env: &Env, count: usize) -> Vec<(String, String)> {
    let mut mails: Vec<(String, String)> = env
        .smtp
        .wait_for(count)
        .iter()
        .map(|mail| (mail.header("Subject").unwrap_or_default(), mail.body()))
        .collect();
    mails.sort();
    mails
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn commands_have_no_controlling_terminal_to_push_input_into() {
    require_root();
    let script = tool("script", "bsdutils").display().to_string();
    let env = Env::new("");
    chmod(env.dir.path(), 0o755);
    // What an attacker's command does: push a line into the terminal of whoever runs
    // reporter, for root's shell to run once reporter is done.
    env.write(
        "push.py",
        "import errno, fcntl, os, termios\n\
         try:\n    tty = os.open('/dev/tty', os.O_RDWR)\n\
         except OSError as e:\n    print('no terminal:', errno.errorcode[e.errno])\n\
         else:\n    for c in b'touch /tmp/PWNED\\n':\n        fcntl.ioctl(tty, termios.TIOCSTI, bytes([c]))\n    print('pushed')\n",
    );
    let push = format!(
        "cwd: /\ncommands: ['python3 {}']\n",
        env.path("push.py").display()
    );
    env.job("as-root", &push);
    env.job("as-nobody", &format!("user: nobody\n{push}"));
    // reporter runs on a terminal, as when root types `reporter run` in a shell: `ps`
    // shows it first. Afterwards, whatever waits in the terminal's input is shown (`script`
    // itself only adds an end-of-file).
    let run = env
        .run_through(
            |argv| {
                let line = format!(
                    "ps -o tty= -p $$; {}; stty -echo -icanon min 0 time 5; \
                     echo \"queued: [$(cat | tr -d '\\000\\004')]\"",
                    shell_line(&argv)
                );
                vec![script, "-qefc".into(), line, "/dev/null".into()]
            },
            &["run", "as-root", "as-nobody"],
        )
        .code(0)
        .stderr_empty();
    // What reporter and the shell write goes to the terminal, which `script` copies to its
    // stdout.
    let stdout = run.into_stdout();
    assert!(
        stdout.trim_start().starts_with("pts/"),
        "no terminal: {stdout:?}"
    );
    assert!(stdout.contains("queued: []"), "{stdout}");
    for (subject, body) in bodies_by_job(&env, 2) {
        // The body quotes the command, then its output.
        assert!(
            body.contains("\nno terminal: ENXIO\n"),
            "{subject}:\n{body}"
        );
    }
}

#[test]
#[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
fn commands_inherit_no_descriptor_beyond_the_standard_three() {
    require_root();
    let env = Env::new("");
    let secret = env.write("secret", "root's secret\n");
    chmod(&secret, 0o600);
    let log = env.write("root.log", "");
    chmod(&log, 0o600);
    // ls opens the folder it lists: 3.
    let probe = "commands: ['echo \"fds: $(ls /proc/self/fd | tr \"\\n\" \" \")\"']\n";
    env.job("as-root", probe);
    env.job("as-nobody", &format!("user: nobody\ncwd: /\n{probe}"));
    // As `reporter run ... 7<secret 8>>root.log` from root's shell.
    env.run_through(
        |argv| {
            let mut line: Vec<String> = [
                "bash",
                "-c",
                r#"exec 7<"$1" 8>>"$2"; shift 2; exec "$@""#,
                "bash",
            ]
            .map(String::from)
            .into();
            line.push(secret.display().to_string());
            line.push(log.display().to_string());
            line.extend(argv);
            line
        },
        &["run", "as-root", "as-nobody"],
    )
    .code(0)
    .stderr_empty();
    for (subject, body) in bodies_by_job(&env, 2) {
        assert!(body.contains("fds: 0 1 2 3 \n"), "{subject}:\n{body}");
    }
}
