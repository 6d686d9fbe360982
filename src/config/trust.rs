//! What running as root demands of the files that steer it (SPEC §11): config, job and
//! template files must be root's alone, and the SMTP password file private.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

/// A file reporter will not trust, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot inspect `{}`: {source}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{}` is owned by uid {uid}, not root, and reporter runs as root: refusing it (fix: chown root {})",
        path.display(), path.display()
    )]
    NotRoot { path: PathBuf, uid: u32 },
    #[error(
        "`{}` is writable by group or others (mode {mode:04o}) and reporter runs as root: refusing it (fix: chmod go-w {})",
        path.display(), path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error(
        "`{}` is writable by group or others (mode {mode:04o}): they can change what reporter runs, and reporter running as root refuses it (fix: chmod go-w {})",
        path.display(), path.display()
    )]
    OthersCanWrite { path: PathBuf, mode: u32 },
    #[error(
        "`{}` has mode {mode:04o}; a password file must be 0600 or 0400 (fix: chmod 600 {})",
        path.display(), path.display()
    )]
    PasswordMode { path: PathBuf, mode: u32 },
}

pub fn running_as_root() -> bool {
    Uid::effective().is_root()
}

/// As root, refuses a config, job or template file that someone other than root could
/// have written (as cron refuses such crontabs). Says how to fix it.
pub fn check_trusted(path: &Path) -> Result<(), TrustError> {
    if !running_as_root() {
        return Ok(());
    }
    let meta = std::fs::metadata(path).map_err(|source| TrustError::Inspect {
        path: path.to_owned(),
        source,
    })?;
    owned_by_root(path, &meta)?;
    if meta.mode() & 0o022 != 0 {
        return Err(TrustError::Writable {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// For `check` run by another user: a file others can write lets them change what reporter
/// runs (and reporter as root would refuse it).
pub fn writable_by_others(path: &Path) -> Option<TrustError> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.mode() & 0o022 != 0).then(|| TrustError::OthersCanWrite {
        path: path.to_owned(),
        mode: meta.mode() & 0o7777,
    })
}

fn owned_by_root(path: &Path, meta: &std::fs::Metadata) -> Result<(), TrustError> {
    if meta.uid() != 0 {
        return Err(TrustError::NotRoot {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    Ok(())
}

/// The SMTP password file must be readable by its owner only (0600 or 0400), and
/// root's when reporter runs as root.
pub fn check_password_file(path: &Path) -> Result<(), TrustError> {
    let meta = std::fs::metadata(path).map_err(|source| TrustError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    if meta.mode() & 0o077 != 0 {
        return Err(TrustError::PasswordMode {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    if running_as_root() {
        owned_by_root(path, &meta)?;
    }
    Ok(())
}
