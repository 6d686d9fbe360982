//! The disk forecast (reporter-templates(7)): each disk's `trend` (its used percent in a job's earlier
//! runs and now) and `days_to_full` (where a least-squares line through its used bytes
//! reaches 100%), and which disks a `disk_full_within` limit finds.

use std::time::Duration;

use crate::report::facts::Disk;

/// How many values a `trend` holds: the earlier runs' and now.
pub const TREND_LEN: usize = 14;

/// The furthest a forecast looks, in days: a line through a few weeks of runs says nothing
/// of the years after, and a disk that gains a few kilobytes a day is not filling.
pub const HORIZON_DAYS: f64 = 365.0;

/// A disk's usage in one earlier run of the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    /// When that run started, in seconds since the epoch.
    pub at: f64,
    pub percent: f64,
    /// `None` for a run recorded before the history kept bytes.
    pub used: Option<u64>,
}

/// Sets `disk`'s `trend` and `days_to_full` from its usage in `earlier` runs (oldest
/// first) and now (`now`, seconds since the epoch).
pub fn apply(disk: &mut Disk, earlier: &[Earlier], now: f64) {
    let earlier = &earlier[earlier.len().saturating_sub(TREND_LEN - 1)..];
    disk.trend = earlier
        .iter()
        .map(|e| e.percent)
        .chain([disk.percent])
        .collect();
    let points: Vec<(f64, f64)> = earlier
        .iter()
        .filter_map(|e| Some((e.at, e.used? as f64)))
        .chain([(now, disk.used as f64)])
        .collect();
    // Full is what `df` shows as 100%: nothing available (the root reserve never is).
    let capacity = disk.used.saturating_add(disk.available) as f64;
    disk.days_to_full = days_to_full(&points, capacity, now);
}

/// Days from `now` until the least-squares line through `points` (seconds, used bytes)
/// reaches `capacity`: `None` with fewer than 3 points, when usage is not growing or when
/// the line reaches it beyond [`HORIZON_DAYS`]; 0 when the line is past it already.
pub fn days_to_full(points: &[(f64, f64)], capacity: f64, now: f64) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_u = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, u) in points {
        covariance += (t - mean_t) * (u - mean_u);
        variance += (t - mean_t) * (t - mean_t);
    }
    let slope = covariance / variance;
    if !slope.is_finite() || slope <= 0.0 {
        return None;
    }
    let full_at = mean_t + (capacity - mean_u) / slope;
    let days = ((full_at - now) / 86_400.0).max(0.0);
    (days <= HORIZON_DAYS).then_some(days)
}

/// The disks forecast to be full within `limit`, the soonest first.
pub fn full_within(disks: &[Disk], limit: Duration) -> Vec<&Disk> {
    let limit_days = limit.as_secs_f64() / 86_400.0;
    let mut found: Vec<&Disk> = disks
        .iter()
        .filter(|d| d.days_to_full.is_some_and(|days| days <= limit_days))
        .collect();
    found.sort_by(|a, b| {
        a.days_to_full
            .partial_cmp(&b.days_to_full)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    found
}

/// `full within a day`, `full in ~1 day`, `full in ~12 days`.
pub fn describe(days: f64) -> String {
    if days < 1.0 {
        return "full within a day".to_owned();
    }
    let whole = days.round();
    let plural = if whole == 1.0 { "" } else { "s" };
    format!("full in ~{whole} day{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    fn disk(percent: f64, used: u64, available: u64) -> Disk {
        Disk {
            mount: "/data".into(),
            device: "/dev/sdb1".into(),
            fs: "ext4".into(),
            total: used + available,
            used,
            available,
            percent,
            trend: vec![percent],
            days_to_full: None,
        }
    }

    #[test]
    fn a_steady_growth_is_extrapolated_to_full() {
        // 10 bytes a day, 50 used of 100 now: full in 5 days.
        let points = [(0.0, 30.0), (DAY, 40.0), (2.0 * DAY, 50.0)];
        let days = days_to_full(&points, 100.0, 2.0 * DAY).unwrap();
        assert!((days - 5.0).abs() < 1e-9, "{days}");
        assert_eq!(
            days_to_full(&points[1..], 100.0, 2.0 * DAY),
            None,
            "2 points"
        );
        let flat = [(0.0, 50.0), (DAY, 50.0), (2.0 * DAY, 50.0)];
        assert_eq!(days_to_full(&flat, 100.0, 2.0 * DAY), None);
        let shrinking = [(0.0, 60.0), (DAY, 55.0), (2.0 * DAY, 50.0)];
        assert_eq!(days_to_full(&shrinking, 100.0, 2.0 * DAY), None);
        let same_time = [(DAY, 10.0), (DAY, 20.0), (DAY, 30.0)];
        assert_eq!(days_to_full(&same_time, 100.0, DAY), None);
        let past = [(0.0, 90.0), (DAY, 120.0), (2.0 * DAY, 150.0)];
        assert_eq!(days_to_full(&past, 100.0, 2.0 * DAY), Some(0.0));
        // 4 KiB a day on a 100 GiB disk half full: not filling, not "full in ~13107200 days".
        let gib = 1024.0 * 1024.0 * 1024.0;
        let creeping = [
            (0.0, 50.0 * gib),
            (DAY, 50.0 * gib + 4096.0),
            (2.0 * DAY, 50.0 * gib + 8192.0),
        ];
        assert_eq!(days_to_full(&creeping, 100.0 * gib, 2.0 * DAY), None);
        // 10 bytes a day, 3,650 bytes from full: a year away, still forecast.
        let slow = [(0.0, 30.0), (DAY, 40.0), (2.0 * DAY, 50.0)];
        let days = days_to_full(&slow, 3700.0, 2.0 * DAY).unwrap();
        assert!((days - 365.0).abs() < 1e-9, "{days}");
    }

    #[test]
    fn trends_hold_the_earlier_runs_and_now() {
        let mut d = disk(50.0, 50, 50);
        let earlier: Vec<Earlier> = (0..20)
            .map(|i| Earlier {
                at: f64::from(i) * DAY,
                percent: f64::from(i),
                used: (i >= 18).then(|| 30 + 10 * (i as u64 - 18)),
            })
            .collect();
        apply(&mut d, &earlier, 20.0 * DAY);
        assert_eq!(d.trend.len(), TREND_LEN);
        assert_eq!(d.trend[0], 7.0);
        assert_eq!(d.trend[13], 50.0, "now last");
        let days = d.days_to_full.unwrap();
        assert!(
            (days - 5.0).abs() < 1e-9,
            "runs without bytes do not count: {days}"
        );
        let mut first = disk(50.0, 50, 50);
        apply(&mut first, &[], 0.0);
        assert_eq!((first.trend, first.days_to_full), (vec![50.0], None));
    }

    #[test]
    fn the_soonest_full_comes_first() {
        let mut a = disk(50.0, 50, 50);
        a.days_to_full = Some(10.0);
        let mut b = disk(60.0, 60, 40);
        b.mount = "/b".into();
        b.days_to_full = Some(2.0);
        let c = disk(70.0, 70, 30);
        let disks = [a, b, c];
        let found = full_within(&disks, Duration::from_secs(14 * 86_400));
        let mounts: Vec<&str> = found.iter().map(|d| d.mount.as_str()).collect();
        assert_eq!(mounts, ["/b", "/data"]);
        assert!(full_within(&disks, Duration::from_secs(86_400)).is_empty());
        assert_eq!(describe(0.2), "full within a day");
        assert_eq!(describe(1.2), "full in ~1 day");
        assert_eq!(describe(11.6), "full in ~12 days");
    }
}
