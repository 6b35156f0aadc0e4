//! CPU and memory-node lists as the kernel writes and reads them
//! (`cpuset.cpus`, `cpuset.mems`: `0-2,4`), one rule for the library and
//! the fake kernel.

/// Why a list was refused, as the kernel's `bitmap_parselist` tells it
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListError {
    /// A part that is not `N` or `A-B` with `A <= B` (`EINVAL`).
    Syntax,
    /// An id at or past the limit (`ERANGE`).
    OutOfRange,
}

/// Parse a list into sorted, distinct ids below `limit`. Empty parts are
/// skipped, so an empty list is no ids.
pub(crate) fn parse(text: &str, limit: u32) -> Result<Vec<u32>, ListError> {
    let number = |s: &str| -> Result<u32, ListError> {
        match !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            true => s.parse().map_err(|_| ListError::OutOfRange),
            false => Err(ListError::Syntax),
        }
    };
    let mut ids = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (number(a)?, number(b)?);
        if a > b {
            return Err(ListError::Syntax);
        }
        if b >= limit {
            return Err(ListError::OutOfRange);
        }
        ids.extend(a..=b);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Sorted ids as the kernel shows them: runs as ranges (`0-2,4`).
pub(crate) fn render(ids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = ids.get(i) {
        let mut end = start;
        while ids.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_sorted_and_render_as_runs() {
        assert_eq!(parse("4,0-2,1", 8), Ok(vec![0, 1, 2, 4]));
        assert_eq!(parse("", 8), Ok(vec![]));
        assert_eq!(parse("0-1", 2), Ok(vec![0, 1]));
        assert_eq!(render(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
        assert_eq!(render(&[]), "");
        let ids = parse("0-2,4,6-7", 8).unwrap();
        assert_eq!(render(&ids), "0-2,4,6-7");
    }

    #[test]
    fn bad_lists_are_told_apart() {
        assert_eq!(parse("2", 2), Err(ListError::OutOfRange));
        assert_eq!(parse("99999999999", u32::MAX), Err(ListError::OutOfRange));
        for bad in ["1-0", "a", "+1", "1-", "-1", " 1", "1-2-3"] {
            assert_eq!(parse(bad, 8), Err(ListError::Syntax), "{bad:?}");
        }
    }
}
