//! D-Bus messages: a 16-byte fixed header, header fields `a(yv)`, padding
//! to 8, and a body described by the SIGNATURE field.
//!
//! [`Message::parse`] is strict: the byte order, type, version, serial,
//! every header field's type and syntax, the fields each message type
//! requires, zero padding, and a body that ends exactly where the header
//! says. What it accepts, [`Message::encode`] writes back byte for byte.

use super::WireError;
use super::names;
use super::read::{MAX_ARRAY, Reader};
use super::signature::{self, Type};
use super::value::Value;
use super::write::Writer;

/// The largest message cgbox reads or writes, in bytes. The specification
/// allows 128 MiB; the replies and signals cgbox waits for take some
/// hundreds of bytes, so a much lower cap bounds what a hostile peer can
/// make it buffer.
///
/// See the [example](crate::dbus#examples).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The length of the fixed part of the header.
///
/// See the [example](crate::dbus#examples).
pub const FIXED_HEADER: usize = 16;

/// Header field codes.
///
/// See the [example](crate::dbus#examples).
pub mod field {
    /// `o`: the object a call is for, or a signal is from.
    ///
    /// See the [example](crate::dbus#examples).
    pub const PATH: u8 = 1;
    /// `s`: the interface of the method or signal.
    ///
    /// See the [example](crate::dbus#examples).
    pub const INTERFACE: u8 = 2;
    /// `s`: the method or signal name.
    ///
    /// See the [example](crate::dbus#examples).
    pub const MEMBER: u8 = 3;
    /// `s`: the name of the error, in an error reply.
    ///
    /// See the [example](crate::dbus#examples).
    pub const ERROR_NAME: u8 = 4;
    /// `u`: the serial of the call this message answers.
    ///
    /// See the [example](crate::dbus#examples).
    pub const REPLY_SERIAL: u8 = 5;
    /// `s`: the connection the message is for.
    ///
    /// See the [example](crate::dbus#examples).
    pub const DESTINATION: u8 = 6;
    /// `s`: the unique name of the sender (set by the bus).
    ///
    /// See the [example](crate::dbus#examples).
    pub const SENDER: u8 = 7;
    /// `g`: the signature of the body.
    ///
    /// See the [example](crate::dbus#examples).
    pub const SIGNATURE: u8 = 8;
    /// `u`: the number of file descriptors that come with the message.
    ///
    /// See the [example](crate::dbus#examples).
    pub const UNIX_FDS: u8 = 9;
}

/// Message flags (the third byte of the header).
///
/// See the [example](crate::dbus#examples).
pub mod flags {
    #[cfg(test)]
    /// The caller does not want a reply.
    ///
    /// See the [example](crate::dbus#examples).
    pub const NO_REPLY_EXPECTED: u8 = 0x1;
}

/// The four kinds of message, and any later kind (to be ignored).
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A call of a method.
    MethodCall,
    /// A successful reply.
    MethodReturn,
    /// An error reply.
    Error,
    /// A signal.
    Signal,
    /// A type this client does not know; the specification says to ignore it.
    Other(u8),
}

impl MessageType {
    fn code(self) -> u8 {
        match self {
            MessageType::MethodCall => 1,
            MessageType::MethodReturn => 2,
            MessageType::Error => 3,
            MessageType::Signal => 4,
            MessageType::Other(c) => c,
        }
    }
}

/// One D-Bus message. Header fields are kept in the order they came in, so
/// that an accepted message re-encodes to the same bytes.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    big_endian: bool,
    kind: MessageType,
    flags: u8,
    serial: u32,
    fields: Vec<(u8, Value)>,
    body: Vec<Value>,
}

fn header_fields_type() -> Type {
    Type::Array(Box::new(Type::Struct(vec![Type::Byte, Type::Variant])))
}

impl Message {
    fn new(kind: MessageType, fields: Vec<(u8, Value)>) -> Message {
        Message {
            big_endian: false,
            kind,
            flags: 0,
            serial: 0,
            fields,
            body: Vec::new(),
        }
    }

