//! D-Bus values: what a message body (or a header field) holds.

use super::signature::Type;

/// One D-Bus value. Arrays carry their element type, so that an empty array
/// still has a signature.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `n`
    Int16(i16),
    /// `q`
    Uint16(u16),
    /// `i`
    Int32(i32),
    /// `u`
    Uint32(u32),
    /// `x`
    Int64(i64),
    /// `t`
    Uint64(u64),
    /// `d`
    Double(f64),
    /// `s`: UTF-8 without NUL
    Str(String),
    /// `o`: an object path such as `/org/freedesktop/systemd1`
    Path(String),
    /// `g`: a type signature
    Signature(String),
    /// `h`: an index into the file descriptors sent with the message
    Fd(u32),
    /// `a`: elements all of type `elem`
    Array {
        /// The element type.
        elem: Type,
        /// The elements.
        items: Vec<Value>,
    },
    /// `(...)`: one or more fields
    Struct(Vec<Value>),
    /// `{kv}`: an element of a dict (an array of dict entries)
    DictEntry(Box<Value>, Box<Value>),
    /// `v`: any one value, with its type
    Variant(Box<Value>),
}

impl Value {
    /// The type of this value. For an array, its declared element type; a
    /// mismatching element is refused when the value is written.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn type_of(&self) -> Type {
        match self {
            Value::Byte(_) => Type::Byte,
            Value::Bool(_) => Type::Bool,
            Value::Int16(_) => Type::Int16,
            Value::Uint16(_) => Type::Uint16,
            Value::Int32(_) => Type::Int32,
            Value::Uint32(_) => Type::Uint32,
            Value::Int64(_) => Type::Int64,
            Value::Uint64(_) => Type::Uint64,
            Value::Double(_) => Type::Double,
            Value::Str(_) => Type::Str,
            Value::Path(_) => Type::Path,
            Value::Signature(_) => Type::Signature,
            Value::Fd(_) => Type::Fd,
            Value::Array { elem, .. } => Type::Array(Box::new(elem.clone())),
            Value::Struct(fields) => Type::Struct(fields.iter().map(Value::type_of).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_of()), Box::new(v.type_of())),
            Value::Variant(_) => Type::Variant,
        }
    }

    /// An array of `elem` values.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn array(elem: Type, items: Vec<Value>) -> Value {
        Value::Array { elem, items }
    }

    /// A `s` value.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// A `v` value holding `inner`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn variant(inner: Value) -> Value {
        Value::Variant(Box::new(inner))
    }

    /// The string of a `s`, `o` or `g` value.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `u` value.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Uint32(n) => Some(*n),
            _ => None,
        }
    }
}
