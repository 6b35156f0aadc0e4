use crate::{Error, ErrorKind, Result};

/// Check that `name` can be a single cgroup directory name that cgbox will
/// create or open: not empty, at most 255 bytes, no `/`, no NUL, not `.` or
/// `..`, and no leading `.` (hidden names are kept for the user).
pub fn validate_name(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes")
    } else if name.contains('/') {
        Some("it contains '/'")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.starts_with('.') {
        Some("it starts with '.'")
    } else if name.contains('\n') {
        Some("it contains a newline")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(Error::new(ErrorKind::InvalidName, "check cgroup name")
            .with_detail(format!("{name:?} is not a valid name: {why}"))
            .with_hint("use letters, digits, '-', '_' and '.' (not first), at most 255 bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names() {
        for ok in ["a", "job-1", "x.y", "0123", &"n".repeat(255)] {
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
            &"n".repeat(256),
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidName, "{bad:?}");
        }
    }
}
