//! Files reporter writes outside its state folder — `metrics_file`, the folder of
//! `transport: file`, the daemon's log — reached so that no one else can turn the write
//! elsewhere (docs/security.md): the folder is opened from `/` one name at a time, each
//! step on the descriptor of the one before, and the file is created relative to that
//! descriptor. A symbolic link on the way is followed only where the folder holding it is
//! one no one else can change; the folder written into must be root's or the running
//! user's and not writable by others (a sticky folder, like /tmp, is fine).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, FcntlArg, OFlag, fcntl, openat, readlinkat, renameat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{Uid, UnlinkatFlags, unlinkat};

use crate::state::private::{Access, file_kind, kind_of_mode};

/// The most symbolic links followed on the way to one folder, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// Why reporter would not write a file outside its state folder, or could not.
#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    #[error(
        "`{}` is a symbolic link in `{}`, a folder someone other than root can change: refusing to write `{}` through it (fix: name the real folder, or make `{}` root's and not writable by others)",
        link.display(), holder.display(), target.display(), holder.display()
    )]
    Link {
        link: PathBuf,
        holder: PathBuf,
        target: PathBuf,
    },
    #[error("`{}` is owned by uid {uid}, who could swap what is written in it: refusing to write `{}` (fix: chown root {}, or choose a folder of root's)",
        folder.display(), target.display(), folder.display())]
    Owner {
        folder: PathBuf,
        target: PathBuf,
        uid: u32,
    },
    #[error("`{}` is writable by group or others (mode {mode:04o}) without the sticky bit: they could swap what is written in it; refusing to write `{}` (fix: chmod go-w {})",
        folder.display(), target.display(), folder.display())]
    Writable {
        folder: PathBuf,
        target: PathBuf,
        mode: u32,
    },
    #[error("`{}` is not a folder: cannot write `{}`", path.display(), target.display())]
    NotFolder { path: PathBuf, target: PathBuf },
    #[error("`{}` leads through more than {MAX_LINKS} symbolic links", target.display())]
    TooManyLinks { target: PathBuf },
    #[error("`{}` is a symbolic link: refusing to write through it", path.display())]
    FileLink { path: PathBuf },
    #[error("`{}` is not a regular file ({kind}): refusing to write to it", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("`{}` is owned by uid {uid}, not by the user reporter runs as: refusing to write to it", path.display())]
    FileOwner { path: PathBuf, uid: u32 },
    #[error("`{}` has {links} hard links, so it is also another file: refusing to write to it", path.display())]
    HardLinked { path: PathBuf, links: u64 },
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Writes `parts` to `path` as [`crate::state::write_atomic`] does (a temporary file,
/// fsync, rename, fsync of the folder), through [`Folder::open`]: the one way reporter
/// writes a whole file outside its state folder.
pub fn write_file(path: &Path, parts: &[&[u8]], access: Access) -> Result<(), OutsideError> {
    let (dir, name) = split(path)?;
    Folder::open(dir, path, Some(access))?.write_atomic(name, parts, access)
}

/// Opens `path` to append to it, created with `mode` if missing, through [`Folder::open`]:
/// never through a symbolic link, and only a regular file of the running user's with one
/// name (a log file).
pub fn open_append(path: &Path, mode: u32) -> Result<File, OutsideError> {
    let (dir, name) = split(path)?;
    Folder::open(dir, path, None)?.open_append(name, mode)
}

/// The folder of `path` and its file name.
fn split(path: &Path) -> Result<(&Path, &OsStr), OutsideError> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, name)),
        _ => Err(OutsideError::NotFolder {
            path: path.to_owned(),
            target: path.to_owned(),
        }),
    }
}

/// An open folder that passed the checks, to create files in by name.
pub struct Folder {
    file: File,
    path: PathBuf,
}

impl Folder {
    /// Opens folder `dir`, on the way to writing `target` (named in errors), walking from
    /// `/`; with `create`, missing folders are made with its folder mode.
    pub fn open(dir: &Path, target: &Path, create: Option<Access>) -> Result<Folder, OutsideError> {
        let io_error = |path: &Path, source| OutsideError::Io {
            path: path.to_owned(),
            source,
        };
        let absolute = std::path::absolute(dir).map_err(|e| io_error(dir, e))?;
        let root = open_dir(None, OsStr::new("/")).map_err(|e| io_error(Path::new("/"), e))?;
        let mut walk = Walk {
            stack: vec![Folder {
                file: root,
                path: PathBuf::from("/"),
            }],
            pending: names(&absolute),
            links: 0,
            target,
            create,
        };
        while let Some(name) = walk.pending.pop() {
            walk.step(name)?;
        }
        let folder = walk.stack.pop().expect("the walk starts at /");
        folder.check(target)?;
        Ok(folder)
    }

