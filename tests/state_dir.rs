//! The state folder as root sees it: private modes, foreign owners and planted symlinks refused, locks on read-only folders, spool files checked before sending (SPEC §6, §9, §11).
