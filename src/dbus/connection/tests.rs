use std::time::Duration;

use super::*;
use crate::dbus::ScriptedTransport;

const GUID: &str = "7b2bdf1c5b4ac1b1e8f1f0a76551d3a1";

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn hello_reply() -> Message {
    Message::method_return(1)
        .with_body(vec![Value::str(":1.42")])
        .with_serial(1)
        .with_field(crate::dbus::message::field::SENDER, Value::str(BUS_NAME))
}

/// A bus that authenticates us and answers Hello.
fn bus() -> ScriptedTransport {
    ScriptedTransport::new()
        .line(&format!("OK {GUID}"))
        .message(&hello_reply())
        .unwrap()
}

fn signal(serial: u32, member: &str) -> Message {
    Message::signal("/org/x", "org.x.Y", member)
        .with_body(vec![Value::Uint32(serial)])
        .with_serial(serial)
}

fn ping() -> Message {
    Message::method_call(":1.42", "/", "org.freedesktop.DBus.Peer", "Ping").with_serial(77)
}

#[test]
fn open_authenticates_then_says_hello() {
    let c = Connection::open(bus(), 1000, deadline()).unwrap();
    assert_eq!(c.unique_name(), ":1.42");
    assert_eq!(c.guid(), GUID);
    let mut expected = b"\0AUTH EXTERNAL 31303030\r\nBEGIN\r\n".to_vec();
    let hello = Message::method_call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello").with_serial(1);
    expected.extend(hello.encode().unwrap());
    assert_eq!(c.transport().sent(), expected);
    assert!(c.transport().script_used_up());
}

#[test]
fn replies_are_matched_by_serial_and_signals_kept() {
    let t = bus()
        .message(&signal(10, "Early"))
        .unwrap()
        .message(&Message::method_return(9).with_serial(11))
        .unwrap()
        .message(&ping())
        .unwrap()
        .message(
            &Message::method_return(2)
                .with_body(vec![Value::str("ours")])
                .with_serial(12),
        )
        .unwrap()
        .message(&signal(13, "Late"))
        .unwrap();
    let mut c = Connection::open(t, 0, deadline()).unwrap();
    let reply = c
        .call(
            Message::method_call("org.x", "/org/x", "org.x.Y", "M"),
            deadline(),
        )
        .unwrap();
    assert_eq!(
        reply.body(),
        [Value::str("ours")],
        "not the reply to serial 9"
    );
    let late = c
        .wait_signal("wait", deadline(), |m| m.member() == Some("Late"))
        .unwrap();
    assert_eq!(late.serial(), 13);
    let early = c
        .wait_signal("wait", deadline(), |m| m.member() == Some("Early"))
        .unwrap();
    assert_eq!(early.serial(), 10, "kept while the call waited");
    let e = c
        .wait_signal("wait for Late again", deadline(), |m| {
            m.member() == Some("Late")
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.operation(), "wait for Late again");
}

#[test]
fn error_replies_become_typed_errors() {
    let t = bus()
        .message(
            &Message::error(2, "org.freedesktop.DBus.Error.AccessDenied")
                .with_body(vec![Value::str("no")])
                .with_serial(5),
        )
        .unwrap();
    let mut c = Connection::open(t, 0, deadline()).unwrap();
    let e = c
        .call(
            Message::method_call("org.x", "/", "org.x.Y", "M"),
            deadline(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(e.operation(), "call org.x.Y.M");
    assert_eq!(e.path(), Some(std::path::Path::new("/scripted/bus")));
    assert_eq!(
        e.detail(),
        Some("org.freedesktop.DBus.Error.AccessDenied: no")
    );
}

#[test]
fn messages_split_anyhow_are_reassembled() {
    let mut all = format!("OK {GUID}\r\n").into_bytes();
    all.extend(hello_reply().encode().unwrap());
    all.extend(signal(2, "A").encode().unwrap());
    all.extend(
        Message::method_return(2)
            .with_body(vec![Value::Uint32(5)])
            .with_serial(3)
            .encode()
            .unwrap(),
    );
    for chunk in [1, 3, 7, 16, 100, usize::MAX] {
        let t = ScriptedTransport::new()
            .bytes(all.clone())
            .in_chunks_of(chunk);
        let mut c = Connection::open(t, 0, deadline()).unwrap();
        let r = c
            .call(
                Message::method_call("org.x", "/", "org.x.Y", "M"),
                deadline(),
            )
            .unwrap();
        assert_eq!(r.body(), [Value::Uint32(5)], "chunks of {chunk}");
        assert!(
            c.wait_signal("w", deadline(), |m| m.member() == Some("A"))
                .is_ok()
        );
    }
}

#[test]
fn a_broken_hello_or_stream_is_a_protocol_error() {
    let bad_hello = ScriptedTransport::new()
        .line(&format!("OK {GUID}"))
        .message(
            &Message::method_return(1)
                .with_body(vec![Value::Uint32(1)])
                .with_serial(1),
        )
        .unwrap();
    let e = Connection::open(bad_hello, 0, deadline()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert!(
        e.detail().unwrap().contains("instead of a unique name"),
        "{e}"
    );

    let garbage = ScriptedTransport::new()
        .line(&format!("OK {GUID}"))
        .bytes(b"HTTP/1.1 400 Bad Request\r\n".to_vec());
    let e = Connection::open(garbage, 0, deadline()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(e.operation(), "call org.freedesktop.DBus.Hello");
    assert!(e.detail().unwrap().contains("byte order 0x48"), "{e}");

    let hung_up = ScriptedTransport::new()
        .line(&format!("OK {GUID}"))
        .hanging_up();
    let e = Connection::open(hung_up, 0, deadline()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Bus);
    assert!(e.detail().unwrap().contains("closed the connection"), "{e}");

    let silent = ScriptedTransport::new().line(&format!("OK {GUID}"));
    let e = Connection::open(silent, 0, deadline()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.operation(), "call org.freedesktop.DBus.Hello");
}

#[test]
fn kept_signals_are_bounded() {
    let mut t = bus();
    for i in 0..(MAX_KEPT_SIGNALS as u32 + 10) {
        t = t.message(&signal(100 + i, "Flood")).unwrap();
    }
    t = t
        .message(&Message::method_return(2).with_serial(9999))
        .unwrap();
    let mut c = Connection::open(t, 0, deadline()).unwrap();
    c.call(
        Message::method_call("org.x", "/", "org.x.Y", "M"),
        deadline(),
    )
    .unwrap();
    assert_eq!(c.kept.len(), MAX_KEPT_SIGNALS);
    assert_eq!(
        c.kept.front().map(Message::serial),
        Some(110),
        "the oldest went first"
    );
}

#[test]
fn a_call_that_cannot_be_encoded_is_refused_before_sending() {
    let mut c = Connection::open(bus(), 0, deadline()).unwrap();
    let sent = c.transport().sent().len();
    let e = c
        .call(
            Message::method_call("org.x", "/", "org.x.Y", "M").with_body(vec![Value::str("a\0b")]),
            deadline(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(c.transport().sent().len(), sent);
}
