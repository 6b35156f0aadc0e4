//! The smallest pieces of every cgroup file: lines, words, numbers, as the
//! kernel prints them. Everything else in [`parse`](super) builds on these.

use super::ParseError;

/// Non-blank lines with their 1-based numbers.
///
/// See the [example](crate::parse::token#examples).
pub fn lines(content: &str) -> impl Iterator<Item = (usize, &str)> {
    content
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// A token as the kernel prints one: non-empty, no white space, no control bytes.
///
/// See the [example](crate::parse::token#examples).
pub fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// Every file the kernel generates ends with a newline; content that does
/// not was cut short, and its last value may be cut too.
///
/// See the [example](crate::parse::token#examples).
pub fn complete(content: &str) -> Result<(), ParseError> {
    if content.is_empty() || content.ends_with('\n') {
        Ok(())
    } else {
        let line = content.split('\n').count();
        Err(ParseError::new(line, "truncated: no newline at the end"))
    }
}

/// A decimal unsigned integer exactly as the kernel prints it: digits
/// only, no sign, no spaces, and no leading zero (a `0` turned into `08`
/// by damage must not read as 8).
///
/// See the [example](crate::parse::token#examples).
pub fn parse_u64(token: &str) -> Option<u64> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    token.parse().ok()
}

/// True for a non-empty run of ASCII digits (leading zeros allowed, as in
/// the fraction of `0.05`).
///
/// See the [example](crate::parse::token#examples).
pub fn is_digits(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal signed integer (`memory.stat` can hold small negative counters
/// transiently on some kernels).
///
/// See the [example](crate::parse::token#examples).
pub fn parse_i64(token: &str) -> Option<i64> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if parse_u64(digits)? == 0 && digits.len() != token.len() {
        return None; // "-0"
    }
    token.parse().ok()
}

/// A decimal number: digits with an optional fraction (`12`, `12.34`).
/// Never `nan`, `inf` or an exponent, which `f64::from_str` would take.
///
/// See the [example](crate::parse::token#examples).
pub fn decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    parse_u64(int)?;
    if !is_digits(frac) {
        return None;
    }
    s.parse().ok()
}

/// The PIDs of `cgroup.procs` (or `cgroup.threads`): one per line. A line
/// that is not a PID is passed over (never read as a wrong one).
///
/// See the [example](crate::parse::token#examples).
pub fn pids(content: &str) -> impl Iterator<Item = u32> + '_ {
    content
        .lines()
        .filter_map(|l| parse_u64(l.trim()).and_then(|p| u32::try_from(p).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_the_kernel_prints_them() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("08"), None, "damage, not eight");
        assert_eq!(parse_i64("-3"), Some(-3));
        assert_eq!(parse_i64("-0"), None);
        assert_eq!(decimal("12.34"), Some(12.34));
        assert_eq!(decimal("12"), Some(12.0));
        for bad in ["nan", "inf", "1e3", "1.5e3", ".5", "5.", "-1.0", ""] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
        assert!(is_word("populated") && !is_word("a b") && !is_word(""));
        assert!(complete("x\n").is_ok() && complete("x").is_err());
        assert!(complete("").is_ok() && complete("a 1\n").is_ok());
        assert_eq!(parse_i64("-4096"), Some(-4096));
        assert_eq!(parse_i64("12"), Some(12));
        assert_eq!(parse_i64("-"), None);
        assert_eq!(parse_i64("+1"), None);
        assert_eq!(
            pids("1\n22\nx\n08\n99999999999\n").collect::<Vec<_>>(),
            [1, 22]
        );
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::token::{
            complete, decimal, is_digits, is_word, lines, parse_i64, parse_u64, pids,
        };

        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("042"), None); // the kernel never prints that: damage
        assert_eq!(parse_i64("-3"), Some(-3));
        assert_eq!(decimal("12.34"), Some(12.34));
        assert_eq!(decimal("nan"), None);
        assert!(is_digits("007") && !is_digits(""));
        assert!(is_word("usage_usec") && !is_word("a b"));
        assert!(complete("a 1\n").is_ok() && complete("a 1").is_err()); // cut short
        assert_eq!(lines("a\n\nb\n").collect::<Vec<_>>(), [(1, "a"), (3, "b")]);
        assert_eq!(pids("12\n13\n").collect::<Vec<_>>(), [12, 13]);
        Ok(())
    }
}
