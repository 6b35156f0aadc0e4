//! What the D-Bus client's documentation showed, kept as tests: a scope
//! from systemd on the scripted transport, and the wire format, an
//! address, SASL, unit names and error names on their own.

/// A scope from systemd, replaying what systemd answers (the serials are
/// those of our calls: `Hello` 1, `AddMatch` 2, `StartTransientUnit` 3).
#[test]
fn a_scope_from_systemd() -> Result<(), Box<dyn std::error::Error>> {
    use crate::dbus::{Message, Scope, ScriptedTransport, Systemd, Value};
    use std::time::Duration;

    let job = "/org/freedesktop/systemd1/job/42";
    let bus = ScriptedTransport::new()
        .line("OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1")
        .message(
            &Message::method_return(1)
                .with_body(vec![Value::str(":1.7")])
                .with_serial(1),
        )?
        .message(&Message::method_return(2).with_serial(2))?
        .message(
            &Message::method_return(3)
                .with_body(vec![Value::Path(job.into())])
                .with_serial(3),
        )?
        .message(
            &Message::signal(
                "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager",
                "JobRemoved",
            )
            .with_body(vec![
                Value::Uint32(42),
                Value::Path(job.into()),
                Value::str("cgbox-1.scope"),
                Value::str("done"),
            ])
            .with_serial(4),
        )?;

    let mut systemd = Systemd::over(bus, 1000, Duration::from_secs(5))?;
    assert_eq!(systemd.connection().unique_name(), ":1.7");
    let scope = Scope::new("cgbox-1.scope", 4242)?.description("cgbox box 1");
    let started = systemd.start_delegated_scope(&scope, Duration::from_secs(5))?;
    assert_eq!(started.unit(), "cgbox-1.scope");
    assert_eq!(started.job(), job);
    Ok(())
}

#[test]
fn the_pieces_on_their_own() -> Result<(), Box<dyn std::error::Error>> {
    use crate::ErrorKind;
    use crate::dbus::{
        Address, BusKind, Message, MessageType, Type, Value, classify, field, frame_len,
        parse_signature, sasl, unit_name_from_path, unit_object_path,
    };
    use std::path::Path;

    // A method call, encoded and parsed back.
    let call = Message::method_call(
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "GetUnitByPID",
    )
    .with_body(vec![Value::Uint32(4242)])
    .with_serial(7);
    let bytes = call.encode()?;
    assert_eq!(frame_len(&bytes[..16])?, Some(bytes.len())); // how much to read
    let back = Message::parse(&bytes)?;
    assert_eq!(back.kind(), MessageType::MethodCall);
    assert_eq!((back.serial(), back.flags()), (7, 0));
    assert_eq!(back.member(), Some("GetUnitByPID"));
    assert_eq!(back.destination(), Some("org.freedesktop.systemd1"));
    assert_eq!(back.signature(), "u");
    assert_eq!(back.body()[0].as_u32(), Some(4242));
    assert_eq!(
        back.field(field::PATH).and_then(Value::as_str),
        Some("/org/freedesktop/systemd1")
    );
    assert!(!back.is_big_endian());

    // Damage is a WireError that says where, never a panic.
    let err = Message::parse(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.offset().is_some() || !err.message().is_empty());

    // Signatures and values.
    assert_eq!(
        parse_signature(b"a{sv}")?,
        [Type::Array(Box::new(Type::DictEntry(
            Box::new(Type::Str),
            Box::new(Type::Variant)
        )))]
    );
    let pids = Value::array(Type::Uint32, vec![Value::Uint32(1)]);
    assert_eq!(pids.type_of(), Type::Array(Box::new(Type::Uint32)));
    assert_eq!(Value::variant(Value::str("x")).type_of(), Type::Variant);

    // Where the buses are, and how to say hello.
    let user = Address::for_bus(BusKind::User, |name| {
        (name == "XDG_RUNTIME_DIR").then(|| "/run/user/1000".into())
    })?;
    assert_eq!(user, [Address::Path("/run/user/1000/bus".into())]);
    assert_eq!(
        Address::parse("unix:path=/run/dbus/system_bus_socket")?.display_path(),
        Path::new("/run/dbus/system_bus_socket")
    );
    assert_eq!(sasl::auth_command(1000), b"\0AUTH EXTERNAL 31303030\r\n");
    assert!(matches!(
        sasl::parse_reply(b"OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1")?,
        sasl::ServerReply::Ok { .. }
    ));

    // systemd's names.
    let path = unit_object_path("cgbox-1.scope");
    assert_eq!(path, "/org/freedesktop/systemd1/unit/cgbox_2d1_2escope");
    assert_eq!(unit_name_from_path(&path).as_deref(), Some("cgbox-1.scope"));
    assert_eq!(
        classify("org.freedesktop.DBus.Error.AccessDenied").0,
        ErrorKind::PermissionDenied
    );
    Ok(())
}