    /// The folder written into: the running user's or root's, and, unless sticky, not
    /// writable by group or others.
    fn check(&self, target: &Path) -> Result<(), OutsideError> {
        let meta = self.file.metadata().map_err(|source| OutsideError::Io {
            path: self.path.clone(),
            source,
        })?;
        if !is_ours(meta.uid()) {
            return Err(OutsideError::Owner {
                folder: self.path.clone(),
                target: target.to_owned(),
                uid: meta.uid(),
            });
        }
        if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
            return Err(OutsideError::Writable {
                folder: self.path.clone(),
                target: target.to_owned(),
                mode: meta.mode() & 0o7777,
            });
        }
        Ok(())
    }

    /// Replaces file `name` of this folder whole: a temporary file created here (never
    /// through a link), written, synced and renamed over it within this folder.
    pub fn write_atomic(
        &self,
        name: &OsStr,
        parts: &[&[u8]],
        access: Access,
    ) -> Result<(), OutsideError> {
        let path = self.path.join(name);
        let failed = |source| OutsideError::Io {
            path: path.clone(),
            source,
        };
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let mut file = match self.create_new(&temp_name, access) {
            // Left by a dead process that had this process's id: no live writer owns it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove(&temp_name).map_err(failed)?;
                self.create_new(&temp_name, access).map_err(failed)?
            }
            other => other.map_err(failed)?,
        };
        let result = (|| {
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_all()?;
            let dir = Some(self.file.as_raw_fd());
            renameat(dir, temp_name.as_os_str(), dir, name)?;
            self.file.sync_all()
        })();
        if result.is_err() {
            let _ = self.remove(&temp_name);
        }
        result.map_err(failed)
    }

    /// Opens file `name` of this folder to append to, created with `mode` if missing.
    pub fn open_append(&self, name: &OsStr, mode: u32) -> Result<File, OutsideError> {
        let path = self.path.join(name);
        let flags = OFlag::O_WRONLY
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let file = match openat(Some(self.file.as_raw_fd()), name, flags, mode_bits(mode)) {
            Ok(fd) => owned(fd),
            Err(Errno::ELOOP) => return Err(OutsideError::FileLink { path }),
            // A FIFO without a reader, or a socket: nothing to append to.
            Err(Errno::ENXIO) => {
                let at = Some(self.file.as_raw_fd());
                let kind = fstatat(at, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_or("not a file", |stat| kind_of_mode(stat.st_mode));
                return Err(OutsideError::NotRegular { path, kind });
            }
            Err(e) => {
                return Err(OutsideError::Io {
                    path,
                    source: e.into(),
                });
            }
        };
        let failed = |source| OutsideError::Io {
            path: path.clone(),
            source,
        };
        let meta = file.metadata().map_err(failed)?;
        if !meta.is_file() {
            let kind = file_kind(&meta);
            return Err(OutsideError::NotRegular { path, kind });
        }
        if !is_ours(meta.uid()) {
            let uid = meta.uid();
            return Err(OutsideError::FileOwner { path, uid });
        }
        if meta.nlink() > 1 {
            let links = meta.nlink();
            return Err(OutsideError::HardLinked { path, links });
        }
        // A regular file never blocks; the flag only guarded the open against a FIFO.
        let fd = file.as_raw_fd();
        let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| failed(e.into()))?;
        let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
        fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(|e| failed(e.into()))?;
        Ok(file)
    }

    fn create_new(&self, name: &OsStr, access: Access) -> io::Result<File> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mode = access.file_mode();
        let fd = openat(Some(self.file.as_raw_fd()), name, flags, mode_bits(mode))?;
        let file = owned(fd);
        // The umask may have taken bits away (never added any): the mode is exactly this.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }

    fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(unlinkat(
            Some(self.file.as_raw_fd()),
            name,
            UnlinkatFlags::NoRemoveDir,
        )?)
    }
}

/// A walk from `/` to a folder, one name at a time.
struct Walk<'a> {
    /// The folders opened so far, `/` first: `..` goes back one.
    stack: Vec<Folder>,
    /// The names still to walk, the next one last.
    pending: Vec<OsString>,
    links: usize,
    target: &'a Path,
    create: Option<Access>,
}

