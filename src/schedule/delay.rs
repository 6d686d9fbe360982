//! `random_delay`: a fixed offset per (host, job) that shifts every fire time of the job,
//! like systemd's `RandomizedDelaySec` with `FixedRandomDelay=yes`. It is a hash, not a
//! random draw, so a host keeps its offset across restarts, reloads and days, while the
//! hosts of a fleet spread uniformly over the range.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::schedule::{Schedule, Zone};

/// The offset of job `job` on host `host` in `[0, range)`, at millisecond resolution:
/// SHA-256 of `host NUL job` (stable across releases and machines, unlike std's hashers),
/// its first 64 bits scaled onto the range.
pub fn fixed_offset(host: &str, job: &str, range: Duration) -> Duration {
    let range_ms = u64::try_from(range.as_millis()).unwrap_or(u64::MAX);
    if range_ms == 0 {
        return Duration::ZERO;
    }
    let mut input = Vec::with_capacity(host.len() + 1 + job.len());
    input.extend_from_slice(host.as_bytes());
    input.push(0);
    input.extend_from_slice(job.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    let hash = u64::from_be_bytes(first);
    // hash / 2^64 × range: uniform over [0, range) without the bias of a modulo.
    let offset = (u128::from(hash) * u128::from(range_ms)) >> 64;
    Duration::from_millis(u64::try_from(offset).unwrap_or(0))
}

/// The first fire time of `schedule`, every one shifted by `offset`, after `after`.
pub fn next_after(
    schedule: &Schedule,
    after: DateTime<Utc>,
    zone: Zone,
    offset: Duration,
) -> Option<DateTime<Utc>> {
    let offset = chrono::Duration::from_std(offset).ok()?;
    schedule
        .next_after(after.checked_sub_signed(offset)?, zone)?
        .checked_add_signed(offset)
}

/// What `-v` says of a job's `random_delay`: its offset on this host.
pub fn describe(offset: Duration, range: Duration, hostname: &str) -> String {
    format!(
        "random_delay: every fire time shifted by {} ms (of up to {} ms) on `{hostname}`",
        offset.as_millis(),
        range.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_within_the_range() {
        let hour = Duration::from_secs(3600);
        let a = fixed_offset("web1", "disk-usage", hour);
        assert_eq!(a, fixed_offset("web1", "disk-usage", hour), "stable");
        assert!(a < hour);
        assert_ne!(a, fixed_offset("web2", "disk-usage", hour), "per host");
        assert_ne!(a, fixed_offset("web1", "load-memory", hour), "per job");
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(fixed_offset("ab", "c", hour), fixed_offset("a", "bc", hour));
        assert_eq!(
            fixed_offset("web1", "disk-usage", Duration::ZERO),
            Duration::ZERO
        );
        // Pinned (`printf 'web1\0disk-usage' | sha256sum`): offsets must not move between
        // releases, or a fleet's spread would be reshuffled by an upgrade.
        assert_eq!(
            fixed_offset("web1", "disk-usage", hour),
            Duration::from_millis(1_020_248)
        );
    }

    /// The spread over a fleet: 1,000 host names fill ten buckets of the range evenly.
    #[test]
    fn offsets_spread_evenly_over_a_fleet() {
        let range = Duration::from_secs(3600);
        let offsets: Vec<u128> = (1..=1000)
            .map(|i| {
                fixed_offset(&format!("host{i:04}.example.com"), "disk-usage", range).as_millis()
            })
            .collect();
        let mut buckets = [0usize; 10];
        for &ms in &offsets {
            buckets[(ms * 10 / range.as_millis()) as usize] += 1;
        }
        let (min, max) = (offsets.iter().min().unwrap(), offsets.iter().max().unwrap());
        eprintln!(
            "random_delay 1h over 1,000 hosts: min {min} ms, max {max} ms, buckets {buckets:?}"
        );
        assert!(*min < 36_000 && *max > 3_564_000, "min {min} max {max}");
        // 100 expected per bucket; 60..140 is beyond 4 standard deviations (σ ≈ 9.5).
        assert!(
            buckets.iter().all(|&n| (60..140).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn every_fire_time_is_shifted() {
        let schedule: Schedule = "0 3 * * *".parse().unwrap();
        let zone: Zone = "UTC".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let offset = Duration::from_secs(25 * 60);
        let next = |after| next_after(&schedule, at(after), zone, offset).unwrap();
        assert_eq!(next("2026-03-01T02:00:00Z"), at("2026-03-01T03:25:00Z"));
        // Past 03:00 but before the shifted 03:25: still today's run.
        assert_eq!(next("2026-03-01T03:10:00Z"), at("2026-03-01T03:25:00Z"));
        assert_eq!(next("2026-03-01T03:25:00Z"), at("2026-03-02T03:25:00Z"));
    }
}