    /// A method call of `interface.member` on `path` at `destination`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn method_call(destination: &str, path: &str, interface: &str, member: &str) -> Message {
        Message::new(
            MessageType::MethodCall,
            vec![
                (field::PATH, Value::Path(path.into())),
                (field::INTERFACE, Value::str(interface)),
                (field::MEMBER, Value::str(member)),
                (field::DESTINATION, Value::str(destination)),
            ],
        )
    }

    #[cfg(test)]
    /// A signal `interface.member` from `path`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn signal(path: &str, interface: &str, member: &str) -> Message {
        Message::new(
            MessageType::Signal,
            vec![
                (field::PATH, Value::Path(path.into())),
                (field::INTERFACE, Value::str(interface)),
                (field::MEMBER, Value::str(member)),
            ],
        )
    }

    #[cfg(test)]
    /// A successful reply to the call with serial `reply_serial`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn method_return(reply_serial: u32) -> Message {
        Message::new(
            MessageType::MethodReturn,
            vec![(field::REPLY_SERIAL, Value::Uint32(reply_serial))],
        )
    }

    #[cfg(test)]
    /// An error reply `name` to the call with serial `reply_serial`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn error(reply_serial: u32, name: &str) -> Message {
        Message::new(
            MessageType::Error,
            vec![
                (field::ERROR_NAME, Value::str(name)),
                (field::REPLY_SERIAL, Value::Uint32(reply_serial)),
            ],
        )
    }

    /// Set the body, and the SIGNATURE field to match (removed for an empty body).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn with_body(mut self, body: Vec<Value>) -> Message {
        let sig: String = body.iter().map(|v| v.type_of().to_string()).collect();
        self.body = body;
        if sig.is_empty() {
            self.fields.retain(|(c, _)| *c != field::SIGNATURE);
        } else {
            self.set_field(field::SIGNATURE, Value::Signature(sig));
        }
        self
    }

    #[cfg(test)]
    /// Set a header field, in place if it is there, else at the end.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn with_field(mut self, code: u8, value: Value) -> Message {
        self.set_field(code, value);
        self
    }

    fn set_field(&mut self, code: u8, value: Value) {
        match self.fields.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((code, value)),
        }
    }

    /// Set the serial (non-zero; a connection sets it when sending).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn with_serial(mut self, serial: u32) -> Message {
        self.serial = serial;
        self
    }

    /// The kind of message.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn kind(&self) -> MessageType {
        self.kind
    }

    #[cfg(test)]
    /// The flags byte.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The serial the sender gave this message.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn serial(&self) -> u32 {
        self.serial
    }

    #[cfg(test)]
    /// Whether the message was written big-endian.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// The value of header field `code`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn field(&self, code: u8) -> Option<&Value> {
        self.fields.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }

    fn field_str(&self, code: u8) -> Option<&str> {
        self.field(code).and_then(Value::as_str)
    }

    /// PATH.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn path(&self) -> Option<&str> {
        self.field_str(field::PATH)
    }

    /// INTERFACE.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn interface(&self) -> Option<&str> {
        self.field_str(field::INTERFACE)
    }

    /// MEMBER.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn member(&self) -> Option<&str> {
        self.field_str(field::MEMBER)
    }

    /// ERROR_NAME.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn error_name(&self) -> Option<&str> {
        self.field_str(field::ERROR_NAME)
    }

    /// REPLY_SERIAL.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn reply_serial(&self) -> Option<u32> {
        self.field(field::REPLY_SERIAL).and_then(Value::as_u32)
    }

    #[cfg(test)]
    /// DESTINATION.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn destination(&self) -> Option<&str> {
        self.field_str(field::DESTINATION)
    }

    /// SENDER.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn sender(&self) -> Option<&str> {
        self.field_str(field::SENDER)
    }

    /// SIGNATURE, or `""` when the message has no body.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn signature(&self) -> &str {
        self.field_str(field::SIGNATURE).unwrap_or("")
    }

    /// The body.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn body(&self) -> &[Value] {
        &self.body
    }

    /// The bytes of this message (its serial must be set).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.serial == 0 {
            return Err(WireError::new(
                8,
                "serial 0 (a message needs a non-zero serial)",
            ));
        }
        check_fields(self.kind, &self.fields)?;
        let mut body = Writer::new(self.big_endian);
        for v in &self.body {
            body.value(v, 0)?;
        }
        let body = body.into_bytes();
        let sig: String = self.body.iter().map(|v| v.type_of().to_string()).collect();
        if sig != self.signature() {
            return Err(WireError::unplaced(format!(
                "the SIGNATURE field says {:?} but the body is {sig:?}",
                self.signature()
            )));
        }
        let fields = Value::Array {
            elem: Type::Struct(vec![Type::Byte, Type::Variant]),
            items: self
                .fields
                .iter()
                .map(|(code, v)| Value::Struct(vec![Value::Byte(*code), Value::variant(v.clone())]))
                .collect(),
        };
        let mut w = Writer::new(self.big_endian);
        w.u8(if self.big_endian { b'B' } else { b'l' });
        w.u8(self.kind.code());
        w.u8(self.flags);
        w.u8(1);
        w.u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
        w.u32(self.serial);
        w.value(&fields, 0)?;
        w.pad(8);
        let total = w.len() + body.len();
        if total > MAX_MESSAGE {
            return Err(WireError::unplaced(format!(
                "a message of {total} bytes (cgbox writes at most {MAX_MESSAGE})"
            )));
        }
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Parse exactly one message.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        let Some(total) = frame_len(bytes)? else {
            return Err(WireError::new(
                bytes.len(),
                format!("{} bytes: shorter than a message header", bytes.len()),
            ));
        };
        if total != bytes.len() {
            return Err(WireError::new(
                bytes.len().min(total),
                format!("the header says {total} bytes, there are {}", bytes.len()),
            ));
        }
        let mut r = Reader::new(bytes, 0, bytes.first() == Some(&b'B'));
        r.u8()?; // byte order, checked by frame_len
        let kind = match r.u8()? {
            0 => return Err(WireError::new(1, "message type 0 (invalid)")),
            1 => MessageType::MethodCall,
            2 => MessageType::MethodReturn,
            3 => MessageType::Error,
            4 => MessageType::Signal,
            other => MessageType::Other(other),
        };
        let flags = r.u8()?;
        r.u8()?; // version, checked by frame_len
        let body_len = r.u32()? as usize;
        let serial = r.u32()?;
        if serial == 0 {
            return Err(WireError::new(8, "serial 0"));
        }
        let Value::Array { items, .. } = r.value(&header_fields_type(), 0)? else {
            return Err(WireError::new(
                12,
                "internal: header fields are not an array",
            ));
        };
        let mut fields = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Struct(mut pair) if pair.len() == 2 => {
                    let (Some(Value::Variant(v)), Some(Value::Byte(code))) =
                        (pair.pop(), pair.pop())
                    else {
                        return Err(WireError::new(12, "internal: a header field is not (yv)"));
                    };
                    fields.push((code, *v));
                }
                _ => return Err(WireError::new(12, "internal: a header field is not (yv)")),
            }
        }
        check_fields(kind, &fields).map_err(|e| e.at(12))?;
        r.align(8)?;
        let body_start = r.pos();
        if body_start.checked_add(body_len) != Some(bytes.len()) {
            return Err(WireError::new(
                4,
                "the body length does not match the message length",
            ));
        }
        let sig = fields
            .iter()
            .find(|(c, _)| *c == field::SIGNATURE)
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("");
        let types = signature::parse(sig.as_bytes()).map_err(|e| e.at(body_start))?;
        let body = r.values(&types)?;
        if r.pos() != bytes.len() {
            return Err(WireError::new(
                r.pos(),
                format!(
                    "{} bytes left over after a body of signature {sig:?}",
                    bytes.len() - r.pos()
                ),
            ));
        }
        Ok(Message {
            big_endian: bytes.first() == Some(&b'B'),
            kind,
            flags,
            serial,
            fields,
            body,
        })
    }
}

