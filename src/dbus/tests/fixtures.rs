//! The D-Bus client against bytes captured from a real bus (systemd 252,
//! dbus-daemon 1.14.10; `fixtures/dbus/README.md` says how): every message
//! parses and re-encodes to the same bytes, and each captured session
//! replays on the scripted transport, where the client must send exactly
//! the captured bytes and reach the same results and typed errors.

use std::time::Duration;

use crate::ErrorKind;
use crate::dbus::{
    JobRemoved, Message, MessageType, Scope, ScriptedTransport, Systemd, Value, frame_len,
};

const T: Duration = Duration::from_secs(5);

fn fixture(bus: &str, name: &str) -> Vec<u8> {
    let path = crate::testkit::fixtures().join("dbus").join(bus).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What follows the first `\r\n`-terminated line starting with `prefix`.
fn after_line<'a>(bytes: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    assert!(
        bytes.starts_with(prefix),
        "{:?}",
        &bytes[..prefix.len().min(bytes.len())]
    );
    let end = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    &bytes[end..]
}

/// The uid the client claimed, and the messages it sent after BEGIN.
fn client_side(to_bus: &[u8]) -> (u32, &[u8]) {
    let line_end = to_bus.windows(2).position(|w| w == b"\r\n").unwrap();
    let hex = std::str::from_utf8(&to_bus[b"\0AUTH EXTERNAL ".len()..line_end]).unwrap();
    let digits: String = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as char)
        .collect();
    let rest = after_line(to_bus, b"\0AUTH EXTERNAL ");
    (digits.parse().unwrap(), after_line(rest, b"BEGIN"))
}

/// The messages of a stream, each with its bytes.
fn messages(mut stream: &[u8]) -> Vec<(Vec<u8>, Message)> {
    let mut out = Vec::new();
    while !stream.is_empty() {
        let len = frame_len(stream).unwrap().expect("a whole header");
        let bytes = &stream[..len];
        let m = Message::parse(bytes).unwrap_or_else(|e| panic!("message {}: {e}", out.len()));
        out.push((bytes.to_vec(), m));
        stream = &stream[len..];
    }
    out
}

fn all_streams() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (bus, names) in [
        ("system", &["scope-session", "errors", "refused-user"][..]),
        ("user", &["scope-session", "errors"][..]),
    ] {
        for name in names {
            let to_bus = fixture(bus, &format!("{name}.to-bus"));
            out.push((
                format!("{bus}/{name}.to-bus"),
                client_side(&to_bus).1.to_vec(),
            ));
            let from_bus = fixture(bus, &format!("{name}.from-bus"));
            out.push((
                format!("{bus}/{name}.from-bus"),
                after_line(&from_bus, b"OK ").to_vec(),
            ));
        }
        out.push((
            format!("{bus}/busctl.monitor"),
            fixture(bus, "busctl.monitor"),
        ));
    }
    out
}

#[test]
fn every_captured_message_reencodes_byte_for_byte() {
    let mut count = 0;
    for (name, stream) in all_streams() {
        for (i, (bytes, m)) in messages(&stream).into_iter().enumerate() {
            assert_eq!(m.encode().unwrap(), bytes, "{name} message {i}: {m:?}");
            count += 1;
        }
    }
    eprintln!("{count} captured messages re-encoded");
    assert!(count >= 60, "only {count} messages");
}

/// The scope a captured StartTransientUnit call asked for.
fn scope_of(call: &Message) -> Scope {
    let [
        Value::Str(name),
        Value::Str(mode),
        Value::Array { items, .. },
        _,
    ] = call.body()
    else {
        panic!("{call:?}")
    };
    assert_eq!(mode, "fail");
    let prop = |key: &str| {
        items.iter().find_map(|p| match p {
            Value::Struct(f) if f[0] == Value::str(key) => match &f[1] {
                Value::Variant(v) => Some((**v).clone()),
                _ => None,
            },
            _ => None,
        })
    };
    let Some(Value::Array { items: pids, .. }) = prop("PIDs") else {
        panic!("no PIDs")
    };
    let Some(Value::Str(description)) = prop("Description") else {
        panic!("no Description")
    };
    assert_eq!(prop("Delegate"), Some(Value::Bool(true)));
    Scope::new(name, pids[0].as_u32().unwrap())
        .unwrap()
        .description(&description)
}

fn calls(to_bus: &[u8], member: &str) -> Vec<Message> {
    messages(client_side(to_bus).1)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.member() == Some(member))
        .collect()
}

fn replay(bus: &str, name: &str, chunk: usize) -> (Systemd<ScriptedTransport>, Vec<u8>) {
    let to_bus = fixture(bus, &format!("{name}.to-bus"));
    let (uid, _) = client_side(&to_bus);
    let t = ScriptedTransport::new()
        .bytes(fixture(bus, &format!("{name}.from-bus")))
        .in_chunks_of(chunk);
    (Systemd::over(t, uid, T).unwrap(), to_bus)
}

