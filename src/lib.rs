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
//!   checked before anything is written. [`JobBox::spawn`] starts a program
//!   already inside it; [`JobBox::destroy`] kills, waits and removes (and
//!   `Drop` does the same, best-effort); [`JobBox::keep`] opts out.
//! - [`App`] opens `<home>/<app>/agents` once for many boxes, lists them
//!   with who holds each (owned, kept, orphaned, leftover) and reaps what
//!   nobody holds.
//! - [`placement`] decides the home and refuses, with the fix, where boxes
//!   must not go; [`prepare`] moves a home's processes into a leaf so that
//!   it can give boxes controllers (what container entrypoints do).
//! - [`stats::Stats`] reads every statistic, absent files left out and
//!   damaged files named; [`stats::Sampler`] re-reads the hot ones with one
//!   `pread` each and no allocation.
//! - [`kill`] holds the steps that end a box: `cgroup.kill` or
//!   freeze-and-SIGKILL through pidfds, a wait on `cgroup.events` that never
//!   spins, and removal with bounded retry.
//! - [`discover::Discovery`] finds the cgroup2 mount, our cgroup and the
//!   home of the boxes, and names what is missing with the fix.
//! - [`fs::CgroupFs`] is the one seam to the kernel: [`fs::SysFs`] on a real
//!   system, [`fs::FakeFs`] in tests, an in-memory model of the kernel's
//!   cgroup v2 rules (thread mode included) with fake processes and fault
//!   injection.
//! - [`dbus`] is a minimal D-Bus client that asks systemd (the system
//!   manager, or the user's) for a transient scope with `Delegate=yes`, and
//!   tells whether a process's unit is delegated.
//! - [`parse`] holds pure parsers for every file format involved; [`Error`]
//!   says what failed, on which path, with the errno kept and the fix.
//!
//! # Examples
//!
//! Every example below runs on the fake, so it needs neither root nor cgroups.
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
//! use cgbox::discover::{Discovery, Mode};
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

pub mod dbus;
pub mod discover;
mod error;
mod fixes;
pub mod fs;
pub mod jobbox;
pub mod kill;
pub mod limits;
pub mod parse;
pub mod placement;
pub mod prepare;
pub mod spawn;
pub mod stats;
pub mod systemd_scope;

pub use error::{Error, ErrorKind, Result};
pub use jobbox::{App, Builder, JobBox, Policy};
pub use limits::{IoMax, Limits, Size};
