//! The one error type of the crate.
//!
//! An [`Error`] says what was being done ([`Error::operation`]), on which
//! path ([`Error::path`]), the errno exactly as the kernel returned it
//! ([`Error::errno`]), a [`ErrorKind`] to match on, and, where cgbox knows
//! one, what to do about it ([`Error::hint`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What went wrong, coarsely, for callers that want to react to it.
///
/// # Examples
///
/// ```
/// use cgbox::ErrorKind;
/// use rustix::io::Errno;
///
/// assert_eq!(ErrorKind::from_errno(Errno::NOENT.raw_os_error()), ErrorKind::NotFound);
/// assert_eq!(ErrorKind::from_errno(Errno::BUSY.raw_os_error()), ErrorKind::Busy);
/// assert_eq!(ErrorKind::from_errno(Errno::ROFS.raw_os_error()), ErrorKind::PermissionDenied);
/// // The kinds cgbox finds out itself (ControllerUnavailable, NotDelegated,
/// // ...) come with a hint: see the example of [`Error`](cgbox::Error#examples).
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A file, cgroup or process that was needed does not exist.
    NotFound,
    /// A cgroup of that name exists already.
    AlreadyExists,
    /// The kernel refused for lack of permission, or the mount is read-only.
    PermissionDenied,
    /// The cgroup is busy: it still has processes or children.
    Busy,
    /// A value given to cgbox, or written to the kernel, is invalid.
    InvalidInput,
    /// A cgroup name is not acceptable (slash, `..`, NUL, leading dot, too long).
    InvalidName,
    /// The directory is not on a cgroup2 filesystem; cgbox refuses to write there.
    NotCgroup2,
    /// No usable cgroup2 mount was found for this process.
    NoCgroup2,
    /// The process's cgroup lies outside the visible cgroup2 tree (cgroup namespace).
    OutsideNamespace,
    /// A controller needed for a limit is not available (not delegated).
    ControllerUnavailable,
    /// The no-internal-process rule forbids the operation.
    NoInternalProcesses,
    /// The cgroup belongs to a service manager (systemd) that did not
    /// delegate it to this process.
    NotDelegated,
    /// The cgroup is in a thread-mode subtree (`domain threaded`,
    /// `domain invalid`, `threaded`), where boxes cannot work.
    ThreadMode,
    /// Real-time processes outside the root prevent enabling the cpu controller.
    RealtimeProcesses,
    /// The kernel does not support the operation or file.
    Unsupported,
    /// Content read from the kernel or from `/proc` could not be parsed.
    Parse,
    /// A bounded wait ran out.
    TimedOut,
    /// A D-Bus peer (the bus, or systemd on it) answered with an error that
    /// no other kind describes, or closed the connection; the D-Bus error
    /// name and message are in the detail.
    Bus,
    /// Any other operating-system error.
    Other,
}

impl ErrorKind {
    /// The kind that an errno from a cgroup file operation most likely means.
    ///
    /// See the [example](crate::ErrorKind#examples).
    pub fn from_errno(errno: i32) -> ErrorKind {
        use rustix::io::Errno;
        let e = Errno::from_raw_os_error(errno);
        if e == Errno::NOENT || e == Errno::NODEV || e == Errno::SRCH {
            ErrorKind::NotFound
        } else if e == Errno::EXIST {
            ErrorKind::AlreadyExists
        } else if e == Errno::ACCESS || e == Errno::PERM || e == Errno::ROFS {
            ErrorKind::PermissionDenied
        } else if e == Errno::BUSY {
            ErrorKind::Busy
        } else if e == Errno::INVAL || e == Errno::RANGE {
            ErrorKind::InvalidInput
        } else if e == Errno::OPNOTSUPP || e == Errno::NOSYS {
            ErrorKind::Unsupported
        } else {
            ErrorKind::Other
        }
    }

    fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::Busy => io::ErrorKind::ResourceBusy,
            ErrorKind::InvalidInput | ErrorKind::InvalidName => io::ErrorKind::InvalidInput,
            ErrorKind::Parse => io::ErrorKind::InvalidData,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Unsupported | ErrorKind::ControllerUnavailable => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        }
    }
}

