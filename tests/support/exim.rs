//! Debian's own MTA, exim, as a relay on loopback for one test: a daemon in the foreground
//! on a free port of 127.0.0.1, with a configuration made for the test (STARTTLS with a
//! certificate of the test's CA, AUTH PLAIN only over TLS, mail to `admin@test.example`
//! appended to one mailbox file), stopped when the test ends.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown};

use super::tls::{Leaf, Pki};
use super::{smtp, tool, wait_until};

/// The user exim's Debian package makes; exim delivers as it, never as root.
const EXIM_USER: &str = "Debian-exim";

pub struct Exim {
    pub port: u16,
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Exim {
    /// Starts exim with a relay certificate for 127.0.0.1 from `pki`, taking AUTH PLAIN
    /// as `bob` with `password`.
    pub fn start(pki: &Pki, password: &str) -> Exim {
        let exim = tool("exim4", "exim4-daemon-light");
        let dir = tempfile::tempdir().expect("temp dir");
        // exim's own processes run as its user: they must reach their files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let user = User::from_name(EXIM_USER)
            .unwrap()
            .unwrap_or_else(|| panic!("exim4-daemon-light makes the user {EXIM_USER}"));
        for folder in ["spool", "log", "mail"] {
            let path = dir.path().join(folder);
            std::fs::create_dir(&path).unwrap();
            chown(&path, Some(user.uid), Some(user.gid)).unwrap();
        }
        let (certificate, key) = pki.issue(Leaf::Good);
        for (from, to) in [(certificate, "relay.pem"), (key, "relay.key")] {
            let copy = dir.path().join(to);
            std::fs::copy(from, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let config = dir.path().join("exim.conf");
        std::fs::write(&config, configuration(dir.path(), password)).unwrap();
        let port = smtp::closed_port();
        let daemon = Command::new(exim)
            .arg("-C")
            .arg(&config)
            .args(["-bdf", "-oX", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start exim");
        let exim = Exim { port, dir, daemon };
        assert!(
            wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "exim does not listen on 127.0.0.1:{port}; its log:\n{}",
            exim.log()
        );
        exim
    }

    /// What `admin@test.example`'s mailbox holds (mbox).
    pub fn mailbox(&self) -> String {
        std::fs::read_to_string(self.path("mail/admin")).unwrap_or_default()
    }

    /// exim's main and panic logs.
    pub fn log(&self) -> String {
        ["log/mainlog", "log/paniclog"]
            .iter()
            .map(|log| std::fs::read_to_string(self.path(log)).unwrap_or_default())
            .collect()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.daemon.id() as i32), Signal::SIGTERM);
        let _ = self.daemon.wait();
    }
}

/// A configuration of exim's own making for the test, all of it under `dir`.
fn configuration(dir: &Path, password: &str) -> String {
    let dir = dir.display();
    format!(
        r#"primary_hostname = relay.test.example
qualify_domain = test.example
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
pid_file_path = {dir}/exim.pid
local_interfaces = 127.0.0.1
exim_user = {EXIM_USER}
exim_group = {EXIM_USER}
keep_environment =
tls_advertise_hosts = *
tls_certificate = {dir}/relay.pem
tls_privatekey = {dir}/relay.key
auth_advertise_hosts = ${{if def:tls_in_cipher {{*}}{{}}}}
acl_smtp_rcpt = check_rcpt

begin acl
check_rcpt:
  accept authenticated = *
  deny message = authenticate first

begin routers
mailbox:
  driver = accept
  domains = test.example
  local_parts = admin
  transport = mailbox

begin transports
mailbox:
  driver = appendfile
  file = {dir}/mail/admin
  user = {EXIM_USER}
  group = {EXIM_USER}
  mode = 0600

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if and {{{{eq{{$auth2}}{{bob}}}}{{eq{{$auth3}}{{{password}}}}}}}}}
"#
    )
}
