//! cgbox: a cgroup v2 box for every job.
#![deny(missing_docs)]

mod error;
pub mod fs;
pub mod parse;

pub use error::{Error, ErrorKind, Result};
