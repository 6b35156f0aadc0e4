//! cgbox: a cgroup v2 box for every job.
//!
//! A box is a cgroup at `<parent>/<app>/agents/<name>`, beside the cgroup of
//! the process that makes it: limits on memory, CPU, PIDs and I/O, live
//! statistics, a kill that nothing escapes, and removal that leaves nothing
//! behind. Everything is blocking and dependency-light.
//!
//! # From the top
//!
//! - [`Builder`] makes a [`JobBox`], all or nothing, with [`Limits`]
//!   checked before anything is written. [`JobBox::spawn`] starts a program
//!   already inside it; [`JobBox::destroy`] kills, waits and removes (and
//!   `Drop` does the same, best-effort); [`JobBox::keep`] opts out.
//! - [`stats::Stats`] reads every statistic, absent files left out and
//!   damaged files named; [`stats::Sampler`] re-reads the hot ones with one
//!   `pread` each and no allocation.
//! - [`kill`] holds the steps that end a box: `cgroup.kill` or
//!   freeze-and-SIGKILL through pidfds, a wait on `cgroup.events` that never
//!   spins, and removal with bounded retry.
//! - [`discover::Discovery`] finds the cgroup2 mount, our cgroup and the
//!   parent of the boxes, and names what is missing with the fix.
//! - [`fs::CgroupFs`] is the one seam to the kernel: [`fs::SysFs`] on a real
//!   system, [`fs::FakeFs`] in tests, an in-memory model of the kernel's
//!   cgroup v2 rules with fake processes and fault injection.
//! - [`parse`] holds pure parsers for every file format involved; [`Error`]
//!   says what failed, on which path, with the errno kept and the fix.
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
//! assert_eq!(fake.cgroups(), ["/"]);
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
//! let fake = Arc::new(FakeFs::with_controllers(&["cpu"])); // memory not delegated
//! let err = Builder::new()
//!     .limits(Limits::new().memory_max(Size::Bytes(1 << 26)))
//!     .create(fake.clone())
//!     .unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ControllerUnavailable);
//! assert!(err.hint().is_some());
//! assert_eq!(fake.cgroups(), ["/"], "nothing was made");
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

pub mod discover;
mod error;
pub mod fs;
pub mod jobbox;
pub mod kill;
pub mod limits;
pub mod parse;
pub mod spawn;
pub mod stats;

pub use error::{Error, ErrorKind, Result};
pub use jobbox::{Builder, JobBox, Policy};
pub use limits::{IoMax, Limits, Size};
