//! Pure parsers: bytes in, typed values out, no I/O.
//!
//! Every parser here accepts any input without panicking. Malformed input
//! gives a [`ParseError`] naming the line; unknown keys are skipped, so a
//! newer kernel's additions never break an older cgbox.

pub(crate) mod cpu_list;
mod error;
pub mod events;
pub mod keyed;
mod known_keys;
pub mod mountinfo;
pub mod proc_cgroup;
pub mod psi;
pub mod stat_file;
pub mod token;
pub mod value;

pub use error::ParseError;

#[cfg(test)]
mod mutation;

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::stat_file::{Layout, Number};
        use crate::parse::{events, stat_file, value};

        let ev = events::parse("populated 1\nfrozen 0\n")?;
        assert!(ev.populated && ev.frozen == Some(false));
        assert_eq!(value::u64_file("12984320\n")?, 12984320);
        let cpu = stat_file::parse(Layout::FlatUnsigned, "usage_usec 5\nuser_usec 3\n")?;
        assert_eq!(cpu.get("usage_usec"), Some(Number::Uint(5)));

        // Damage names its line; nothing panics.
        let err =
            stat_file::parse(Layout::FlatUnsigned, "usage_usec 5\nusage_usec 6\n").unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.message().contains("usage_usec"));
        let e = err.into_error(std::path::Path::new("/sys/fs/cgroup/x/cpu.stat"));
        assert_eq!(e.kind(), crate::ErrorKind::Parse);
        Ok(())
    }
}
