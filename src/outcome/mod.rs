//! Why a job ended, from what the kernel counted while it ran: the
//! [`Outcome`] of a [`Tally`] taken before the job started.

mod counts;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub use counts::{Counts, Tally};

/// What the caller did to stop a job, for [`BoxRef::outcome`](crate::BoxRef::outcome).
///
/// See the [example](Outcome#examples) of [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stop {
    /// Nothing: the job ran until it ended, or something else ended it.
    #[default]
    Nothing,
    /// The caller's timeout fired: `signal` went to every process of the
    /// box, and after `grace` what still ran was killed (`killed`).
    Timeout {
        /// The signal sent first (SIGTERM by default).
        signal: i32,
        /// How long the job had to end after it.
        grace: Duration,
        /// Whether something still ran after the grace and was killed.
        killed: bool,
    },
    /// The caller was asked to stop by `signal` and passed it on; `killed`
    /// as for a timeout.
    Interrupted {
        /// The signal the caller got.
        signal: i32,
        /// Whether something still ran after the grace and was killed.
        killed: bool,
    },
}

/// Why a job ended.
///
/// See the [example](Outcome#examples) of [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// It exited by itself with this code.
    Exited(i32),
    /// The OOM killer killed it: the box (or a cgroup above it) had no
    /// memory left under its `memory.max`.
    OomKilled {
        /// The cgroup whose `memory.max` was hit, when the counters tell
        /// (the box, or a cgroup above it); `None` when memory ran out
        /// with no limit hit on the way (the machine's).
        cgroup: Option<PathBuf>,
        /// That `memory.max`, in bytes.
        limit: Option<u64>,
        /// Whether the box's `memory.oom.group` made the kill take every
        /// process of the box.
        group: bool,
    },
    /// The caller's timeout stopped it (see [`Stop::Timeout`]).
    TimedOut {
        /// The signal sent first.
        signal: i32,
        /// The grace after it.
        grace: Duration,
        /// Whether it was killed after the grace.
        killed: bool,
    },
    /// The caller was interrupted and stopped it (see [`Stop::Interrupted`]).
    Interrupted {
        /// The signal the caller got.
        signal: i32,
        /// Whether it was killed after the grace.
        killed: bool,
    },
    /// This handle killed the box while the job ran ([`BoxRef::kill`](crate::BoxRef::kill)).
    KilledWithBox,
    /// A signal the job got from elsewhere (another process, `cgbox kill`
    /// from another shell, or the job itself).
    Signaled(i32),
}

/// How a job started in a box ended, why, and what limited it on the way.
///
/// Take a [`Tally`] of the box before the job starts
/// ([`BoxRef::tally`](crate::BoxRef::tally)); once its main process has been
/// waited for, [`BoxRef::outcome`](crate::BoxRef::outcome) reads the
/// counters again: every count is over the run, not the box's life.
///
/// # Examples
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{Builder, Cause, Limits, Size, Stop};
///
/// let fake = Arc::new(FakeFs::new());
/// let job = Builder::new()
///     .name("tool")
///     .limits(Limits::new().memory_max(Size::parse("16M")?))
///     .create(fake.clone())?;
/// let before = job.tally()?;
/// // The job runs; the kernel's OOM killer takes its main process.
/// fake.set_file("cgbox/agents/tool", "memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")?;
/// let status = ExitStatus::from_raw(9); // killed by SIGKILL
/// let outcome = job.outcome(&before, status, Stop::Nothing)?;
/// assert_eq!(
///     outcome.cause,
///     Cause::OomKilled { cgroup: Some(job.path().to_path_buf()), limit: Some(16 << 20), group: false }
/// );
/// assert_eq!(outcome.counts.oom_kills, Some(1));
/// assert_eq!(outcome.counts.memory_max_hits, Some(12));
/// assert_eq!(outcome.describe(), "killed by the OOM killer at memory.max 16 MiB");
///
/// // The caller's timeout, and a plain exit.
/// let timed_out = job.outcome(&before, ExitStatus::from_raw(15), Stop::Timeout {
///     signal: 15, grace: std::time::Duration::from_secs(5), killed: false,
/// })?;
/// assert!(matches!(timed_out.cause, Cause::TimedOut { signal: 15, .. }));
/// let fine = job.outcome(&job.tally()?, ExitStatus::from_raw(0), Stop::Nothing)?;
/// assert_eq!((fine.cause, fine.counts.oom_kills), (Cause::Exited(0), Some(0)));
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How the main process ended.
    pub status: ExitStatus,
    /// Why.
    pub cause: Cause,
    /// What the kernel counted over the run.
    pub counts: Counts,
}

impl Outcome {
    /// The cause in words, first clause of a summary: `exit 0`, `killed
    /// by the OOM killer at memory.max 16 MiB`, `timed out (SIGTERM, then
    /// killed after 5 s)` ...
    ///
    /// See the [example](Outcome#examples).
    pub fn describe(&self) -> String {
        match &self.cause {
            Cause::Exited(code) => format!("exit {code}"),
            Cause::OomKilled {
                limit,
                cgroup,
                group,
            } => {
                let whole = if *group {
                    " (the whole box: memory.oom.group)"
                } else {
                    ""
                };
                match (limit, cgroup) {
                    (Some(l), _) => {
                        format!("killed by the OOM killer at memory.max {}{whole}", mib(*l))
                    }
                    (None, Some(c)) => format!(
                        "killed by the OOM killer at the memory limit of {}{whole}",
                        c.display()
                    ),
                    (None, None) => {
                        format!("killed by the OOM killer (the machine ran out of memory){whole}")
                    }
                }
            }
            Cause::TimedOut {
                signal,
                grace,
                killed,
            } => {
                let then = if *killed {
                    format!(", then killed after {}", secs(*grace))
                } else {
                    String::new()
                };
                format!("timed out ({}{then})", signal_name(*signal))
            }
            Cause::Interrupted { signal, killed } => format!(
                "interrupted by {}{}",
                signal_name(*signal),
                if *killed { ", then killed" } else { "" }
            ),
            Cause::KilledWithBox => "killed with its box".to_owned(),
            Cause::Signaled(sig) => format!("killed by {}", signal_name(*sig)),
        }
    }
}

