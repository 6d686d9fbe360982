//! Running a command as the job's `user:`: that account's uid, gid and supplementary
//! groups, set in the child before it executes the command, and a clean environment
//! (like sudo's `env_reset`) instead of root's.

use std::ffi::OsString;

use crate::config::account::RunAs;

/// Makes `command` run as `user`, with nothing of reporter's environment but
/// [`environment`]; the caller adds `PATH` and the job's `env` afterwards.
pub fn apply(command: &mut tokio::process::Command, user: &RunAs) {
    command
        .env_clear()
        .envs(environment(user, std::env::vars_os()));
    let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
    // SAFETY: between fork and exec only async-signal-safe system calls run here, on
    // memory prepared before the fork. Groups first: setuid would take the right away.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            Ok(())
        });
    }
}

/// The environment a `user:` command starts from (docs/security.md): `HOME`, `USER`, `LOGNAME` and
/// `SHELL` of that account, and of `inherited` (reporter's own) only the locale and the
/// time zone. Whatever else root has (agent sockets, tokens, `*_CONFIG_FILE` paths) is not
/// the other account's business.
pub fn environment(
    user: &RunAs,
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .into_iter()
        .filter(|(name, _)| {
            name.to_str()
                .is_some_and(|name| name == "LANG" || name == "TZ" || name.starts_with("LC_"))
        })
        .collect();
    env.extend([
        ("HOME".into(), user.home.clone().into_os_string()),
        ("USER".into(), user.name.clone().into()),
        ("LOGNAME".into(), user.name.clone().into()),
        ("SHELL".into(), user.shell.clone().into_os_string()),
    ]);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::{Gid, Uid};

    #[test]
    fn keeps_only_the_locale_and_time_zone_of_root() {
        let user = RunAs {
            name: "backup".into(),
            uid: Uid::from_raw(34),
            gid: Gid::from_raw(34),
            groups: Vec::new(),
            home: "/var/backups".into(),
            shell: "/usr/sbin/nologin".into(),
        };
        let inherited = [
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "C"),
            ("TZ", "Europe/Berlin"),
            ("SSH_AUTH_SOCK", "/tmp/agent"),
            ("HOME", "/root"),
            ("LANGUAGE", "de"),
            ("XLC_X", "no"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut env: Vec<(String, String)> = environment(&user, inherited)
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        env.sort();
        let expected = [
            ("HOME", "/var/backups"),
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "C"),
            ("LOGNAME", "backup"),
            ("SHELL", "/usr/sbin/nologin"),
            ("TZ", "Europe/Berlin"),
            ("USER", "backup"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(env, expected);
    }
}
