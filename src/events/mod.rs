//! What happens in a box while it runs: [`Events`], a watcher made by
//! [`BoxRef::events`], yields each [`Event`] as the kernel reports it.
//!
//! Sources: `cgroup.events` (populated, frozen), `memory.events` (high,
//! max, oom_kill, oom_group_kill), `pids.events` (max), each kept open and
//! re-read with one `pread` when the kernel signals a change (`POLLPRI`);
//! PSI triggers ([`Trigger`]) on the box's pressure files; and the box's
//! removal, seen by inotify on its parent directory. The counters are
//! compared with the last read, so nothing is missed between two wakes:
//! an OOM kill counted is an event, however late it is read.

mod aio;
mod state;
mod trigger;
mod watch;

use std::fmt;

pub use trigger::{Resource, Trigger};
pub use watch::Events;

use crate::BoxRef;
use crate::fs::SysFs;

/// One thing that happened in a box, from an [`Events`] watcher.
///
/// Counted events carry how much the kernel's counter grew since the last
/// read (several OOM kills between two reads are one `OomKill` with their
/// count). A counter the kernel does not keep never makes an event:
/// `oom_group_kill` is not in 5.10's `memory.events`, so no
/// [`Event::OomGroupKill`] comes there, never one with 0; a box without the
/// memory or pids controller has no `memory.events` or `pids.events`.
///
/// `Display` says it for people: `oom kill: 1 process killed by the OOM
/// killer`.
///
/// # Examples
///
/// What an agent manager tells the model, from each event:
///
/// ```
/// use std::time::Duration;
/// use cgbox::{Event, Resource, Trigger};
///
/// fn tell(event: &Event) -> String {
///     match event {
///         Event::OomKill { count } => format!("your tool call was OOM-killed ({count} processes)"),
///         Event::ForksRefused { count } => format!("{count} forks were refused at pids.max"),
///         Event::Pressure(t) => format!("memory is tight: {t}"),
///         Event::Empty => "your tool call ended".to_owned(),
///         other => other.to_string(),
///     }
/// }
/// let t = Trigger::some(Resource::Memory, Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(tell(&Event::OomKill { count: 1 }), "your tool call was OOM-killed (1 processes)");
/// assert_eq!(tell(&Event::Pressure(t)), "memory is tight: memory some 100000 2000000");
/// assert_eq!(tell(&Event::Frozen), "frozen");
/// assert_eq!(
///     Event::Pressure(t).to_string(),
///     "pressure: 100 ms of memory some stall within 2 s (memory some 100000 2000000)"
/// );
/// assert_eq!(Event::MemoryMax { count: 3 }.to_string(), "memory.max: reached 3 times");
/// assert_eq!(Event::OomKill { count: 1 }.to_string(), "oom kill: 1 process killed by the OOM killer");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The box holds a process again (`cgroup.events` populated 0 to 1).
    Populated,
    /// No process is left in the box or below it (populated 1 to 0).
    Empty,
    /// The box is frozen (`cgroup.events` frozen 0 to 1).
    Frozen,
    /// The box is thawed (frozen 1 to 0).
    Thawed,
    /// The OOM killer killed `count` processes of the box
    /// (`memory.events` oom_kill).
    OomKill {
        /// Processes killed since the last read.
        count: u64,
    },
    /// The OOM killer took the whole box `count` times, as
    /// `memory.oom.group` asks (`memory.events` oom_group_kill; not on
    /// Linux 5.10, where it never comes).
    OomGroupKill {
        /// Group kills since the last read.
        count: u64,
    },
    /// The box went over `memory.high` and was throttled and reclaimed
    /// `count` times (`memory.events` high).
    MemoryHigh {
        /// Times since the last read.
        count: u64,
    },
    /// The box's usage was about to go over `memory.max` `count` times
    /// (`memory.events` max): reclaim, then the OOM killer if that failed.
    MemoryMax {
        /// Times since the last read.
        count: u64,
    },
    /// `count` forks (or clones) were refused because the box was at
    /// `pids.max` (`pids.events` max).
    ForksRefused {
        /// Refusals since the last read.
        count: u64,
    },
    /// A PSI trigger fired: the box's tasks stalled for at least its
    /// threshold within its window.
    Pressure(Trigger),
    /// The box was removed. The last event of a watcher.
    Gone,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: &u64| if *n == 1 { "" } else { "es" };
        match self {
            Event::Populated => f.write_str("populated"),
            Event::Empty => f.write_str("empty"),
            Event::Frozen => f.write_str("frozen"),
            Event::Thawed => f.write_str("thawed"),
            Event::OomKill { count } => write!(
                f,
                "oom kill: {count} process{} killed by the OOM killer",
                plural(count)
            ),
            Event::OomGroupKill { count } => write!(
                f,
                "oom group kill: the OOM killer took the whole box ({count} time{})",
                s(*count)
            ),
            Event::MemoryHigh { count } => {
                write!(f, "memory.high: exceeded {count} time{}", s(*count))
            }
            Event::MemoryMax { count } => {
                write!(f, "memory.max: reached {count} time{}", s(*count))
            }
            Event::ForksRefused { count } => {
                write!(f, "pids.max: {count} fork{} refused", s(*count))
            }
            Event::Pressure(t) => write!(f, "pressure: {} ({t})", t.describe()),
            Event::Gone => f.write_str("gone"),
        }
    }
}

fn s(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl BoxRef<SysFs> {
    /// A watcher of this box's events ([`Events`]): what the kernel
    /// reports from now on, each as an [`Event`]. It owns its descriptors
    /// and may outlive this handle; dropping it stops the watching (and
    /// removes its PSI triggers). Dropping may take some milliseconds:
    /// closing its inotify descriptor waits for an RCU grace period.
    ///
    /// The real backend only: the watcher is a kernel object (an epoll
    /// descriptor gathering the box's files), which `FakeFs` has no
    /// counterpart of.
    ///
    /// See the [example](crate::Events#examples).
    pub fn events(&self) -> crate::Result<Events> {
        Events::open(self.fs().clone(), self.dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn people_read_every_event() {
        let t = Trigger::full(
            Resource::Io,
            Duration::from_millis(50),
            Duration::from_secs(4),
        );
        let cases = [
            (Event::Populated, "populated"),
            (Event::Empty, "empty"),
            (Event::Frozen, "frozen"),
            (Event::Thawed, "thawed"),
            (
                Event::OomKill { count: 2 },
                "oom kill: 2 processes killed by the OOM killer",
            ),
            (
                Event::OomGroupKill { count: 1 },
                "oom group kill: the OOM killer took the whole box (1 time)",
            ),
            (
                Event::MemoryHigh { count: 1 },
                "memory.high: exceeded 1 time",
            ),
            (
                Event::MemoryMax { count: 12 },
                "memory.max: reached 12 times",
            ),
            (Event::ForksRefused { count: 1 }, "pids.max: 1 fork refused"),
            (
                Event::Pressure(t),
                "pressure: 50 ms of io full stall within 4 s (io full 50000 4000000)",
            ),
            (Event::Gone, "gone"),
        ];
        for (event, text) in cases {
            assert_eq!(event.to_string(), text);
        }
    }
}
