//! systemd unit names and their D-Bus object paths.

use crate::{Error, ErrorKind, Result};

/// Where systemd puts unit objects: this prefix, then the escaped name.
pub const UNIT_PATH_PREFIX: &str = "/org/freedesktop/systemd1/unit/";

/// The longest unit name systemd accepts.
pub const MAX_UNIT_NAME: usize = 255;

/// Check that `name` is a unit name systemd accepts with suffix `suffix`
/// (`.scope`, `.slice`): a non-empty prefix of `[A-Za-z0-9:_.\-]`, no
/// template `@`, at most 255 bytes.
pub fn check(name: &str, suffix: &str) -> Result<()> {
    let invalid = |why: &str| {
        Error::new(ErrorKind::InvalidName, "check a systemd unit name")
            .with_detail(format!("{name:?}: {why}"))
    };
    let Some(prefix) = name.strip_suffix(suffix) else {
        return Err(invalid(&format!("does not end in {suffix}")));
    };
    if prefix.is_empty() {
        return Err(invalid("nothing before the suffix"));
    }
    if name.len() > MAX_UNIT_NAME {
        return Err(invalid("longer than 255 bytes"));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b))
    {
        return Err(invalid("a character outside [A-Za-z0-9:_.-\\]"));
    }
    Ok(())
}

/// The unit types systemd has.
const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// Check that `name` is a unit name of any type, templates and instances
/// (`user@1000.service`) included.
pub fn check_any(name: &str) -> Result<()> {
    let invalid = |why: &str| {
        Error::new(ErrorKind::InvalidName, "check a systemd unit name")
            .with_detail(format!("{name:?}: {why}"))
    };
    let Some((prefix, suffix)) = name.rsplit_once('.') else {
        return Err(invalid("no .type suffix"));
    };
    if !UNIT_TYPES.contains(&suffix) {
        return Err(invalid("not a unit type systemd has"));
    }
    if prefix.is_empty() || name.len() > MAX_UNIT_NAME {
        return Err(invalid("empty before the suffix, or longer than 255 bytes"));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":_.-\\@".contains(&b))
    {
        return Err(invalid("a character outside [A-Za-z0-9:_.-\\@]"));
    }
    Ok(())
}

/// The object path of unit `name`, as systemd escapes it: bytes other than
/// `[A-Za-z0-9]` become `_xx` (`cgbox-1.scope` is `cgbox_2d1_2escope`).
///
/// See the [example](crate::dbus#examples).
pub fn object_path(name: &str) -> String {
    let mut path = String::from(UNIT_PATH_PREFIX);
    if name.is_empty() {
        path.push('_');
    }
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

#[cfg(test)]
/// The unit name an object path stands for, if it is a unit's path.
///
/// See the [example](crate::dbus#examples).
pub fn from_object_path(path: &str) -> Option<String> {
    let label = path.strip_prefix(UNIT_PATH_PREFIX)?;
    if label == "_" {
        return Some(String::new());
    }
    let mut out = Vec::with_capacity(label.len());
    let mut bytes = label.bytes();
    while let Some(b) = bytes.next() {
        if b != b'_' {
            out.push(b);
            continue;
        }
        let hex = |d: Option<u8>| d.and_then(|d| (d as char).to_digit(16));
        out.push((hex(bytes.next())? * 16 + hex(bytes.next())?) as u8);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_as_systemd_does() {
        assert_eq!(
            object_path("cgbox-test-1.scope"),
            "/org/freedesktop/systemd1/unit/cgbox_2dtest_2d1_2escope"
        );
        assert_eq!(
            object_path("user@1000.service"),
            "/org/freedesktop/systemd1/unit/user_401000_2eservice"
        );
        for name in ["cgbox-test-1.scope", "user@1000.service", "-.slice", ""] {
            assert_eq!(from_object_path(&object_path(name)).as_deref(), Some(name));
        }
        assert_eq!(from_object_path("/org/freedesktop/systemd1/job/1"), None);
        assert_eq!(from_object_path("/org/freedesktop/systemd1/unit/a_2"), None);
        assert_eq!(
            from_object_path("/org/freedesktop/systemd1/unit/a_zz"),
            None
        );
    }

    #[test]
    fn names() {
        assert!(check("cgbox-3f2a.scope", ".scope").is_ok());
        assert!(check("app-x.slice", ".slice").is_ok());
        for bad in ["x.service", ".scope", "a b.scope", "a@b.scope", "a/b.scope"] {
            let e = check(bad, ".scope").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad}");
        }
        assert!(check(&format!("{}.scope", "a".repeat(250)), ".scope").is_err());
        for ok in ["user@1000.service", "app-x.scope", "-.slice", "a:b.mount"] {
            assert!(check_any(ok).is_ok(), "{ok}");
        }
        for bad in ["x", "x.unit", ".service", "a b.service", "a/b.service"] {
            assert_eq!(
                check_any(bad).unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{bad}"
            );
        }
    }
}