impl Walk<'_> {
    fn step(&mut self, name: OsString) -> Result<(), OutsideError> {
        if name == ".." {
            if self.stack.len() > 1 {
                self.stack.pop();
            }
            return Ok(());
        }
        let here = self.stack.last().expect("the walk starts at /");
        let path = here.path.join(&name);
        match open_dir(Some(&here.file), &name) {
            Ok(file) => {
                self.stack.push(Folder { file, path });
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && self.create.is_some() => {
                let mode = self.create.map_or(0o700, Access::dir_mode);
                match mkdirat(
                    Some(here.file.as_raw_fd()),
                    name.as_os_str(),
                    mode_bits(mode),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(self.io(path, e.into())),
                }
                self.pending.push(name);
                Ok(())
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                self.not_a_folder(name, path)
            }
            Err(e) => Err(self.io(path, e)),
        }
    }

    /// `name` in the current folder opened as something else than a folder: a symbolic
    /// link is followed if no one else could have put it there.
    fn not_a_folder(&mut self, name: OsString, path: PathBuf) -> Result<(), OutsideError> {
        let here = self.stack.last().expect("the walk starts at /");
        let fd = Some(here.file.as_raw_fd());
        let stat = fstatat(fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| self.io(path.clone(), e.into()))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFLNK {
            let target = self.target.to_owned();
            return Err(OutsideError::NotFolder { path, target });
        }
        if !self.may_follow(stat.st_uid)? {
            return Err(OutsideError::Link {
                link: path,
                holder: here.path.clone(),
                target: self.target.to_owned(),
            });
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            let target = self.target.to_owned();
            return Err(OutsideError::TooManyLinks { target });
        }
        let to = readlinkat(fd, name.as_os_str()).map_err(|e| self.io(path, e.into()))?;
        let to = PathBuf::from(to);
        if to.is_absolute() {
            self.stack.truncate(1);
        }
        self.pending.extend(names(&to));
        Ok(())
    }

    /// Whether a link owned by `link_owner` in the current folder is one only root or the
    /// running user could have made: the folder is theirs and no one else can write to
    /// it, or it is sticky and the link is theirs.
    fn may_follow(&self, link_owner: u32) -> Result<bool, OutsideError> {
        let here = self.stack.last().expect("the walk starts at /");
        let meta = here
            .file
            .metadata()
            .map_err(|e| self.io(here.path.clone(), e))?;
        let others_write = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & 0o1000 != 0;
        Ok(is_ours(meta.uid()) && (!others_write || sticky && is_ours(link_owner)))
    }

    fn io(&self, path: PathBuf, source: io::Error) -> OutsideError {
        OutsideError::Io { path, source }
    }
}

/// The names of `path` to walk, the first one last; `.` left out.
fn names(path: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    names.reverse();
    names
}

/// Opens folder `name` in `at` (or from the working folder), never through a link.
fn open_dir(at: Option<&File>, name: &OsStr) -> io::Result<File> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(at.map(File::as_raw_fd), name, flags, Mode::empty())?;
    Ok(owned(fd))
}

fn owned(fd: std::os::fd::RawFd) -> File {
    // SAFETY: `fd` was just returned by openat and nothing else owns it.
    unsafe { File::from_raw_fd(fd) }
}

fn mode_bits(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode as libc::mode_t)
}

fn is_ours(uid: u32) -> bool {
    uid == 0 || uid == Uid::effective().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn writes_whole_files_creating_folders_with_exact_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/../c/metrics.prom");
        write_file(&path, &[b"one ", b"two"], Access::WorldReadable).unwrap();
        write_file(&path, &[b"three"], Access::WorldReadable).unwrap();
        let written = dir.path().join("a/c/metrics.prom");
        assert_eq!(std::fs::read_to_string(&written).unwrap(), "three");
        assert_eq!(mode(&written), 0o644);
        assert_eq!(
            mode(&dir.path().join("a/c")) & 0o022,
            0,
            "no one else may write a folder made for the file"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/c"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["metrics.prom"], "no temporary file is left");
    }

    /// A link that only its folder's owner could have made is followed (as /var/run is,
    /// to /run); the written folder is then checked where it really is.
    #[test]
    fn links_in_folders_no_one_else_can_change_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink("real", dir.path().join("relative")).unwrap();
        symlink(dir.path().join("real"), dir.path().join("absolute")).unwrap();
        write_file(&dir.path().join("relative/x"), &[b"1"], Access::Private).unwrap();
        write_file(&dir.path().join("absolute/y"), &[b"2"], Access::Private).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real/x")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real/y")).unwrap(),
            "2"
        );
        symlink("loop", dir.path().join("loop")).unwrap();
        let err = write_file(&dir.path().join("loop/z"), &[b""], Access::Private).unwrap_err();
        assert!(matches!(err, OutsideError::TooManyLinks { .. }), "{err}");
    }

    #[test]
    fn a_link_in_a_folder_others_can_write_is_refused_and_a_log_is_never_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink(dir.path().join("real"), open.join("link")).unwrap();
        let err = write_file(&open.join("link/x"), &[b"1"], Access::Private).unwrap_err();
        assert!(
            matches!(&err, OutsideError::Link { link, holder, .. } if *link == open.join("link") && *holder == open),
            "{err}"
        );
        assert!(!dir.path().join("real/x").exists());

        let log = dir.path().join("real/reporter.log");
        symlink(dir.path().join("real/other"), &log).unwrap();
        let err = open_append(&log, 0o640).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` is a symbolic link: refusing to write through it",
                log.display()
            )
        );
        std::fs::remove_file(&log).unwrap();
        let mut file = open_append(&log, 0o640).unwrap();
        file.write_all(b"line\n").unwrap();
        assert_eq!(mode(&log), 0o640);
        std::fs::hard_link(&log, dir.path().join("real/second")).unwrap();
        let err = open_append(&log, 0o640).unwrap_err();
        assert!(
            matches!(err, OutsideError::HardLinked { links: 2, .. }),
            "{err}"
        );
    }
}
