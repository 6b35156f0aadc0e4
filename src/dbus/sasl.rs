//! SASL EXTERNAL, the authentication every D-Bus connection on a Unix
//! socket starts with: the bus learns our uid from the socket
//! (`SO_PEERCRED`), and we claim that uid, hex-encoded.
//!
//! The exchange: a NUL byte, `AUTH EXTERNAL <hex uid>`, then the server's
//! `OK <guid>` (or `REJECTED <mechanisms>`); `BEGIN` follows, sent with
//! the first message. Server lines are parsed strictly.
//!
//! See the [example](crate::dbus#examples).

use std::time::Instant;

use super::transport::Transport;
use super::wire_error::WireError;
use crate::{Error, ErrorKind, Result};

/// The longest server line cgbox waits for, in bytes.
///
/// See the [example](crate::dbus#examples).
pub const MAX_LINE: usize = 512;

/// What the server answered to `AUTH`.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerReply {
    /// `OK <guid>`: authenticated; the server's 32-hex-digit GUID.
    Ok {
        /// The server's GUID.
        guid: String,
    },
    /// `REJECTED <mechanisms>`: not authenticated.
    Rejected {
        /// The mechanisms the server would accept.
        mechanisms: Vec<String>,
    },
    /// `ERROR [text]`: the server did not understand.
    Error(String),
    /// `DATA [hex]`: the server wants more data (never, as cgbox sends its
    /// uid with `AUTH`).
    Data(String),
    /// `AGREE_UNIX_FD` (never, as cgbox does not ask for it).
    AgreeUnixFd,
}

/// The bytes that open a connection: NUL, then `AUTH EXTERNAL` with `uid`
/// written in decimal and hex-encoded (uid 1000 is `31303030`).
///
/// See the [example](crate::dbus#examples).
pub fn auth_command(uid: u32) -> Vec<u8> {
    let hex: String = uid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\0AUTH EXTERNAL {hex}\r\n").into_bytes()
}

/// Parse one server line, without its `\r\n`.
///
/// See the [example](crate::dbus#examples).
pub fn parse_reply(line: &[u8]) -> Result<ServerReply, WireError> {
    if let Some(b) = line.iter().find(|b| !(0x20..0x7f).contains(*b)) {
        return Err(WireError::unplaced(format!(
            "a byte {b:#04x} that is not printable ASCII"
        )));
    }
    // printable ASCII, so this is UTF-8
    let line = String::from_utf8_lossy(line);
    let (command, rest) = match line.split_once(' ') {
        Some((c, r)) => (c, Some(r)),
        None => (line.as_ref(), None),
    };
    match (command, rest) {
        ("OK", Some(guid)) if guid.len() == 32 && guid.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(ServerReply::Ok { guid: guid.into() })
        }
        ("OK", _) => Err(WireError::unplaced("OK without a 32-hex-digit GUID")),
        ("REJECTED", rest) => {
            let mechanisms: Vec<String> =
                rest.unwrap_or("").split(' ').map(str::to_owned).collect();
            if rest.is_some() && mechanisms.iter().any(String::is_empty) {
                return Err(WireError::unplaced("REJECTED with an empty mechanism"));
            }
            Ok(ServerReply::Rejected {
                mechanisms: if rest.is_some() {
                    mechanisms
                } else {
                    Vec::new()
                },
            })
        }
        ("ERROR", rest) => Ok(ServerReply::Error(rest.unwrap_or("").into())),
        ("DATA", rest) => Ok(ServerReply::Data(rest.unwrap_or("").into())),
        ("AGREE_UNIX_FD", None) => Ok(ServerReply::AgreeUnixFd),
        _ => Err(WireError::unplaced("an unknown server command")),
    }
}

/// Authenticate as `uid` on `t`. Bytes read past the server's line stay
/// in `input`, for the message reader. Returns the server's GUID.
pub(crate) fn authenticate<T: Transport>(
    t: &mut T,
    input: &mut Vec<u8>,
    uid: u32,
    deadline: Instant,
) -> Result<String> {
    const OP: &str = "authenticate to the D-Bus bus (SASL EXTERNAL)";
    t.send(&auth_command(uid), deadline)?;
    let line = read_line(t, input, OP, deadline)?;
    let protocol = |why: String| {
        Error::new(ErrorKind::Parse, OP)
            .with_path(t.socket())
            .with_detail(format!(
                "D-Bus protocol violation: the bus answered {:?}: {why}",
                shown(&line)
            ))
    };
    match parse_reply(&line).map_err(|e| protocol(e.to_string()))? {
        ServerReply::Ok { guid } => Ok(guid),
        ServerReply::Rejected { mechanisms } => Err(Error::new(ErrorKind::PermissionDenied, OP)
            .with_path(t.socket())
            .with_detail(format!(
                "the bus rejected EXTERNAL authentication as uid {uid} (it offers {mechanisms:?})"
            ))
            .with_hint(
                "the bus must see the same uid on the socket as cgbox's effective uid: \
                 inside a user namespace it does not; run cgbox as the user who owns the bus",
            )),
        other => Err(protocol(format!("expected OK or REJECTED, got {other:?}"))),
    }
}

