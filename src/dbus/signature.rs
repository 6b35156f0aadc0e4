//! D-Bus type signatures: parsed into [`Type`] trees, validated against the
//! specification's limits (255 bytes; 32 nested arrays; 32 nested structs
//! and dict entries; dict entries only as array elements, with a basic key).

use std::fmt;

use super::WireError;

/// The longest signature the specification allows, in bytes.
pub const MAX_SIGNATURE: usize = 255;
/// The deepest nesting of arrays (and, separately, of structs and dict
/// entries) a signature may have.
pub const MAX_NESTING: usize = 32;

/// One complete D-Bus type.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `y`
    Byte,
    /// `b`
    Bool,
    /// `n`
    Int16,
    /// `q`
    Uint16,
    /// `i`
    Int32,
    /// `u`
    Uint32,
    /// `x`
    Int64,
    /// `t`
    Uint64,
    /// `d`
    Double,
    /// `s`
    Str,
    /// `o`
    Path,
    /// `g`
    Signature,
    /// `h` (an index into file descriptors sent alongside; cgbox never asks for any)
    Fd,
    /// `a` followed by the element type
    Array(Box<Type>),
    /// `(` ... `)`
    Struct(Vec<Type>),
    /// `{` key value `}`, only as an array element
    DictEntry(Box<Type>, Box<Type>),
    /// `v`
    Variant,
}

impl Type {
    /// The alignment of values of this type on the wire, in bytes.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn alignment(&self) -> usize {
        match self {
            Type::Byte | Type::Signature | Type::Variant => 1,
            Type::Int16 | Type::Uint16 => 2,
            Type::Bool | Type::Int32 | Type::Uint32 | Type::Str | Type::Path | Type::Fd => 4,
            Type::Array(_) => 4,
            Type::Int64 | Type::Uint64 | Type::Double => 8,
            Type::Struct(_) | Type::DictEntry(..) => 8,
        }
    }

    /// Basic types are the ones allowed as dict-entry keys.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn is_basic(&self) -> bool {
        !matches!(
            self,
            Type::Array(_) | Type::Struct(_) | Type::DictEntry(..) | Type::Variant
        )
    }

    fn code(&self) -> Option<char> {
        Some(match self {
            Type::Byte => 'y',
            Type::Bool => 'b',
            Type::Int16 => 'n',
            Type::Uint16 => 'q',
            Type::Int32 => 'i',
            Type::Uint32 => 'u',
            Type::Int64 => 'x',
            Type::Uint64 => 't',
            Type::Double => 'd',
            Type::Str => 's',
            Type::Path => 'o',
            Type::Signature => 'g',
            Type::Fd => 'h',
            Type::Variant => 'v',
            _ => return None,
        })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        if let Some(c) = self.code() {
            return f.write_char(c);
        }
        match self {
            Type::Array(elem) => write!(f, "a{elem}"),
            Type::Struct(fields) => {
                f.write_char('(')?;
                for t in fields {
                    write!(f, "{t}")?;
                }
                f.write_char(')')
            }
            Type::DictEntry(k, v) => write!(f, "{{{k}{v}}}"),
            _ => Ok(()),
        }
    }
}

/// Parse a whole signature (a message body's, or an array of types): zero
/// or more complete types.
///
/// See the [example](crate::dbus#examples).
pub fn parse(sig: &[u8]) -> Result<Vec<Type>, WireError> {
    if sig.len() > MAX_SIGNATURE {
        return Err(bad(format!(
            "signature of {} bytes (at most {MAX_SIGNATURE})",
            sig.len()
        )));
    }
    let mut p = Parser {
        sig,
        pos: 0,
        arrays: 0,
        structs: 0,
    };
    let mut types = Vec::new();
    while p.pos < sig.len() {
        types.push(p.one(false)?);
    }
    Ok(types)
}

/// Parse a signature that must hold exactly one complete type (a variant's).
pub fn parse_single(sig: &[u8]) -> Result<Type, WireError> {
    let mut types = parse(sig)?;
    match (types.pop(), types.is_empty()) {
        (Some(t), true) => Ok(t),
        _ => Err(bad(format!(
            "variant signature {:?} is not exactly one complete type",
            String::from_utf8_lossy(sig)
        ))),
    }
}

fn bad(what: String) -> WireError {
    WireError::unplaced(what)
}

struct Parser<'a> {
    sig: &'a [u8],
    pos: usize,
    arrays: usize,
    structs: usize,
}

