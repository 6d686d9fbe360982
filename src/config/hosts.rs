//! Where a job's commands run (`hosts:`) and what they run against (`targets:`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::config::name::is_name;

/// Most addresses all of a job's `targets:` may expand to.
pub const MAX_TARGETS: u128 = 65_536;
/// What `run` text writes where a target's (shell-quoted) value goes.
pub const TARGET: &str = "{{target}}";

/// A `hosts:` entry that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host {text:?}: {why}")]
pub struct HostError {
    pub text: String,
    pub why: &'static str,
}

/// A `targets:` entry that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error("invalid address range {text:?}: prefix must be 0-{bits}")]
    Prefix { text: String, bits: u32 },
    #[error("address range {text:?} has {count} addresses (at most {MAX_TARGETS} in all)")]
    TooLarge { text: String, count: String },
}

/// One `hosts:` entry: `localhost`, an ssh destination (`web1`, `admin@db1`, `db1:2222`)
/// or a `@group` from the config's `host_groups` or its inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    Local,
    Group(String),
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// The inventory's name for the host, which reports show instead of the
        /// destination (`web1` for `admin@10.0.0.1`).
        name: Option<String>,
    },
}

/// Whether `text` may name a host (in `hosts:`, or an inventory's host): not empty, no
/// option to ssh (`-`), and no spaces or control characters, which would split or forge
/// lines in logs and mail.
pub fn is_plain_host_text(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl FromStr for HostSpec {
    type Err = HostError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &'static str| HostError {
            text: text.to_owned(),
            why,
        };
        if text == "localhost" {
            return Ok(HostSpec::Local);
        }
        if let Some(group) = text.strip_prefix('@') {
            if !is_name(group) {
                return Err(invalid("a group name is letters, digits, `-` and `_`"));
            }
            return Ok(HostSpec::Group(group.to_owned()));
        }
        if !is_plain_host_text(text) {
            return Err(invalid("expected host, user@host or host:port"));
        }
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (Some(user.to_owned()), rest),
            Some(_) => return Err(invalid("empty user before `@`")),
            None => (None, text),
        };
        // `host:port`, but a bare IPv6 address has colons of its own; `[::1]:22` brackets it.
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| invalid("missing `]`"))?;
                match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if after.is_empty() => (host, None),
                    None => return Err(invalid("expected `:port` after `]`")),
                }
            }
            None if rest.matches(':').count() == 1 => {
                let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
                (host, Some(port))
            }
            None => (rest, None),
        };
        if host.is_empty() {
            return Err(invalid("empty host name"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| invalid("port must be 1-65535"))
            })
            .transpose()?;
        Ok(HostSpec::Ssh {
            user,
            host: host.to_owned(),
            port,
            name: None,
        })
    }
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSpec::Local => f.write_str("localhost"),
            HostSpec::Group(group) => write!(f, "@{group}"),
            HostSpec::Ssh {
                name: Some(name), ..
            } => f.write_str(name),
            HostSpec::Ssh {
                user,
                host,
                port,
                name: None,
            } => {
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                match (port, host.contains(':')) {
                    (Some(port), true) => write!(f, "[{host}]:{port}"),
                    (Some(port), false) => write!(f, "{host}:{port}"),
                    (None, _) => f.write_str(host),
                }
            }
        }
    }
}

/// `hosts` with every `@group` replaced by its members from `groups`, in the order listed,
/// each host once (a host in two groups runs its commands once). `unknown` is told the
/// index and name of every group that `groups` does not have.
pub fn expand_groups(
    hosts: &[HostSpec],
    groups: &BTreeMap<String, Vec<HostSpec>>,
    mut unknown: impl FnMut(usize, &str),
) -> Vec<HostSpec> {
    let mut expanded: Vec<HostSpec> = Vec::new();
    let mut add = |host: &HostSpec| {
        if !matches!(host, HostSpec::Group(_)) && !expanded.contains(host) {
            expanded.push(host.clone());
        }
    };
    for (index, host) in hosts.iter().enumerate() {
        match host {
            HostSpec::Group(name) => match groups.get(name) {
                Some(members) => members.iter().for_each(&mut add),
                None => unknown(index, name),
            },
            host => add(host),
        }
    }
    expanded
}

/// One `targets:` entry: a plain value, or an IPv4/IPv6 range in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Value(String),
    Range { network: IpAddr, prefix: u8 },
}

impl TargetSpec {
    /// How many targets this entry expands to.
    pub fn count(&self) -> u128 {
        match self {
            TargetSpec::Value(_) => 1,
            TargetSpec::Range { network, prefix } => {
                1u128 << (address_bits(network) - u32::from(*prefix))
            }
        }
    }
}

/// Every value of every entry, in order: a range yields each of its addresses, network
/// and broadcast included.
pub fn expand_targets(targets: &[TargetSpec]) -> Vec<String> {
    let mut values = Vec::new();
    for target in targets {
        match *target {
            TargetSpec::Value(ref value) => values.push(value.clone()),
            // At most 2^16 addresses per range (checked when parsed), so the offsets fit.
            TargetSpec::Range {
                network: IpAddr::V4(network),
                ..
            } => values.extend(
                (0..target.count() as u32)
                    .map(|i| Ipv4Addr::from(u32::from(network) + i).to_string()),
            ),
            TargetSpec::Range {
                network: IpAddr::V6(network),
                ..
            } => values.extend(
                (0..target.count()).map(|i| Ipv6Addr::from(u128::from(network) + i).to_string()),
            ),
        }
    }
    values
}

