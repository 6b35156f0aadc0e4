//! How the CLI writes JSON, through serde: `{"key": value, "list": [1, 2]}`
//! on one line, a space after `:` and `,` (the shape scripts and the README
//! were written against). Keys come in the order the serialized types give
//! them; floats are Rust's shortest `Display` (`1.0` is `1`), except in
//! traces; a float that is not finite is `null`.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

/// How floats are written.
#[derive(Clone, Copy)]
pub enum Floats {
    /// Rust's `Display`: the shortest text that reads back the same.
    Shortest,
    /// Six decimals: a trace's times, `12.345678` seconds, microsecond
    /// digits whatever the value.
    Micros,
}

/// serde_json's compact output with the CLI's spacing, floats and escapes.
#[derive(Clone, Copy)]
pub struct Style(pub Floats);

impl Formatter for Style {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// serde_json writes `null` itself for NaN and the infinities.
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        match self.0 {
            Floats::Shortest => write!(w, "{value}"),
            Floats::Micros => write!(w, "{value:.6}"),
        }
    }

    /// Backspace and form feed as `\u0008` and `\u000c`, as every other
    /// control character, and as cgbox always wrote them (JSON allows
    /// both; serde_json's own choice is `\b` and `\f`).
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        match escape {
            CharEscape::Backspace => w.write_all(b"\\u0008"),
            CharEscape::FormFeed => w.write_all(b"\\u000c"),
            other => CompactFormatter.write_char_escape(w, other),
        }
    }
}

/// Write `value` at the end of `out`, in `floats` style, allocating
/// nothing beyond `out`'s own growth (a trace tick depends on it).
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T, floats: Floats) {
    let mut ser = serde_json::Serializer::with_formatter(out, Style(floats));
    // The CLI's types serialize infallibly (string keys, no custom
    // errors) and a Vec takes every write.
    value
        .serialize(&mut ser)
        .expect("serializing to memory cannot fail");
}

/// `value` as one line of JSON (no newline), floats the shortest way.
pub fn render<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write(&mut out, value, Floats::Shortest);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct All<'a> {
        b: bool,
        n: u64,
        i: i64,
        s: &'a str,
        f: f64,
        whole: f64,
        nan: f64,
        none: Option<u64>,
        list: Vec<&'a str>,
        empty: Vec<u64>,
    }

    #[test]
    fn renders_escaped_spaced_and_ordered() {
        let all = All {
            b: true,
            n: 5,
            i: -3,
            s: "a\"b\\c\n\t\r\u{1}\u{8}\u{c}\u{1f}\u{7f}é",
            f: 0.5,
            whole: 1.0,
            nan: f64::NAN,
            none: None,
            list: vec!["x", "y"],
            empty: vec![],
        };
        assert_eq!(
            render(&all),
            r#"{"b": true, "n": 5, "i": -3, "s": "a\"b\\c\n\t\r\u0001\u0008\u000c\u001f"#
                .to_owned()
                + "\u{7f}é"
                + r#"", "f": 0.5, "whole": 1, "nan": null, "none": null, "list": ["x", "y"], "empty": []}"#
        );
        assert_eq!(render(&f64::INFINITY), "null");
        assert_eq!(render(&1e21), "1000000000000000000000");
    }

    #[test]
    fn trace_times_have_microsecond_digits() {
        let mut out = Vec::new();
        write(
            &mut out,
            &[0.0, 0.1, 12.345678, 4e9 + 0.000001],
            Floats::Micros,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[0.000000, 0.100000, 12.345678, 4000000000.000001]"
        );
    }
}
