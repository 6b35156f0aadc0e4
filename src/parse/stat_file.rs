//! Parse any statistics file of a cgroup into one generic shape,
//! [`FileStats`], that keeps the kernel's own keys in the kernel's order.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::ParseError;
use super::keyed::{flat_numbered, nested};
use super::known_keys::key;
use super::token::{complete, decimal, parse_i64, parse_u64};
use super::value::{MaxOr, max_or_file, u64_file};

/// One number as a statistics file holds it.
///
/// See the [example](crate::Stats#examples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A non-negative integer.
    Uint(u64),
    /// A negative integer (transient `memory.stat` counters on some kernels).
    Int(i64),
    /// A decimal (`avg10=0.50`, `cost.vrate=100.00`).
    Float(f64),
    /// `max`: no limit.
    Max,
}

impl Number {
    /// The value as an unsigned integer, if it is one.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::Uint(n) => Some(n),
            _ => None,
        }
    }
}

/// The parsed content of one file. Keys are the kernel's, as it printed
/// them (borrowed where the key is one cgbox knows, so that a read
/// allocates little; compare them as `&str`).
///
/// See the [example](crate::Stats#examples).
#[derive(Debug, Clone, PartialEq)]
pub enum FileStats {
    /// One value (`memory.current`, `pids.max`).
    Single(Number),
    /// `key value` lines (`cpu.stat`, `memory.events`, `cgroup.events`).
    Flat(Pairs),
    /// `key sub=value ...` lines (`io.stat`, PSI files).
    Nested(Vec<(Cow<'static, str>, Pairs)>),
}

/// `key value` pairs as a file holds them.
type Pairs = Vec<(Cow<'static, str>, Number)>;

impl FileStats {
    /// The value of `key` in a flat file.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn get(&self, key: &str) -> Option<Number> {
        match self {
            FileStats::Flat(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| *v),
            _ => None,
        }
    }

    /// The value of `sub` on the line `key` of a nested file.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn get_nested(&self, key: &str, sub: &str) -> Option<Number> {
        match self {
            FileStats::Nested(lines) => lines
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, fields)| fields.iter().find(|(s, _)| s == sub))
                .map(|(_, v)| *v),
            _ => None,
        }
    }

    /// The single value of a single-value file.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn single(&self) -> Option<Number> {
        match self {
            FileStats::Single(n) => Some(*n),
            _ => None,
        }
    }
}

/// How a file is laid out.
///
/// See the [example](crate::Stats#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One unsigned number.
    Counter,
    /// One number or `max`.
    Limit,
    /// Flat keyed, unsigned values.
    FlatUnsigned,
    /// Flat keyed, possibly negative values (`memory.stat`).
    FlatSigned,
    /// `MAJ:MIN key=value ...` (`io.stat`).
    Devices,
    /// PSI: `some`/`full` lines with `avg10 avg60 avg300 total`.
    Pressure,
}

