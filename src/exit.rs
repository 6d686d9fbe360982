//! Exit codes (reporter(1)), in one place. Where several apply, the first of 130/143, 2, 75, 1 wins.

/// What a whole invocation amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// A command failed, timed out or could not start (its report was still delivered).
    pub command_failed: bool,
    /// A message could not be delivered.
    pub undelivered: bool,
    /// A usage or configuration error.
    pub config_error: bool,
    /// The run was interrupted by this signal number.
    pub interrupted: Option<i32>,
}

pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const TEMPFAIL: i32 = 75;

impl Tally {
    pub fn code(&self) -> i32 {
        if let Some(signal) = self.interrupted {
            return 128 + signal;
        }
        if self.config_error {
            USAGE
        } else if self.undelivered {
            TEMPFAIL
        } else if self.command_failed {
            FAILED
        } else {
            OK
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.command_failed |= other.command_failed;
        self.undelivered |= other.undelivered;
        self.config_error |= other.config_error;
        self.interrupted = self.interrupted.or(other.interrupted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let mut tally = Tally::default();
        assert_eq!(tally.code(), 0);
        tally.command_failed = true;
        assert_eq!(tally.code(), 1);
        tally.undelivered = true;
        assert_eq!(tally.code(), 75);
        tally.config_error = true;
        assert_eq!(tally.code(), 2);
        tally.interrupted = Some(15);
        assert_eq!(tally.code(), 143);
    }
}
