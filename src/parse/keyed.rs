//! The two generic layouts of cgroup interface files.
//!
//! Flat keyed (`cpu.stat`, `memory.stat`, `memory.events`, `cgroup.events`):
//! one `key value` pair a line. Nested keyed (`io.stat`, PSI files): a key,
//! then `sub=value` pairs. Both iterate without allocating.

use super::ParseError;
use super::token::{is_word, lines};

/// Iterator over the `(key, value)` pairs of a flat-keyed file.
///
/// Each item is one non-empty line, which must be exactly `key value` with
/// one space, as the kernel prints it; anything else is an error for that
/// line only, and iteration goes on.
///
/// See the [example](crate::parse::keyed#examples).
pub fn flat(content: &str) -> impl Iterator<Item = Result<(&str, &str), ParseError>> {
    flat_numbered(content).map(|item| item.map(|(_, k, v)| (k, v)))
}

/// Like [`flat`], with each pair's 1-based line number.
///
/// See the [example](crate::parse::keyed#examples).
pub fn flat_numbered(
    content: &str,
) -> impl Iterator<Item = Result<(usize, &str, &str), ParseError>> {
    lines(content).map(|(n, line)| match line.split_once(' ') {
        Some((k, v)) if is_word(k) && is_word(v) => Ok((n, k, v)),
        _ => Err(ParseError::new(
            n,
            format!("expected \"key value\", got {line:?}"),
        )),
    })
}

/// One line of a nested-keyed file: its key and its `sub=value` fields.
///
/// See the [example](crate::parse::keyed#examples).
#[derive(Debug, Clone, Copy)]
pub struct NestedLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The first word (`some`, `259:0`, ...).
    pub key: &'a str,
    rest: &'a str,
}

impl<'a> NestedLine<'a> {
    /// The `sub=value` fields, one space apart; a field without `=` (or an
    /// empty one, from a doubled space) is an error.
    ///
    /// See the [example](crate::parse::keyed#examples).
    pub fn fields(&self) -> impl Iterator<Item = Result<(&'a str, &'a str), ParseError>> + 'a {
        let line = self.line;
        let rest = self.rest;
        rest.split(' ')
            .filter(move |_| !rest.is_empty())
            .map(move |field| match field.split_once('=') {
                Some((k, v)) if is_word(k) && is_word(v) => Ok((k, v)),
                _ => Err(ParseError::new(
                    line,
                    format!("expected key=value, got {field:?}"),
                )),
            })
    }
}

/// Iterator over the lines of a nested-keyed file.
///
/// See the [example](crate::parse::keyed#examples).
pub fn nested(content: &str) -> impl Iterator<Item = NestedLine<'_>> {
    lines(content).map(|(line, text)| {
        let (key, rest) = text.split_once(' ').unwrap_or((text, ""));
        NestedLine { line, key, rest }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_pairs_and_bad_lines() {
        let items: Vec<_> = flat("populated 1\nfrozen 0\n").collect();
        assert_eq!(items, vec![Ok(("populated", "1")), Ok(("frozen", "0"))]);
        let items: Vec<_> = flat("a 1\nbroken\nc 3").collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().map_err(|e| e.line()), Err(2));
        assert_eq!(items[2], Ok(("c", "3")));
    }

    #[test]
    fn nested_lines() {
        let content = "259:0 rbytes=8388608 wbytes=16777216\n8:0 cost.vrate=100.00\n";
        let lines: Vec<_> = nested(content).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].key, "259:0");
        let f: Vec<_> = lines[0].fields().collect();
        assert_eq!(
            f,
            vec![Ok(("rbytes", "8388608")), Ok(("wbytes", "16777216"))]
        );
        let f: Vec<_> = lines[1].fields().collect();
        assert_eq!(f, vec![Ok(("cost.vrate", "100.00"))]);
        let bad: Vec<_> = nested("k a=1 b c=\n").next().unwrap().fields().collect();
        assert!(bad[1].is_err() && bad[2].is_err());
        let doubled: Vec<_> = nested("k a=1  b=2\n").next().unwrap().fields().collect();
        assert!(doubled[1].is_err());
        assert!(flat("a  1\n").next().unwrap().is_err());
        assert!(flat("a\t1\n").next().unwrap().is_err());
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::keyed::{flat, flat_numbered, nested};

        let pairs: Vec<(&str, &str)> =
            flat("usage_usec 5\nuser_usec 3\n").collect::<Result<_, _>>()?;
        assert_eq!(pairs, [("usage_usec", "5"), ("user_usec", "3")]);
        let numbered: Vec<_> = flat_numbered("a 1\n\nb 2\n").collect::<Result<_, _>>()?;
        assert_eq!(numbered, [(1, "a", "1"), (3, "b", "2")]);
        assert!(flat("a  1\n").next().unwrap().is_err()); // two spaces: damage

        let line = nested("259:0 rbytes=4096 wbytes=0\n").next().unwrap();
        assert_eq!(line.key, "259:0");
        let fields: Vec<_> = line.fields().collect::<Result<_, _>>()?;
        assert_eq!(fields, [("rbytes", "4096"), ("wbytes", "0")]);
        Ok(())
    }
}
