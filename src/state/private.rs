//! How reporter creates and opens what it keeps: folders 0700 and files 0600 whatever the
//! umask, since reports hold process lists and command output; and no symbolic link
//! followed, so a link planted in a state folder never redirects a write (docs/security.md).

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Who may read a file reporter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Its user alone: everything in the state folder, and mail written to files.
    Private,
    /// Anyone (not write): what is conventionally public, the daemon's pidfile.
    WorldReadable,
}

impl Access {
    pub fn file_mode(self) -> u32 {
        match self {
            Access::Private => 0o600,
            Access::WorldReadable => 0o644,
        }
    }

    pub fn dir_mode(self) -> u32 {
        match self {
            Access::Private => 0o700,
            Access::WorldReadable => 0o755,
        }
    }
}

/// Creates `dir` and its missing parents with the mode of `access` (existing ones are left
/// as they are).
pub fn create_dir(dir: &Path, access: Access) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(access.dir_mode())
        .create(dir)
}

/// Creates a new file at `path` with exactly the mode of `access`, failing if anything
/// (a file or a symbolic link) is there already.
pub fn create_new(path: &Path, access: Access) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(access.file_mode())
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // The umask may have taken bits away (never added any): the mode is exactly this.
    file.set_permissions(std::fs::Permissions::from_mode(access.file_mode()))?;
    Ok(file)
}

/// Opens `path` for reading without following a symbolic link (a link is `ELOOP`, see
/// [`is_link`]) and without blocking on a FIFO someone put in its place.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Whether an open failed because the path is a symbolic link.
pub fn is_link(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

/// What a file that is not a regular one is, in words.
pub fn file_kind(meta: &Metadata) -> &'static str {
    kind_of_mode(meta.mode())
}

/// [`file_kind`] from the `st_mode` of a stat.
pub fn kind_of_mode(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a folder",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "a regular file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn new_files_have_exact_modes_and_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/file");
        create_dir(path.parent().unwrap(), Access::Private).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        create_new(&path, Access::Private).unwrap();
        assert_eq!(mode(&path), 0o600);
        let target = dir.path().join("target");
        std::fs::write(&target, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link, Access::Private).is_err());
        assert!(is_link(&open_read(&link).unwrap_err()));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
    }
}