/// Read one `\r\n`-terminated line; at most [`MAX_LINE`] bytes are waited for.
fn read_line<T: Transport>(
    t: &mut T,
    input: &mut Vec<u8>,
    op: &str,
    deadline: Instant,
) -> Result<Vec<u8>> {
    loop {
        if let Some(nl) = input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = input.drain(..=nl).collect();
            return match line.strip_suffix(b"\r\n") {
                Some(l) => Ok(l.to_vec()),
                None => Err(Error::new(ErrorKind::Parse, op)
                    .with_path(t.socket())
                    .with_detail(format!(
                        "D-Bus protocol violation: the line {:?} ends in \\n without \\r",
                        shown(&line)
                    ))),
            };
        }
        if input.len() > MAX_LINE {
            return Err(Error::new(ErrorKind::Parse, op)
                .with_path(t.socket())
                .with_detail(format!(
                    "D-Bus protocol violation: no end of line in the first {MAX_LINE} bytes"
                )));
        }
        if t.recv(input, deadline)? == 0 {
            return Err(Error::new(ErrorKind::Bus, op)
                .with_path(t.socket())
                .with_detail("the bus closed the connection during authentication"));
        }
    }
}

/// A line for an error message: escaped, and cut at 100 bytes.
fn shown(line: &[u8]) -> String {
    let cut = line.get(..100).unwrap_or(line);
    cut.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::super::ScriptedTransport;
    use super::*;

    const GUID: &str = "7b2bdf1c5b4ac1b1e8f1f0a76551d3a1";

    fn deadline() -> Instant {
        Instant::now() + std::time::Duration::from_secs(5)
    }

    #[test]
    fn the_auth_line_hex_encodes_the_decimal_uid() {
        assert_eq!(auth_command(0), b"\0AUTH EXTERNAL 30\r\n");
        assert_eq!(auth_command(1000), b"\0AUTH EXTERNAL 31303030\r\n");
    }

    #[test]
    fn server_lines() {
        assert_eq!(
            parse_reply(format!("OK {GUID}").as_bytes()),
            Ok(ServerReply::Ok { guid: GUID.into() })
        );
        assert_eq!(
            parse_reply(b"REJECTED EXTERNAL ANONYMOUS"),
            Ok(ServerReply::Rejected {
                mechanisms: vec!["EXTERNAL".into(), "ANONYMOUS".into()]
            })
        );
        assert_eq!(
            parse_reply(b"REJECTED"),
            Ok(ServerReply::Rejected { mechanisms: vec![] })
        );
        assert_eq!(parse_reply(b"ERROR"), Ok(ServerReply::Error(String::new())));
        assert_eq!(parse_reply(b"AGREE_UNIX_FD"), Ok(ServerReply::AgreeUnixFd));
        for bad in [
            &b"OK"[..],
            b"OK 123",
            b"OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1 extra",
            b"OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3aZ",
            b"ok 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1",
            b"REJECTED  EXTERNAL",
            b"HELLO",
            b"",
            b"OK \xff",
            b"OK\t7b2bdf1c5b4ac1b1e8f1f0a76551d3a1",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn authenticate_keeps_what_follows_the_line() {
        let mut t = ScriptedTransport::new().bytes(format!("OK {GUID}\r\nl\x02").into_bytes());
        let mut input = Vec::new();
        assert_eq!(
            authenticate(&mut t, &mut input, 1000, deadline()).unwrap(),
            GUID
        );
        assert_eq!(t.sent(), b"\0AUTH EXTERNAL 31303030\r\n");
        assert_eq!(input, b"l\x02", "the start of the first message stays");
    }

    #[test]
    fn a_line_split_over_many_reads() {
        let mut t = ScriptedTransport::new()
            .line(&format!("OK {GUID}"))
            .in_chunks_of(1);
        let mut input = Vec::new();
        assert_eq!(
            authenticate(&mut t, &mut input, 0, deadline()).unwrap(),
            GUID
        );
    }

    #[test]
    fn refusals_are_typed() {
        let run = |t: ScriptedTransport| authenticate(&mut { t }, &mut Vec::new(), 0, deadline());
        let e = run(ScriptedTransport::new().line("REJECTED EXTERNAL")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.detail().unwrap().contains("uid 0"), "{e}");
        let e = run(ScriptedTransport::new().line("DATA")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse);
        assert!(
            e.detail().unwrap().contains("expected OK or REJECTED"),
            "{e}"
        );
        let e = run(ScriptedTransport::new().bytes(format!("OK {GUID}\n"))).unwrap_err();
        assert!(e.detail().unwrap().contains("without \\r"), "{e}");
        let e = run(ScriptedTransport::new().bytes(vec![b'x'; 600])).unwrap_err();
        assert!(e.detail().unwrap().contains("no end of line"), "{e}");
        let e = run(ScriptedTransport::new().bytes("OK").hanging_up()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bus);
        let e = run(ScriptedTransport::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "a silent bus");
    }
}
