//! Pure parsers: bytes in, typed values out, no I/O.
//!
//! Every parser here accepts any input without panicking. Malformed input
//! gives a [`ParseError`] naming the line; unknown keys are skipped, so a
//! newer kernel's additions never break an older cgbox.

mod error;
pub mod events;
pub mod keyed;
pub mod mountinfo;
pub mod proc_cgroup;
pub mod psi;
pub mod stat_file;
pub mod token;
pub mod value;

pub use error::ParseError;
