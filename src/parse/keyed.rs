//! The two generic layouts of cgroup interface files.
//!
//! Flat keyed (`cpu.stat`, `memory.stat`, `memory.events`, `cgroup.events`):
//! one `key value` pair a line. Nested keyed (`io.stat`, PSI files): a key,
//! then `sub=value` pairs. Both iterate without allocating.

use super::ParseError;
use super::value::{parse_i64, parse_u64};

/// Iterator over the `(key, value)` pairs of a flat-keyed file.
///
/// Each item is one non-empty line, which must be exactly `key value` with
/// one space, as the kernel prints it; anything else is an error for that
/// line only, and iteration goes on.
pub fn flat(content: &str) -> impl Iterator<Item = Result<(&str, &str), ParseError>> {
    flat_numbered(content).map(|item| item.map(|(_, k, v)| (k, v)))
}

/// Like [`flat`], with each pair's 1-based line number.
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

/// A token as the kernel prints one: non-empty, no white space, no control bytes.
pub(crate) fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// Every file the kernel generates ends with a newline; content that does
/// not was cut short, and its last value may be cut too.
pub fn complete(content: &str) -> Result<(), ParseError> {
    if content.is_empty() || content.ends_with('\n') {
        Ok(())
    } else {
        let line = content.split('\n').count();
        Err(ParseError::new(line, "truncated: no newline at the end"))
    }
}

/// Collect a flat-keyed file whose values are all unsigned integers.
/// Any bad line fails the whole file: a half-parsed map would pass off
/// missing values as absent.
pub fn flat_u64(content: &str) -> Result<Vec<(String, u64)>, ParseError> {
    let mut out = Vec::new();
    for (n, item) in flat(content).enumerate() {
        let (k, v) = item?;
        let value = parse_u64(v).ok_or_else(|| bad_value(content, n, k, v))?;
        out.push((k.to_owned(), value));
    }
    Ok(out)
}

/// Like [`flat_u64`], but values may be negative (`memory.stat` on some kernels).
pub fn flat_i64(content: &str) -> Result<Vec<(String, i64)>, ParseError> {
    let mut out = Vec::new();
    for (n, item) in flat(content).enumerate() {
        let (k, v) = item?;
        let value = parse_i64(v).ok_or_else(|| bad_value(content, n, k, v))?;
        out.push((k.to_owned(), value));
    }
    Ok(out)
}

fn bad_value(content: &str, item_index: usize, key: &str, value: &str) -> ParseError {
    let line = lines(content).nth(item_index).map(|(n, _)| n).unwrap_or(0);
    ParseError::new(line, format!("{key}: not a number: {value:?}"))
}

/// One line of a nested-keyed file: its key and its `sub=value` fields.
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
pub fn nested(content: &str) -> impl Iterator<Item = NestedLine<'_>> {
    lines(content).map(|(line, text)| {
        let (key, rest) = text.split_once(' ').unwrap_or((text, ""));
        NestedLine { line, key, rest }
    })
}

/// Non-blank lines with their 1-based numbers.
pub(crate) fn lines(content: &str) -> impl Iterator<Item = (usize, &str)> {
    content
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
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
    fn flat_numbers() {
        let m = flat_u64("usage_usec 4569656\nnr_throttled 23\n").unwrap();
        assert_eq!(
            m,
            vec![("usage_usec".into(), 4569656), ("nr_throttled".into(), 23)]
        );
        let e = flat_u64("a 1\n\nb x\n").unwrap_err();
        assert_eq!(e.line(), 3);
        assert_eq!(
            flat_i64("anon -4096\n").unwrap(),
            vec![("anon".into(), -4096)]
        );
        assert!(flat_u64("").unwrap().is_empty());
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
        assert!(complete("a 1").is_err());
        assert!(complete("").is_ok() && complete("a 1\n").is_ok());
    }
}