/// An error from cgbox: what was done, on which path, with the errno kept.
///
/// # Examples
///
/// Every error says what was done, on which path, the errno as the kernel
/// returned it, what was wrong and, where cgbox knows, the fix:
///
/// ```
/// use std::path::Path;
/// use cgbox::{Error, ErrorKind};
/// use rustix::io::Errno;
///
/// let e = Error::from_errno("rmdir", Path::new("/sys/fs/cgroup/job"), Errno::BUSY.raw_os_error())
///     .with_detail("processes remain in it")
///     .with_hint("kill them first");
/// assert_eq!(e.kind(), ErrorKind::Busy);
/// assert_eq!(e.operation(), "rmdir");
/// assert_eq!(e.path(), Some(Path::new("/sys/fs/cgroup/job")));
/// assert_eq!(e.errno(), Some(Errno::BUSY.raw_os_error()));
/// assert_eq!(e.detail(), Some("processes remain in it"));
/// assert_eq!(e.hint(), Some("kill them first"));
/// assert!(e.is_busy() && e.is_errno(Errno::BUSY));
/// assert!(!e.is_gone() && !e.is_absent() && !e.is_exist());
/// assert_eq!(e.io_error().map(|io| io.kind()), Some(std::io::ErrorKind::ResourceBusy));
/// assert_eq!(
///     e.to_string(),
///     "rmdir /sys/fs/cgroup/job: Device or resource busy (os error 16): processes remain in it (fix: kill them first)"
/// );
///
/// // Into io::Error, keeping the kind and the message.
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::ResourceBusy);
///
/// // Built by hand, and classified again.
/// let e = Error::new(ErrorKind::Other, "read cpu.stat")
///     .with_path("/sys/fs/cgroup/job/cpu.stat")
///     .with_errno(Errno::NODEV.raw_os_error())
///     .with_kind(ErrorKind::NotFound);
/// assert!(e.is_gone());
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// ```
///
/// What creating a box without a controller says:
///
/// ```
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{Builder, ErrorKind, Limits, Size};
///
/// let fake = Arc::new(FakeFs::with_controllers(&["cpu"]));
/// let err = Builder::new()
///     .limits(Limits::new().memory_max(Size::parse("64M")?))
///     .create(fake)
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::ControllerUnavailable);
/// assert!(err.hint().is_some());
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    operation: String,
    path: Option<PathBuf>,
    /// The system call's error, kept whole: `source()` hands it out.
    io: Option<Arc<io::Error>>,
    detail: Option<String>,
    hint: Option<String>,
}

/// The crate's result type.
///
/// See the [example](Error#examples) of [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` while doing `operation`.
    ///
    /// See the [example](crate::Error#examples).
    pub fn new(kind: ErrorKind, operation: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                operation: operation.into(),
                path: None,
                io: None,
                detail: None,
                hint: None,
            }),
        }
    }

    /// An error from a system call: the kind is derived from the errno.
    ///
    /// See the [example](crate::Error#examples).
    pub fn from_errno(operation: impl Into<String>, path: &Path, errno: i32) -> Error {
        Error::new(ErrorKind::from_errno(errno), operation)
            .with_path(path)
            .with_errno(errno)
    }

    pub(crate) fn from_rustix(
        operation: impl Into<String>,
        path: &Path,
        e: rustix::io::Errno,
    ) -> Error {
        Error::from_errno(operation, path, e.raw_os_error())
    }

    /// Attach the path the operation was on.
    ///
    /// See the [example](crate::Error#examples).
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Error {
        self.inner.path = Some(path.into());
        self
    }

    /// Attach the raw errno.
    ///
    /// See the [example](crate::Error#examples).
    pub fn with_errno(mut self, errno: i32) -> Error {
        self.inner.io = Some(Arc::new(io::Error::from_raw_os_error(errno)));
        self
    }

    /// Attach a sentence that explains what was wrong.
    ///
    /// See the [example](crate::Error#examples).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.inner.detail = Some(detail.into());
        self
    }

    /// Attach what the user can do about it.
    ///
    /// See the [example](crate::Error#examples).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.inner.hint = Some(hint.into());
        self
    }

    /// Re-classify the error, keeping everything else.
    ///
    /// See the [example](crate::Error#examples).
    pub fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.inner.kind = kind;
        self
    }

    /// The kind of error, to match on.
    ///
    /// See the [example](crate::Error#examples).
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// What cgbox was doing, such as `write cgroup.subtree_control`.
    ///
    /// See the [example](crate::Error#examples).
    pub fn operation(&self) -> &str {
        &self.inner.operation
    }

    /// The path it was doing it on, when there was one.
    ///
    /// See the [example](crate::Error#examples).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The errno exactly as the kernel returned it, when there was one.
    ///
    /// See the [example](crate::Error#examples).
    pub fn errno(&self) -> Option<i32> {
        self.inner.io.as_ref().and_then(|e| e.raw_os_error())
    }

    /// The errno as an `io::Error`, when there was one.
    ///
    /// See the [example](crate::Error#examples).
    pub fn io_error(&self) -> Option<io::Error> {
        self.errno().map(io::Error::from_raw_os_error)
    }

    /// The explanation of what was wrong, when cgbox has one.
    ///
    /// See the [example](crate::Error#examples).
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// What to do about it, when cgbox knows.
    ///
    /// See the [example](crate::Error#examples).
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// True when the errno is `errno`.
    ///
    /// See the [example](crate::Error#examples).
    pub fn is_errno(&self, errno: rustix::io::Errno) -> bool {
        self.errno() == Some(errno.raw_os_error())
    }

    /// The cgroup (or file) is gone: `ENOENT`, or `ENODEV` for a cgroup
    /// removed while a descriptor of it was open.
    ///
    /// See the [example](crate::Error#examples).
    pub fn is_gone(&self) -> bool {
        use rustix::io::Errno;
        self.is_errno(Errno::NOENT) || self.is_errno(Errno::NODEV)
    }

    /// The interface file is not there on this kernel: `ENOENT`, or
    /// `EOPNOTSUPP`, which PSI files give when pressure accounting is off.
    ///
    /// See the [example](crate::Error#examples).
    pub fn is_absent(&self) -> bool {
        use rustix::io::Errno;
        self.is_errno(Errno::NOENT) || self.is_errno(Errno::OPNOTSUPP)
    }

    /// The cgroup is busy (`EBUSY`): it has processes or children, or a
    /// child still uses a controller.
    ///
    /// See the [example](crate::Error#examples).
    pub fn is_busy(&self) -> bool {
        self.is_errno(rustix::io::Errno::BUSY)
    }

    /// A cgroup of that name exists already (`EEXIST`).
    ///
    /// See the [example](crate::Error#examples).
    pub fn is_exist(&self) -> bool {
        self.is_errno(rustix::io::Errno::EXIST)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.operation)?;
        if let Some(path) = &self.inner.path {
            write!(f, " {}", path.display())?;
        }
        if let Some(errno) = self.errno() {
            write!(f, ": {}", io::Error::from_raw_os_error(errno))?;
        }
        if let Some(detail) = &self.inner.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(hint) = &self.inner.hint {
            write!(f, " (fix: {hint})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("operation", &self.inner.operation)
            .field("path", &self.inner.path)
            .field("errno", &self.errno())
            .field("detail", &self.inner.detail)
            .field("hint", &self.inner.hint)
            .finish()
    }
}

