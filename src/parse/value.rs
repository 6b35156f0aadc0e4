//! Single-value files: `memory.current`, `pids.max`, `cpu.max`, `cgroup.freeze` ...

use super::ParseError;
use super::token::{complete, is_word, parse_u64};

/// A limit as the kernel prints it: a number, or `max` for none.
///
/// See the [example](crate::parse::value#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxOr {
    /// `max`: no limit.
    Max,
    /// A finite limit.
    Value(u64),
}

impl MaxOr {
    #[cfg(test)]
    /// The finite value, or `None` for `max`.
    ///
    /// See the [example](crate::parse::value#examples).
    pub fn value(self) -> Option<u64> {
        match self {
            MaxOr::Max => None,
            MaxOr::Value(v) => Some(v),
        }
    }
}

/// The one line of a single-value file, without its newline: exactly as
/// the kernel prints it (words one space apart, a final newline).
///
/// See the [example](crate::parse::value#examples).
pub fn single_line(content: &str) -> Result<&str, ParseError> {
    complete(content)?;
    let body = content.strip_suffix('\n').unwrap_or(content);
    if body.contains('\n') {
        return Err(ParseError::new(2, "expected a single line"));
    }
    if body.is_empty() {
        return Err(ParseError::new(0, "empty file"));
    }
    if !body.split(' ').all(is_word) {
        return Err(ParseError::new(
            1,
            format!("unexpected white space in {body:?}"),
        ));
    }
    Ok(body)
}

/// A file holding one unsigned number: `memory.current`, `pids.current` ...
///
/// See the [example](crate::parse::value#examples).
pub fn u64_file(content: &str) -> Result<u64, ParseError> {
    let line = single_line(content)?;
    parse_u64(line).ok_or_else(|| ParseError::new(1, format!("not a number: {line:?}")))
}

/// A file holding one number or `max`: `memory.max`, `pids.max` ...
///
/// See the [example](crate::parse::value#examples).
pub fn max_or_file(content: &str) -> Result<MaxOr, ParseError> {
    let line = single_line(content)?;
    max_or(line).ok_or_else(|| ParseError::new(1, format!("not a number or max: {line:?}")))
}

/// One token that is a number or `max`.
///
/// See the [example](crate::parse::value#examples).
pub fn max_or(token: &str) -> Option<MaxOr> {
    if token == "max" {
        Some(MaxOr::Max)
    } else {
        parse_u64(token).map(MaxOr::Value)
    }
}

#[cfg(test)]
/// `cpu.max`: `$MAX $PERIOD`, quota `None` when `max`.
///
/// See the [example](crate::parse::value#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// Microseconds of CPU time per period, `None` for no limit.
    pub quota_us: Option<u64>,
    /// The period in microseconds.
    pub period_us: u64,
}

#[cfg(test)]
/// Parse the content of `cpu.max`.
///
/// See the [example](crate::parse::value#examples).
pub fn cpu_max(content: &str) -> Result<CpuMax, ParseError> {
    let line = single_line(content)?;
    let mut parts = line.split(' ');
    let (Some(quota), Some(period), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ParseError::new(
            1,
            format!("expected \"$MAX $PERIOD\", got {line:?}"),
        ));
    };
    let quota_us = max_or(quota)
        .ok_or_else(|| ParseError::new(1, format!("bad quota {quota:?}")))?
        .value();
    let period_us =
        parse_u64(period).ok_or_else(|| ParseError::new(1, format!("bad period {period:?}")))?;
    Ok(CpuMax {
        quota_us,
        period_us,
    })
}

/// A space-separated word list: `cgroup.controllers`, `cgroup.subtree_control`.
///
/// See the [example](crate::parse::value#examples).
pub fn words(content: &str) -> impl Iterator<Item = &str> {
    content.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_values() {
        assert_eq!(u64_file("12984320\n"), Ok(12984320));
        assert!(u64_file("7").is_err(), "no newline: cut short");
        assert!(u64_file("7 \n").is_err());
        assert!(u64_file("7\u{b}\n").is_err());
        assert!(u64_file("").is_err());
        assert!(u64_file("\n").is_err());
        assert!(u64_file("-1\n").is_err());
        assert!(u64_file("1 2\n").is_err());
        assert!(u64_file("1\n2\n").is_err());
        assert!(u64_file("99999999999999999999999\n").is_err());
        assert!(u64_file("08\n").is_err());
        assert_eq!(u64_file("0\n"), Ok(0));
        assert_eq!(max_or_file("max\n"), Ok(MaxOr::Max));
        assert_eq!(max_or_file("33554432\n"), Ok(MaxOr::Value(33554432)));
        assert!(max_or_file("maxx\n").is_err());
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(
            cpu_max("max 100000\n"),
            Ok(CpuMax {
                quota_us: None,
                period_us: 100000
            })
        );
        assert_eq!(
            cpu_max("50000 100000\n"),
            Ok(CpuMax {
                quota_us: Some(50000),
                period_us: 100000
            })
        );
        assert!(cpu_max("50000\n").is_err());
        assert!(cpu_max("50000 100000 7\n").is_err());
        assert!(cpu_max("x 100000\n").is_err());
        assert!(cpu_max("max max\n").is_err());
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::value::{
            CpuMax, MaxOr, cpu_max, max_or, max_or_file, single_line, u64_file, words,
        };

        assert_eq!(u64_file("4\n")?, 4);
        assert_eq!(max_or_file("max\n")?, MaxOr::Max);
        assert_eq!(max_or("16"), Some(MaxOr::Value(16)));
        assert_eq!(MaxOr::Max.value(), None);
        assert_eq!(
            cpu_max("150000 100000\n")?,
            CpuMax {
                quota_us: Some(150000),
                period_us: 100000
            }
        );
        assert_eq!(cpu_max("max 100000\n")?.quota_us, None);
        assert_eq!(single_line("7\n")?, "7");
        assert_eq!(
            words("cpu memory pids\n").collect::<Vec<_>>(),
            ["cpu", "memory", "pids"]
        );
        Ok(())
    }
}
