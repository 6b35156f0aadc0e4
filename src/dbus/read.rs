//! Unmarshalling: bytes to values, strictly. Every length is checked
//! against the bytes that are really there before anything is taken or
//! allocated, padding must be zero, booleans 0 or 1, strings UTF-8 without
//! NUL, and arrays must end exactly where their length says.

use super::WireError;
use super::names;
use super::signature::{self, Type};
use super::value::Value;

/// The longest array the specification allows, in bytes.
///
/// See the [example](crate::dbus#examples).
pub const MAX_ARRAY: usize = 1 << 26;
/// The most values (of any type, at any depth) one message may hold. With
/// the cap on message size it bounds what a hostile message can make cgbox
/// allocate; the replies cgbox reads hold a handful.
///
/// See the [example](crate::dbus#examples).
pub const MAX_VALUES: usize = 1 << 16;
/// Containers (arrays, structs, dict entries, variants) nest at most this
/// deep, as in the specification.
///
/// See the [example](crate::dbus#examples).
pub const MAX_DEPTH: usize = 64;

/// A cursor over one message. Offsets are from the start of the message,
/// which is what alignment is relative to.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Reads stop here: the end of the message, or of the array being read.
    limit: usize,
    big_endian: bool,
    values: usize,
}

impl<'a> Reader<'a> {
    /// Read `buf` from `pos`, in the byte order the message declared.
    pub(crate) fn new(buf: &'a [u8], pos: usize, big_endian: bool) -> Reader<'a> {
        Reader {
            buf,
            pos,
            limit: buf.len(),
            big_endian,
            values: 0,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, what: impl Into<String>) -> WireError {
        WireError::new(self.pos, what)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.limit);
        let slice = end.and_then(|e| self.buf.get(self.pos..e));
        match (end, slice) {
            (Some(end), Some(slice)) => {
                self.pos = end;
                Ok(slice)
            }
            _ => Err(self.err(format!(
                "{what} of {n} bytes runs past the end ({} bytes left)",
                self.limit.saturating_sub(self.pos)
            ))),
        }
    }

    /// Skip to a multiple of `n`; the padding must be there and be zero.
    pub(crate) fn align(&mut self, n: usize) -> Result<(), WireError> {
        let at = self.pos;
        let pad = (n - at % n) % n;
        if self.take(pad, "padding")?.iter().any(|&b| b != 0) {
            return Err(WireError::new(at, "non-zero padding"));
        }
        Ok(())
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WireError> {
        let at = self.pos;
        let bytes = self.take(N, what)?;
        bytes
            .try_into()
            .map_err(|_| WireError::new(at, "internal: a slice of the wrong length"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.fixed::<1>("a byte")?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.fixed("a 16-bit number")?;
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.fixed("a 32-bit number")?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.fixed("a 64-bit number")?;
        Ok(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// The bytes of a `s` or `o` (u32 length, bytes, NUL).
    fn string_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        let at = self.pos;
        let bytes = self.take(len, "a string")?;
        if self.u8()? != 0 {
            return Err(WireError::new(at + len, "a string not followed by NUL"));
        }
        if bytes.contains(&0) {
            return Err(WireError::new(at, "a string with a NUL inside"));
        }
        Ok(bytes)
    }

    fn string(&mut self) -> Result<String, WireError> {
        let at = self.pos;
        let bytes = self.string_bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| WireError::new(at, "a string that is not UTF-8"))
    }

    /// The bytes of a `g` (u8 length, bytes, NUL), checked to be a signature.
    fn signature_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let at = self.pos;
        let len = self.u8()? as usize;
        let bytes = self.take(len, "a signature")?;
        if self.u8()? != 0 {
            return Err(WireError::new(at, "a signature not followed by NUL"));
        }
        Ok(bytes)
    }

    /// Values of `types`, one after another (a message body).
    pub(crate) fn values(&mut self, types: &[Type]) -> Result<Vec<Value>, WireError> {
        types.iter().map(|t| self.value(t, 0)).collect()
    }

    /// One value of type `ty`, `depth` containers deep.
    pub(crate) fn value(&mut self, ty: &Type, depth: usize) -> Result<Value, WireError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(self.err(format!("more than {MAX_VALUES} values in one message")));
        }
        if depth > MAX_DEPTH {
            return Err(self.err(format!("containers nested more than {MAX_DEPTH} deep")));
        }
        self.align(ty.alignment())?;
        let at = self.pos;
        Ok(match ty {
            Type::Byte => Value::Byte(self.u8()?),
            Type::Bool => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => {
                    return Err(WireError::new(
                        at,
                        format!("a boolean of {n} (only 0 and 1 are)"),
                    ));
                }
            },
            Type::Int16 => Value::Int16(self.u16()? as i16),
            Type::Uint16 => Value::Uint16(self.u16()?),
            Type::Int32 => Value::Int32(self.u32()? as i32),
            Type::Uint32 => Value::Uint32(self.u32()?),
            Type::Int64 => Value::Int64(self.u64()? as i64),
            Type::Uint64 => Value::Uint64(self.u64()?),
            Type::Double => Value::Double(f64::from_bits(self.u64()?)),
            Type::Fd => Value::Fd(self.u32()?),
            Type::Str => Value::Str(self.string()?),
            Type::Path => {
                let p = self.string()?;
                names::check_path(&p).map_err(|why| WireError::new(at, why))?;
                Value::Path(p)
            }
            Type::Signature => {
                let bytes = self.signature_bytes()?;
                signature::parse(bytes).map_err(|e| e.at(at))?;
                Value::Signature(String::from_utf8_lossy(bytes).into_owned())
            }
            Type::Array(elem) => self.array(elem, depth)?,
            Type::Struct(fields) => {
                let mut values = Vec::with_capacity(fields.len());
                for f in fields {
                    values.push(self.value(f, depth + 1)?);
                }
                Value::Struct(values)
            }
            Type::DictEntry(k, v) => {
                let key = self.value(k, depth + 1)?;
                let value = self.value(v, depth + 1)?;
                Value::DictEntry(Box::new(key), Box::new(value))
            }
            Type::Variant => {
                let sig = self.signature_bytes()?;
                let inner = signature::parse_single(sig).map_err(|e| e.at(at))?;
                Value::Variant(Box::new(self.value(&inner, depth + 1)?))
            }
        })
    }

