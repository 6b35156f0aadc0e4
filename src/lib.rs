//! cgbox: a cgroup v2 box for every job.
//!
//! # From the top
//!
//! - [`discover::Discovery`] finds where cgroup2 is mounted, which cgroup
//!   this process is in, and the directory that will hold
//!   `<app>/agents/<name>`; what it cannot do it names, with the fix.
//! - [`fs::CgroupFs`] is the one seam to the kernel: [`fs::SysFs`] on a real
//!   system, [`fs::FakeFs`] in tests, an in-memory model of the kernel's
//!   cgroup v2 rules with fake processes and fault injection.
//! - [`parse`] holds pure parsers for every file format involved.
//! - [`Error`] says what failed, on which path, with the errno kept and,
//!   where cgbox knows one, the fix.
//!
//! ```
//! use cgbox::discover::{Discovery, Mode};
//! use cgbox::fs::FakeFs;
//!
//! let fake = FakeFs::new(); // a unified host, this process in the root cgroup
//! let found = Discovery::probe(&fake, "cgbox");
//! assert_eq!(found.mode, Mode::Unified);
//! assert!(found.usable());
//! assert_eq!(found.controllers, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]);
//! ```
#![deny(missing_docs)]

pub mod discover;
mod error;
pub mod fs;
pub mod jobbox;
pub mod kill;
pub mod limits;
pub mod parse;
mod spawn;
pub mod stats;

pub use error::{Error, ErrorKind, Result};
pub use jobbox::{Builder, JobBox, Policy};
pub use limits::{IoMax, Limits, Size};