/// Decide the cause from the main process's status, what the caller did,
/// and the counters of the run.
pub(crate) fn cause_of(
    status: ExitStatus,
    stop: Stop,
    counts: &Counts,
    oom_limit: (Option<PathBuf>, Option<u64>),
    group: bool,
    killed_by_handle: bool,
) -> Cause {
    match stop {
        Stop::Timeout {
            signal,
            grace,
            killed,
        } => {
            return Cause::TimedOut {
                signal,
                grace,
                killed,
            };
        }
        Stop::Interrupted { signal, killed } => return Cause::Interrupted { signal, killed },
        Stop::Nothing => {}
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => Cause::Exited(code),
        (None, Some(SIGKILL)) if counts.oom_kills.unwrap_or(0) > 0 => Cause::OomKilled {
            cgroup: oom_limit.0,
            limit: oom_limit.1,
            group: group || counts.oom_group_kills.unwrap_or(0) > 0,
        },
        (None, Some(SIGKILL)) if killed_by_handle => Cause::KilledWithBox,
        (None, Some(sig)) => Cause::Signaled(sig),
        // Stopped or continued: not an end; said as a signal of 0.
        (None, None) => Cause::Signaled(0),
    }
}

const SIGKILL: i32 = 9;

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `SIGTERM`, or `signal 35` for one without a name here.
pub(crate) fn signal_name(sig: i32) -> String {
    const NAMES: [(i32, &str); 12] = [
        (1, "SIGHUP"),
        (2, "SIGINT"),
        (3, "SIGQUIT"),
        (4, "SIGILL"),
        (6, "SIGABRT"),
        (7, "SIGBUS"),
        (8, "SIGFPE"),
        (9, "SIGKILL"),
        (11, "SIGSEGV"),
        (13, "SIGPIPE"),
        (14, "SIGALRM"),
        (15, "SIGTERM"),
    ];
    match NAMES.iter().find(|(n, _)| *n == sig) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("signal {sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(oom: Option<u64>, group: Option<u64>) -> Counts {
        Counts {
            oom_kills: oom,
            oom_group_kills: group,
            ..Counts::default()
        }
    }

    #[test]
    fn the_caller_s_stop_comes_first_then_the_kernel_s_counters() {
        let killed = ExitStatus::from_raw(9);
        let limit = (Some(PathBuf::from("/b")), Some(1 << 24));
        let stop = Stop::Timeout {
            signal: 15,
            grace: Duration::from_secs(5),
            killed: true,
        };
        assert_eq!(
            cause_of(
                killed,
                stop,
                &counts(Some(1), None),
                limit.clone(),
                false,
                false
            ),
            Cause::TimedOut {
                signal: 15,
                grace: Duration::from_secs(5),
                killed: true
            }
        );
        assert!(matches!(
            cause_of(
                killed,
                Stop::Nothing,
                &counts(Some(1), Some(1)),
                limit.clone(),
                false,
                false
            ),
            Cause::OomKilled { group: true, .. }
        ));
        assert_eq!(
            cause_of(
                killed,
                Stop::Nothing,
                &counts(Some(0), None),
                limit.clone(),
                false,
                true
            ),
            Cause::KilledWithBox
        );
        assert_eq!(
            cause_of(
                killed,
                Stop::Nothing,
                &counts(None, None),
                limit.clone(),
                false,
                false
            ),
            Cause::Signaled(9),
            "no memory controller: no OOM counted, so not said"
        );
        // A helper OOM-killed, the main process exits on its own: its code.
        assert_eq!(
            cause_of(
                ExitStatus::from_raw(2 << 8),
                Stop::Nothing,
                &counts(Some(1), None),
                limit,
                false,
                false
            ),
            Cause::Exited(2)
        );
    }

    #[test]
    fn causes_in_words() {
        let o = |cause| Outcome {
            status: ExitStatus::from_raw(9),
            cause,
            counts: Counts::default(),
        };
        assert_eq!(
            o(Cause::OomKilled {
                cgroup: None,
                limit: None,
                group: false
            })
            .describe(),
            "killed by the OOM killer (the machine ran out of memory)"
        );
        assert_eq!(
            o(Cause::OomKilled {
                cgroup: Some("/x".into()),
                limit: Some(3 << 30),
                group: true
            })
            .describe(),
            "killed by the OOM killer at memory.max 3 GiB (the whole box: memory.oom.group)"
        );
        assert_eq!(
            o(Cause::TimedOut {
                signal: 15,
                grace: Duration::from_millis(2500),
                killed: true
            })
            .describe(),
            "timed out (SIGTERM, then killed after 2.5 s)"
        );
        assert_eq!(
            o(Cause::Interrupted {
                signal: 2,
                killed: false
            })
            .describe(),
            "interrupted by SIGINT"
        );
        assert_eq!(o(Cause::Signaled(35)).describe(), "killed by signal 35");
        assert_eq!(o(Cause::KilledWithBox).describe(), "killed with its box");
    }
}