fn address_bits(address: &IpAddr) -> u32 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl FromStr for TargetSpec {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(TargetError::Empty);
        }
        let Some((address, prefix)) = text.split_once('/') else {
            return Ok(TargetSpec::Value(text.to_owned()));
        };
        let Ok(address) = address.parse::<IpAddr>() else {
            // Not an address range (e.g. a path or URL): an ordinary value.
            return Ok(TargetSpec::Value(text.to_owned()));
        };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|&p| u32::from(p) <= address_bits(&address))
            .ok_or_else(|| TargetError::Prefix {
                text: text.to_owned(),
                bits: address_bits(&address),
            })?;
        let host_bits = address_bits(&address) - u32::from(prefix);
        let network = match address {
            IpAddr::V4(a) => {
                IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(host_bits).unwrap_or(0)).into())
            }
            IpAddr::V6(a) => {
                IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(host_bits).unwrap_or(0)).into())
            }
        };
        let spec = TargetSpec::Range { network, prefix };
        if host_bits > 16 {
            return Err(TargetError::TooLarge {
                text: text.to_owned(),
                count: if host_bits >= 64 {
                    "too many".to_owned()
                } else {
                    spec.count().to_string()
                },
            });
        }
        Ok(spec)
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Value(value) => f.write_str(value),
            TargetSpec::Range { network, prefix } => write!(f, "{network}/{prefix}"),
        }
    }
}

crate::config::units::deserialize_via_from_str!(HostSpec, TargetSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        assert_eq!("localhost".parse::<HostSpec>().unwrap(), HostSpec::Local);
        assert_eq!(
            "@web".parse::<HostSpec>().unwrap(),
            HostSpec::Group("web".into())
        );
        assert_eq!(
            "admin@db1:2222".parse::<HostSpec>().unwrap(),
            HostSpec::Ssh {
                user: Some("admin".into()),
                host: "db1".into(),
                port: Some(2222),
                name: None
            }
        );
        assert_eq!(
            "[::1]:22".parse::<HostSpec>().unwrap(),
            HostSpec::Ssh {
                user: None,
                host: "::1".into(),
                port: Some(22),
                name: None
            }
        );
        for text in ["web1", "admin@db1", "db1:2222", "[::1]:22"] {
            assert_eq!(text.parse::<HostSpec>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_hosts_are_explained() {
        assert!(
            "db1:99999"
                .parse::<HostSpec>()
                .unwrap_err()
                .to_string()
                .contains("port")
        );
        assert!("web 1".parse::<HostSpec>().is_err());
        assert!("-oProxyCommand=x".parse::<HostSpec>().is_err());
        assert!("@".parse::<HostSpec>().is_err());
    }

    #[test]
    fn groups_expand_in_order_once_each() {
        let groups = BTreeMap::from([
            (
                "web".to_owned(),
                vec!["web1".parse().unwrap(), "web2".parse().unwrap()],
            ),
            (
                "all".to_owned(),
                vec!["db1".parse().unwrap(), "web2".parse().unwrap()],
            ),
        ]);
        let hosts: Vec<HostSpec> = ["db1", "@web", "localhost", "@all", "@nope", "web1"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        let mut unknown = Vec::new();
        let expanded = expand_groups(&hosts, &groups, |i, name| {
            unknown.push((i, name.to_owned()))
        });
        let shown: Vec<String> = expanded.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["db1", "web1", "web2", "localhost"]);
        assert_eq!(unknown, [(4, "nope".to_owned())]);
    }

    #[test]
    fn ranges_expand_in_order() {
        let targets = vec![
            "db".parse().unwrap(),
            "10.0.0.254/31".parse().unwrap(),
            "fd00::/127".parse().unwrap(),
            "192.168.1.7/32".parse().unwrap(),
        ];
        assert_eq!(
            expand_targets(&targets),
            [
                "db",
                "10.0.0.254",
                "10.0.0.255",
                "fd00::",
                "fd00::1",
                "192.168.1.7"
            ]
        );
        let slash16 = expand_targets(&["10.1.2.3/16".parse().unwrap()]);
        assert_eq!(slash16.len(), 65_536);
        assert_eq!(
            (slash16[0].as_str(), slash16[65_535].as_str()),
            ("10.1.0.0", "10.1.255.255")
        );
    }

    #[test]
    fn target_ranges() {
        let range = "10.0.1.5/28".parse::<TargetSpec>().unwrap();
        assert_eq!(range.to_string(), "10.0.1.0/28");
        assert_eq!(range.count(), 16);
        assert_eq!("fd00::/120".parse::<TargetSpec>().unwrap().count(), 256);
        assert_eq!(
            "a b; touch /tmp/x".parse::<TargetSpec>().unwrap().count(),
            1
        );
        assert!("10.0.0.0/33".parse::<TargetSpec>().is_err());
        assert!(
            "10.0.0.0/8"
                .parse::<TargetSpec>()
                .unwrap_err()
                .to_string()
                .contains("at most 65536")
        );
    }
}
