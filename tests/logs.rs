//! The shipped log reports (docs/logs.md) — `logins`, `system-errors`,
//! `package-changes` — run against real journals: export-format entries placed relative
//! to now, written into journal files by systemd-journal-remote and read back through the
//! real `journalctl --directory`; and against dpkg logs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{Env, hostname, repo, tool};

/// systemd-journal-remote, which writes journal files from export-format entries; it lives
/// in systemd's own folder, not on PATH.
fn journal_remote() -> PathBuf {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
    .unwrap_or_else(|| {
        panic!(
            "this test needs systemd-journal-remote, which is not installed: run ./test.sh \
                 as root, which installs it (Debian/Ubuntu package systemd-journal-remote)"
        )
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One machine's journal entries, in the export format journalctl itself writes: each
/// one `seconds_ago` before now, with its fields; a value with a line break or another
/// control character is written in the binary form.
#[derive(Default)]
struct Entries(Vec<u8>);

/// Where the entries' boot started (their monotonic clock counts from it).
const BOOT_AGO: i64 = 3 * 86_400;

impl Entries {
    fn entry(&mut self, seconds_ago: i64, fields: &[(&str, &[u8])]) -> &mut Self {
        let at = (now() - seconds_ago) * 1_000_000;
        let boot = (now() - BOOT_AGO) * 1_000_000;
        let head = format!(
            "__REALTIME_TIMESTAMP={at}\n__MONOTONIC_TIMESTAMP={}\n\
             _BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n",
            at - boot
        );
        self.0.extend_from_slice(head.as_bytes());
        for (name, value) in fields {
            if value.iter().any(|&b| b < 0x20 && b != b'\t') {
                self.0.extend_from_slice(format!("{name}\n").as_bytes());
                self.0
                    .extend_from_slice(&(value.len() as u64).to_le_bytes());
                self.0.extend_from_slice(value);
                self.0.push(b'\n');
            } else {
                self.0.extend_from_slice(format!("{name}=").as_bytes());
                self.0.extend_from_slice(value);
                self.0.push(b'\n');
            }
        }
        self.0.push(b'\n');
        self
    }

    /// A message of `identifier`, logged by a process of `uid`.
    fn logged(
        &mut self,
        seconds_ago: i64,
        uid: u32,
        identifier: &str,
        message: &[u8],
    ) -> &mut Self {
        let uid = uid.to_string();
        self.entry(
            seconds_ago,
            &[
                ("_TRANSPORT", b"syslog"),
                ("_UID", uid.as_bytes()),
                ("_PID", b"4242"),
                ("SYSLOG_IDENTIFIER", identifier.as_bytes()),
                ("PRIORITY", b"6"),
                ("MESSAGE", message),
            ],
        )
    }

    /// A message of sshd, which runs as root.
    fn sshd(&mut self, seconds_ago: i64, message: &str) -> &mut Self {
        self.logged(seconds_ago, 0, "sshd", message.as_bytes())
    }

    fn kernel(&mut self, seconds_ago: i64, priority: u8, message: &str) -> &mut Self {
        let priority = priority.to_string();
        self.entry(
            seconds_ago,
            &[
                ("_TRANSPORT", b"kernel"),
                ("SYSLOG_IDENTIFIER", b"kernel"),
                ("PRIORITY", priority.as_bytes()),
                ("MESSAGE", message.as_bytes()),
            ],
        )
    }

    /// A message of systemd itself, PID 1.
    fn systemd(&mut self, seconds_ago: i64, message: &str) -> &mut Self {
        self.entry(
            seconds_ago,
            &[
                ("_TRANSPORT", b"journal"),
                ("_UID", b"0"),
                ("_PID", b"1"),
                ("SYSLOG_IDENTIFIER", b"systemd"),
                ("PRIORITY", b"4"),
                ("MESSAGE", message.as_bytes()),
            ],
        )
    }

    /// Writes the entries into `dir/NAME.journal` with systemd-journal-remote.
    fn write(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let export = dir.join(format!("{name}.export"));
        std::fs::write(&export, &self.0).unwrap();
        let output = Command::new(journal_remote())
            .arg(format!(
                "--output={}",
                dir.join(format!("{name}.journal")).display()
            ))
            .arg(&export)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "systemd-journal-remote: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::remove_file(export).unwrap();
    }
}

/// The shipped jobs and templates, reading the journal in `journal` and the dpkg log
/// `dpkg` (through `defaults: env:`, as docs/logs.md says).
fn shipped_reading(journal: &Path, dpkg: &Path) -> Env {
    tool("journalctl", "systemd");
    let repo = repo();
    Env::new(&format!(
        "jobs_dir: {}\ntemplates_dir: {}\ndefaults:\n  env: {{JOURNAL_DIRECTORY: '{}', DPKG_LOG: '{}'}}\n",
        repo.join("jobs").display(),
        repo.join("templates").display(),
        journal.display(),
        dpkg.display()
    ))
}

/// Makes `env` run its own copy of the shipped job `job`, as `edit` changes it.
fn own_copy(env: &Env, job: &str, edit: impl FnOnce(String) -> String) {
    let shipped = std::fs::read_to_string(repo().join(format!("jobs/{job}.yaml"))).unwrap();
    env.job(job, &edit(shipped));
    let config = std::fs::read_to_string(env.path("reporter.yaml")).unwrap();
    let jobs_dir = format!("jobs_dir: {}\n", repo().join("jobs").display());
    assert!(config.contains(&jobs_dir), "{config}");
    env.write(
        "reporter.yaml",
        &config.replace(&jobs_dir, "jobs_dir: jobs\n"),
    );
}

/// Runs shipped `job` with `--json`, expecting exit `code`: the data of its one result,
/// the result itself, and the message mailed.
#[track_caller]
fn run_job(
    env: &Env,
    job: &str,
    code: i32,
) -> (
    serde_json::Value,
    serde_json::Value,
    crate::support::smtp::Received,
) {
    let before = env.smtp.received().len();
    let stdout = env
        .run(&["run", "--json", job])
        .code(code)
        .stderr_quiet()
        .into_stdout();
    let outcome: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let result = outcome["jobs"][0]["results"][0].clone();
    let message = env.smtp.wait_for(before + 1).pop().unwrap();
    (result["data"].clone(), result, message)
}

fn subject(message: &crate::support::smtp::Received) -> String {
    message.parsed().subject().unwrap().to_owned()
}

/// 25 failed passwords from one address, the other ways sshd tells of a failed login,
/// accepted logins, sudo and su, and what must not count: an entry older than a day and
/// one that an account wrote as "sshd" (`logger -t sshd`).
fn busy_day() -> Entries {
    let mut entries = Entries::default();
    entries.sshd(
        25 * 3600,
        "Failed password for root from 192.0.2.99 port 22 ssh2",
    );
    for i in 0..25 {
        entries.sshd(
            23 * 3600 - i,
            &format!(
                "Failed password for root from 203.0.113.9 port {} ssh2",
                40_000 + i
            ),
        );
    }
    entries
        .sshd(7000, "Invalid user oracle from 198.51.100.7 port 5555")
        .sshd(6999, "Failed password for invalid user oracle from 198.51.100.7 port 5555 ssh2")
        .sshd(6998, "Invalid user admin from 198.51.100.8 port 5556")
        .sshd(6997, "Connection closed by authenticating user git 198.51.100.9 port 5557 [preauth]")
        .sshd(6996, "Accepted publickey for alice from 192.0.2.1 port 5558 ssh2: ED25519 SHA256:abc")
        .sshd(6995, "Accepted publickey for alice from 192.0.2.1 port 5559 ssh2: ED25519 SHA256:abc")
        .sshd(6994, "Accepted password for bob from 192.0.2.2 port 5560 ssh2")
        .logged(6993, 1000, "sshd", b"Accepted password for root from 6.6.6.6 port 1 ssh2")
        .logged(5000, 0, "sudo", b"   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update")
        .logged(4999, 0, "sudo", b"pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob")
        .logged(4998, 0, "sudo", b"bob : 1 incorrect password attempt ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh -c x ; COMMAND=/bin/true")
        .logged(4997, 0, "sudo", b"eve : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/eve ; USER=root ; COMMAND=/bin/bash")
        .logged(4000, 0, "su", b"(to root) alice on pts/0")
        .logged(3999, 0, "su", b"FAILED SU (to root) eve on pts/2");
    entries
}

#[test]
fn logins_counts_a_first_day_and_fails_on_an_address_with_20_failed_logins() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    busy_day().write(&journal, "day");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    let (data, result, message) = run_job(&env, "logins", 1);
    assert_eq!(result["status"], "failed", "{result}");
    // The first run reads the last 24 hours: not the failure of 25 hours ago.
    assert_eq!(data["failed"]["total"], 28, "{data}");
    assert_eq!(
        data["failed"]["addresses"]["top"][0],
        serde_json::json!({"address": "203.0.113.9", "count": 25})
    );
    assert_eq!(data["failed"]["addresses"]["distinct"], 4, "{data}");
    assert_eq!(
        data["failed"]["users"]["top"],
        serde_json::json!([{"user": "root", "count": 25}, {"user": "oracle", "count": 1},
            {"user": "git", "count": 1}, {"user": "admin", "count": 1}])
    );
    // The login written by an account as "sshd" is not one.
    assert_eq!(
        data["accepted"]["top"],
        serde_json::json!([{"user": "alice", "address": "192.0.2.1", "method": "publickey", "count": 2},
            {"user": "bob", "address": "192.0.2.2", "method": "password", "count": 1}])
    );
    assert_eq!(
        data["sudo"]["commands"]["top"],
        serde_json::json!([{"user": "alice", "as": "root", "command": "/usr/bin/apt update", "count": 1}])
    );
    assert_eq!(data["sudo"]["failures"]["total"], 1, "{data}");
    assert_eq!(
        data["sudo"]["denied"]["top"][0]["reason"],
        "user NOT in sudoers"
    );
    assert_eq!(
        data["su"]["sessions"]["top"][0],
        serde_json::json!({"user": "alice", "as": "root", "count": 1})
    );
    assert_eq!(data["su"]["failures"]["total"], 1, "{data}");
    assert_eq!(
        subject(&message),
        format!(
            "[FAILED] {}: 28 failed ssh logins from 4 addresses, 1 sudo failure (logins)",
            hostname()
        )
    );
    let body = message.body();
    assert!(
        body.contains("25 failed ssh logins from one address (the limit is 20)"),
        "{body}"
    );
    assert!(body.contains("     25  203.0.113.9\n"), "{body}");
    assert!(
        body.contains("      1  alice as root: /usr/bin/apt update\n"),
        "{body}"
    );
    assert!(!body.contains("6.6.6.6"), "{body}");
}

#[test]
fn the_limits_of_logins_are_settings_of_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    busy_day().write(&journal, "day");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    own_copy(&env, "logins", |job| {
        let raised = job
            .replace(
                "FAIL_AT_SSH_FAILURES_FROM_ONE_ADDRESS: 20",
                "FAIL_AT_SSH_FAILURES_FROM_ONE_ADDRESS: 26",
            )
            .replace("FAIL_AT_SUDO_FAILURES: 1", "FAIL_AT_SUDO_FAILURES: 0");
        assert_ne!(raised, job, "the shipped job has its limits in env");
        raised
    });
    let (data, result, message) = run_job(&env, "logins", 0);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        data["limits"],
        serde_json::json!({"ssh_failures_from_one_address": 26, "sudo_failures": 0})
    );
    assert_eq!(
        subject(&message),
        format!(
            "[ok] {}: 28 failed ssh logins from 4 addresses, 1 sudo failure",
            hostname()
        )
    );
}

