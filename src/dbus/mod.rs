//! A minimal D-Bus client, for asking systemd for a delegated scope.
//!
//! systemd owns the cgroup tree of the host it runs; a program that wants
//! cgroups of its own asks the manager for a transient unit with
//! `Delegate=yes`, as `systemd-run --scope -p Delegate=yes`, runc, crun and
//! podman do. This module speaks just enough D-Bus for that, with no
//! dependency beyond the crate's: a Unix socket, SASL EXTERNAL, and the
//! little-endian wire format.
//!
//! # From the top
//!
//! - [`Systemd::connect`] finds the system or the user bus ([`BusKind`],
//!   [`Address`]), authenticates and says `Hello`.
//!   [`Systemd::start_delegated_scope`] asks for a [`Scope`] (`PIDs`,
//!   `Delegate=yes`, a description, optionally a slice) and waits for its
//!   start job's `JobRemoved` signal; [`Systemd::unit_delegates`] says whether
//!   the unit of a process has `Delegate=yes`.
//! - [`Transport`] is the seam to the socket: [`UnixTransport`] on a real
//!   bus, [`ScriptedTransport`] in tests, which replays bytes (built here,
//!   or captured from a real bus: `fixtures/dbus/`) and records what it is
//!   sent.
//! - [`Connection`] matches replies to calls by serial and keeps signals
//!   for whoever waits for them; [`Message`] and [`Value`] are the wire
//!   format, parsed strictly: a malformed or hostile message gives a
//!   [`WireError`] saying what is wrong at which byte, and never a panic,
//!   an out-of-bounds read or an allocation beyond [`MAX_MESSAGE`].
//!
//! Errors are the crate's [`Error`](crate::Error): no bus is
//! [`NotFound`](crate::ErrorKind::NotFound) (with the socket's path), access
//! denied is [`PermissionDenied`](crate::ErrorKind::PermissionDenied), a
//! unit of that name [`AlreadyExists`](crate::ErrorKind::AlreadyExists), a
//! silent bus [`TimedOut`](crate::ErrorKind::TimedOut), a protocol violation
//! [`Parse`](crate::ErrorKind::Parse) (what was wrong in the detail), and any
//! other D-Bus error [`Bus`](crate::ErrorKind::Bus), its name and message in
//! the detail (see [`classify`]).
//!
//! # What systemd does (seen on 252 in `tests/vm/dbus-systemd.sh`)
//!
//! - `JobRemoved` reaches the client that queued the job without
//!   `Subscribe`: systemd tracks a job's requester; the client only adds a
//!   match rule ([`JOB_REMOVED_RULE`]) before it asks, as systemd-run does.
//! - The user manager moves a process it may not move itself (one outside
//!   `user@UID.service`, such as a service's child run through `runuser`)
//!   by asking the system manager; the caller sees no difference.
//! - A scope goes away as soon as its last process has ended; with
//!   `CollectMode=inactive-or-failed` (always set) also when it failed.
//! - Asking the system manager as a user gives
//!   `org.freedesktop.DBus.Error.AccessDenied` where no polkit rule allows it.

mod address;
mod bus_error;
mod connection;
mod message;
mod names;
mod read;
mod sasl;
#[cfg(test)]
mod scripted;
mod signature;
mod systemd;
mod transport;
mod unit_name;
mod value;
mod wire_error;
mod write;

pub(crate) use address::BusKind;
pub(crate) use systemd::{Scope, Systemd, Unit};

// What the tests below reach by name.
#[cfg(test)]
use {
    address::Address,
    bus_error::classify,
    message::{Message, MessageType, field, frame_len},
    scripted::ScriptedTransport,
    signature::Type,
    signature::parse as parse_signature,
    systemd::JobRemoved,
    transport::{Transport, UnixTransport},
    unit_name::{from_object_path as unit_name_from_path, object_path as unit_object_path},
    value::Value,
};

#[cfg(test)]
mod tests;
pub use wire_error::WireError;
