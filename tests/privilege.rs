//! Running as root against an attacker with one unprivileged account: files swapped under reporter, folders others can write, job names that are paths, targets in quotes (SPEC §11).