#[test]
fn the_scope_sessions_replay() {
    for bus in ["system", "user"] {
        for chunk in [1, 7, 4096] {
            let (mut systemd, to_bus) = replay(bus, "scope-session", chunk);
            let [start] = &calls(&to_bus, "StartTransientUnit")[..] else {
                panic!("one StartTransientUnit")
            };
            let scope = scope_of(start);
            assert!(scope.name().starts_with("cgbox-test-"), "{}", scope.name());
            let started = systemd.start_delegated_scope(&scope, T).unwrap();
            assert_eq!(started.unit(), scope.name());
            assert!(started.job().starts_with("/org/freedesktop/systemd1/job/"));
            let [get_unit] = &calls(&to_bus, "GetUnitByPID")[..] else {
                panic!("one GetUnitByPID")
            };
            let pid = get_unit.body()[0].as_u32().unwrap();
            assert_eq!(systemd.unit_delegates(pid, T).unwrap(), Some(true), "{bus}");
            let t = systemd.connection().transport();
            assert_eq!(t.sent(), to_bus, "{bus}: the same bytes as on the real bus");
            assert!(t.script_used_up(), "{bus}: every reply was read");
        }
    }
}

#[test]
fn the_error_sessions_replay_as_typed_errors() {
    for bus in ["system", "user"] {
        let (mut systemd, to_bus) = replay(bus, "errors", 4096);
        let starts = calls(&to_bus, "StartTransientUnit");
        let [first, again, ghost] = &starts[..] else {
            panic!("three StartTransientUnit calls")
        };
        assert_eq!(first.body(), again.body());
        systemd.start_delegated_scope(&scope_of(first), T).unwrap();

        let e = systemd
            .start_delegated_scope(&scope_of(again), T)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
        assert!(
            e.detail()
                .unwrap()
                .starts_with("org.freedesktop.systemd1.UnitExists: Unit cgbox-test-"),
            "{e}"
        );

        let e = systemd.unit_of_pid(1 << 23, T).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(
            e.detail(),
            Some(
                "org.freedesktop.systemd1.NoUnitForPID: PID 8388608 does not belong to any loaded unit."
            )
        );

        let e = systemd
            .start_delegated_scope(&scope_of(ghost), T)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(
            e.detail(),
            Some(
                "org.freedesktop.DBus.Error.UnixProcessIdUnknown: Process with ID 8388608 does not exist."
            )
        );
        let t = systemd.connection().transport();
        assert_eq!(t.sent(), to_bus, "{bus}");
        assert!(t.script_used_up(), "{bus}");
    }
}

#[test]
fn a_user_asking_the_system_manager_is_denied() {
    let (mut systemd, to_bus) = replay("system", "refused-user", 4096);
    let (uid, _) = client_side(&to_bus);
    assert_eq!(uid, 1000);
    let [start] = &calls(&to_bus, "StartTransientUnit")[..] else {
        panic!()
    };
    let e = systemd
        .start_delegated_scope(&scope_of(start), T)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(
        e.detail(),
        Some("org.freedesktop.DBus.Error.AccessDenied: Permission denied")
    );
    assert_eq!(e.path().unwrap().to_str(), Some("/scripted/bus"));
    assert_eq!(systemd.connection().transport().sent(), to_bus);
}

#[test]
fn sd_bus_marshals_start_transient_unit_as_we_read_it() {
    for bus in ["system", "user"] {
        let msgs: Vec<Message> = messages(&fixture(bus, "busctl.monitor"))
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        let call = msgs
            .iter()
            .find(|m| m.member() == Some("StartTransientUnit"))
            .expect("busctl's call");
        assert_eq!(call.signature(), "ssa(sv)a(sa(sv))");
        assert_eq!(call.destination(), Some("org.freedesktop.systemd1"));
        let scope = scope_of(call);
        assert_eq!(scope.name(), "cgbox-ref-busctl.scope");
        let reply = msgs
            .iter()
            .find(|m| {
                m.kind() == MessageType::MethodReturn && m.reply_serial() == Some(call.serial())
            })
            .expect("systemd's reply");
        let [Value::Path(job)] = reply.body() else {
            panic!("{reply:?}")
        };
        let removed = msgs
            .iter()
            .find_map(|m| JobRemoved::from_signal(m).unwrap())
            .expect("JobRemoved");
        assert_eq!(&removed.job, job);
        assert_eq!(removed.unit, "cgbox-ref-busctl.scope");
        assert_eq!(removed.result, "done");
        let signalled_by = msgs
            .iter()
            .find(|m| m.member() == Some("JobRemoved"))
            .and_then(Message::sender);
        assert!(reply.sender().is_some_and(|s| s.starts_with(':')));
        assert_eq!(reply.sender(), signalled_by, "{bus}: one systemd");
    }
}
