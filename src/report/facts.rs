//! Facts about the machine reporter runs on: the `host` of the template context.
//!
//! The names (`hostname`, `fqdn`) are always there; the rest (OS, load, memory, disks …)
//! is gathered only when a template asks for it, since reading it costs a few milliseconds
//! that most reports do not need.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::report::format::format_duration;
use crate::schedule::Zone;

/// How much to gather.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `hostname` and `fqdn` only.
    Names,
    /// Every fact reporter-templates(7) lists.
    Full,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub hostname: String,
    pub fqdn: String,
    #[serde(flatten)]
    pub system: Option<System>,
}

/// What `Scope::Full` adds to the names.
#[derive(Debug, Clone, Serialize)]
pub struct System {
    /// Distribution name and version, e.g. `Debian GNU/Linux 12`.
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub uptime_secs: u64,
    /// e.g. `12d 04h`.
    pub uptime: String,
    /// RFC 3339 in the configured time zone.
    pub boot_time: String,
    pub load: Load,
    pub cpus: usize,
    pub memory: Memory,
    pub swap: Swap,
    pub disks: Vec<Disk>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Bytes, and `percent` = used / total.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Swap {
    pub total: u64,
    pub used: u64,
    pub percent: f64,
}

/// One mounted local filesystem, with the numbers `df` shows for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    pub mount: String,
    pub device: String,
    pub fs: String,
    pub total: u64,
    pub used: u64,
    pub available: u64,
    /// used / (used + available), rounded up, as `df` computes `Use%`: the space reserved
    /// for root does not count as available.
    pub percent: f64,
    /// `percent` in the job's earlier runs and now, oldest first (just now until the job
    /// has run before): set per job from its history.
    pub trend: Vec<f64>,
    /// Days until the least-squares line through the job's recorded `used` bytes reaches
    /// `used + available` (df's 100%); `None` with fewer than 3 points or when not growing.
    pub days_to_full: Option<f64>,
}

impl Facts {
    /// Gathers the facts. The FQDN may need a resolver lookup, so call this off the
    /// path that starts commands.
    pub fn gather(scope: Scope, zone: Zone) -> Facts {
        let hostname = hostname();
        let fqdn = fqdn(&hostname);
        let system = (scope == Scope::Full).then(|| System::gather(zone));
        Facts {
            hostname,
            fqdn,
            system,
        }
    }
}

impl System {
    fn gather(zone: Zone) -> System {
        use sysinfo::{CpuRefreshKind, MemoryRefreshKind, System as Sys};
        // Only what the context shows: no process table, no CPU usage sampling.
        let (total, available, swap_total, swap_used, cpus) = Sys::new()
            .map(|mut sys| {
                sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
                sys.refresh_cpu_list(CpuRefreshKind::nothing());
                let memory = (sys.total_memory(), sys.available_memory());
                (
                    memory.0,
                    memory.1,
                    sys.total_swap(),
                    sys.used_swap(),
                    sys.cpus().len(),
                )
            })
            .unwrap_or_default();
        let cpus = if cpus == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            cpus
        };
        let os = match (Sys::name(), Sys::os_version()) {
            (Ok(name), Ok(version)) => format!("{name} {version}"),
            (Ok(name), Err(_)) => name,
            (Err(_), _) => std::env::consts::OS.to_owned(),
        };
        let load = Sys::load_average().unwrap_or_default();
        let uptime_secs = Sys::uptime().unwrap_or_default();
        let boot_time = Sys::boot_time()
            .ok()
            .and_then(|secs| DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, 0))
            .unwrap_or_default();
        let used = total.saturating_sub(available);
        System {
            os,
            kernel: Sys::kernel_version().unwrap_or_default(),
            arch: Sys::cpu_arch(),
            uptime_secs,
            uptime: format_duration(uptime_secs as f64 * 1000.0),
            boot_time: zone.rfc3339(boot_time),
            load: Load {
                one: hundredths(load.one),
                five: hundredths(load.five),
                fifteen: hundredths(load.fifteen),
            },
            cpus,
            memory: Memory {
                total,
                used,
                available,
                percent: share(used, total),
            },
            swap: Swap {
                total: swap_total,
                used: swap_used,
                percent: share(swap_used, swap_total),
            },
            disks: disks(),
        }
    }
}

/// Load averages as `uptime` shows them: two decimals.
fn hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `part / total` in percent with one decimal; 0 for an empty total.
fn share(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / total as f64).round() / 10.0
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The canonical name the resolver gives for `hostname` (as `hostname -f` does), or
/// `hostname` itself when it has none.
fn fqdn(hostname: &str) -> String {
    if hostname.contains('.') {
        return hostname.to_owned();
    }
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        ..dns_lookup::AddrInfoHints::default()
    };
    dns_lookup::getaddrinfo(Some(hostname), None, Some(hints))
        .ok()
        .and_then(|mut infos| infos.find_map(|i| i.ok().and_then(|i| i.canonname)))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| hostname.to_owned())
}

/// Filesystem types that are not disks: kernel interfaces, memory, container layers and
/// read-only images (always 100% full), and network filesystems, whose `statvfs` hangs
/// while the server is down (`df -l` leaves them out for the same reason).
const NOT_DISKS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "9p",
    "afs",
    "ceph",
    "cifs",
    "glusterfs",
    "lustre",
    "nfs",
    "nfs4",
    "smb3",
    "smbfs",
    "sshfs",
];

fn is_disk(fs: &str) -> bool {
    // FUSE filesystems are `fuse.NAME`; only a few of them (ntfs-3g, exFAT) hold local disks.
    match fs.strip_prefix("fuse.") {
        Some(name) => matches!(name, "ntfs" | "ntfs-3g" | "exfat"),
        None => fs != "fuse" && !NOT_DISKS.contains(&fs),
    }
}

