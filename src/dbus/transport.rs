//! The seam between the D-Bus client and the socket: [`Transport`], with
//! [`UnixTransport`] for a real bus and
//! [`ScriptedTransport`](super::ScriptedTransport) for tests.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::net::{SendFlags, send};

use super::address::{Address, BusKind};
use crate::{Error, ErrorKind, Result};

/// A byte stream to a bus. Every wait is bounded by a deadline.
///
/// See the [example](crate::dbus#examples).
pub trait Transport {
    /// Send all of `bytes`, giving up at `deadline` with
    /// [`ErrorKind::TimedOut`].
    ///
    /// See the [example](crate::dbus#examples).
    fn send(&mut self, bytes: &[u8], deadline: Instant) -> Result<()>;
    /// Wait until some bytes arrive, at most until `deadline`
    /// ([`ErrorKind::TimedOut`]), and append them to `buf`: the number of
    /// bytes appended, 0 when the peer closed the connection.
    ///
    /// See the [example](crate::dbus#examples).
    fn recv(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize>;
    /// The socket this transport talks to, for error messages.
    ///
    /// See the [example](crate::dbus#examples).
    fn socket(&self) -> &Path;
}

/// A connection to a bus on a Unix socket (std's `UnixStream`, with
/// timeouts set from each deadline).
///
/// See the [example](crate::dbus#examples).
#[derive(Debug)]
pub struct UnixTransport {
    stream: UnixStream,
    socket: PathBuf,
}

impl UnixTransport {
    /// Connect to `address`. A socket that is not there, or that nobody
    /// listens on, is [`ErrorKind::NotFound`]: there is no bus (containers
    /// and minimal hosts have none).
    ///
    /// `connect(2)` on a Unix socket returns at once unless the listener's
    /// backlog is full; that one wait is not bounded by a deadline.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn connect(address: &Address, bus: BusKind) -> Result<UnixTransport> {
        let socket = address.display_path();
        let connected = match address {
            Address::Path(p) => UnixStream::connect(p),
            Address::Abstract(name) => abstract_socket(name),
        };
        let stream = connected.map_err(|e| connect_error(e, bus, &socket))?;
        Ok(UnixTransport { stream, socket })
    }
}

fn abstract_socket(name: &[u8]) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixStream::connect_addr(&addr)
}

fn connect_error(e: io::Error, bus: BusKind, socket: &Path) -> Error {
    let op = format!("connect to the D-Bus {} bus", bus.name());
    let errno = e.raw_os_error().unwrap_or(0);
    let err = Error::new(ErrorKind::from_errno(errno), op)
        .with_path(socket)
        .with_errno(errno);
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => err
            .with_kind(ErrorKind::NotFound)
            .with_detail(format!(
                "no D-Bus {} bus listens here (containers and minimal hosts have none)",
                bus.name()
            ))
            .with_hint(match bus {
                BusKind::System => {
                    "on a systemd host, start dbus (systemctl start dbus.socket); elsewhere, \
                     give cgbox a delegated cgroup instead"
                }
                BusKind::User => {
                    "run from a login session, or `loginctl enable-linger USER` so that the \
                     user manager and its bus run; elsewhere, give cgbox a delegated cgroup instead"
                }
            }),
        io::ErrorKind::PermissionDenied => err
            .with_detail("this user may not connect to the bus socket")
            .with_hint("run as a user that may use this bus"),
        _ => err,
    }
}

/// The time left until `deadline`, or a timeout error.
fn remaining(deadline: Instant, op: &str, socket: &Path) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out(op, socket));
    }
    Ok(left)
}

fn timed_out(op: &str, socket: &Path) -> Error {
    Error::new(ErrorKind::TimedOut, op)
        .with_path(socket)
        .with_detail("the bus did not answer in time")
}

fn io_error(op: &str, socket: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(errno) => Error::from_errno(op, socket, errno),
        None => Error::new(ErrorKind::Other, op)
            .with_path(socket)
            .with_detail(e.to_string()),
    }
}

impl Transport for UnixTransport {
    fn send(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<()> {
        const OP: &str = "send to the D-Bus socket";
        while !bytes.is_empty() {
            let left = remaining(deadline, OP, &self.socket)?;
            self.stream
                .set_write_timeout(Some(left))
                .map_err(|e| io_error(OP, &self.socket, e))?;
            // MSG_NOSIGNAL: a bus that went away is an EPIPE error, not a
            // SIGPIPE that kills a program which did not ignore it.
            match send(&self.stream, bytes, SendFlags::NOSIGNAL) {
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Err(timed_out(OP, &self.socket)),
                Err(e) => return Err(Error::from_rustix(OP, &self.socket, e)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize> {
        const OP: &str = "read from the D-Bus socket";
        let mut chunk = [0u8; 4096];
        loop {
            let left = remaining(deadline, OP, &self.socket)?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| io_error(OP, &self.socket, e))?;
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(timed_out(OP, &self.socket));
                }
                Err(e) => return Err(io_error(OP, &self.socket, e)),
            }
        }
    }

    fn socket(&self) -> &Path {
        &self.socket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn no_socket_means_no_bus() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Address::Path(dir.path().join("bus"));
        let e = UnixTransport::connect(&missing, BusKind::User).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.errno(), Some(2));
        assert!(e.detail().unwrap().contains("no D-Bus user bus"), "{e}");
        assert_eq!(e.path(), Some(dir.path().join("bus").as_path()));

        // a socket file whose listener is gone: ECONNREFUSED, also no bus
        let path = dir.path().join("stale");
        drop(UnixListener::bind(&path).unwrap());
        let e = UnixTransport::connect(&Address::Path(path), BusKind::System).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.errno(), Some(111));
    }

    #[test]
    fn bytes_both_ways_and_a_bounded_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let listener = UnixListener::bind(&path).unwrap();
        let mut t = UnixTransport::connect(&Address::Path(path.clone()), BusKind::User).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        t.send(b"\0AUTH", deadline).unwrap();
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\0AUTH");

        io::Write::write_all(&mut peer, b"OK").unwrap();
        let mut buf = b"x".to_vec();
        let n = t.recv(&mut buf, deadline).unwrap();
        assert_eq!((n, buf.as_slice()), (2, &b"xOK"[..]));

        // nothing more comes: the deadline ends the wait
        let e = t
            .recv(&mut buf, Instant::now() + Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        let e = t.recv(&mut buf, Instant::now()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut, "a deadline already past");

        drop(peer);
        assert_eq!(t.recv(&mut buf, deadline).unwrap(), 0, "closed");
        let e = t.send(b"BEGIN\r\n", deadline).unwrap_err();
        assert_eq!(e.errno(), Some(32), "EPIPE, and no SIGPIPE: {e}");
        assert_eq!(t.socket(), path);
    }

    #[test]
    fn abstract_sockets() {
        let name = format!("cgbox-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let _listener = UnixListener::bind_addr(&addr).unwrap();
        let t =
            UnixTransport::connect(&Address::Abstract(name.clone().into_bytes()), BusKind::User)
                .unwrap();
        assert_eq!(t.socket(), Path::new(&format!("@{name}")));
    }
}
