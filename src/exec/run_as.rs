//! Running a command as the job's `user:`: that account's uid, gid and supplementary
//! groups, set in the child before it executes the command.

use crate::config::account::RunAs;

/// Makes `command` run as `user`, with that user's `HOME`, `USER` and `LOGNAME`.
pub fn apply(command: &mut tokio::process::Command, user: &RunAs) {
    command
        .env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name);
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