impl Parser<'_> {
    fn one(&mut self, in_array: bool) -> Result<Type, WireError> {
        let at = self.pos;
        let Some(&c) = self.sig.get(at) else {
            return Err(self.err(at, "ends inside a container"));
        };
        self.pos += 1;
        Ok(match c {
            b'y' => Type::Byte,
            b'b' => Type::Bool,
            b'n' => Type::Int16,
            b'q' => Type::Uint16,
            b'i' => Type::Int32,
            b'u' => Type::Uint32,
            b'x' => Type::Int64,
            b't' => Type::Uint64,
            b'd' => Type::Double,
            b's' => Type::Str,
            b'o' => Type::Path,
            b'g' => Type::Signature,
            b'h' => Type::Fd,
            b'v' => Type::Variant,
            b'a' => {
                self.arrays += 1;
                if self.arrays > MAX_NESTING {
                    return Err(self.err(at, "more than 32 nested arrays"));
                }
                let elem = self.one(true)?;
                self.arrays -= 1;
                Type::Array(Box::new(elem))
            }
            b'(' => {
                self.enter_struct(at)?;
                let mut fields = Vec::new();
                while self.sig.get(self.pos) != Some(&b')') {
                    fields.push(self.one(false)?);
                }
                self.pos += 1;
                if fields.is_empty() {
                    return Err(self.err(at, "an empty struct"));
                }
                self.structs -= 1;
                Type::Struct(fields)
            }
            b'{' => {
                if !in_array {
                    return Err(self.err(at, "a dict entry outside an array"));
                }
                self.enter_struct(at)?;
                let key = self.one(false)?;
                if !key.is_basic() {
                    return Err(self.err(at, "a dict entry whose key is not a basic type"));
                }
                if self.sig.get(self.pos) == Some(&b'}') {
                    return Err(self.err(at, "a dict entry without exactly two types"));
                }
                let value = self.one(false)?;
                if self.sig.get(self.pos) != Some(&b'}') {
                    return Err(self.err(at, "a dict entry without exactly two types"));
                }
                self.pos += 1;
                self.structs -= 1;
                Type::DictEntry(Box::new(key), Box::new(value))
            }
            _ => return Err(self.err(at, "an unknown type code")),
        })
    }

    fn enter_struct(&mut self, at: usize) -> Result<(), WireError> {
        self.structs += 1;
        if self.structs > MAX_NESTING {
            return Err(self.err(at, "more than 32 nested structs"));
        }
        Ok(())
    }

    fn err(&self, at: usize, what: &str) -> WireError {
        bad(format!(
            "signature {:?}: {what} at character {at}",
            String::from_utf8_lossy(self.sig)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(types: &[Type]) -> String {
        types.iter().map(Type::to_string).collect()
    }

    #[test]
    fn the_signatures_systemd_uses() {
        let t = parse(b"ssa(sv)a(sa(sv))").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(render(&t), "ssa(sv)a(sa(sv))");
        assert_eq!(
            t[2],
            Type::Array(Box::new(Type::Struct(vec![Type::Str, Type::Variant])))
        );
        assert_eq!(render(&parse(b"uoss").unwrap()), "uoss");
        assert_eq!(render(&parse(b"a{sv}").unwrap()), "a{sv}");
        assert_eq!(parse(b"").unwrap(), []);
        assert_eq!(parse_single(b"au").unwrap().alignment(), 4);
        assert_eq!(parse_single(b"(yv)").unwrap().alignment(), 8);
    }

    #[test]
    fn invalid_signatures_are_refused_with_a_reason() {
        for (sig, why) in [
            (&b"a"[..], "ends inside"),
            (b"(", "ends inside"),
            (b"()", "empty struct"),
            (b"(s", "ends inside"),
            (b")", "unknown type code"),
            (b"{sv}", "outside an array"),
            (b"a{vs}", "not a basic type"),
            (b"a{s}", "two types"),
            (b"a{sss}", "two types"),
            (b"z", "unknown type code"),
            (b"s\0", "unknown type code"),
        ] {
            let e = parse(sig).unwrap_err();
            assert!(e.message().contains(why), "{sig:?}: {e}");
        }
        assert!(parse_single(b"ss").is_err());
        assert!(parse_single(b"").is_err());
    }

    #[test]
    fn limits() {
        let deep_arrays = "a".repeat(32) + "y";
        assert!(parse(deep_arrays.as_bytes()).is_ok());
        let too_deep = "a".repeat(33) + "y";
        assert!(
            parse(too_deep.as_bytes())
                .unwrap_err()
                .message()
                .contains("32")
        );
        let structs = "(".repeat(32) + "y" + &")".repeat(32);
        assert!(parse(structs.as_bytes()).is_ok());
        let too_many = "(".repeat(33) + "y" + &")".repeat(33);
        assert!(parse(too_many.as_bytes()).is_err());
        assert!(parse("y".repeat(256).as_bytes()).is_err());
        assert!(parse("y".repeat(255).as_bytes()).is_ok());
    }
}
