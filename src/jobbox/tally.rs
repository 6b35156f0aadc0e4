//! [`BoxRef::tally`] and [`BoxRef::outcome`]: a run judged by the box's
//! counters.

use std::process::ExitStatus;

use super::BoxRef;
use crate::Result;
use crate::fs::{CgroupFs, read_optional};
use crate::outcome::{Outcome, Stop, Tally, cause_of};

impl<F: CgroupFs> BoxRef<F> {
    /// The box's counters now, before a job starts: what
    /// [`BoxRef::outcome`] measures the run from.
    ///
    /// See the [example](crate::Outcome#examples) of [`Outcome`].
    pub fn tally(&self) -> Result<Tally<F>> {
        Tally::take(&**self.fs(), self.dir(), self.kills())
    }

    /// How the job whose main process ended with `status` ended, and why:
    /// the caller's `stop` first (a timeout, an interruption), then what
    /// the kernel counted since `since` (an OOM kill at which
    /// `memory.max`), then the status itself. Read after the main process
    /// was waited for, before the box is killed or removed.
    ///
    /// See the [example](crate::Outcome#examples) of [`Outcome`].
    pub fn outcome(&self, since: &Tally<F>, status: ExitStatus, stop: Stop) -> Result<Outcome> {
        let fs = &**self.fs();
        // A box removed underneath has no counters to judge by: an error
        // (its kept cgroup.events says ENODEV), never a guess.
        self.is_populated()?;
        let now = self.stats()?;
        let counts = since.counts(fs, &now);
        let limit = if counts.oom_kills.unwrap_or(0) > 0 {
            since.limit_hit(fs, &now, &counts)
        } else {
            (None, None)
        };
        let group = read_optional(fs, self.dir(), "memory.oom.group")
            .ok()
            .flatten()
            .is_some_and(|v| v.trim() == "1");
        let killed_by_handle = self.kills() > since.kills;
        Ok(Outcome {
            status,
            cause: cause_of(status, stop, &counts, limit, group, killed_by_handle),
            counts,
        })
    }
}
