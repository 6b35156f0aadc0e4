//! Pressure stall information: `cpu.pressure`, `memory.pressure`, `io.pressure`, `irq.pressure`.
//!
//! ```text
//! some avg10=12.93 avg60=2.55 avg300=0.54 total=2184784
//! full avg10=10.78 avg60=1.95 avg300=0.40 total=1704215
//! ```

use super::ParseError;
use super::keyed::nested;
use super::token::{complete, decimal, parse_u64};

/// One line of a PSI file.
///
/// See the [example](crate::parse::psi#examples).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PsiLine {
    /// Percentage of the last 10 s in which tasks stalled.
    pub avg10: f64,
    /// Percentage of the last 60 s.
    pub avg60: f64,
    /// Percentage of the last 300 s.
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total: u64,
}

/// A PSI file: `some` always, `full` except for `cpu.pressure` on old kernels.
///
/// See the [example](crate::parse::psi#examples).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pressure {
    /// Some tasks stalled.
    pub some: Option<PsiLine>,
    /// All non-idle tasks stalled at once.
    pub full: Option<PsiLine>,
}

/// Parse a PSI file. Every one of the four fields must be present on a
/// `some` or `full` line; other lines and fields are ignored.
///
/// See the [example](crate::parse::psi#examples).
pub fn parse(content: &str) -> Result<Pressure, ParseError> {
    complete(content)?;
    let mut out = Pressure::default();
    for line in nested(content) {
        let slot = match line.key {
            "some" => &mut out.some,
            "full" => &mut out.full,
            _ => continue,
        };
        let (mut a10, mut a60, mut a300, mut total) = (None, None, None, None);
        for field in line.fields() {
            let (k, v) = field?;
            let bad = || ParseError::new(line.line, format!("{}: bad {k} {v:?}", line.key));
            match k {
                "avg10" => a10 = Some(percentage(v).ok_or_else(bad)?),
                "avg60" => a60 = Some(percentage(v).ok_or_else(bad)?),
                "avg300" => a300 = Some(percentage(v).ok_or_else(bad)?),
                "total" => total = Some(parse_u64(v).ok_or_else(bad)?),
                _ => {}
            }
        }
        let (Some(avg10), Some(avg60), Some(avg300), Some(total)) = (a10, a60, a300, total) else {
            return Err(ParseError::new(
                line.line,
                format!("{}: missing field", line.key),
            ));
        };
        *slot = Some(PsiLine {
            avg10,
            avg60,
            avg300,
            total,
        });
    }
    if out.some.is_none() {
        return Err(ParseError::new(0, "no \"some\" line"));
    }
    Ok(out)
}

/// A share of time, 0 to 100, as `avg10=12.93` holds it.
fn percentage(s: &str) -> Option<f64> {
    decimal(s).filter(|v| (0.0..=100.0).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sample() {
        let p = parse(
            "some avg10=12.93 avg60=2.55 avg300=0.54 total=2184784\n\
             full avg10=10.78 avg60=1.95 avg300=0.40 total=1704215\n",
        )
        .unwrap();
        let some = p.some.unwrap();
        assert_eq!(some.avg10, 12.93);
        assert_eq!(some.avg300, 0.54);
        assert_eq!(some.total, 2184784);
        assert_eq!(p.full.unwrap().total, 1704215);
    }

    #[test]
    fn some_only_and_bad() {
        let p = parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert!(p.full.is_none());
        assert!(parse("").is_err());
        assert!(parse("some avg10=nan avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(parse("some avg10=inf avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(parse("some avg10=101.00 avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(parse("some avg10=1.0 avg60=0.00 total=0\n").is_err());
        assert!(parse("some avg10=1.0 avg60=0.00 avg300=0.00 total=-1\n").is_err());
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::psi;

        let p = psi::parse(
            "some avg10=12.93 avg60=2.55 avg300=0.54 total=2184784\n\
             full avg10=10.78 avg60=1.95 avg300=0.40 total=1704215\n",
        )?;
        let some = p.some.unwrap();
        assert_eq!((some.avg10, some.total), (12.93, 2184784));
        assert_eq!(p.full.map(|f| f.total), Some(1704215));
        assert!(psi::parse("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").is_err()); // no some
        Ok(())
    }
}
