//! cgbox: a cgroup v2 box for every job.
//!
//! A box is a cgroup at `<home>/<app>/agents/<name>`: limits on memory, CPU,
//! PIDs and I/O, live statistics, a kill that nothing escapes, and removal
//! that leaves nothing behind. The home is the cgroup delegated to this
//! process (a systemd unit with `Delegate=yes`, a cgroup chowned to this
//! user, the root of a container's cgroup namespace, an enclosing box, the
//! root of a host without a cgroup manager), never the parent of our own
//! cgroup: a box made beside the caller escapes the caller's limits and
//! outlives it. Everything is blocking and dependency-light.
//!
//! # From the top
//!
//! - [`Builder`] makes a [`JobBox`], all or nothing, with [`Limits`]
//!   (sizes as [`Size`], `io.max` lines as [`IoMax`]) checked before
//!   anything is written; [`Policy`] says what to do with a limit this host
//!   cannot apply. A `JobBox` owns its box: dropping it kills whatever runs
//!   inside and removes the box, [`JobBox::destroy`] does so and reports,
//!   [`JobBox::keep`] opts out.
//! - [`BoxRef`] is every operation on a box, and what a box opened by name
//!   is ([`App::open_box`], [`BoxRef::open`]): dropping one never kills.
//!   [`BoxRef::start`] starts a [`BoxCommand`] already inside the box
//!   (clone3 with `CLONE_INTO_CGROUP`) and gives a [`BoxChild`];
//!   [`BoxRef::kill`], [`BoxRef::freeze`], [`BoxRef::set_limits`] (a
//!   [`Changed`] list of each [`Change`]) and [`KillMethod`] do the rest.
//!   A job sees its box's limits in its own cgroup's files, wherever it was
//!   started: a box inside a box ([`BoxRef::nested`]) shows the limits
//!   above it where they are tighter than its own, and `set_limits` keeps
//!   the boxes inside in step.
//! - [`App`] is `<home>/<app>/agents`, opened once for many boxes, with
//!   [`App::list`] (a [`Listing`] of [`BoxEntry`], who holds each: an
//!   [`Owner`]) and [`App::reap`]. Where its home is, is decided in one
//!   place, [`AppOptions`]: the cgroup delegated to this process, one named
//!   by the caller, or (asking systemd through a [`ServiceManager`] such as
//!   [`Systemd`]) a scope of our own; it comes as a [`Placement`] and a
//!   [`HomeKind`].
//! - [`Discovery`] is the inspection report (`cgbox inspect`): the
//!   [`Mode`], the mount, the controllers and [`Features`] boxes can have,
//!   and each [`Problem`] with its fix. [`prepare()`] makes a home that
//!   holds processes able to give boxes controllers (a container's
//!   entrypoint), moving them into the leaf [`LEAF`].
//! - [`Stats`] reads every statistic of a box, absent files left out and
//!   damaged files named; [`Sampler`] re-reads the hot ones into a
//!   [`Snapshot`] with one `pread` each and no allocation.
//! - [`BoxRef::events`] watches a live box: an [`Events`] watcher (one
//!   file descriptor, for `poll`, epoll or tokio's `AsyncFd`) yields each
//!   [`Event`] as the kernel reports it (an OOM kill, a limit hit, the box
//!   emptying) and the firings of PSI [`Trigger`]s on a [`Resource`].
//! - [`fs::CgroupFs`] is the one seam to the kernel: [`fs::SysFs`] on a
//!   real system; with the `fake` feature, `fs::FakeFs`, an in-memory model
//!   of the kernel's cgroup v2 rules with fake processes and fault
//!   injection, for testing code that uses cgbox without root.
//! - [`Error`] says what failed, on which path, with the errno kept (its
//!   [`source`](std::error::Error::source) is the `io::Error`), an
//!   [`ErrorKind`] to match on, and the fix.
//!
//! # Examples
//!
//! Every example below runs on the fake (the `fake` feature), so it needs
//! neither root nor cgroups.
//!
//! ```
//! use std::sync::Arc;
//! use cgbox::fs::FakeFs;
//! use cgbox::{Builder, Limits, Size};
//!
//! let fake = Arc::new(FakeFs::new()); // a unified host, every controller
//! let job = Builder::new()
//!     .name("build-42")
//!     .limits(Limits::new().memory_max(Size::parse("64M")?).pids_max(32))
//!     .create(fake.clone())?;
//! assert_eq!(job.path().to_str(), Some("/sys/fs/cgroup/cgbox/agents/build-42"));
//!
//! fake.spawn("cgbox/agents/build-42")?; // a fake process inside
//! let stats = job.stats()?;
//! assert_eq!(stats.pids_current(), Some(1));
//! assert_eq!(stats.memory_peak(), Some(0));
//!
//! job.destroy()?; // kill, wait, remove
//! assert_eq!(fake.cgroups(), ["/", "/cgbox", "/cgbox/agents"]); // the app tree stays
//! # Ok::<(), cgbox::Error>(())
//! ```
//!
//! Errors are typed and say what to do:
//!
//! ```
//! use std::sync::Arc;
//! use cgbox::fs::FakeFs;
//! use cgbox::{Builder, ErrorKind, Limits, Size};
//!
//! let fake = Arc::new(FakeFs::with_controllers(&["cpu"])); // memory not offered
//! let err = Builder::new()
//!     .limits(Limits::new().memory_max(Size::Bytes(1 << 26)))
//!     .create(fake.clone())
//!     .unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ControllerUnavailable);
//! assert!(err.hint().is_some());
//! assert_eq!(fake.cgroups(), ["/"], "nothing was made");
//! ```
//!
//! On a systemd host, boxes go inside a unit that delegates, and nowhere
//! else:
//!
//! ```
//! use std::sync::Arc;
//! use cgbox::fs::FakeFs;
//! use cgbox::{Builder, ErrorKind};
//!
//! let fake = Arc::new(FakeFs::new());
//! fake.enter("system.slice/agent.service")?; // a plain service
//! let err = Builder::new().create(fake.clone()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::NotDelegated);
//! assert!(err.hint().unwrap().contains("Delegate=yes"));
//!
//! fake.set_xattr("system.slice/agent.service", "user.delegate", b"1")?; // Delegate=yes
//! let job = Builder::new().name("tool").create(fake.clone())?;
//! assert_eq!(
//!     job.path().to_str(),
//!     Some("/sys/fs/cgroup/system.slice/agent.service/cgbox/agents/tool")
//! );
//! # Ok::<(), cgbox::Error>(())
//! ```
//!
//! Discovery on a host:
//!
//! ```
//! use cgbox::{Discovery, Mode};
//! use cgbox::fs::FakeFs;
//!
//! let found = Discovery::probe(&FakeFs::new(), "cgbox");
//! assert_eq!(found.mode, Mode::Unified);
//! assert!(found.usable());
//! ```
#![deny(missing_docs)]
// Library code never panics on data from outside: no unwrap, expect or
// indexing (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod dbus;
mod discover;
mod error;
mod events;
mod fixes;
pub mod fs;
mod home;
mod jobbox;
mod kill;
mod layout;
mod limits;
mod outcome;
mod parse;
mod prepare;
mod spawn;
mod spin;
mod stats;
mod systemd;
#[cfg(test)]
mod testkit;

/// The README's Rust samples, compiled by `cargo test` so that they keep
/// up with the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSamples;

pub use discover::{Discovery, Features, Problem};
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, Events, Resource, Trigger};
pub use home::{HomeKind, Mode, Placement};
pub use jobbox::{
    App, AppOptions, BoxEntry, BoxRef, Builder, Change, Changed, DEFAULT_TIMEOUT, JobBox, Listing,
    OddEntry, Owner, Policy, Reaped, Skipped,
};
pub use kill::KillMethod;
pub use layout::LEAF;
pub use limits::{IoMax, Limits, Size};
pub use outcome::{Cause, Counts, Outcome, Stop, Tally};
pub use prepare::{Prepared, prepare};
pub use spawn::{BoxChild, BoxCommand, Stdio};
pub use stats::{
    CpuUsage, FileStats, MemoryEvents, MemoryStat, Number, Pressure, Sampler, Snapshot,
    StallTotals, Stats,
};
pub use systemd::{ScopeRequest, ServiceManager, Systemd};
