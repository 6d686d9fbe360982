//! The state folder as a whole: as root, refused when anyone but root could have put
//! something in it (docs/security.md), since root sends what its spool holds and takes the locks
//! it finds; and kept private to whoever runs reporter.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;
use tracing::info;

use crate::state::private::Access;

/// The folders reporter keeps in the state folder (the history database lies in the state
/// folder itself).
pub const FOLDERS: &[&str] = &["locks", "spool", "spool/dead", "history-pending"];

/// A state folder root will not use, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("cannot inspect `{}`: {source}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is not a folder", path.display())]
    NotFolder { path: PathBuf },
    #[error(
        "`{}` is owned by uid {uid}, not root, and reporter runs as root: refusing it (fix: chown root {}, once you have checked what is in it)",
        path.display(), path.display()
    )]
    NotRoot { path: PathBuf, uid: u32 },
    #[error(
        "`{}` is writable by group or others (mode {mode:04o}) and reporter runs as root: refusing it (fix: chmod 700 {})",
        path.display(), path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error(
        "`{}` is a symbolic link; reporter does not follow links in its state folder: refusing it (fix: replace it with a folder)",
        path.display()
    )]
    Link { path: PathBuf },
}

/// As root, refuses a state folder, or a folder in it, that another user owns or that
/// group or others can write to, and a folder in it that is a symbolic link (the state
/// folder itself may be one: where it points is what is checked). What does not exist yet
/// is fine: reporter creates it, 0700. Anyone else's state folder is theirs to keep.
pub fn check(state_dir: &Path) -> Result<(), StateDirError> {
    if !Uid::effective().is_root() {
        return Ok(());
    }
    for (path, meta) in existing(state_dir)? {
        if meta.file_type().is_symlink() {
            return Err(StateDirError::Link { path });
        }
        if !meta.is_dir() {
            return Err(StateDirError::NotFolder { path });
        }
        if meta.uid() != 0 {
            return Err(StateDirError::NotRoot {
                path,
                uid: meta.uid(),
            });
        }
        if meta.mode() & 0o022 != 0 {
            return Err(StateDirError::Writable {
                path,
                mode: meta.mode() & 0o7777,
            });
        }
    }
    Ok(())
}

/// [`check`], then makes private the folders of the user reporter runs as that others can
/// still enter (as an older release left them, 0755): what is in them is out of others'
/// reach then, whatever the files' own modes.
pub fn secure(state_dir: &Path) -> Result<(), StateDirError> {
    check(state_dir)?;
    let me = Uid::effective().as_raw();
    let private = Access::Private.dir_mode();
    for (path, meta) in existing(state_dir)? {
        let mode = meta.mode() & 0o7777;
        // Others may search the state folder itself (0711): a `user:` job's account
        // reaches its own folder in `jobs/` through it (see [`crate::state::jobs`]).
        let searchable = if path == state_dir { 0o011 } else { 0 };
        if meta.is_dir() && meta.uid() == me && mode & 0o077 & !searchable != 0 {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private)) {
                Ok(()) => info!("`{}`: mode {mode:04o} made 0700", path.display()),
                Err(e) => info!("`{}` stays mode {mode:04o}: {e}", path.display()),
            }
        }
    }
    Ok(())
}

/// The state folder (followed, if it is a link) and those of [`FOLDERS`] that exist (not
/// followed), with their metadata.
fn existing(state_dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, StateDirError> {
    let mut found = Vec::new();
    let Some(meta) = inspect(state_dir, std::fs::metadata(state_dir))? else {
        return Ok(found);
    };
    found.push((state_dir.to_owned(), meta));
    for folder in FOLDERS {
        let path = state_dir.join(folder);
        if let Some(meta) = inspect(&path, std::fs::symlink_metadata(&path))? {
            found.push((path, meta));
        }
    }
    Ok(found)
}

fn inspect(
    path: &Path,
    meta: io::Result<std::fs::Metadata>,
) -> Result<Option<std::fs::Metadata>, StateDirError> {
    match meta {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateDirError::Inspect {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_folders_others_can_enter_are_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).unwrap();
        secure(dir.path()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&spool), 0o700);
        assert_eq!(mode(dir.path()), 0o700);
        secure(&dir.path().join("missing")).unwrap();
    }
}
