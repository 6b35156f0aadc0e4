use super::*;

/// `Hello` as every client sends it first: four header fields, no body.
fn hello_bytes() -> Vec<u8> {
    let mut b = vec![b'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 109, 0, 0, 0];
    b.extend_from_slice(&[1, 1, b'o', 0, 21, 0, 0, 0]);
    b.extend_from_slice(b"/org/freedesktop/DBus\0");
    b.extend_from_slice(&[0, 0]); // to 48
    b.extend_from_slice(&[2, 1, b's', 0, 20, 0, 0, 0]);
    b.extend_from_slice(b"org.freedesktop.DBus\0");
    b.extend_from_slice(&[0, 0, 0]); // to 80
    b.extend_from_slice(&[3, 1, b's', 0, 5, 0, 0, 0]);
    b.extend_from_slice(b"Hello\0");
    b.extend_from_slice(&[0, 0]); // to 96
    b.extend_from_slice(&[6, 1, b's', 0, 20, 0, 0, 0]);
    b.extend_from_slice(b"org.freedesktop.DBus\0"); // to 125
    b.extend_from_slice(&[0, 0, 0]); // header padding to 128
    b
}

/// The bus's reply to `Hello`, field by field.
fn hello_reply_bytes() -> Vec<u8> {
    let mut b = vec![b'l', 2, 1, 1, 10, 0, 0, 0, 1, 0, 0, 0, 63, 0, 0, 0];
    b.extend_from_slice(&[5, 1, b'u', 0, 1, 0, 0, 0]); // REPLY_SERIAL 1
    b.extend_from_slice(&[6, 1, b's', 0, 5, 0, 0, 0]); // DESTINATION
    b.extend_from_slice(b":1.42\0");
    b.extend_from_slice(&[0, 0]); // to 40
    b.extend_from_slice(&[7, 1, b's', 0, 20, 0, 0, 0]); // SENDER
    b.extend_from_slice(b"org.freedesktop.DBus\0");
    b.extend_from_slice(&[0, 0, 0]); // to 72
    b.extend_from_slice(&[8, 1, b'g', 0, 1, b's', 0]); // SIGNATURE "s", to 79
    b.push(0); // header padding to 80
    b.extend_from_slice(&[5, 0, 0, 0]);
    b.extend_from_slice(b":1.42\0");
    b
}

#[test]
fn hello_is_written_byte_for_byte() {
    let hello = Message::method_call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "Hello",
    )
    .with_serial(1);
    assert_eq!(hello.encode().unwrap(), hello_bytes());
    assert_eq!(Message::parse(&hello_bytes()).unwrap(), hello);
}

#[test]
fn the_hello_reply_is_read_field_by_field() {
    let bytes = hello_reply_bytes();
    assert_eq!(frame_len(&bytes).unwrap(), Some(bytes.len()));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.kind(), MessageType::MethodReturn);
    assert_eq!(m.flags(), flags::NO_REPLY_EXPECTED);
    assert_eq!(m.serial(), 1);
    assert_eq!(m.reply_serial(), Some(1));
    assert_eq!(m.destination(), Some(":1.42"));
    assert_eq!(m.sender(), Some("org.freedesktop.DBus"));
    assert_eq!(m.signature(), "s");
    assert_eq!(m.body(), [Value::str(":1.42")]);
    assert_eq!(m.encode().unwrap(), bytes, "re-encodes to the same bytes");
}

#[test]
fn big_endian_messages_are_read_and_written_back() {
    let m = Message::signal("/a", "org.x.Y", "Z")
        .with_body(vec![Value::Uint32(7), Value::str("s")])
        .with_serial(9);
    let mut be = m.clone();
    be.big_endian = true;
    let bytes = be.encode().unwrap();
    assert_eq!(bytes[0], b'B');
    assert_eq!(&bytes[8..12], &[0, 0, 0, 9]);
    let back = Message::parse(&bytes).unwrap();
    assert!(back.is_big_endian());
    assert_eq!(back.body(), m.body());
    assert_eq!(back.encode().unwrap(), bytes);
}

