//! What running as root demands of the files that steer it (docs/security.md): config, job and
//! template files, and the folders holding them, must be root's alone, and the SMTP
//! password file private.
//!
//! A file is checked on the descriptor it is then read from, never by its path before or
//! after: a name swapped between a check and a read (`renameat2(RENAME_EXCHANGE)` in a
//! loop, by someone who can write to its folder) would otherwise let root read one file
//! and check another. Symbolic links are followed, so a link to a file of root's is fine;
//! what counts is the file that was opened.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::Uid;

use crate::state::private::file_kind;

/// A file or folder reporter will not trust, or could not read, and how to fix it.
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
        "`{}` is a folder owned by uid {uid}, not root, and reporter runs as root: they could swap the files in it; refusing it (fix: chown root {})",
        path.display(), path.display()
    )]
    FolderNotRoot { path: PathBuf, uid: u32 },
    #[error(
        "`{}` is a folder writable by group or others (mode {mode:04o}), and reporter runs as root: they could swap the files in it; refusing it (fix: chmod go-w {})",
        path.display(), path.display()
    )]
    FolderWritable { path: PathBuf, mode: u32 },
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
    #[error("`{}` is not a regular file ({kind}): refusing to read it", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "`{}` is larger than {}, the most reporter reads of a job or config file",
        path.display(), size_text(*limit)
    )]
    TooLarge { path: PathBuf, limit: u64 },
}

pub fn running_as_root() -> bool {
    Uid::effective().is_root()
}

/// Reads a config, job or template file. As root, refuses one that someone other than
/// root could have written (as cron refuses such crontabs), judged on the descriptor
/// that is read. A file over `limit` bytes is refused without being read further.
pub fn read_trusted(path: &Path, limit: Option<u64>) -> Result<String, TrustError> {
    let root = running_as_root();
    let (file, meta) = open(path)?;
    if root {
        owned_by_root(path, &meta)?;
        if meta.mode() & 0o022 != 0 {
            return Err(TrustError::Writable {
                path: path.to_owned(),
                mode: meta.mode() & 0o7777,
            });
        }
    }
    read_text(file, path, &meta, limit)
}