/// How many bytes the message at the start of `prefix` takes: `Ok(None)`
/// until its first 16 bytes are there. What could never be a message (a
/// byte order other than `l` or `B`, a version other than 1, a size over
/// [`MAX_MESSAGE`]) is refused at once, so that a reader never buffers more
/// than that waiting for the rest.
///
/// See the [example](crate::dbus#examples).
pub fn frame_len(prefix: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(head) = prefix.get(..FIXED_HEADER) else {
        return Ok(None);
    };
    let head: [u8; FIXED_HEADER] = head
        .try_into()
        .map_err(|_| WireError::new(0, "internal: a header of the wrong length"))?;
    let big = match head[0] {
        b'l' => false,
        b'B' => true,
        other => {
            return Err(WireError::new(
                0,
                format!("byte order {other:#04x} (only 'l' and 'B' exist)"),
            ));
        }
    };
    if head[3] != 1 {
        return Err(WireError::new(
            3,
            format!("protocol version {} (only 1 exists)", head[3]),
        ));
    }
    let word = |at: usize| {
        let b: [u8; 4] = head
            .get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .unwrap_or_default();
        u64::from(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let (body_len, fields_len) = (word(4), word(12));
    if fields_len > MAX_ARRAY as u64 {
        return Err(WireError::new(
            12,
            format!("header fields of {fields_len} bytes (at most {MAX_ARRAY})"),
        ));
    }
    let header = (FIXED_HEADER as u64 + fields_len).div_ceil(8) * 8;
    let total = header + body_len;
    if total > MAX_MESSAGE as u64 {
        return Err(WireError::new(
            4,
            format!("a message of {total} bytes (cgbox reads at most {MAX_MESSAGE})"),
        ));
    }
    Ok(Some(total as usize))
}

/// Each known field has its type and syntax, none repeats, and the message
/// type's required fields are there. Unknown fields are allowed (the
/// specification says to ignore them).
fn check_fields(kind: MessageType, fields: &[(u8, Value)]) -> Result<(), WireError> {
    let bad = |code: u8, why: &str| {
        WireError::unplaced(format!("header field {}: {why}", field_name(code)))
    };
    // A u8 indexes 256 slots: every code has one.
    let mut seen = [false; 256];
    for (code, v) in fields {
        if let Some(slot) = seen.get_mut(usize::from(*code))
            && std::mem::replace(slot, true)
        {
            return Err(bad(*code, "given twice"));
        }
        let ok = match (*code, v) {
            (0, _) => Err("code 0 is invalid"),
            (field::PATH, Value::Path(_)) => Ok(()),
            (field::INTERFACE | field::ERROR_NAME, Value::Str(s)) => names::check_interface(s),
            (field::MEMBER, Value::Str(s)) => names::check_member(s),
            (field::REPLY_SERIAL, Value::Uint32(0)) => Err("reply serial 0"),
            (field::REPLY_SERIAL, Value::Uint32(_)) => Ok(()),
            (field::DESTINATION | field::SENDER, Value::Str(s)) => names::check_bus_name(s),
            (field::SIGNATURE, Value::Signature(_)) => Ok(()),
            (field::UNIX_FDS, Value::Uint32(0)) => Ok(()),
            (field::UNIX_FDS, Value::Uint32(_)) => {
                Err("file descriptors, which this connection never negotiated")
            }
            (1..=9, _) => Err("a value of the wrong type"),
            _ => Ok(()),
        };
        ok.map_err(|why| bad(*code, why))?;
    }
    let required: &[u8] = match kind {
        MessageType::MethodCall => &[field::PATH, field::MEMBER],
        MessageType::MethodReturn => &[field::REPLY_SERIAL],
        MessageType::Error => &[field::ERROR_NAME, field::REPLY_SERIAL],
        MessageType::Signal => &[field::PATH, field::INTERFACE, field::MEMBER],
        MessageType::Other(_) => &[],
    };
    for &code in required {
        if !seen.get(usize::from(code)).copied().unwrap_or(false) {
            return Err(WireError::unplaced(format!(
                "a {kind:?} message without the {} header field",
                field_name(code)
            )));
        }
    }
    Ok(())
}

fn field_name(code: u8) -> String {
    match code {
        field::PATH => "PATH".into(),
        field::INTERFACE => "INTERFACE".into(),
        field::MEMBER => "MEMBER".into(),
        field::ERROR_NAME => "ERROR_NAME".into(),
        field::REPLY_SERIAL => "REPLY_SERIAL".into(),
        field::DESTINATION => "DESTINATION".into(),
        field::SENDER => "SENDER".into(),
        field::SIGNATURE => "SIGNATURE".into(),
        field::UNIX_FDS => "UNIX_FDS".into(),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests;
