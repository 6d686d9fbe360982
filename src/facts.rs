//! Facts about the machine reporter runs on: the `host` of the template context.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub hostname: String,
    pub fqdn: String,
}

impl Facts {
    /// Gathers the facts. The FQDN may need a resolver lookup, so call this off the
    /// path that starts commands.
    pub fn gather() -> Facts {
        let hostname = hostname();
        let fqdn = fqdn(&hostname);
        Facts { hostname, fqdn }
    }
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The canonical name the resolver gives for `hostname` (as `hostname -f` does), or
/// `hostname` itself when it has none.
fn fqdn(hostname: &str) -> String {
    if hostname.contains('.') {
        return hostname.to_owned();
    }
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        ..dns_lookup::AddrInfoHints::default()
    };
    dns_lookup::getaddrinfo(Some(hostname), None, Some(hints))
        .ok()
        .and_then(|mut infos| infos.find_map(|i| i.ok().and_then(|i| i.canonname)))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| hostname.to_owned())
}
