//! Where the buses are: the system bus and the user's session bus, from the
//! environment or the well-known defaults, and the parsing of D-Bus
//! addresses (`unix:path=...` and `unix:abstract=...`, `%xx` escapes).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::wire_error::WireError;
use crate::{Error, ErrorKind, Result};

/// The system bus's socket when `DBUS_SYSTEM_BUS_ADDRESS` is not set.
///
/// See the [example](crate::dbus#examples).
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// Which bus, and so which systemd: the system manager (PID 1) or the
/// user's manager (`user@UID.service`).
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    /// The system bus: `DBUS_SYSTEM_BUS_ADDRESS`, else `/run/dbus/system_bus_socket`.
    System,
    /// The user's bus: `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`.
    User,
}

impl BusKind {
    /// `system` or `user`, for messages.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn name(self) -> &'static str {
        match self {
            BusKind::System => "system",
            BusKind::User => "user",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            BusKind::System => "DBUS_SYSTEM_BUS_ADDRESS",
            BusKind::User => "DBUS_SESSION_BUS_ADDRESS",
        }
    }
}

/// A bus address cgbox can connect to.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `unix:path=...`: a socket in the filesystem.
    Path(PathBuf),
    /// `unix:abstract=...`: a socket in Linux's abstract namespace.
    Abstract(Vec<u8>),
}

impl Address {
    /// The addresses of `bus`, in the order to try them, from the
    /// environment as `env` reports it (`|name| std::env::var_os(name)` for
    /// the real one).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn for_bus(bus: BusKind, env: impl Fn(&str) -> Option<OsString>) -> Result<Vec<Address>> {
        let var = bus.variable();
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            let text = value.to_str().ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, format!("read {var}"))
                    .with_detail("the address is not UTF-8")
            })?;
            return Address::parse_list(text).map_err(|e| {
                let detail = format!("{var}={text:?}: {}", e.detail().unwrap_or(""));
                e.with_detail(detail)
            });
        }
        match bus {
            BusKind::System => Ok(vec![Address::Path(SYSTEM_BUS_SOCKET.into())]),
            BusKind::User => match env("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()) {
                Some(dir) => Ok(vec![Address::Path(Path::new(&dir).join("bus"))]),
                None => Err(Error::new(ErrorKind::NotFound, "find the D-Bus user bus")
                    .with_detail(
                        "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR (absolute) is set",
                    )
                    .with_hint(
                        "run from a login session (pam_systemd sets XDG_RUNTIME_DIR), or set \
                         XDG_RUNTIME_DIR=/run/user/$(id -u) for a user with \
                         `loginctl enable-linger`",
                    )),
            },
        }
    }

    /// Parse a `;`-separated address list, keeping the entries cgbox can
    /// connect to, in order. A malformed entry is an error; an entry of
    /// another transport (`tcp:`, `launchd:` ...) is skipped, and a list
    /// with nothing else is an [`ErrorKind::Unsupported`] error.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn parse_list(list: &str) -> Result<Vec<Address>> {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        for entry in list.split(';').filter(|e| !e.is_empty()) {
            match Address::parse(entry) {
                Ok(a) => found.push(a),
                Err(e) if e.kind() == ErrorKind::Unsupported => skipped.push(entry),
                Err(e) => return Err(e),
            }
        }
        if found.is_empty() {
            return Err(Error::new(ErrorKind::Unsupported, "parse a D-Bus address")
                .with_detail(format!(
                    "no unix:path= or unix:abstract= address in {skipped:?}"
                ))
                .with_hint("cgbox connects to buses on Unix sockets only: point the variable at unix:path=SOCKET"));
        }
        Ok(found)
    }

    /// Parse one address: `transport:key=value,key=value`, values `%xx`-escaped.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn parse(entry: &str) -> Result<Address> {
        let malformed = |why: String| {
            Error::new(ErrorKind::InvalidInput, "parse a D-Bus address")
                .with_detail(format!("{entry:?}: {why}"))
        };
        let Some((transport, pairs)) = entry.split_once(':') else {
            return Err(malformed("no transport (expected unix:path=SOCKET)".into()));
        };
        if transport != "unix" {
            return Err(
                Error::new(ErrorKind::Unsupported, "parse a D-Bus address").with_detail(format!(
                    "transport {transport:?} in {entry:?}: cgbox speaks unix: only"
                )),
            );
        }
        let mut address = None;
        for pair in pairs.split(',').filter(|p| !p.is_empty()) {
            let Some((key, raw)) = pair.split_once('=') else {
                return Err(malformed(format!("{pair:?} is not key=value")));
            };
            let value = unescape(raw).map_err(|e| malformed(e.to_string()))?;
            let this = match key {
                "path" => Address::Path(PathBuf::from(OsString::from_vec(value))),
                "abstract" => Address::Abstract(value),
                "guid" => continue,
                "tmpdir" | "dir" | "runtime" => {
                    return Err(Error::new(ErrorKind::Unsupported, "parse a D-Bus address")
                        .with_detail(format!(
                            "{entry:?}: {key}= is for servers that listen, not for clients"
                        )));
                }
                other => return Err(malformed(format!("unknown key {other:?}"))),
            };
            if value_is_empty(&this) {
                return Err(malformed(format!("an empty {key}=")));
            }
            if address.replace(this).is_some() {
                return Err(malformed("more than one of path= and abstract=".into()));
            }
        }
        address.ok_or_else(|| malformed("neither path= nor abstract=".into()))
    }

    /// How this address is shown in errors: the socket path, or `@name` for
    /// an abstract socket (as `ss -x` shows it).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn display_path(&self) -> PathBuf {
        match self {
            Address::Path(p) => p.clone(),
            Address::Abstract(name) => {
                let mut s = OsString::from("@");
                s.push(OsStr::from_bytes(name));
                PathBuf::from(s)
            }
        }
    }
}

