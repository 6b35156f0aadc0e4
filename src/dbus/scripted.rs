//! A fake bus for tests: what it "receives" comes from a script of bytes
//! (literal, built from [`Message`]s, or captured from a real bus), and
//! everything sent to it is recorded.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::WireError;
use super::message::Message;
use super::transport::Transport;
use crate::{Error, ErrorKind, Result};

/// A [`Transport`] that replays a script. When the script is used up, a
/// read times out (a silent bus), or reports the end of the stream after
/// [`ScriptedTransport::hanging_up`].
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone)]
pub struct ScriptedTransport {
    incoming: VecDeque<Vec<u8>>,
    chunk: usize,
    hang_up: bool,
    sent: Vec<u8>,
    socket: PathBuf,
}

impl Default for ScriptedTransport {
    fn default() -> ScriptedTransport {
        ScriptedTransport::new()
    }
}

impl ScriptedTransport {
    /// An empty script.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn new() -> ScriptedTransport {
        ScriptedTransport {
            incoming: VecDeque::new(),
            chunk: usize::MAX,
            hang_up: false,
            sent: Vec::new(),
            socket: PathBuf::from("/scripted/bus"),
        }
    }

    /// Then these bytes arrive (in one read, unless [`in_chunks_of`](Self::in_chunks_of)).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> ScriptedTransport {
        self.incoming.push_back(bytes.into());
        self
    }

    /// Then this SASL line arrives, with `\r\n` added.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn line(self, line: &str) -> ScriptedTransport {
        self.bytes(format!("{line}\r\n"))
    }

    /// Then this message arrives (its serial must be set).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn message(self, m: &Message) -> Result<ScriptedTransport, WireError> {
        Ok(self.bytes(m.encode()?))
    }

    /// Deliver at most `n` bytes per read, to exercise reassembly.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn in_chunks_of(mut self, n: usize) -> ScriptedTransport {
        self.chunk = n.max(1);
        self
    }

    /// After the script, the bus closes the connection instead of staying silent.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn hanging_up(mut self) -> ScriptedTransport {
        self.hang_up = true;
        self
    }

    /// Everything sent so far, concatenated.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn sent(&self) -> &[u8] {
        &self.sent
    }

    /// Whether the whole script was read.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn script_used_up(&self) -> bool {
        self.incoming.is_empty()
    }
}

impl Transport for ScriptedTransport {
    fn send(&mut self, bytes: &[u8], _deadline: Instant) -> Result<()> {
        self.sent.extend_from_slice(bytes);
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, _deadline: Instant) -> Result<usize> {
        // empty chunks in the script are skipped
        while self.incoming.front().is_some_and(Vec::is_empty) {
            self.incoming.pop_front();
        }
        let Some(front) = self.incoming.front_mut() else {
            if self.hang_up {
                return Ok(0);
            }
            return Err(
                Error::new(ErrorKind::TimedOut, "read from the D-Bus socket")
                    .with_path(&self.socket)
                    .with_detail("the bus did not answer in time (the script is used up)"),
            );
        };
        let n = front.len().min(self.chunk);
        buf.extend(front.drain(..n));
        if front.is_empty() {
            self.incoming.pop_front();
        }
        Ok(n)
    }

    fn socket(&self) -> &Path {
        &self.socket
    }
}
