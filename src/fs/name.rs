//! Names: what a backend may open, and what cgbox may call a box.

use std::path::Path;

use crate::{Error, ErrorKind, Result};

/// A single path component a backend may open or make: not empty, at most
/// 255 bytes, no `/`, no NUL, not `.` or `..`. Both backends check every
/// name with it, so nothing reaches outside the directory it is given.
/// Names a job gives the cgroups it makes inside its box pass (they may be
/// anything the kernel takes); names cgbox gives pass
/// [`validate_name`] too.
pub(crate) fn check_component(name: &str, dir: &Path) -> Result<()> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > 255 {
        "it is longer than 255 bytes"
    } else if let Some(b) = name.bytes().find(|&b| b == b'/' || b == 0) {
        // One pass: every read of a file comes through here.
        if b == b'/' {
            "it contains '/'"
        } else {
            "it contains a NUL byte"
        }
    } else if name == "." || name == ".." {
        "it is . or .."
    } else {
        return Ok(());
    };
    Err(Error::new(ErrorKind::InvalidName, "open")
        .with_path(dir)
        .with_detail(format!("{name:?} is not a single file name: {why}")))
}

/// The prefixes of the kernel's interface files (`cgroup.procs`,
/// `memory.max` ...): a box of such a name would be taken for one.
const KERNEL_PREFIXES: [&str; 11] = [
    "cgroup",
    "cpu",
    "cpuset",
    "io",
    "memory",
    "pids",
    "hugetlb",
    "rdma",
    "misc",
    "irq",
    "perf_event",
];

/// The one rule for the names cgbox gives (boxes, apps, leaves), checked
/// where a name comes in: 1 to 255 bytes of letters, digits, `-`, `_` and
/// `.`, not starting with `-` or `.` (an option, a hidden file), and not
/// the name of a kernel interface file (`cgroup.procs`, `memory.max` ...).
/// So that every box can be named on a command line and shown on a
/// terminal as it is.
///
/// # Examples
///
/// ```
/// use cgbox::fs::validate_name;
///
/// assert!(validate_name("build-42").is_ok());
/// for bad in ["", ".hidden", "-rf", "a/b", "memory.max", "cgroup.procs"] {
///     assert!(validate_name(bad).is_err(), "{bad}");
/// }
/// ```
pub fn validate_name(name: &str) -> Result<()> {
    let first = name.chars().next();
    let kernel_file = name
        .split_once('.')
        .is_some_and(|(prefix, _)| KERNEL_PREFIXES.contains(&prefix));
    let problem = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes".to_owned())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(format!("it contains {:?}", c))
    } else if first == Some('-') {
        Some("it starts with '-' (it would read as an option)".to_owned())
    } else if first == Some('.') {
        Some("it starts with '.'".to_owned())
    } else if kernel_file {
        Some("it is the name of a kernel interface file".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(Error::new(ErrorKind::InvalidName, "check name")
            .with_detail(format!("{:?} is not a valid name: {why}", name))
            .with_hint("use letters, digits, '-', '_' and '.' (not first, and not '-' first), at most 255 bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "job-1",
            "x.y",
            "0123",
            "_x",
            "agent_7.tool",
            &"n".repeat(255),
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            ".hidden",
            "a\0b",
            "a\nb",
            " ",
            "a b",
            "a\tb",
            "a\rb",
            "\u{1b}[2J",
            "*",
            "-x",
            "--help",
            "cgroup.procs",
            "memory.max",
            "é",
            &"n".repeat(256),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidName, "{bad:?}");
            assert!(!e.to_string().contains('\u{1b}'), "shown escaped: {e}");
        }
    }

    #[test]
    fn components_a_job_may_make_pass() {
        let dir = Path::new("/x");
        for ok in ["a b", ".hidden", "user@1000.service", "-x", "cgroup.procs"] {
            assert!(check_component(ok, dir).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a\0b", &"n".repeat(256)] {
            assert_eq!(
                check_component(bad, dir).unwrap_err().kind(),
                crate::ErrorKind::InvalidName,
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod components {
    use std::path::Path;

    use super::check_component;

    #[test]
    fn a_job_may_name_its_cgroups_anything_the_kernel_takes() {
        let dir = Path::new("/sys/fs/cgroup/box");
        assert!(check_component("anything a job names", dir).is_ok());
        assert!(check_component("..", dir).is_err());
        assert!(check_component("a/b", dir).is_err());
    }
}