fn value_is_empty(a: &Address) -> bool {
    match a {
        Address::Path(p) => p.as_os_str().is_empty(),
        Address::Abstract(n) => n.is_empty(),
    }
}

/// Undo `%xx` escapes. Bytes other than `%` stand for themselves.
fn unescape(raw: &str) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |d: Option<u8>| d.and_then(|d| (d as char).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => {
                return Err(WireError::unplaced(format!(
                    "{raw:?} has a % not followed by two hex digits"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            Address::for_bus(BusKind::System, env(&[])).unwrap(),
            [Address::Path("/run/dbus/system_bus_socket".into())]
        );
        assert_eq!(
            Address::for_bus(BusKind::User, env(&[("XDG_RUNTIME_DIR", "/run/user/1000")])).unwrap(),
            [Address::Path("/run/user/1000/bus".into())]
        );
        let e = Address::for_bus(BusKind::User, env(&[])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.hint().unwrap().contains("enable-linger"));
        assert!(Address::for_bus(BusKind::User, env(&[("XDG_RUNTIME_DIR", "rel")])).is_err());
    }

    #[test]
    fn the_environment_wins() {
        let vars = [
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/tmp/my%20bus,guid=0123",
            ),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            (
                "DBUS_SYSTEM_BUS_ADDRESS",
                "tcp:host=x;unix:abstract=/tmp/dbus-X",
            ),
        ];
        assert_eq!(
            Address::for_bus(BusKind::User, env(&vars)).unwrap(),
            [Address::Path("/tmp/my bus".into())]
        );
        assert_eq!(
            Address::for_bus(BusKind::System, env(&vars)).unwrap(),
            [Address::Abstract(b"/tmp/dbus-X".to_vec())]
        );
        let empty = [("DBUS_SYSTEM_BUS_ADDRESS", "")];
        assert_eq!(
            Address::for_bus(BusKind::System, env(&empty)).unwrap(),
            [Address::Path(SYSTEM_BUS_SOCKET.into())],
            "an empty variable is unset"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            Address::parse("unix:path=%2Frun%2fx%25y").unwrap(),
            Address::Path("/run/x%y".into())
        );
        assert_eq!(
            Address::parse("unix:path=/a%ff").unwrap(),
            Address::Path(PathBuf::from(OsString::from_vec(b"/a\xff".to_vec())))
        );
        assert_eq!(
            Address::Abstract(b"x".to_vec()).display_path(),
            Path::new("@x")
        );
    }

    #[test]
    fn refusals_are_typed() {
        for (bad, kind, why) in [
            ("unix:path=/a%2", ErrorKind::InvalidInput, "two hex digits"),
            ("unix:path=/a%zz", ErrorKind::InvalidInput, "two hex digits"),
            ("unix:path=", ErrorKind::InvalidInput, "an empty path="),
            (
                "unix:guid=1",
                ErrorKind::InvalidInput,
                "neither path= nor abstract=",
            ),
            (
                "unix:path=/a,abstract=b",
                ErrorKind::InvalidInput,
                "more than one",
            ),
            ("unix:path", ErrorKind::InvalidInput, "not key=value"),
            ("unix:port=1", ErrorKind::InvalidInput, "unknown key"),
            ("nocolon", ErrorKind::InvalidInput, "no transport"),
            (
                "tcp:host=localhost,port=1",
                ErrorKind::Unsupported,
                "unix: only",
            ),
            (
                "unix:runtime=yes",
                ErrorKind::Unsupported,
                "servers that listen",
            ),
        ] {
            let e = Address::parse(bad).unwrap_err();
            assert_eq!(e.kind(), kind, "{bad}");
            assert!(e.detail().unwrap().contains(why), "{bad}: {e}");
        }
        let e = Address::parse_list("tcp:host=x;launchd:env=Y").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.hint().unwrap().contains("unix:path="));
        let e = Address::parse_list("unix:path=%").unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidInput,
            "malformed is not skipped"
        );
    }
}