/// Parse `content` as `layout`. Duplicate keys are an error: the kernel
/// never repeats one, so a repeat means a damaged file.
///
/// See the [example](crate::Stats#examples).
pub fn parse(layout: Layout, content: &str) -> Result<FileStats, ParseError> {
    complete(content)?;
    match layout {
        Layout::Counter => Ok(FileStats::Single(Number::Uint(u64_file(content)?))),
        Layout::Limit => Ok(FileStats::Single(match max_or_file(content)? {
            MaxOr::Max => Number::Max,
            MaxOr::Value(v) => Number::Uint(v),
        })),
        Layout::FlatUnsigned | Layout::FlatSigned => {
            let mut out: Pairs = Vec::with_capacity(lines_in(content));
            let mut seen = Seen::default();
            for item in flat_numbered(content) {
                let (line, k, v) = item?;
                let n = if layout == Layout::FlatSigned {
                    signed(v)
                } else {
                    parse_u64(v).map(Number::Uint)
                };
                let n =
                    n.ok_or_else(|| ParseError::new(line, format!("{k}: not a number: {v:?}")))?;
                if seen.repeats(&out, k) {
                    return Err(ParseError::new(line, format!("duplicate key {k:?}")));
                }
                out.push((key(k), n));
            }
            Ok(FileStats::Flat(out))
        }
        Layout::Devices => {
            let mut out: Vec<(Cow<'static, str>, Pairs)> = Vec::with_capacity(lines_in(content));
            for line in nested(content) {
                if !is_device(line.key) {
                    return Err(ParseError::new(
                        line.line,
                        format!("bad device {:?}", line.key),
                    ));
                }
                if out.iter().any(|(d, _)| d == line.key) {
                    return Err(ParseError::new(
                        line.line,
                        format!("duplicate device {:?}", line.key),
                    ));
                }
                let mut fields: Pairs = Vec::new();
                for f in line.fields() {
                    let (k, v) = f?;
                    let n = parse_u64(v)
                        .map(Number::Uint)
                        .or_else(|| decimal(v).map(Number::Float))
                        .ok_or_else(|| {
                            ParseError::new(line.line, format!("{k}: not a number: {v:?}"))
                        })?;
                    if fields.iter().any(|(seen, _)| seen == k) {
                        return Err(ParseError::new(line.line, format!("duplicate key {k:?}")));
                    }
                    fields.push((key(k), n));
                }
                out.push((key(line.key), fields));
            }
            Ok(FileStats::Nested(out))
        }
        Layout::Pressure => {
            let p = super::psi::parse(content)?;
            let mut out = Vec::new();
            for (name, line) in [("some", p.some), ("full", p.full)] {
                if let Some(l) = line {
                    out.push((
                        Cow::Borrowed(name),
                        vec![
                            (Cow::Borrowed("avg10"), Number::Float(l.avg10)),
                            (Cow::Borrowed("avg60"), Number::Float(l.avg60)),
                            (Cow::Borrowed("avg300"), Number::Float(l.avg300)),
                            (Cow::Borrowed("total"), Number::Uint(l.total)),
                        ],
                    ));
                }
            }
            Ok(FileStats::Nested(out))
        }
    }
}

/// Keys seen so far in one file: a damaged file may repeat one. Most
/// files have a few keys, looked through one by one without a set; past
/// [`Seen::LINEAR`] keys (`memory.stat` has about 60) a set of their hashes
/// takes over, and a hash seen before is checked against the keys.
#[derive(Default)]
struct Seen(HashSet<u64, BuildHasherDefault<Identity>>);

impl Seen {
    const LINEAR: usize = 16;

    /// Whether `key` is among the keys of `out` (the keys so far).
    fn repeats(&mut self, out: &[(Cow<'static, str>, Number)], key: &str) -> bool {
        if out.len() < Self::LINEAR {
            return out.iter().any(|(k, _)| k == key);
        }
        if self.0.is_empty() {
            self.0.extend(out.iter().map(|(k, _)| fnv(k)));
        }
        !self.0.insert(fnv(key)) && out.iter().any(|(k, _)| k == key)
    }
}

/// The hashes are FNV-1a already: the set uses them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// FNV-1a: keys are short and trusted not to be adversarial here.
fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Lines of `content`: the pairs a flat file holds, sized once (a growing
/// vector would allocate again at 4, 8, 16, 32 and 64 keys).
fn lines_in(content: &str) -> usize {
    content.bytes().filter(|&b| b == b'\n').count()
}

fn signed(v: &str) -> Option<Number> {
    match parse_u64(v) {
        Some(n) => Some(Number::Uint(n)),
        None => parse_i64(v).map(Number::Int),
    }
}

fn is_device(key: &str) -> bool {
    key.split_once(':')
        .is_some_and(|(a, b)| parse_u64(a).is_some() && parse_u64(b).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(
            parse(Layout::Counter, "65536\n"),
            Ok(FileStats::Single(Number::Uint(65536)))
        );
        assert_eq!(
            parse(Layout::Limit, "max\n"),
            Ok(FileStats::Single(Number::Max))
        );
        let f = parse(Layout::FlatUnsigned, "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(f.get("populated"), Some(Number::Uint(1)));
        assert_eq!(f.get("absent"), None);
        let m = parse(Layout::FlatSigned, "anon 3706880\nworkingset -1\n").unwrap();
        assert_eq!(m.get("workingset"), Some(Number::Int(-1)));
        let io = parse(
            Layout::Devices,
            "259:0 rbytes=8388608 wbytes=16777216 cost.vrate=100.00\n",
        )
        .unwrap();
        assert_eq!(
            io.get_nested("259:0", "wbytes"),
            Some(Number::Uint(16777216))
        );
        assert_eq!(
            io.get_nested("259:0", "cost.vrate"),
            Some(Number::Float(100.0))
        );
        let p = parse(
            Layout::Pressure,
            "some avg10=0.50 avg60=0.00 avg300=0.00 total=7\n",
        )
        .unwrap();
        assert_eq!(p.get_nested("some", "avg10"), Some(Number::Float(0.5)));
        assert_eq!(p.get_nested("some", "total"), Some(Number::Uint(7)));
        assert_eq!(parse(Layout::Devices, ""), Ok(FileStats::Nested(vec![])));
    }

    #[test]
    fn a_repeated_key_is_found_before_and_after_the_set_takes_over() {
        let keys: Vec<String> = (0..60).map(|i| format!("key_{i}")).collect();
        let file = |extra: &str| {
            let mut text: String = keys.iter().map(|k| format!("{k} 1\n")).collect();
            text.push_str(extra);
            text
        };
        // 60 distinct keys: no false repeat from the hashes.
        let whole = parse(Layout::FlatSigned, &file("")).unwrap();
        assert_eq!(whole.get("key_59"), Some(Number::Uint(1)));
        // A repeat of an early key, of a late key, and one within the first 16.
        for (text, line) in [
            (file("key_3 2\n"), 61),
            (file("key_42 2\n"), 61),
            ("a 1\nb 2\nc 3\nb 4\n".to_owned(), 4),
        ] {
            let err = parse(Layout::FlatSigned, &text).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{err}");
            assert!(err.to_string().contains(&format!("line {line}")), "{err}");
        }
    }

    #[test]
    fn damage_is_an_error_never_a_value() {
        assert!(parse(Layout::FlatUnsigned, "a 1\na 1\n").is_err());
        assert!(parse(Layout::FlatUnsigned, "a -1\n").is_err());
        assert!(parse(Layout::FlatUnsigned, "a 184467440737095516159\n").is_err());
        assert!(parse(Layout::Devices, "259 rbytes=1\n").is_err());
        assert!(parse(Layout::Devices, "259:0 rbytes=1 rbytes=2\n").is_err());
        assert!(parse(Layout::Devices, "259:0 rbytes=1e5\n").is_err());
        assert!(parse(Layout::Counter, "12 34\n").is_err());
        assert_eq!(decimal("nan"), None);
        assert_eq!(decimal("1.5e3"), None);
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::stat_file::{FileStats, Layout, Number, parse};

        assert_eq!(
            parse(Layout::Counter, "4096\n")?.single(),
            Some(Number::Uint(4096))
        );
        assert_eq!(parse(Layout::Limit, "max\n")?.single(), Some(Number::Max));
        let stat = parse(Layout::FlatSigned, "anon 8192\nworkingset_refault -1\n")?;
        assert_eq!(stat.get("anon").and_then(Number::as_u64), Some(8192));
        assert_eq!(stat.get("workingset_refault"), Some(Number::Int(-1)));
        let io = parse(
            Layout::Devices,
            "259:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        )?;
        assert_eq!(io.get_nested("259:0", "rbytes"), Some(Number::Uint(4096)));
        let pressure = parse(
            Layout::Pressure,
            "some avg10=0.50 avg60=0.00 avg300=0.00 total=7\n",
        )?;
        assert_eq!(
            pressure.get_nested("some", "avg10"),
            Some(Number::Float(0.5))
        );
        assert!(matches!(pressure, FileStats::Nested(_)));
        Ok(())
    }
}
