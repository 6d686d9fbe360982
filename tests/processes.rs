//! Processes a command starts never outlive it, and `user:` commands get a clean environment (SPEC §6, §11).
