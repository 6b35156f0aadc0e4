//! Marshalling: values to bytes. Total: a value that cannot be written (a
//! string with a NUL, an array element of the wrong type, an invalid path)
//! is an error, never a panic or a malformed message.

use super::WireError;
use super::names;
use super::read::{MAX_ARRAY, MAX_DEPTH};
use super::signature::{self, Type};
use super::value::Value;

/// A growing message, written from offset 0 (which alignment is relative
/// to; a body is written on its own, as it starts 8-aligned).
pub(crate) struct Writer {
    buf: Vec<u8>,
    big_endian: bool,
}

impl Writer {
    pub(crate) fn new(big_endian: bool) -> Writer {
        Writer {
            buf: Vec::new(),
            big_endian,
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Zero bytes up to a multiple of `n`.
    pub(crate) fn pad(&mut self, n: usize) {
        let pad = (n - self.buf.len() % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.pad(2);
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.pad(4);
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }

    fn u64(&mut self, v: u64) {
        self.pad(8);
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }

    fn string(&mut self, s: &str) -> Result<(), WireError> {
        if s.contains('\0') {
            return Err(self.err("a string with a NUL inside"));
        }
        let len = u32::try_from(s.len()).map_err(|_| self.err("a string over 4 GiB"))?;
        self.u32(len);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn signature(&mut self, sig: &str) -> Result<(), WireError> {
        signature::parse(sig.as_bytes()).map_err(|e| e.at(self.buf.len()))?;
        // parse() refused anything over 255 bytes
        self.u8(sig.len() as u8);
        self.buf.extend_from_slice(sig.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn err(&self, what: impl Into<String>) -> WireError {
        WireError::new(self.buf.len(), what)
    }

    /// Write `v`, `depth` containers deep.
    pub(crate) fn value(&mut self, v: &Value, depth: usize) -> Result<(), WireError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("containers nested more than {MAX_DEPTH} deep")));
        }
        match v {
            Value::Byte(b) => self.u8(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::Int16(n) => self.u16(*n as u16),
            Value::Uint16(n) => self.u16(*n),
            Value::Int32(n) => self.u32(*n as u32),
            Value::Uint32(n) | Value::Fd(n) => self.u32(*n),
            Value::Int64(n) => self.u64(*n as u64),
            Value::Uint64(n) => self.u64(*n),
            Value::Double(d) => self.u64(d.to_bits()),
            Value::Str(s) => self.string(s)?,
            Value::Path(p) => {
                names::check_path(p).map_err(|why| self.err(why))?;
                self.string(p)?;
            }
            Value::Signature(s) => self.signature(s)?,
            Value::Array { elem, items } => self.array(elem, items, depth)?,
            Value::Struct(fields) => {
                if fields.is_empty() {
                    return Err(self.err("an empty struct"));
                }
                self.pad(8);
                for f in fields {
                    self.value(f, depth + 1)?;
                }
            }
            Value::DictEntry(k, val) => {
                self.pad(8);
                self.value(k, depth + 1)?;
                self.value(val, depth + 1)?;
            }
            Value::Variant(inner) => {
                let sig = inner.type_of().to_string();
                signature::parse_single(sig.as_bytes()).map_err(|e| e.at(self.buf.len()))?;
                self.signature(&sig)?;
                self.value(inner, depth + 1)?;
            }
        }
        Ok(())
    }

    fn array(&mut self, elem: &Type, items: &[Value], depth: usize) -> Result<(), WireError> {
        self.pad(4);
        let len_at = self.buf.len();
        self.u32(0); // patched below
        self.pad(elem.alignment());
        let start = self.buf.len();
        for item in items {
            let t = item.type_of();
            if t != *elem {
                return Err(self.err(format!("an element of type {t} in an array of {elem}")));
            }
            self.value(item, depth + 1)?;
        }
        let len = self.buf.len() - start;
        if len > MAX_ARRAY {
            return Err(self.err(format!("an array of {len} bytes (at most {MAX_ARRAY})")));
        }
        let b = if self.big_endian {
            (len as u32).to_be_bytes()
        } else {
            (len as u32).to_le_bytes()
        };
        if let Some(slot) = self.buf.get_mut(len_at..len_at + 4) {
            slot.copy_from_slice(&b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::read::Reader;
    use super::*;

    fn write(values: &[Value]) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new(false);
        for v in values {
            w.value(v, 0)?;
        }
        Ok(w.into_bytes())
    }

    #[test]
    fn literal_bytes() {
        assert_eq!(
            write(&[Value::Byte(7), Value::Uint32(42), Value::Bool(true)]).unwrap(),
            [7, 0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(write(&[Value::str("abc")]).unwrap(), b"\x03\0\0\0abc\0");
        // a(sv) with ("PIDs", <au [7]>): array length counts from the first
        // element, after the padding to 8
        let props = Value::array(
            Type::Struct(vec![Type::Str, Type::Variant]),
            vec![Value::Struct(vec![
                Value::str("PIDs"),
                Value::variant(Value::array(Type::Uint32, vec![Value::Uint32(7)])),
            ])],
        );
        assert_eq!(
            write(&[props]).unwrap(),
            [
                24, 0, 0, 0, 0, 0, 0, 0, // length 24, pad to 8
                4, 0, 0, 0, b'P', b'I', b'D', b's', 0, // "PIDs"
                2, b'a', b'u', 0, // variant signature "au"
                0, 0, 0, // pad to 4
                4, 0, 0, 0, 7, 0, 0, 0, // au [7]
            ]
        );
    }

    #[test]
    fn what_cannot_be_written_is_refused() {
        assert!(write(&[Value::str("a\0b")]).is_err());
        assert!(write(&[Value::Path("x".into())]).is_err());
        assert!(write(&[Value::Signature("a".into())]).is_err());
        assert!(write(&[Value::Struct(vec![])]).is_err());
        let mixed = Value::array(Type::Uint32, vec![Value::Uint32(1), Value::Bool(true)]);
        let e = write(&[mixed]).unwrap_err();
        assert!(e.message().contains("type b in an array of u"), "{e}");
    }

    #[test]
    fn round_trip() {
        let values = vec![
            Value::Int16(-3),
            Value::Uint64(u64::MAX),
            Value::Double(1.5),
            Value::array(
                Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant)),
                vec![Value::DictEntry(
                    Box::new(Value::str("k")),
                    Box::new(Value::variant(Value::Path("/a/b".into()))),
                )],
            ),
            Value::Signature("a{sv}".into()),
        ];
        let bytes = write(&values).unwrap();
        let types: Vec<Type> = values.iter().map(Value::type_of).collect();
        let back = Reader::new(&bytes, 0, false).values(&types).unwrap();
        assert_eq!(back, values);
        let mut be = Writer::new(true);
        for v in &values {
            be.value(v, 0).unwrap();
        }
        let be = be.into_bytes();
        assert_ne!(be, bytes);
        assert_eq!(Reader::new(&be, 0, true).values(&types).unwrap(), values);
    }
}
