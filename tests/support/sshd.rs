//! A real OpenSSH server for end-to-end tests: `sshd` started as an ordinary process on a
//! free loopback port with a generated host key, and the client side that reaches it
//! (a generated key pair, a known_hosts file and an `ssh_config` with host aliases).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{tool, wait_up_to};

/// Aliases of the `ssh_config` that reach the server. Each sets `REPORTER_ALIAS` to its
/// own name in the remote environment, so a command can tell which alias it ran under.
pub const ALIASES: [&str; 3] = ["alpha", "beta", "gamma"];
/// An alias whose port nothing listens on: ssh fails with "Connection refused".
pub const DOWN: &str = "down";

pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Sshd {
    /// Starts a server; fails the test saying what to install when OpenSSH is missing.
    pub fn start() -> Sshd {
        // sshd re-executes itself, so it needs its absolute path.
        let sshd = tool("sshd", "openssh-server");
        // Reporter runs the client; without it every host would look unreachable.
        tool("ssh", "openssh-client");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        keygen(&path("host_key"));
        keygen(&path("client_key"));
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).unwrap();
        if nix::unistd::geteuid().is_root() {
            // sshd run as root separates privileges into this folder, which the Debian
            // package leaves to the service to create.
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let port = free_port();
        std::fs::write(
            path("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {host_key}\n\
                 PidFile none\n\
                 UsePAM no\n\
                 # The temp dir is not the user's home: skip the ownership checks made for it.\n\
                 StrictModes no\n\
                 AuthorizedKeysFile {authorized}\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 AcceptEnv REPORTER_ALIAS\n\
                 # Many concurrent logins from the pool must not be dropped as a flood.\n\
                 MaxStartups 500\n\
                 LogLevel VERBOSE\n",
                host_key = path("host_key").display(),
                authorized = path("authorized_keys").display(),
            ),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(path("host_key.pub")).unwrap();
        std::fs::write(
            path("known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .unwrap();
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .expect("the current user has a passwd entry")
            .name;
        let mut config = format!(
            "Host {aliases}\n  HostName 127.0.0.1\n  Port {port}\n\
             Host {DOWN}\n  HostName 127.0.0.1\n  Port {closed}\n",
            aliases = ALIASES.join(" "),
            closed = free_port(),
        );
        for alias in ALIASES {
            config.push_str(&format!("Host {alias}\n  SetEnv REPORTER_ALIAS={alias}\n"));
        }
        config.push_str(&format!(
            "Host *\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  IdentityAgent none\n  \
             UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  CheckHostIP no\n  ControlMaster no\n  \
             ConnectTimeout 10\n  LogLevel ERROR\n",
            key = path("client_key").display(),
            known = path("known_hosts").display(),
        ));
        std::fs::write(path("ssh_config"), config).unwrap();

        let log = std::fs::File::create(path("sshd.log")).unwrap();
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", sshd.display()));
        let mut server = Sshd { dir, child };
        server.wait_until_listening(port);
        server
    }

    /// The client configuration, for the config's `ssh.options: [-F, PATH]`.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// A reporter config line that makes ssh use this server's aliases.
    pub fn options(&self) -> String {
        format!(
            "ssh: {{command: ssh, options: [-F, {}]}}\n",
            self.ssh_config().display()
        )
    }

    /// What the server logged, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn wait_until_listening(&mut self, port: u16) {
        let listening = wait_up_to(Duration::from_secs(10), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited ({status}) on start-up:\n{}", self.log());
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            listening,
            "sshd does not listen on port {port}:\n{}",
            self.log()
        );
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Shown with the failing test's output: why a login may have failed.
            eprintln!("--- sshd log:\n{}", self.log());
        }
    }
}

fn keygen(path: &Path) {
    let status = Command::new(tool("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "reporter-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().unwrap().port()
}
