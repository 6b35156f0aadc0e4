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
//!
//! # Examples
//!
//! A scope from systemd. This example runs on the scripted transport,
//! replaying what systemd answers (the serials are those of our calls:
//! `Hello` 1, `AddMatch` 2, `StartTransientUnit` 3):
//!
//! ```
//! use std::time::Duration;
//! use cgbox::dbus::{Message, Scope, ScriptedTransport, Systemd, Value};
//!
//! let job = "/org/freedesktop/systemd1/job/42";
//! let bus = ScriptedTransport::new()
//!     .line("OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1")
//!     .message(&Message::method_return(1).with_body(vec![Value::str(":1.7")]).with_serial(1))?
//!     .message(&Message::method_return(2).with_serial(2))?
//!     .message(&Message::method_return(3).with_body(vec![Value::Path(job.into())]).with_serial(3))?
//!     .message(
//!         &Message::signal("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved")
//!             .with_body(vec![
//!                 Value::Uint32(42),
//!                 Value::Path(job.into()),
//!                 Value::str("cgbox-1.scope"),
//!                 Value::str("done"),
//!             ])
//!             .with_serial(4),
//!     )?;
//!
//! let mut systemd = Systemd::over(bus, 1000, Duration::from_secs(5))?;
//! assert_eq!(systemd.connection().unique_name(), ":1.7");
//! let scope = Scope::new("cgbox-1.scope", 4242)?.description("cgbox box 1");
//! let started = systemd.start_delegated_scope(&scope, Duration::from_secs(5))?;
//! assert_eq!(started.unit(), "cgbox-1.scope");
//! assert_eq!(started.job(), job);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The wire format, an address, SASL, unit names and error names, on their
//! own:
//!
//! ```
//! use std::path::Path;
//! use cgbox::dbus::{
//!     Address, BusKind, Message, MessageType, Type, Value, classify, field, flags, frame_len,
//!     parse_signature, sasl, unit_name_from_path, unit_object_path,
//! };
//! use cgbox::ErrorKind;
//!
//! // A method call, encoded and parsed back.
//! let call = Message::method_call(
//!     "org.freedesktop.systemd1",
//!     "/org/freedesktop/systemd1",
//!     "org.freedesktop.systemd1.Manager",
//!     "GetUnitByPID",
//! )
//! .with_body(vec![Value::Uint32(4242)])
//! .with_flags(flags::NO_AUTO_START)
//! .with_serial(7);
//! let bytes = call.encode()?;
//! assert_eq!(frame_len(&bytes[..16])?, Some(bytes.len())); // how much to read
//! let back = Message::parse(&bytes)?;
//! assert_eq!(back.kind(), MessageType::MethodCall);
//! assert_eq!((back.serial(), back.flags()), (7, flags::NO_AUTO_START));
//! assert_eq!(back.member(), Some("GetUnitByPID"));
//! assert_eq!(back.destination(), Some("org.freedesktop.systemd1"));
//! assert_eq!(back.signature(), "u");
//! assert_eq!(back.body()[0].as_u32(), Some(4242));
//! assert_eq!(back.field(field::PATH).and_then(Value::as_str), Some("/org/freedesktop/systemd1"));
//! assert!(!back.is_big_endian());
//!
//! // Damage is a WireError that says where, never a panic.
//! let err = Message::parse(&bytes[..bytes.len() - 1]).unwrap_err();
//! assert!(err.offset().is_some() || !err.message().is_empty());
//!
//! // Signatures and values.
//! assert_eq!(
//!     parse_signature(b"a{sv}")?,
//!     [Type::Array(Box::new(Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant))))]
//! );
//! let pids = Value::array(Type::Uint32, vec![Value::Uint32(1)]);
//! assert_eq!(pids.type_of(), Type::Array(Box::new(Type::Uint32)));
//! assert_eq!(Value::variant(Value::str("x")).type_of(), Type::Variant);
//!
//! // Where the buses are, and how to say hello.
//! let user = Address::for_bus(BusKind::User, |name| {
//!     (name == "XDG_RUNTIME_DIR").then(|| "/run/user/1000".into())
//! })?;
//! assert_eq!(user, [Address::Path("/run/user/1000/bus".into())]);
//! assert_eq!(Address::parse("unix:path=/run/dbus/system_bus_socket")?.display_path(), Path::new("/run/dbus/system_bus_socket"));
//! assert_eq!(sasl::auth_command(1000), b"\0AUTH EXTERNAL 31303030\r\n");
//! assert!(matches!(sasl::parse_reply(b"OK 7b2bdf1c5b4ac1b1e8f1f0a76551d3a1")?, sasl::ServerReply::Ok { .. }));
//!
//! // systemd's names.
//! let path = unit_object_path("cgbox-1.scope");
//! assert_eq!(path, "/org/freedesktop/systemd1/unit/cgbox_2d1_2escope");
//! assert_eq!(unit_name_from_path(&path).as_deref(), Some("cgbox-1.scope"));
//! assert_eq!(classify("org.freedesktop.DBus.Error.AccessDenied").0, ErrorKind::PermissionDenied);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On a real host (as root for the system manager; as a user with
//! [`BusKind::User`] for the user's manager):
//!
//! ```no_run
//! use std::time::Duration;
//! use cgbox::dbus::{BusKind, Scope, Systemd};
//!
//! let mut systemd = Systemd::connect(BusKind::User, Duration::from_secs(5))?;
//! let name = format!("cgbox-{}.scope", std::process::id());
//! systemd.start_delegated_scope(&Scope::new(&name, std::process::id())?, Duration::from_secs(30))?;
//! assert_eq!(systemd.unit_delegates(std::process::id(), Duration::from_secs(5))?, Some(true));
//! # Ok::<(), cgbox::Error>(())
//! ```

mod address;
mod bus_error;
mod connection;
mod message;
mod names;
mod read;
pub mod sasl;
mod scripted;
mod signature;
mod systemd;
mod transport;
mod unit_name;
mod value;
mod wire_error;
mod write;

pub use address::{Address, BusKind, SYSTEM_BUS_SOCKET};
pub use bus_error::classify;
pub use connection::{Connection, MAX_KEPT_SIGNALS};
pub use message::{FIXED_HEADER, MAX_MESSAGE, Message, MessageType, field, flags, frame_len};
pub use read::{MAX_ARRAY, MAX_DEPTH, MAX_VALUES};
pub use scripted::ScriptedTransport;
pub use signature::{Type, parse as parse_signature};
pub use systemd::{JOB_REMOVED_RULE, JobRemoved, Scope, ScopeStarted, Systemd, Unit};
pub use transport::{Transport, UnixTransport};
pub use unit_name::{from_object_path as unit_name_from_path, object_path as unit_object_path};
pub use value::Value;
pub use wire_error::WireError;
