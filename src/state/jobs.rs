//! Each job's own state folder, `state_dir/jobs/NAME/` (`REPORTER_JOB_STATE`, docs/jobs.md):
//! kept across runs for the job's cursors and small files, 0700 and owned by the account
//! its commands run as. reporter runs as root and that account may not be trusted, so the
//! folder is made and checked through descriptors, never through a symbolic link, its
//! owner and mode are fixed on the opened folder only, and nothing inside it is ever read,
//! written or walked (docs/security.md).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, fchown};

use crate::state::private::{self, Access};

/// The folder of `state_dir` the jobs' folders are in.
pub const FOLDER: &str = "jobs";

/// Root's, and only searchable by others: a `user:` job's account reaches its own folder
/// by name, but can neither list the others nor put anything beside them.
const JOBS_MODE: u32 = 0o711;

/// A job's own folder: its account's alone.
const JOB_MODE: u32 = 0o700;

/// Why a job's state folder could not be made ready; the job's result is then an error.
#[derive(Debug, thiserror::Error)]
pub enum JobStateError {
    #[error("cannot make the job's state folder `{}`: {source}", path.display())]
    Make {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the job's state folder `{}` is {kind}; reporter does not follow links in its state folder: refusing it (fix: remove it, reporter makes the folder again)",
        path.display()
    )]
    NotFolder { path: PathBuf, kind: &'static str },
}

/// Makes `state_dir/jobs/NAME/` ready for `job`, owned by `owner` (the account of its
/// `user:`), or by reporter's own user; returns its path.
pub fn prepare(
    state_dir: &Path,
    job: &str,
    owner: Option<(Uid, Gid)>,
) -> Result<PathBuf, JobStateError> {
    let jobs = state_dir.join(FOLDER);
    let path = jobs.join(job);
    let failed = |at: &Path| {
        let at = at.to_owned();
        move |source: io::Error| JobStateError::Make { path: at, source }
    };
    private::create_dir(state_dir, Access::Private).map_err(failed(state_dir))?;
    // The state folder itself may be a link (docs/security.md): where it points is what
    // root checked.
    let state = File::open(state_dir).map_err(failed(state_dir))?;
    if owner.is_some() {
        searchable(&state).map_err(failed(state_dir))?;
    }
    let me = (Uid::effective(), None);
    let jobs_folder = folder_in(&state, FOLDER, JOBS_MODE, me, &jobs)?;
    let owner = owner.map_or(me, |(uid, gid)| (uid, Some(gid)));
    folder_in(&jobs_folder, job, JOB_MODE, owner, &path)?;
    Ok(path)
}

/// Lets others search the state folder (not list it, not write to it), so that a `user:`
/// account can reach its own folder: everything else in it is private by its own mode.
fn searchable(state: &File) -> io::Result<()> {
    let stat = fstat(state.as_raw_fd())?;
    let mode = stat.st_mode & 0o7777;
    if stat.st_uid == Uid::effective().as_raw() && mode & 0o011 != 0o011 {
        fchmod(state.as_raw_fd(), mode_bits(mode | 0o011))?;
    }
    Ok(())
}

/// Folder `name` in `at`, made if missing, opened without following a link, then given
/// `mode` and the owner `(uid, gid)` (a `None` gid is left as it is).
fn folder_in(
    at: &File,
    name: &str,
    mode: u32,
    (uid, gid): (Uid, Option<Gid>),
    path: &Path,
) -> Result<File, JobStateError> {
    let failed = |errno: Errno| JobStateError::Make {
        path: path.to_owned(),
        source: io::Error::from(errno),
    };
    match mkdirat(Some(at.as_raw_fd()), name, mode_bits(mode)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(failed(e)),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match openat(Some(at.as_raw_fd()), OsStr::new(name), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            let stat = fstatat(Some(at.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(failed)?;
            return Err(JobStateError::NotFolder {
                path: path.to_owned(),
                kind: private::kind_of_mode(stat.st_mode),
            });
        }
        Err(e) => return Err(failed(e)),
    };
    // SAFETY: `fd` was just returned by openat and nothing else owns it.
    let folder = unsafe { File::from_raw_fd(fd) };
    let stat = fstat(folder.as_raw_fd()).map_err(failed)?;
    let wrong_group = gid.is_some_and(|gid| gid.as_raw() != stat.st_gid);
    if stat.st_uid != uid.as_raw() || wrong_group {
        fchown(folder.as_raw_fd(), Some(uid), gid).map_err(failed)?;
    }
    if stat.st_mode & 0o7777 != mode {
        fchmod(folder.as_raw_fd(), mode_bits(mode)).map_err(failed)?;
    }
    Ok(folder)
}

fn mode_bits(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode as libc::mode_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn folders_get_their_modes_and_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let path = prepare(&state, "disk", None).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(path, state.join("jobs/disk"));
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&state.join("jobs")), 0o711);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(path.join("cursor"), "42").unwrap();
        prepare(&state, "disk", None).unwrap();
        assert_eq!(mode(&path), 0o700, "repaired");
        assert_eq!(std::fs::read_to_string(path.join("cursor")).unwrap(), "42");

        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let before = mode(&elsewhere);
        std::os::unix::fs::symlink(&elsewhere, state.join("jobs/load")).unwrap();
        let refused = prepare(&state, "load", None).unwrap_err().to_string();
        assert!(
            refused.contains("jobs/load` is a symbolic link"),
            "{refused}"
        );
        assert_eq!(mode(&elsewhere), before, "the link's target is left alone");
    }
}