#[test]
fn logins_is_ok_below_its_limits_and_says_when_there_was_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut entries = Entries::default();
    for i in 0..19 {
        entries.sshd(
            600 - i,
            &format!("Failed password for root from 203.0.113.9 port {i} ssh2"),
        );
    }
    entries.sshd(
        300,
        "Accepted publickey for alice from 192.0.2.1 port 1 ssh2",
    );
    entries.write(&journal, "quiet");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    let (_, result, message) = run_job(&env, "logins", 0);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        subject(&message),
        format!("[ok] {}: 19 failed ssh logins from 1 address", hostname())
    );

    // Nothing since: the window says where it starts, in the machine's local time.
    let empty = dir.path().join("empty");
    Entries::default()
        .sshd(
            2 * 86_400,
            "Accepted publickey for alice from 192.0.2.1 port 1 ssh2",
        )
        .write(&empty, "old");
    let env = shipped_reading(&empty, &dir.path().join("dpkg.log"));
    let (data, _, message) = run_job(&env, "logins", 0);
    let since = local_minute(now() - 86_400);
    assert!(
        [since.clone(), local_minute(now() - 86_400 - 60)]
            .contains(&data["since"].as_str().unwrap().to_owned()),
        "{data} vs {since}"
    );
    assert_eq!(
        subject(&message),
        format!(
            "[ok] {}: no failed logins since {}",
            hostname(),
            data["since"].as_str().unwrap()
        )
    );
    assert!(
        message.body().contains("No failed ssh logins since "),
        "{}",
        message.body()
    );
}