/// One line of `/proc/self/mountinfo` that may be a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    device_id: String,
    mount: String,
    fs: String,
    device: String,
}

/// The disk mounts of a `mountinfo` text. A filesystem mounted in several places (bind
/// mounts) is listed once, at its shortest mount point, as `df` does.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for line in text.lines() {
        // ID PARENT MAJOR:MINOR ROOT MOUNT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let (Some(device_id), Some(mount), Some(fs), Some(device)) =
            (left.get(2), left.get(4), right.next(), right.next())
        else {
            continue;
        };
        if !is_disk(fs) {
            continue;
        }
        let mount = Mount {
            device_id: (*device_id).to_owned(),
            mount: unescape(mount),
            fs: fs.to_owned(),
            device: unescape(device),
        };
        match mounts.iter_mut().find(|m| m.device_id == mount.device_id) {
            Some(seen) if mount.mount.len() < seen.mount.len() => *seen = mount,
            Some(_) => {}
            None => mounts.push(mount),
        }
    }
    mounts
}

/// Undoes the kernel's octal escapes in mountinfo fields (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every local disk with its usage, in mount order.
fn disks() -> Vec<Disk> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mountinfo(&text)
        .into_iter()
        .filter_map(|m| {
            let stat = nix::sys::statvfs::statvfs(Path::new(&m.mount)).ok()?;
            let block = stat.fragment_size() as u64;
            let total = (stat.blocks() as u64).saturating_mul(block);
            let free = (stat.blocks_free() as u64).saturating_mul(block);
            let available = (stat.blocks_available() as u64).saturating_mul(block);
            let used = total.saturating_sub(free);
            (total > 0).then(|| Disk {
                mount: m.mount,
                device: m.device,
                fs: m.fs,
                total,
                used,
                available,
                percent: df_percent(used, available),
                trend: vec![df_percent(used, available)],
                days_to_full: None,
            })
        })
        .collect()
}

/// `df`'s `Use%`: used / (used + available), rounded up to a whole percent.
fn df_percent(used: u64, available: u64) -> f64 {
    let whole = used as u128 + available as u128;
    if whole == 0 {
        return 0.0;
    }
    (used as u128 * 100).div_ceil(whole) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
25 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
26 25 0:5 / /dev rw - devtmpfs udev rw
30 25 252:2 / /srv/my\\040data rw - xfs /dev/mapper/vg-data rw
31 25 252:1 /etc/hosts /etc/hosts rw - ext4 /dev/vda1 rw
32 25 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
33 25 7:3 / /snap/core/1 ro - squashfs /dev/loop3 ro
34 25 0:60 / /mnt/nas rw - nfs4 nas:/export rw
35 25 0:61 / /run/user/1000 rw - tmpfs tmpfs rw
36 25 0:62 / /media/usb rw - fuse.ntfs-3g /dev/sdb1 rw
37 25 0:63 / /home/u/.cache/doc rw - fuse.portal portal rw
";

    #[test]
    fn mountinfo_keeps_real_disks_once() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let shown: Vec<(&str, &str, &str)> = mounts
            .iter()
            .map(|m| (m.mount.as_str(), m.fs.as_str(), m.device.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("/", "ext4", "/dev/vda1"),
                ("/srv/my data", "xfs", "/dev/mapper/vg-data"),
                ("/media/usb", "fuse.ntfs-3g", "/dev/sdb1"),
            ]
        );
    }

    #[test]
    fn a_bind_mount_seen_first_gives_way_to_the_shorter_mount_point() {
        let text = "31 25 8:1 /x /data/x rw - ext4 /dev/sda1 rw\n32 25 8:1 / /data rw - ext4 /dev/sda1 rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount, "/data");
    }

    #[test]
    fn broken_lines_are_skipped() {
        assert!(parse_mountinfo("garbage\n1 2 3\n - ext4\n").is_empty());
        assert_eq!(unescape(r"a\040b\\c\9"), r"a b\\c\9");
    }

    #[test]
    fn percent_rounds_up_like_df() {
        assert_eq!(df_percent(0, 0), 0.0);
        assert_eq!(df_percent(1, 999), 1.0);
        assert_eq!(df_percent(23, 69), 25.0);
        assert_eq!(df_percent(u64::MAX, u64::MAX), 50.0);
        assert_eq!(share(1, 3), 33.3);
        assert_eq!(share(5, 0), 0.0);
    }

    #[test]
    fn full_facts_describe_this_machine() {
        let facts = Facts::gather(Scope::Full, Zone::Local);
        let system = facts
            .system
            .as_ref()
            .expect("full scope gathers the system");
        assert!(system.cpus >= 1);
        assert!(system.memory.total > 0);
        assert!(system.memory.used <= system.memory.total);
        assert!(!system.kernel.is_empty());
        assert!(!system.arch.is_empty());
        assert!(
            DateTime::parse_from_rfc3339(&system.boot_time).is_ok(),
            "{}",
            system.boot_time
        );
        for disk in &system.disks {
            assert!(is_disk(&disk.fs), "{disk:?}");
            assert!((0.0..=100.0).contains(&disk.percent), "{disk:?}");
        }
        let json = serde_json::to_value(&facts).unwrap();
        for key in [
            "hostname", "fqdn", "os", "uptime", "load", "memory", "disks",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        let names = serde_json::to_value(Facts::gather(Scope::Names, Zone::Local)).unwrap();
        assert_eq!(names.as_object().unwrap().len(), 2, "{names}");
    }
}
