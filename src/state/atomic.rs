//! The one atomic write: a temporary file in the same folder, fsync, rename, fsync of the
//! folder. What reporter keeps in its state folder is written through it; files outside
//! it are written by `state::outside`, which adds the walk to their folder.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::state::private::{self, Access};

/// Writes `parts` (one after the other, never joined in memory) to `path` so that a reader,
/// or a crash, sees either the old file or the whole new one. The file gets exactly the
/// mode of `access`, and so do the folders created for it.
///
/// The temporary file is `.NAME.PID.tmp` next to `path` (see [`temp_path`]), created
/// exclusively and never through a symbolic link.
pub fn write_atomic(path: &Path, parts: &[&[u8]], access: Access) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private::create_dir(dir, access)?;
    let temp = temp_path(path, std::process::id());
    let mut file = match private::create_new(&temp, access) {
        // Left by a dead process that had this process's id: no live writer owns the name.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&temp)?;
            private::create_new(&temp, access)?
        }
        other => other?,
    };
    let result = (|| {
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Where the writer with process id `pid` puts the contents of `path` before the rename.
pub fn temp_path(path: &Path, pid: u32) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(".{file_name}.{pid}.tmp"))
}

/// The file a temporary file of [`write_atomic`] was going to become, and its writer's
/// process id; `None` for any other name.
pub fn parse_temp_name(temp_name: &str) -> Option<(&str, u32)> {
    let inner = temp_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = inner.rsplit_once('.')?;
    let pid = pid.parse().ok()?;
    (!name.is_empty()).then_some((name, pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file");
        write_atomic(&path, &[b"one ", b"two"], Access::Private).unwrap();
        write_atomic(&path, &[b"three"], Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file"]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
    }

    #[test]
    fn a_stale_temporary_of_the_same_process_id_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        std::fs::write(temp_path(&path, std::process::id()), "stale").unwrap();
        write_atomic(&path, &[b"1\n"], Access::WorldReadable).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o644);
    }

    #[test]
    fn temporary_names_give_back_the_file_and_the_writer() {
        let temp = temp_path(Path::new("/s/spool/r1.disk.msg"), 42);
        assert_eq!(temp, Path::new("/s/spool/.r1.disk.msg.42.tmp"));
        assert_eq!(
            parse_temp_name(".r1.disk.msg.42.tmp"),
            Some(("r1.disk.msg", 42))
        );
        assert_eq!(parse_temp_name("r1.disk.msg"), None);
        assert_eq!(parse_temp_name(".x.notapid.tmp"), None);
        assert_eq!(parse_temp_name("..7.tmp"), None);
    }
}