/// `epoch` as `date` prints it here, to the minute.
fn local_minute(epoch: i64) -> String {
    let output = Command::new("date")
        .args(["-d", &format!("@{epoch}"), "+%Y-%m-%d %H:%M"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_second_run_counts_only_what_came_after_the_first_and_a_preview_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    busy_day().write(&journal, "day");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    // A preview reads the same window as the run that follows, and records nothing.
    let preview = env
        .run(&["preview", "logins"])
        .code(1)
        .stderr_quiet()
        .into_stdout();
    assert!(
        preview.contains("Failed ssh logins: 28 from 4 addresses"),
        "{preview}"
    );
    assert!(env.history_json(&["logins"]).is_empty());
    let (first, _, _) = run_job(&env, "logins", 1);
    assert_eq!(first["failed"]["total"], 28, "{first}");

    // What is logged after the first run started is all the second one reads.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut later = Entries::default();
    later
        .sshd(
            0,
            "Failed password for admin from 198.51.100.20 port 1 ssh2",
        )
        .sshd(
            0,
            "Failed password for admin from 198.51.100.20 port 2 ssh2",
        );
    later.write(&journal, "later");
    let (second, result, message) = run_job(&env, "logins", 0);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        second["failed"]["addresses"]["top"],
        serde_json::json!([{"address": "198.51.100.20", "count": 2}])
    );
    assert_eq!(second["accepted"]["total"], 0, "{second}");
    assert_eq!(
        subject(&message),
        format!(
            "[recovered] [ok] {}: 2 failed ssh logins from 1 address",
            hostname()
        )
    );
}

#[test]
fn a_journal_that_cannot_be_read_is_an_error_in_journalctls_words() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-journal");
    let env = shipped_reading(&missing, &dir.path().join("dpkg.log"));
    for job in ["logins", "system-errors"] {
        let (data, result, message) = run_job(&env, job, 1);
        assert_eq!(result["status"], "error", "{result}");
        assert_eq!(data, serde_json::Value::Null);
        assert_eq!(result["parse_error"], serde_json::Value::Null, "{result}");
        let said = format!(
            "Failed to open {}: No such file or directory",
            missing.display()
        );
        assert!(
            result["stderr"].as_str().unwrap().contains(&said),
            "{result}"
        );
        assert_eq!(
            subject(&message),
            format!("[ERROR] {}: {said} ({job})", hostname())
        );
        assert_eq!(
            message.header("X-Reporter-Status").as_deref(),
            Some("error")
        );
        assert!(
            message.body().contains("The journal could not be read:\n"),
            "{}",
            message.body()
        );
    }

    // A folder without journal files: journalctl exits 0, and says so.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let env = shipped_reading(&empty, &dir.path().join("dpkg.log"));
    let (_, result, message) = run_job(&env, "logins", 1);
    assert_eq!(result["status"], "error", "{result}");
    assert_eq!(
        subject(&message),
        format!(
            "[ERROR] {}: No journal files were found. (logins)",
            hostname()
        )
    );
}