/// The source is the system call's `io::Error`, when there was one, so
/// that error reporters that walk the chain (anyhow, eyre, tracing) reach
/// it.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .io
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Always wrapped, as walkdir does: the kind follows the errno, and the
/// message keeps the operation and the path (`rmdir /sys/fs/cgroup/x: ...`),
/// which a bare `io::Error::from_raw_os_error` would drop. The errno stays
/// reachable through `get_ref()` and [`Error::errno`].
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.errno() {
            Some(errno) if e.inner.kind == ErrorKind::from_errno(errno) => {
                io::Error::from_raw_os_error(errno).kind()
            }
            _ => e.kind().io_kind(),
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_operation_path_errno_and_fix() {
        let e = Error::from_errno("rmdir", Path::new("/sys/fs/cgroup/x"), 16)
            .with_hint("kill the processes first");
        assert_eq!(e.kind(), ErrorKind::Busy);
        let s = e.to_string();
        assert!(s.starts_with("rmdir /sys/fs/cgroup/x: "), "{s}");
        assert!(s.contains("busy"), "{s}");
        assert!(s.ends_with("(fix: kill the processes first)"), "{s}");
    }

    #[test]
    fn into_io_error_keeps_kind_errno_operation_and_path() {
        let plain = Error::from_errno("rmdir", Path::new("/sys/fs/cgroup/x"), 16);
        let io: io::Error = plain.into();
        assert_eq!(io.kind(), io::ErrorKind::ResourceBusy);
        assert!(
            io.to_string().starts_with("rmdir /sys/fs/cgroup/x: "),
            "the context survives `?` into io::Result: {io}"
        );
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner.and_then(Error::errno), Some(16));

        let explained = Error::from_errno("write", Path::new("/x"), 13).with_hint("run as root");
        let io: io::Error = explained.into();
        assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
        assert!(io.to_string().contains("run as root"));
    }

    #[test]
    fn the_source_is_the_io_error() {
        use std::error::Error as _;
        let e = Error::from_errno("rmdir", Path::new("/sys/fs/cgroup/x"), 16);
        let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(source.and_then(io::Error::raw_os_error), Some(16));
        assert_eq!(
            source.map(io::Error::kind),
            Some(io::ErrorKind::ResourceBusy)
        );
        let plain = Error::new(ErrorKind::InvalidInput, "check limits");
        assert!(plain.source().is_none(), "no system call, no source");
        assert!(e.clone().source().is_some(), "a clone keeps it");
    }

    #[test]
    fn errno_kinds() {
        assert_eq!(ErrorKind::from_errno(19), ErrorKind::NotFound); // ENODEV
        assert_eq!(ErrorKind::from_errno(30), ErrorKind::PermissionDenied); // EROFS
        assert_eq!(ErrorKind::from_errno(95), ErrorKind::Unsupported); // EOPNOTSUPP
        assert_eq!(ErrorKind::from_errno(34), ErrorKind::InvalidInput); // ERANGE
        assert_eq!(ErrorKind::from_errno(5), ErrorKind::Other); // EIO
    }
}
