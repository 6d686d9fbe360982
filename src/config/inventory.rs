//! Host groups from an Ansible inventory (docs/fleets.md): `inventory.command` prints the
//! inventory as JSON (`ansible-inventory --list`, or any dynamic inventory script), and
//! every group of it becomes usable as `@group` in `hosts:`.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::error::ConfigError;
use crate::config::hosts::{HostSpec, is_plain_host_text};
use crate::config::name::is_name;

/// The most of an inventory reporter reads: a fleet of 100,000 hosts fits.
const MAX_OUTPUT: u64 = 64 << 20;

/// `inventory:` of the config, with where it is written (for error messages).
#[derive(Debug, Clone)]
pub struct Inventory {
    pub command: Vec<String>,
    pub timeout: Duration,
    /// An error at `inventory.command` in the config file, to give messages a place.
    pub origin: ConfigError,
}

impl Inventory {
    /// Runs the command and reads its groups: each with its own hosts, then its children's
    /// (recursively), in order, each host once. A host's destination comes from its
    /// `ansible_host`, `ansible_user` and `ansible_port`; it keeps its inventory name.
    pub fn groups(&self) -> Result<BTreeMap<String, Vec<HostSpec>>, ConfigError> {
        let output = self.run()?;
        let json: Value = serde_json::from_slice(&output)
            .map_err(|e| self.error(format!("printed no JSON inventory: {e}")))?;
        let Value::Object(top) = json else {
            return Err(self.error("printed JSON that is not an inventory (an object of groups)"));
        };
        let hostvars = top
            .get("_meta")
            .and_then(|m| m.get("hostvars"))
            .and_then(Value::as_object);
        let mut groups = BTreeMap::new();
        for name in top.keys().filter(|n| *n != "_meta" && is_name(n)) {
            let mut names = Vec::new();
            members(&top, name, &mut names, &mut HashSet::new());
            let mut hosts: Vec<HostSpec> = Vec::with_capacity(names.len());
            for host in names {
                let vars = hostvars.and_then(|h| h.get(&host));
                let spec = destination(&host, vars).map_err(|why| {
                    // The name is the inventory's, unchecked: escaped, it forges no line.
                    let host = host.escape_debug();
                    self.error(format!("host `{host}` of group `{name}`: {why}"))
                })?;
                hosts.push(spec);
            }
            groups.insert(name.clone(), hosts);
        }
        Ok(groups)
    }

    /// The command's standard output, within the timeout and the size limit. The timeout
    /// bounds the reading too: a process it left running outside its process group (a
    /// daemon it started, `setsid`) may hold the output open, and is not waited for.
    fn run(&self) -> Result<Vec<u8>, ConfigError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| self.error("is empty"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| self.error(format!("cannot start: {e}")))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let out = read_in_background(stdout, MAX_OUTPUT + 1);
        let err = read_in_background(stderr, 64 << 10);
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) | Err(_) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    return Err(self.error(format!("did not finish within {:?}", self.timeout)));
                }
            }
        };
        // Whatever it left running holds the pipes open: it goes too.
        kill_group(child.id());
        let left = || deadline.saturating_duration_since(Instant::now());
        let Ok(output) = out.recv_timeout(left()) else {
            return Err(self.error(format!(
                "exited, but a process it left running held its output open for more than {:?}",
                self.timeout
            )));
        };
        let errors = err.recv_timeout(left()).unwrap_or_default();
        if !status.success() {
            let said = String::from_utf8_lossy(&errors);
            let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(self.error(format!("failed ({status}): {said}").trim_end().to_owned()));
        }
        if output.len() as u64 > MAX_OUTPUT {
            return Err(self.error("printed more than 64 MiB"));
        }
        Ok(output)
    }

    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: format!(
                "inventory command `{}` {}",
                self.command.join(" "),
                message.into()
            ),
            ..self.origin.clone()
        }
    }
}

