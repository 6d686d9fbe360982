//! `user:` — the account a job's commands run as, looked up when the job loads so that a
//! user that does not exist is a configuration error and not a failed run at 03:00.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User};

use crate::config::trust::running_as_root;

/// Why `user:` cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    #[error("cannot look up user `{name}`: {source}")]
    Lookup { name: String, source: nix::Error },
    #[error("no user `{0}` on this system")]
    NoSuchUser(String),
    #[error("running commands as `{name}` needs reporter to run as root (it runs as uid {uid})")]
    NotRoot { name: String, uid: Uid },
    #[error("invalid user name {0:?}")]
    InvalidName(String),
    #[error("cannot list the groups of `{name}`: {source}")]
    Groups { name: String, source: nix::Error },
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
    /// The login shell of its passwd entry, for `SHELL`.
    pub shell: PathBuf,
}

impl RunAs {
    /// Looks `name` up; only root can switch users, so anyone else gets an error.
    pub fn resolve(name: &str) -> Result<RunAs, AccountError> {
        let user = User::from_name(name)
            .map_err(|source| AccountError::Lookup {
                name: name.to_owned(),
                source,
            })?
            .ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))?;
        if !running_as_root() {
            return Err(AccountError::NotRoot {
                name: name.to_owned(),
                uid: Uid::effective(),
            });
        }
        let c_name = CString::new(name).map_err(|_| AccountError::InvalidName(name.to_owned()))?;
        let groups = nix::unistd::getgrouplist(&c_name, user.gid).map_err(|source| {
            AccountError::Groups {
                name: name.to_owned(),
                source,
            }
        })?;
        Ok(RunAs {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            groups,
            home: user.dir,
            shell: user.shell,
        })
    }
}