#[cfg(reporter_tests_as_root)]
#[test]
fn a_journal_its_user_may_not_read_is_an_error_in_journalctls_words() {
    use std::os::unix::fs::PermissionsExt;
    crate::support::require_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let journal = dir.path().join("journal");
    busy_day().write(&journal, "day");
    // journal-remote writes its files 0640, root's: nobody can list the folder, not read them.
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    own_copy(&env, "logins", |job| format!("user: nobody\n{job}"));
    let (_, result, message) = run_job(&env, "logins", 1);
    assert_eq!(result["status"], "error", "{result}");
    assert_eq!(
        subject(&message),
        format!(
            "[ERROR] {}: No journal files were opened due to insufficient permissions. (logins)",
            hostname()
        )
    );
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (_, result, message) = run_job(&env, "logins", 1);
    assert_eq!(result["status"], "error", "{result}");
    assert_eq!(
        subject(&message),
        format!(
            "[ERROR] {}: Failed to open {}: Permission denied (logins)",
            hostname(),
            journal.display()
        )
    );
}

#[test]
fn lines_an_attacker_writes_cannot_break_the_summary_or_the_html() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let name = b"x\"y\\z\x01\x1b[31m\t</td><script>alert(1)</script>{\"a\":";
    let mut invalid = b"Invalid user ".to_vec();
    invalid.extend_from_slice(name);
    invalid.extend_from_slice(b" from 198.51.100.66 port 7");
    let mut sudo =
        b"mallory : TTY=pts/3 ; PWD=/ ; USER=root ; COMMAND=/bin/echo \"</td><script>".to_vec();
    sudo.extend_from_slice(&[0xff, 0xfe, b'\\']);
    let mut entries = Entries::default();
    entries
        .logged(100, 0, "sshd", &invalid)
        .sshd(99, "Invalid user a from 6.6.6.6 port 1 from 198.51.100.67 port 8")
        .logged(98, 0, "sudo", &sudo)
        .logged(97, 1000, "sudo", b"bob : 5 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/ls");
    entries.write(&journal, "attack");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    let (data, result, message) = run_job(&env, "logins", 1);
    assert_eq!(result["parse_error"], serde_json::Value::Null, "{result}");
    let users: Vec<&str> = data["failed"]["users"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            String::from_utf8_lossy(name).as_ref(),
            "a from 6.6.6.6 port 1"
        ]
    );
    assert_eq!(
        data["failed"]["addresses"]["top"],
        serde_json::json!([{"address": "198.51.100.66", "count": 1}, {"address": "198.51.100.67", "count": 1}])
    );
    // sudo lines are taken by their name: an account can add one, never hide one.
    assert_eq!(data["sudo"]["failures"]["total"], 5, "{data}");
    assert!(
        data["sudo"]["commands"]["top"][0]["command"]
            .as_str()
            .unwrap()
            .starts_with("/bin/echo \"</td><script>"),
        "{data}"
    );
    let html = message.parsed().body_html(0).unwrap().into_owned();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

