//! D-Bus error replies as crate errors: the D-Bus name decides the kind,
//! and the name and message are kept in the detail.

use std::path::Path;

use super::message::Message;
use super::value::Value;
use crate::{Error, ErrorKind};

/// The kind of a D-Bus error name, and what to do about it.
///
/// See the [example](crate::dbus#examples).
pub fn classify(name: &str) -> (ErrorKind, Option<&'static str>) {
    match name {
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.AuthFailed"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => (
            ErrorKind::PermissionDenied,
            Some(
                "as a user, ask your own manager on the user bus; the system manager \
                 takes such requests from root (or through polkit)",
            ),
        ),
        "org.freedesktop.systemd1.UnitExists" => (
            ErrorKind::AlreadyExists,
            Some("a unit of that name is loaded already: use another name"),
        ),
        "org.freedesktop.systemd1.NoSuchUnit"
        | "org.freedesktop.systemd1.NoUnitForPID"
        | "org.freedesktop.systemd1.NoSuchJob"
        | "org.freedesktop.DBus.Error.UnknownObject"
        | "org.freedesktop.DBus.Error.UnixProcessIdUnknown" => (ErrorKind::NotFound, None),
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => (
            ErrorKind::NotFound,
            Some("no systemd answers on this bus: give cgbox a delegated cgroup instead"),
        ),
        "org.freedesktop.DBus.Error.UnknownMethod"
        | "org.freedesktop.DBus.Error.UnknownInterface"
        | "org.freedesktop.DBus.Error.UnknownProperty"
        | "org.freedesktop.DBus.Error.NotSupported" => (
            ErrorKind::Unsupported,
            Some("this systemd is too old or too different for the request"),
        ),
        "org.freedesktop.DBus.Error.InvalidArgs"
        | "org.freedesktop.DBus.Error.PropertyReadOnly"
        | "org.freedesktop.DBus.Error.MatchRuleInvalid" => (ErrorKind::InvalidInput, None),
        "org.freedesktop.DBus.Error.NoReply"
        | "org.freedesktop.DBus.Error.Timeout"
        | "org.freedesktop.DBus.Error.TimedOut" => (ErrorKind::TimedOut, None),
        _ => (ErrorKind::Bus, None),
    }
}

/// The error for an error `reply` to `operation` on `socket`.
pub(crate) fn from_reply(operation: &str, socket: &Path, reply: &Message) -> Error {
    let name = reply.error_name().unwrap_or("(no error name)");
    let text = match reply.body().first() {
        Some(Value::Str(s)) => s.as_str(),
        _ => "(no message)",
    };
    let (kind, hint) = classify(name);
    let e = Error::new(kind, operation)
        .with_path(socket)
        .with_detail(format!("{name}: {text}"));
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_kinds_and_stay_in_the_detail() {
        let reply = Message::error(3, "org.freedesktop.systemd1.UnitExists")
            .with_body(vec![Value::str("Unit cgbox-1.scope already exists.")]);
        let e = from_reply(
            "call org.freedesktop.systemd1.Manager.StartTransientUnit",
            Path::new("/run/dbus/system_bus_socket"),
            &reply,
        );
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            e.detail(),
            Some("org.freedesktop.systemd1.UnitExists: Unit cgbox-1.scope already exists.")
        );
        assert_eq!(e.path(), Some(Path::new("/run/dbus/system_bus_socket")));
        assert!(e.hint().is_some());

        for (name, kind) in [
            (
                "org.freedesktop.DBus.Error.AccessDenied",
                ErrorKind::PermissionDenied,
            ),
            (
                "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                ErrorKind::PermissionDenied,
            ),
            ("org.freedesktop.systemd1.NoUnitForPID", ErrorKind::NotFound),
            (
                "org.freedesktop.DBus.Error.ServiceUnknown",
                ErrorKind::NotFound,
            ),
            (
                "org.freedesktop.DBus.Error.UnknownMethod",
                ErrorKind::Unsupported,
            ),
            (
                "org.freedesktop.DBus.Error.InvalidArgs",
                ErrorKind::InvalidInput,
            ),
            ("org.freedesktop.DBus.Error.NoReply", ErrorKind::TimedOut),
            ("org.example.Anything", ErrorKind::Bus),
        ] {
            assert_eq!(classify(name).0, kind, "{name}");
        }
        let bare = from_reply("x", Path::new("/s"), &Message::error(1, "org.example.E"));
        assert_eq!(bare.detail(), Some("org.example.E: (no message)"));
    }
}