    fn array(&mut self, elem: &Type, depth: usize) -> Result<Value, WireError> {
        let at = self.pos;
        let len = self.u32()? as usize;
        if len > MAX_ARRAY {
            return Err(WireError::new(
                at,
                format!("an array of {len} bytes (at most {MAX_ARRAY})"),
            ));
        }
        // The padding to the first element is there even when the array is
        // empty, and is not counted in its length.
        self.align(elem.alignment())?;
        let start = self.pos;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.limit)
            .ok_or_else(|| {
                WireError::new(
                    at,
                    format!(
                        "an array of {len} bytes runs past the end ({} bytes left)",
                        self.limit.saturating_sub(start)
                    ),
                )
            })?;
        let outer = std::mem::replace(&mut self.limit, end);
        let mut items = Vec::new();
        // Every value takes at least one byte, so this ends.
        while self.pos < end {
            items.push(self.value(elem, depth + 1)?);
        }
        self.limit = outer;
        Ok(Value::Array {
            elem: elem.clone(),
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sig: &str, bytes: &[u8]) -> Result<Vec<Value>, WireError> {
        let types = signature::parse(sig.as_bytes()).unwrap();
        let mut r = Reader::new(bytes, 0, false);
        let v = r.values(&types)?;
        assert_eq!(r.pos(), bytes.len(), "all bytes used");
        Ok(v)
    }

    #[test]
    fn basic_values_little_and_big_endian() {
        assert_eq!(
            read("yub", &[7, 0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0]).unwrap(),
            [Value::Byte(7), Value::Uint32(42), Value::Bool(true)]
        );
        let mut r = Reader::new(&[0, 0, 0, 42], 0, true);
        assert_eq!(r.value(&Type::Uint32, 0).unwrap(), Value::Uint32(42));
        assert_eq!(
            read("s", b"\x03\0\0\0abc\0").unwrap(),
            [Value::Str("abc".into())]
        );
        assert_eq!(
            read("o", b"\x01\0\0\0/\0").unwrap(),
            [Value::Path("/".into())]
        );
        assert_eq!(
            read("g", b"\x02au\0").unwrap(),
            [Value::Signature("au".into())]
        );
        assert_eq!(
            read("x", &(-2i64).to_le_bytes()).unwrap(),
            [Value::Int64(-2)]
        );
    }

    #[test]
    fn arrays_structs_and_variants() {
        // au [1, 2]
        assert_eq!(
            read("au", &[8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]).unwrap(),
            [Value::array(
                Type::Uint32,
                vec![Value::Uint32(1), Value::Uint32(2)]
            )]
        );
        // a(sv) empty: length 0, then padding to 8 all the same
        assert_eq!(
            read("a(sv)", &[0, 0, 0, 0, 0, 0, 0, 0]).unwrap()[0],
            Value::array(Type::Struct(vec![Type::Str, Type::Variant]), vec![])
        );
        // v holding b true: signature "b", padding to 4, 1
        assert_eq!(
            read("v", &[1, b'b', 0, 0, 1, 0, 0, 0]).unwrap(),
            [Value::variant(Value::Bool(true))]
        );
    }

    #[test]
    fn damage_is_named() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("u", &[1, 0], "runs past the end"),
            ("b", &[2, 0, 0, 0], "boolean of 2"),
            ("s", b"\x03\0\0\0abcX", "not followed by NUL"),
            ("s", b"\x03\0\0\0a\0c\0", "NUL inside"),
            ("s", b"\x02\0\0\0\xff\xfe\0", "not UTF-8"),
            ("s", b"\xff\xff\xff\xff", "runs past the end"),
            ("o", b"\x01\0\0\0x\0", "does not start with /"),
            ("g", b"\x01z\0", "unknown type code"),
            ("v", b"\x02uu\0", "not exactly one"),
            ("au", &[4, 0, 0, 0, 1, 0, 0], "runs past the end"),
            ("au", &[0, 0, 0, 5], "at most"),
            ("au", &[2, 0, 0, 0, 1, 0, 0, 0], "runs past the end"),
            ("yu", &[1, 9, 0, 0, 1, 0, 0, 0], "non-zero padding"),
        ];
        for (sig, bytes, why) in cases {
            let e = read(sig, bytes).unwrap_err();
            assert!(e.message().contains(why), "{sig} {bytes:?}: {e}");
        }
    }

    #[test]
    fn an_element_may_not_run_over_its_array() {
        // ay of length 1 followed by a u32: the array's limit must hold
        let e = read("aau", &[4, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]).unwrap_err();
        assert!(e.message().contains("runs past the end"), "{e}");
    }

    #[test]
    fn nested_variants_stop_at_the_depth_limit() {
        // 70 variants each holding the next: "v" signatures all the way down
        let mut bytes = Vec::new();
        for _ in 0..70 {
            bytes.extend_from_slice(&[1, b'v', 0]);
        }
        bytes.extend_from_slice(&[1, b'y', 0, 9]);
        let e = read("v", &bytes).unwrap_err();
        assert!(e.message().contains("nested more than 64"), "{e}");
    }

    #[test]
    fn value_count_is_capped() {
        let n = MAX_VALUES + 10;
        let mut bytes = (n as u32).to_le_bytes().to_vec();
        bytes.resize(4 + n, 1);
        let e = read("ay", &bytes).unwrap_err();
        assert!(e.message().contains("values in one message"), "{e}");
    }
}
