//! What running as root demands (SPEC §11): files that steer what root runs must be
//! root's alone, the SMTP password must be private, and `user:` drops privileges fully.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

fn running_as_root() -> bool {
    Uid::effective().is_root()
}

/// As root, refuses a config, job or template file that someone other than root could
/// have written (as cron refuses such crontabs). Says how to fix it.
pub fn check_trusted(path: &Path) -> Result<(), String> {
    if !running_as_root() {
        return Ok(());
    }
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot inspect `{}`: {e}", path.display()))?;
    owned_by_root(path, &meta)?;
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "`{}` is writable by group or others (mode {:04o}) and reporter runs as root: refusing it (fix: chmod go-w {})",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

/// For `check` run by another user: a file others can write lets them change what reporter
/// runs (and reporter as root would refuse it).
pub fn writable_by_others(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.mode() & 0o022 != 0).then(|| {
        format!(
            "`{}` is writable by group or others (mode {:04o}): they can change what reporter runs, and reporter running as root refuses it (fix: chmod go-w {})",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        )
    })
}

fn owned_by_root(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.uid() != 0 {
        return Err(format!(
            "`{}` is owned by uid {}, not root, and reporter runs as root: refusing it (fix: chown root {})",
            path.display(),
            meta.uid(),
            path.display()
        ));
    }
    Ok(())
}

/// The SMTP password file must be readable by its owner only (0600 or 0400), and
/// root's when reporter runs as root.
pub fn check_password_file(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "`{}` has mode {:04o}; a password file must be 0600 or 0400 (fix: chmod 600 {})",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    if running_as_root() {
        owned_by_root(path, &meta)?;
    }
    Ok(())
}

/// The account a job's commands run as (`user:`), resolved when the job loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// Supplementary groups, from the group database.
    pub groups: Vec<Gid>,
    pub home: PathBuf,
}

impl RunAs {
    /// Looks `name` up; only root can switch users, so anyone else gets an error.
    pub fn resolve(name: &str) -> Result<RunAs, String> {
        let user = User::from_name(name)
            .map_err(|e| format!("cannot look up user `{name}`: {e}"))?
            .ok_or_else(|| format!("no user `{name}` on this system"))?;
        if !running_as_root() {
            return Err(format!(
                "running commands as `{name}` needs reporter to run as root (it runs as uid {})",
                Uid::effective()
            ));
        }
        let c_name = CString::new(name).map_err(|_| format!("invalid user name {name:?}"))?;
        let groups = nix::unistd::getgrouplist(&c_name, user.gid)
            .map_err(|e| format!("cannot list the groups of `{name}`: {e}"))?;
        Ok(RunAs {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            groups,
            home: user.dir,
        })
    }
}