/// Reads the SMTP password file, which must be readable by its owner only (0600 or 0400),
/// and root's when reporter runs as root; checked on the descriptor that is read.
pub fn read_password(path: &Path) -> Result<String, TrustError> {
    let (file, meta) = open(path)?;
    if meta.mode() & 0o077 != 0 {
        return Err(TrustError::PasswordMode {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    if running_as_root() {
        owned_by_root(path, &meta)?;
    }
    read_text(file, path, &meta, None)
}

/// [`read_password`] for its verdict alone: up front, so a bad password file is a
/// configuration error and not only a failed delivery.
pub fn check_password_file(path: &Path) -> Result<(), TrustError> {
    read_password(path).map(drop)
}

/// As root, refuses a folder of config, job or template files that someone other than
/// root owns or can write to: they could swap the files in it. A sticky folder (1777) is
/// refused too, since an attacker's own file in it is theirs to swap. A folder that does
/// not exist holds nothing to refuse; where it must exist, reading it says so.
pub fn check_folder(dir: &Path) -> Result<(), TrustError> {
    if !running_as_root() {
        return Ok(());
    }
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TrustError::Inspect {
                path: dir.to_owned(),
                source,
            });
        }
    };
    if meta.uid() != 0 {
        return Err(TrustError::FolderNotRoot {
            path: dir.to_owned(),
            uid: meta.uid(),
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(TrustError::FolderWritable {
            path: dir.to_owned(),
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

/// Opens `path` (following symbolic links) and describes what was opened, refusing
/// anything but a regular file. The open never blocks: a FIFO named like a job file would
/// otherwise hang every `check`, `list`, run and daemon load until someone writes to it.
fn open(path: &Path) -> Result<(File, Metadata), TrustError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| TrustError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    let inspect = |source| TrustError::Inspect {
        path: path.to_owned(),
        source,
    };
    let meta = file.metadata().map_err(inspect)?;
    if !meta.is_file() {
        return Err(TrustError::NotRegular {
            path: path.to_owned(),
            kind: file_kind(&meta),
        });
    }
    // A regular file never blocks, but reads stay plain ones, as for any file.
    let fd = file.as_raw_fd();
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| inspect(e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(|e| inspect(e.into()))?;
    Ok((file, meta))
}

/// The text of `file`, at most `limit` bytes of it: the size from fstat refuses a large
/// file at once, and a file that grows is never read past one byte over the limit.
fn read_text(
    file: File,
    path: &Path,
    meta: &Metadata,
    limit: Option<u64>,
) -> Result<String, TrustError> {
    let too_large = |limit| TrustError::TooLarge {
        path: path.to_owned(),
        limit,
    };
    let unreadable = |source| TrustError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    match limit {
        Some(limit) if meta.len() > limit => return Err(too_large(limit)),
        Some(limit) => {
            file.take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(unreadable)?;
            if bytes.len() as u64 > limit {
                return Err(too_large(limit));
            }
        }
        None => {
            (&file).read_to_end(&mut bytes).map_err(unreadable)?;
        }
    }
    String::from_utf8(bytes)
        .map_err(|e| unreadable(io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())))
}

fn owned_by_root(path: &Path, meta: &Metadata) -> Result<(), TrustError> {
    if meta.uid() != 0 {
        return Err(TrustError::NotRoot {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    Ok(())
}

/// `1 MiB` for a whole number of MiB, else bytes.
fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, chown, symlink};

    const NOBODY: u32 = 65534;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A link is judged by the file it leads to, whatever the link itself looks like.
    #[test]
    #[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
    fn the_opened_file_is_judged_not_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let roots = write(dir.path(), "root.yaml", "commands: [df]\n", 0o644);
        let theirs = write(dir.path(), "theirs.yaml", "commands: [evil]\n", 0o644);
        chown(&theirs, Some(NOBODY), None).unwrap();
        let to_roots = dir.path().join("a.yaml");
        let to_theirs = dir.path().join("b.yaml");
        symlink(&roots, &to_roots).unwrap();
        symlink(&theirs, &to_theirs).unwrap();
        assert_eq!(read_trusted(&to_roots, None).unwrap(), "commands: [df]\n");
        let err = read_trusted(&to_theirs, None).unwrap_err();
        assert!(
            matches!(&err, TrustError::NotRoot { uid: NOBODY, path } if *path == to_theirs),
            "{err}"
        );
        let loose = write(dir.path(), "loose.yaml", "x\n", 0o664);
        symlink(&loose, dir.path().join("c.yaml")).unwrap();
        let err = read_trusted(&dir.path().join("c.yaml"), None).unwrap_err();
        assert!(
            matches!(err, TrustError::Writable { mode: 0o664, .. }),
            "{err}"
        );
    }

    #[test]
    #[cfg_attr(not(reporter_tests_as_root), ignore = "needs root")]
    fn folders_others_can_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_folder(dir.path()).is_ok());
        assert!(check_folder(&dir.path().join("missing")).is_ok());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = check_folder(dir.path()).unwrap_err();
        assert!(
            matches!(err, TrustError::FolderWritable { mode: 0o1777, .. }),
            "{err}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        chown(dir.path(), Some(NOBODY), None).unwrap();
        let err = check_folder(dir.path()).unwrap_err();
        assert!(
            matches!(err, TrustError::FolderNotRoot { uid: NOBODY, .. }),
            "{err}"
        );
    }

    #[test]
    fn size_is_limited_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "big.yaml", &"x".repeat(1025), 0o644);
        let err = read_trusted(&path, Some(1024)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` is larger than 1024 bytes, the most reporter reads of a job or config file",
                path.display()
            )
        );
        let path = write(dir.path(), "fits.yaml", &"x".repeat(1024), 0o644);
        assert_eq!(read_trusted(&path, Some(1024)).unwrap().len(), 1024);
        assert_eq!(size_text(1 << 20), "1 MiB");
    }

    #[test]
    fn password_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "pass", "s3cret\n", 0o640);
        assert!(matches!(
            read_password(&path),
            Err(TrustError::PasswordMode { mode: 0o640, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&path).unwrap(), "s3cret\n");
    }
}
