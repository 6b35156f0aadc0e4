use std::fmt;
use std::path::Path;

/// Bytes that are not a valid D-Bus message (or a value that cannot be
/// written as one): what was wrong, and at which byte of the message.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    offset: Option<usize>,
    message: String,
}

impl WireError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> WireError {
        WireError {
            offset: Some(offset),
            message: message.into(),
        }
    }

    /// An error whose place is not known yet (see [`WireError::at`]).
    pub(crate) fn unplaced(message: impl Into<String>) -> WireError {
        WireError {
            offset: None,
            message: message.into(),
        }
    }

    /// The same error, placed at `offset` unless it has a place already.
    pub(crate) fn at(mut self, offset: usize) -> WireError {
        self.offset.get_or_insert(offset);
        self
    }

    #[cfg(test)]
    /// The byte of the message where the problem was found, when known.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    #[cfg(test)]
    /// What was wrong.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Into the crate error: a protocol violation by the peer at `socket`
    /// while doing `operation`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn into_error(self, operation: impl Into<String>, socket: &Path) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Parse, operation)
            .with_path(socket)
            .with_detail(format!("D-Bus protocol violation: {self}"))
            .with_hint(
                "this is a bug in cgbox or in the bus peer; report it with the detail above \
                 (a D-Bus message that cgbox could not accept)",
            )
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "byte {o}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for WireError {}
