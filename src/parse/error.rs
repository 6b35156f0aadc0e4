use std::fmt;

/// Content that could not be parsed: which line (1-based, 0 for the whole
/// content) and what was wrong with it.
///
/// See the [example](crate::parse#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }

    /// The 1-based line number, or 0 when the error concerns the whole content.
    ///
    /// See the [example](crate::parse#examples).
    pub fn line(&self) -> usize {
        self.line
    }

    #[cfg(test)]
    /// What was wrong.
    ///
    /// See the [example](crate::parse#examples).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Into the crate error, naming the file it came from.
    ///
    /// See the [example](crate::parse#examples).
    pub fn into_error(self, path: &std::path::Path) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Parse, "parse")
            .with_path(path)
            .with_detail(self.to_string())
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}