/// Reads at most `limit` bytes of `stream` on a thread of its own; they arrive on the
/// receiver once the stream ends (or the limit is reached). Nobody waits for a thread
/// whose stream a stray process keeps open: it ends with that process.
fn read_in_background(stream: impl Read + Send + 'static, limit: u64) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.take(limit).read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    receiver
}

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Adds the hosts of group `name` and of its children to `names`, in order, each once.
/// A group is either `{"hosts": [...], "children": [...]}` or, in the old dynamic
/// inventory format, a plain list of hosts.
fn members(
    top: &Map<String, Value>,
    name: &str,
    names: &mut Vec<String>,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    let Some(group) = top.get(name) else {
        return;
    };
    let (hosts, children) = match group {
        Value::Array(hosts) => (Some(hosts), None),
        Value::Object(group) => (
            group.get("hosts").and_then(Value::as_array),
            group.get("children").and_then(Value::as_array),
        ),
        _ => (None, None),
    };
    for host in hosts.into_iter().flatten().filter_map(Value::as_str) {
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    for child in children.into_iter().flatten().filter_map(Value::as_str) {
        members(top, child, names, seen);
    }
}

/// Where reporter connects for inventory host `name`: `[ansible_user@]ansible_host
/// [:ansible_port]`, the name itself where they are missing.
fn destination(name: &str, vars: Option<&Value>) -> Result<HostSpec, String> {
    if !is_plain_host_text(name) {
        return Err(
            "a host name must not be empty, start with `-`, or hold spaces or control characters"
                .to_owned(),
        );
    }
    let var = |key: &str| vars.and_then(|v| v.get(key));
    let text = |key: &str| match var(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let host = text("ansible_host").unwrap_or_else(|| name.to_owned());
    let spec = match &host {
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.clone(),
    };
    let spec = match text("ansible_user") {
        Some(user) => format!("{user}@{spec}"),
        None => spec,
    };
    let spec = match text("ansible_port") {
        Some(port) => format!("{spec}:{port}"),
        None => spec,
    };
    match spec.parse::<HostSpec>().map_err(|e| e.to_string())? {
        HostSpec::Ssh {
            user, host, port, ..
        } => Ok(HostSpec::Ssh {
            user,
            host,
            port,
            name: Some(name.to_owned()),
        }),
        HostSpec::Local => Ok(HostSpec::Local),
        HostSpec::Group(_) => Err("is not a host".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory(script: &str) -> Inventory {
        Inventory {
            command: vec!["sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_secs(5),
            origin: ConfigError::at_key(
                Path::new("/etc/reporter/reporter.yaml"),
                "inventory.command",
                "",
            ),
        }
    }

    fn names(hosts: &[HostSpec]) -> Vec<String> {
        hosts.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn groups_have_their_hosts_then_their_childrens_once_each() {
        let json = r#"{
            "_meta": {"hostvars": {
                "web1": {"ansible_host": "10.0.0.1", "ansible_user": "admin"},
                "db1": {"ansible_host": "db1.internal", "ansible_port": 2222},
                "v6": {"ansible_host": "::1"}
            }},
            "all": {"children": ["ungrouped", "web", "db"]},
            "web": {"hosts": ["web1", "web2"]},
            "db": {"hosts": ["db1"], "children": ["web", "db"]},
            "ungrouped": {"hosts": ["v6"]},
            "legacy": ["web2", "db1"],
            "not a name": {"hosts": ["web1"]}
        }"#;
        let groups = inventory(&format!("cat <<'EOF'\n{json}\nEOF"))
            .groups()
            .unwrap();
        assert_eq!(names(&groups["web"]), ["web1", "web2"]);
        assert_eq!(names(&groups["db"]), ["db1", "web1", "web2"]);
        assert_eq!(names(&groups["all"]), ["v6", "web1", "web2", "db1"]);
        assert_eq!(names(&groups["legacy"]), ["web2", "db1"]);
        assert!(!groups.contains_key("not a name") && !groups.contains_key("_meta"));
        let web1 = &groups["web"][0];
        assert_eq!(
            web1,
            &HostSpec::Ssh {
                user: Some("admin".into()),
                host: "10.0.0.1".into(),
                port: None,
                name: Some("web1".into())
            }
        );
        assert!(
            matches!(&groups["db"][0], HostSpec::Ssh { host, port: Some(2222), .. } if host == "db1.internal")
        );
        assert!(matches!(&groups["ungrouped"][0], HostSpec::Ssh { host, .. } if host == "::1"));
    }

    #[test]
    fn failures_name_the_command() {
        let err = |script: &str| inventory(script).groups().unwrap_err().to_string();
        assert_eq!(
            err("echo 'no such inventory' >&2; exit 3"),
            "/etc/reporter/reporter.yaml: inventory.command: inventory command `sh -c echo 'no such inventory' >&2; exit 3` failed (exit status: 3): no such inventory"
        );
        assert!(
            err("echo '{'").contains("printed no JSON inventory: EOF while parsing"),
            "{}",
            err("echo '{'")
        );
        assert!(err("echo '[1]'").contains("printed JSON that is not an inventory"));
        assert!(
            err(r#"echo '{"g": {"hosts": ["-oProxyCommand=x"]}}'"#)
                .contains("host `-oProxyCommand=x` of group `g`: ")
        );
        let mut slow = inventory("sleep 10 & sleep 10");
        slow.timeout = Duration::from_millis(200);
        let started = Instant::now();
        assert!(
            slow.groups()
                .unwrap_err()
                .to_string()
                .ends_with("did not finish within 200ms")
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // The helper gets the time to leave the command's process group before it exits.
        let mut held = inventory("echo '{}'; setsid sleep 10 & sleep 0.3");
        held.timeout = Duration::from_secs(1);
        let started = Instant::now();
        assert!(held.groups().unwrap_err().to_string().ends_with(
            "exited, but a process it left running held its output open for more than 1s"
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