/// Damage `hello_reply_bytes` with `f`, and check that the parser names `why`.
fn refused(why: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = hello_reply_bytes();
    f(&mut b);
    let e = Message::parse(&b).unwrap_err();
    assert!(e.to_string().contains(why), "wanted {why:?}, got: {e}");
}

#[test]
fn damage_anywhere_is_named() {
    refused("byte order 0x78", |b| b[0] = b'x');
    refused("protocol version 2", |b| b[3] = 2);
    refused("message type 0", |b| b[1] = 0);
    refused("serial 0", |b| b[8..12].copy_from_slice(&[0; 4]));
    refused("the header says 91 bytes, there are 90", |b| b[4] = 11);
    refused("the header says 89 bytes, there are 90", |b| b[4] = 9);
    refused("shorter than a message header", |b| b.truncate(15));
    refused("reply serial 0", |b| b[20] = 0);
    refused("non-zero padding", |b| b[79] = 1);
    refused("non-zero padding", |b| b[38] = 1);
    // REPLY_SERIAL field becomes a second DESTINATION: wrong type, and then missing
    refused("DESTINATION: a value of the wrong type", |b| b[16] = 6);
    refused("MethodReturn message without the REPLY_SERIAL", |b| {
        b[16] = 200
    });
    refused("code 0 is invalid", |b| b[16] = 0);
    refused("SIGNATURE: a value of the wrong type", |b| b[24] = 8);
    refused("a bus name with fewer than two elements", |b| b[34] = b'x');
    refused("not UTF-8", |b| b[50] = 0xff);
    refused("unknown type code", |b| b[77] = b'z');
    refused("a string not followed by NUL", |b| b[89] = b'x');
    refused("runs past the end", |b| b[80] = 6);
    refused("a message of", |b| b[7] = 0x10);
    refused("header fields of", |b| b[15] = 0x10);
}

#[test]
fn duplicate_fields_and_fd_passing_are_refused() {
    let dup = Message::method_return(1)
        .with_serial(2)
        .with_body(vec![Value::str("x")]);
    let mut fields = dup.fields.clone();
    fields.push((field::REPLY_SERIAL, Value::Uint32(1)));
    let e = check_fields(MessageType::MethodReturn, &fields).unwrap_err();
    assert!(e.message().contains("REPLY_SERIAL: given twice"), "{e}");
    let fds = Message::method_return(1)
        .with_serial(2)
        .with_field(field::UNIX_FDS, Value::Uint32(1));
    assert!(fds.encode().is_err());
    let none = Message::method_return(1)
        .with_serial(2)
        .with_field(field::UNIX_FDS, Value::Uint32(0));
    let bytes = none.encode().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap(), none);
}

#[test]
fn unknown_fields_and_types_are_kept_not_refused() {
    let m = Message::method_return(3)
        .with_serial(4)
        .with_field(42, Value::str("from the future"));
    let bytes = m.encode().unwrap();
    assert_eq!(
        Message::parse(&bytes).unwrap().field(42),
        Some(&Value::str("from the future"))
    );
    let mut other = bytes.clone();
    other[1] = 9;
    assert_eq!(
        Message::parse(&other).unwrap().kind(),
        MessageType::Other(9)
    );
}

#[test]
fn frame_len_needs_sixteen_bytes_and_caps_the_size() {
    let b = hello_reply_bytes();
    assert_eq!(frame_len(&b[..15]).unwrap(), None);
    assert_eq!(frame_len(&b[..16]).unwrap(), Some(90));
    let mut huge = b[..16].to_vec();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(frame_len(&huge).is_err());
}

#[test]
fn a_signature_that_does_not_match_the_body_is_not_written() {
    let m = Message::method_return(1)
        .with_serial(2)
        .with_body(vec![Value::str("x")])
        .with_field(field::SIGNATURE, Value::Signature("u".into()));
    assert!(
        m.encode()
            .unwrap_err()
            .message()
            .contains("SIGNATURE field says")
    );
}