#[test]
fn system_errors_names_oom_kills_io_errors_failed_units_and_what_else_the_kernel_said() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut entries = Entries::default();
    entries
        .kernel(
            90_000,
            3,
            "Out of memory: Killed process 1 (too-old) total-vm:1kB",
        )
        .kernel(
            5000,
            3,
            "Out of memory: Killed process 812 (java) total-vm:123kB, anon-rss:1kB",
        )
        .kernel(
            4990,
            3,
            "Memory cgroup out of memory: Killed process 813 (java) total-vm:1kB",
        )
        .kernel(
            4900,
            6,
            "nginx[999]: segfault at 0 ip 00007f sp 00007f error 4 in libc.so.6[7f+1000]",
        )
        .kernel(
            4800,
            3,
            "I/O error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
        )
        .kernel(
            4790,
            3,
            "Buffer I/O error on dev sda1, logical block 0, async page read",
        )
        .kernel(4700, 3, "ata1: COMRESET failed (errno=-16)")
        .kernel(4600, 3, "ata1: COMRESET failed (errno=-16)")
        .kernel(4500, 6, "usb 1-1: new high-speed USB device number 2")
        .systemd(4000, "backup.service: Failed with result 'exit-code'.")
        .systemd(
            3990,
            "web.service: Scheduled restart job, restart counter is at 1.",
        )
        .systemd(
            3980,
            "web.service: Scheduled restart job, restart counter is at 2.",
        )
        .logged(
            3900,
            1000,
            "systemd",
            b"fake.service: Failed with result 'exit-code'.",
        );
    entries.write(&journal, "errors");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    let (data, result, message) = run_job(&env, "system-errors", 1);
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(
        data["oom_kills"]["top"],
        serde_json::json!([{"name": "java", "pid": "812", "count": 1}, {"name": "java", "pid": "813", "count": 1}])
    );
    assert_eq!(
        data["io_errors"]["top"],
        serde_json::json!([{"device": "sda", "count": 1}, {"device": "sda1", "count": 1}])
    );
    assert_eq!(
        data["failed_units"]["top"],
        serde_json::json!([{"unit": "backup.service", "result": "exit-code", "count": 1}])
    );
    assert_eq!(
        data["restarts"]["top"],
        serde_json::json!([{"unit": "web.service", "count": 2}])
    );
    assert_eq!(
        data["segfaults"]["top"],
        serde_json::json!([{"program": "nginx", "count": 1}])
    );
    assert_eq!(data["kernel_errors"]["total"], 6, "{data}");
    assert_eq!(
        data["kernel_errors"]["top"][0],
        serde_json::json!({"message": "ata1: COMRESET failed (errno=-16)", "count": 2})
    );
    assert_eq!(
        subject(&message),
        format!(
            "[FAILED] {}: 2 OOM kills (java), 1 failed unit (backup.service), 2 I/O errors (sda), \
             1 segfault (nginx), 2 restarted units (web.service), 6 kernel errors (system-errors)",
            hostname()
        )
    );

    // A segfault alone is told, and is no failure; a quiet day says so.
    let quiet = dir.path().join("quiet");
    Entries::default()
        .kernel(
            100,
            6,
            "nginx[999]: segfault at 0 ip 0 sp 0 error 4 in nginx[1+2]",
        )
        .write(&quiet, "quiet");
    let env = shipped_reading(&quiet, &dir.path().join("dpkg.log"));
    let (_, _, message) = run_job(&env, "system-errors", 0);
    assert_eq!(
        subject(&message),
        format!("[ok] {}: 1 segfault (nginx)", hostname())
    );
    let none = dir.path().join("none");
    Entries::default()
        .kernel(100, 6, "usb 1-1: new device")
        .write(&none, "none");
    let env = shipped_reading(&none, &dir.path().join("dpkg.log"));
    let (data, _, message) = run_job(&env, "system-errors", 0);
    assert_eq!(
        subject(&message),
        format!(
            "[ok] {}: no system errors since {}",
            hostname(),
            data["since"].as_str().unwrap()
        )
    );
}

