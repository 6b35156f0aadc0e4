//! `cgroup.events`: whether a cgroup (or anything below it) holds a
//! process, and whether it is frozen.
//!
//! The one parser of this file. A damaged file is an error, never "empty":
//! a kill that took damage for "nothing to kill" would return without
//! killing anything.

use super::ParseError;
use super::keyed::flat_numbered;

/// The state `cgroup.events` reports.
///
/// See the [example](crate::parse::events#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    /// `populated`: a live process is in the cgroup or below it.
    pub populated: bool,
    /// `frozen` (Linux 5.2+): the cgroup is frozen; `None` before 5.2.
    pub frozen: Option<bool>,
}

/// Parse `cgroup.events`. `populated` must be there; every value must be
/// `0` or `1`; a key must not repeat; unknown keys are skipped.
///
/// See the [example](crate::parse::events#examples).
pub fn parse(content: &str) -> Result<Events, ParseError> {
    scan(content).map_err(|(line, why)| ParseError::new(line, why))
}

/// [`parse`] without building an error message, for the allocation-free
/// sampler: `None` for damaged content.
pub(crate) fn parse_quiet(content: &str) -> Option<Events> {
    scan(content).ok()
}

fn scan(content: &str) -> Result<Events, (usize, &'static str)> {
    super::token::complete(content).map_err(|e| (e.line(), "truncated: no newline at the end"))?;
    let (mut populated, mut frozen) = (None, None);
    for item in flat_numbered(content) {
        let Ok((line, key, value)) = item else {
            return Err((0, "expected \"key value\" lines"));
        };
        let slot = match key {
            "populated" => &mut populated,
            "frozen" => &mut frozen,
            _ => continue,
        };
        let bit = match value {
            "0" => false,
            "1" => true,
            _ => return Err((line, "a value other than 0 or 1")),
        };
        if slot.replace(bit).is_some() {
            return Err((line, "a key given twice"));
        }
    }
    match populated {
        Some(populated) => Ok(Events { populated, frozen }),
        None => Err((0, "no populated line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_content() {
        assert_eq!(
            parse("populated 1\nfrozen 0\n"),
            Ok(Events {
                populated: true,
                frozen: Some(false)
            })
        );
        assert_eq!(
            parse("populated 0\n").map(|e| e.frozen),
            Ok(None),
            "before 5.2"
        );
        assert!(
            parse("populated 0\nfrozen 1\nnew_key 5\n").is_ok(),
            "unknown keys skipped"
        );
    }

    #[test]
    fn damage_is_an_error_never_empty() {
        for bad in [
            "",
            "frozen 0\n",
            "populated 2\nfrozen 0\n",
            "populated 1\npopulated 0\n",
            "populated 1",
            "populated  1\n",
            "populated\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
            assert_eq!(parse_quiet(bad), None, "{bad:?}");
        }
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::events;

        let e = events::parse("populated 0\nfrozen 1\n")?;
        assert_eq!((e.populated, e.frozen), (false, Some(true)));
        assert_eq!(events::parse("populated 1\n")?.frozen, None); // before Linux 5.2
        assert!(events::parse("populated 2\n").is_err()); // damage, never "empty"
        assert!(events::parse("").is_err());
        Ok(())
    }
}
