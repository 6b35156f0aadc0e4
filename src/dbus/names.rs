//! The syntax of D-Bus names: object paths, interface and error names,
//! member names, bus names. Each check returns what is wrong, for the error.

const MAX_NAME: usize = 255;

/// `/` or `/a/b_c/D1`: elements of `[A-Za-z0-9_]`, none empty, no trailing `/`.
pub fn check_path(p: &str) -> Result<(), &'static str> {
    if p == "/" {
        return Ok(());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err("an object path that does not start with /");
    };
    if rest
        .split('/')
        .all(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        Ok(())
    } else {
        Err("an object path with an empty element or a character outside [A-Za-z0-9_]")
    }
}

/// `org.freedesktop.DBus`: two or more elements of `[A-Za-z_][A-Za-z0-9_]*`.
/// Error names follow the same rule.
pub fn check_interface(n: &str) -> Result<(), &'static str> {
    if n.len() > MAX_NAME {
        return Err("an interface or error name longer than 255 bytes");
    }
    let mut count = 0;
    for e in n.split('.') {
        if check_element(e, false).is_err() {
            return Err("an interface or error name with an invalid element");
        }
        count += 1;
    }
    if count < 2 {
        return Err("an interface or error name with fewer than two elements");
    }
    Ok(())
}

/// `Hello`: one element of `[A-Za-z_][A-Za-z0-9_]*`.
pub fn check_member(n: &str) -> Result<(), &'static str> {
    if n.len() > MAX_NAME || check_element(n, false).is_err() {
        return Err("a member name that is empty, too long or not [A-Za-z_][A-Za-z0-9_]*");
    }
    Ok(())
}

/// A unique name (`:1.42`) or a well-known name (`org.freedesktop.systemd1`).
pub fn check_bus_name(n: &str) -> Result<(), &'static str> {
    if n.len() > MAX_NAME {
        return Err("a bus name longer than 255 bytes");
    }
    let (unique, rest) = match n.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, n),
    };
    let mut count = 0;
    for e in rest.split('.') {
        // Elements of unique names may start with a digit; hyphens are allowed in both.
        if check_element(e, true).is_err()
            || (!unique && e.as_bytes().first().is_some_and(u8::is_ascii_digit))
        {
            return Err("a bus name with an invalid element");
        }
        count += 1;
    }
    if count < 2 {
        return Err("a bus name with fewer than two elements");
    }
    Ok(())
}

fn check_element(e: &str, bus: bool) -> Result<(), ()> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || (bus && b == b'-');
    match e.as_bytes().first() {
        None => Err(()),
        Some(b) if !bus && b.is_ascii_digit() => Err(()),
        Some(_) if e.bytes().all(ok_char) => Ok(()),
        Some(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in [
            "/",
            "/org/freedesktop/systemd1",
            "/org/freedesktop/systemd1/unit/cgbox_2dtest_2d1_2escope",
            "/org/freedesktop/systemd1/job/42",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "org", "/a/", "//", "/a//b", "/a-b", "/a.b", "/é"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interfaces_members_and_bus_names() {
        assert!(check_interface("org.freedesktop.systemd1.Manager").is_ok());
        assert!(check_interface("org.freedesktop.DBus.Error.AccessDenied").is_ok());
        for bad in ["org", "org.", ".org.x", "org.1x", "org.x-y", ""] {
            assert!(check_interface(bad).is_err(), "{bad}");
        }
        assert!(check_member("StartTransientUnit").is_ok());
        for bad in ["", "1a", "a.b", "a-b"] {
            assert!(check_member(bad).is_err(), "{bad}");
        }
        for ok in [":1.42", ":1.0", "org.freedesktop.systemd1", "org.x-y.z"] {
            assert_eq!(check_bus_name(ok), Ok(()), "{ok}");
        }
        for bad in [":1", "org", "org.1x", ":", "a..b", &"a.b".repeat(100)] {
            assert!(check_bus_name(bad).is_err(), "{bad}");
        }
    }
}
