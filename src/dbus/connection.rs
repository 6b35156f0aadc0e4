//! A D-Bus connection: authentication, `Hello`, method calls whose replies
//! are matched by serial, and signals kept for whoever waits for them.

use std::collections::VecDeque;
use std::time::Instant;

use super::bus_error;
use super::message::{Message, MessageType, frame_len};
use super::names;
use super::sasl;
use super::transport::Transport;
use super::value::Value;
use crate::{Error, ErrorKind, Result};

/// The bus itself, as a destination, object and interface.
pub const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";

/// How many signals are kept while waiting for something else. Only
/// signals that match our rules (and the bus's own, such as `NameAcquired`)
/// reach us, so this is never reached in practice; it bounds memory if a
/// peer floods us.
///
/// See the [example](crate::dbus#examples).
pub const MAX_KEPT_SIGNALS: usize = 64;

/// An authenticated connection to a bus, with its unique name.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug)]
pub struct Connection<T: Transport> {
    transport: T,
    /// Bytes received and not yet taken as messages.
    input: Vec<u8>,
    last_serial: u32,
    unique_name: String,
    #[cfg_attr(not(test), allow(dead_code))]
    guid: String,
    kept: VecDeque<Message>,
}

impl<T: Transport> Connection<T> {
    /// Authenticate as `uid` (SASL EXTERNAL), then `Hello`, by `deadline`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn open(mut transport: T, uid: u32, deadline: Instant) -> Result<Connection<T>> {
        let mut input = Vec::new();
        let guid = sasl::authenticate(&mut transport, &mut input, uid, deadline)?;
        let mut c = Connection {
            transport,
            input,
            last_serial: 0,
            unique_name: String::new(),
            guid,
            kept: VecDeque::new(),
        };
        // BEGIN and Hello go in one write: the bus reads them in order.
        let hello = Message::method_call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello");
        let mut bytes = b"BEGIN\r\n".to_vec();
        let (serial, op) = c.prepare(hello, &mut bytes)?;
        c.transport.send(&bytes, deadline)?;
        let reply = c.wait_reply(serial, &op, deadline)?;
        match reply.body() {
            [Value::Str(name)] if name.starts_with(':') && names::check_bus_name(name).is_ok() => {
                c.unique_name = name.clone();
            }
            _ => {
                return Err(c.protocol(
                    &op,
                    format!(
                        "Hello replied {:?} instead of a unique name",
                        reply.signature()
                    ),
                ));
            }
        }
        Ok(c)
    }

    #[cfg(test)]
    /// The unique name the bus gave us (`:1.42`).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn unique_name(&self) -> &str {
        &self.unique_name
    }

    #[cfg(test)]
    /// The bus's GUID, from authentication.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn guid(&self) -> &str {
        &self.guid
    }

    /// The transport, to inspect (tests read what a scripted bus was sent).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Call a method and wait, until `deadline`, for its reply. An error
    /// reply becomes an [`Error`] whose kind follows the D-Bus error name
    /// (see [`classify`](super::classify)); signals that arrive meanwhile
    /// are kept for [`Connection::wait_signal`].
    ///
    /// See the [example](crate::dbus#examples).
    pub fn call(&mut self, call: Message, deadline: Instant) -> Result<Message> {
        let mut bytes = Vec::new();
        let (serial, op) = self.prepare(call, &mut bytes)?;
        self.transport
            .send(&bytes, deadline)
            .map_err(|e| self.context(&op, e))?;
        self.wait_reply(serial, &op, deadline)
    }

    /// The first signal (kept, or arriving until `deadline`) for which
    /// `wanted` is true. Other signals are kept; replies nobody waits for
    /// and calls to us are dropped.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn wait_signal(
        &mut self,
        op: &str,
        deadline: Instant,
        mut wanted: impl FnMut(&Message) -> bool,
    ) -> Result<Message> {
        if let Some(i) = self.kept.iter().position(&mut wanted)
            && let Some(m) = self.kept.remove(i)
        {
            return Ok(m);
        }
        loop {
            let m = self.read_message(op, deadline)?;
            if m.kind() != MessageType::Signal {
                self.drop_message(&m);
            } else if wanted(&m) {
                return Ok(m);
            } else {
                self.keep(m);
            }
        }
    }

    /// Give `m` the next serial and encode it after `out`; returns the
    /// serial and the operation's name for errors.
    fn prepare(&mut self, m: Message, out: &mut Vec<u8>) -> Result<(u32, String)> {
        let op = format!(
            "call {}.{}",
            m.interface().unwrap_or("(no interface)"),
            m.member().unwrap_or("(no member)")
        );
        self.last_serial = self.last_serial.checked_add(1).unwrap_or(1);
        let serial = self.last_serial;
        let bytes = m.with_serial(serial).encode().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, op.as_str())
                .with_path(self.transport.socket())
                .with_detail(format!("the call cannot be encoded: {e}"))
        })?;
        out.extend_from_slice(&bytes);
        Ok((serial, op))
    }

    fn wait_reply(&mut self, serial: u32, op: &str, deadline: Instant) -> Result<Message> {
        loop {
            let m = self.read_message(op, deadline)?;
            let ours = m.reply_serial() == Some(serial);
            match m.kind() {
                MessageType::MethodReturn if ours => return Ok(m),
                MessageType::Error if ours => {
                    return Err(bus_error::from_reply(op, self.transport.socket(), &m));
                }
                MessageType::Signal => self.keep(m),
                _ => self.drop_message(&m),
            }
        }
    }

    fn keep(&mut self, m: Message) {
        if self.kept.len() >= MAX_KEPT_SIGNALS
            && let Some(old) = self.kept.pop_front()
        {
            log::debug!(
                "D-Bus: dropped signal {:?}.{:?}: more than {MAX_KEPT_SIGNALS} kept",
                old.interface(),
                old.member()
            );
        }
        self.kept.push_back(m);
    }

    fn drop_message(&self, m: &Message) {
        log::debug!(
            "D-Bus: skipped a {:?} (serial {}, reply to {:?}, {:?}.{:?}) nobody waits for",
            m.kind(),
            m.serial(),
            m.reply_serial(),
            m.interface(),
            m.member()
        );
    }

    /// The next whole message, reading until `deadline`.
    fn read_message(&mut self, op: &str, deadline: Instant) -> Result<Message> {
        loop {
            let len =
                frame_len(&self.input).map_err(|e| e.into_error(op, self.transport.socket()))?;
            if let Some(len) = len.filter(|&l| l <= self.input.len()) {
                let parsed = Message::parse(self.input.get(..len).unwrap_or_default());
                self.input.drain(..len);
                return parsed.map_err(|e| e.into_error(op, self.transport.socket()));
            }
            match self.transport.recv(&mut self.input, deadline) {
                Ok(0) => {
                    return Err(Error::new(ErrorKind::Bus, op)
                        .with_path(self.transport.socket())
                        .with_detail("the bus closed the connection"));
                }
                Ok(_) => {}
                Err(e) => return Err(self.context(op, e)),
            }
        }
    }

    /// A transport error, renamed after the call it interrupted.
    fn context(&self, op: &str, e: Error) -> Error {
        let detail = match e.detail() {
            Some(d) => format!("{}: {d}", e.operation()),
            None => e.operation().to_owned(),
        };
        let mut out = Error::new(e.kind(), op)
            .with_path(self.transport.socket())
            .with_detail(detail);
        if let Some(errno) = e.errno() {
            out = out.with_errno(errno);
        }
        match e.hint() {
            Some(h) => out.with_hint(h),
            None => out,
        }
    }

    pub(crate) fn protocol(&self, op: &str, why: String) -> Error {
        Error::new(ErrorKind::Parse, op)
            .with_path(self.transport.socket())
            .with_detail(format!("D-Bus protocol violation: {why}"))
    }
}

#[cfg(test)]
mod tests;