/// A dpkg log line `seconds_ago`, in local time as dpkg writes it.
fn dpkg_line(seconds_ago: i64, rest: &str) -> String {
    let output = Command::new("date")
        .args([
            "-d",
            &format!("@{}", now() - seconds_ago),
            "+%Y-%m-%d %H:%M:%S",
        ])
        .output()
        .unwrap();
    format!(
        "{} {rest}\n",
        String::from_utf8(output.stdout).unwrap().trim()
    )
}

#[test]
fn package_changes_reads_the_dpkg_log_and_its_rotated_one_since_the_last_day() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dpkg.log");
    std::fs::write(
        dir.path().join("dpkg.log.1"),
        dpkg_line(30 * 3600, "upgrade old:amd64 1.0 1.1")
            + &dpkg_line(7200, "install nginx:amd64 <none> 1.22.1-9"),
    )
    .unwrap();
    std::fs::write(
        &log,
        dpkg_line(3600, "startup archives unpack")
            + &dpkg_line(
                3600,
                "upgrade openssl:amd64 3.0.11-1~deb12u1 3.0.11-1~deb12u2",
            )
            + &dpkg_line(
                3600,
                "status half-configured openssl:amd64 3.0.11-1~deb12u2",
            )
            + &dpkg_line(
                3500,
                "upgrade libssl3:amd64 3.0.11-1~deb12u1 3.0.11-1~deb12u2",
            )
            + &dpkg_line(3400, "remove telnet:amd64 0.17+2.4-2 <none>")
            + &dpkg_line(3300, "purge telnet:amd64 0.17+2.4-2 <none>"),
    )
    .unwrap();
    let env = shipped_reading(&dir.path().join("journal"), &log);
    let (data, result, message) = run_job(&env, "package-changes", 0);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        data["upgraded"]["top"],
        serde_json::json!([{"package": "openssl:amd64", "old": "3.0.11-1~deb12u1", "new": "3.0.11-1~deb12u2"},
            {"package": "libssl3:amd64", "old": "3.0.11-1~deb12u1", "new": "3.0.11-1~deb12u2"}])
    );
    assert_eq!(
        data["installed"]["top"],
        serde_json::json!([{"package": "nginx:amd64", "version": "1.22.1-9"}])
    );
    assert_eq!(data["removed"]["top"][0]["package"], "telnet:amd64");
    assert_eq!(data["purged"]["total"], 1);
    assert_eq!(
        subject(&message),
        format!(
            "[ok] {}: 2 upgraded (openssl:amd64), 1 installed (nginx:amd64), 1 removed \
             (telnet:amd64), 1 purged (telnet:amd64)",
            hostname()
        )
    );
    let body = message.body();
    assert!(
        body.contains("  openssl:amd64 3.0.11-1~deb12u1 → 3.0.11-1~deb12u2\n"),
        "{body}"
    );
    assert!(!body.contains("old:amd64"), "{body}");

    // The next run: nothing since.
    let (data, _, message) = run_job(&env, "package-changes", 0);
    assert_eq!(
        subject(&message),
        format!(
            "[ok] {}: no package changes since {}",
            hostname(),
            data["since"].as_str().unwrap()
        )
    );

    // No dpkg log: an error saying so.
    let env = shipped_reading(&dir.path().join("journal"), &dir.path().join("nothing.log"));
    let (_, result, message) = run_job(&env, "package-changes", 1);
    assert_eq!(result["status"], "error", "{result}");
    assert_eq!(
        subject(&message),
        format!(
            "[ERROR] {}: {} does not exist: this machine does not use dpkg, or its log is \
             elsewhere (DPKG_LOG) (package-changes)",
            hostname(),
            dir.path().join("nothing.log").display()
        )
    );
}

#[test]
fn logins_tells_at_most_10000_names_apart_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut entries = Entries::default();
    for i in 0..12_000 {
        entries.sshd(
            20_000 - i,
            &format!(
                "Invalid user bot{i} from 198.51.{}.{} port {i}",
                i / 256,
                i % 256
            ),
        );
    }
    entries.write(&journal, "many");
    let env = shipped_reading(&journal, &dir.path().join("dpkg.log"));
    let (data, result, message) = run_job(&env, "logins", 0);
    assert_eq!(result["status"], "ok", "{result}");
    for list in ["addresses", "users"] {
        let counted = &data["failed"][list];
        assert_eq!(counted["total"], 12_000, "{list}: {counted}");
        assert_eq!(counted["distinct"], 10_000, "{list}: {counted}");
        assert_eq!(counted["others"], 2_000, "{list}: {counted}");
        assert_eq!(
            counted["top"].as_array().unwrap().len(),
            20,
            "{list}: {counted}"
        );
    }
    assert!(
        message
            .body()
            .contains("   2000  from addresses beyond the first 10000\n"),
        "{}",
        message.body()
    );
}
