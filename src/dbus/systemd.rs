//! The systemd manager on a bus: delegated transient scopes, and which unit
//! a process is in and whether that unit is delegated.

use std::time::{Duration, Instant};

use super::address::{Address, BusKind};
use super::connection::{BUS_NAME, Connection};
use super::message::{Message, MessageType};
use super::signature::Type;
use super::transport::{Transport, UnixTransport};
use super::unit_name;
use super::value::Value;
use super::wire_error::WireError;
use crate::{Error, ErrorKind, Result};

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The match rule for the signal that says a job ended, as systemd-run
/// adds it before it starts a unit. systemd sends `JobRemoved` to whoever
/// queued the job even without `Subscribe` (it tracks the job's requester),
/// so `Subscribe` is not called.
///
/// See the [example](crate::dbus#examples).
pub const JOB_REMOVED_RULE: &str = "type='signal',sender='org.freedesktop.systemd1',\
    path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',\
    member='JobRemoved'";

/// A transient scope to ask for: `Delegate=yes`, the given processes in it.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    name: String,
    pids: Vec<u32>,
    description: String,
    slice: Option<String>,
    bound_to: Option<String>,
}

impl Scope {
    /// A scope named `name` (`cgbox-<something>.scope`) holding `pid`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn new(name: &str, pid: u32) -> Result<Scope> {
        unit_name::check(name, ".scope")?;
        Ok(Scope {
            name: name.into(),
            pids: vec![pid],
            description: format!("cgbox {name}"),
            slice: None,
            bound_to: None,
        })
    }

    /// Set the description (`systemctl status` shows it).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn description(mut self, text: &str) -> Scope {
        self.description = text.into();
        self
    }

    /// Put the scope in `slice` instead of the manager's default
    /// (`system.slice`, or `app.slice` for a user manager).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn slice(mut self, slice: &str) -> Result<Scope> {
        unit_name::check(slice, ".slice")?;
        self.slice = Some(slice.into());
        Ok(self)
    }

    /// Stop the scope when `unit` stops or dies (`BindsTo=` and `After=`,
    /// of the same manager): a job that had to leave a unit for a scope of
    /// its own still ends with that unit, SIGKILL included.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn bound_to(mut self, unit: &str) -> Result<Scope> {
        unit_name::check_any(unit)?;
        self.bound_to = Some(unit.into());
        Ok(self)
    }

    #[cfg(test)]
    /// The unit name.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments of `StartTransientUnit(ssa(sv)a(sa(sv)))`: the name,
    /// mode `fail` (refuse rather than replace a unit being started or
    /// stopped), the properties, and no auxiliary units.
    ///
    /// Besides `PIDs`, `Delegate=yes` and `Description` (and `Slice` when
    /// set), the scope gets `CollectMode=inactive-or-failed`: a scope that
    /// ends as failed (one of its processes was OOM-killed, a stop timed
    /// out) is unloaded all the same, so that runs never leave failed units
    /// behind (`systemd-run --collect` does the same).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn arguments(&self) -> Vec<Value> {
        let prop =
            |name: &str, value: Value| Value::Struct(vec![Value::str(name), Value::variant(value)]);
        let mut props = vec![prop("Description", Value::str(self.description.as_str()))];
        if let Some(slice) = &self.slice {
            props.push(prop("Slice", Value::str(slice.as_str())));
        }
        if let Some(unit) = &self.bound_to {
            for dependency in ["BindsTo", "After"] {
                props.push(prop(
                    dependency,
                    Value::array(Type::Str, vec![Value::str(unit.as_str())]),
                ));
            }
        }
        props.push(prop(
            "PIDs",
            Value::array(
                Type::Uint32,
                self.pids.iter().map(|&p| Value::Uint32(p)).collect(),
            ),
        ));
        props.push(prop("Delegate", Value::Bool(true)));
        props.push(prop("CollectMode", Value::str("inactive-or-failed")));
        let property = Type::Struct(vec![Type::Str, Type::Variant]);
        let aux = Type::Struct(vec![Type::Str, Type::Array(Box::new(property.clone()))]);
        vec![
            Value::str(self.name.as_str()),
            Value::str("fail"),
            Value::array(property, props),
            Value::array(aux, Vec::new()),
        ]
    }
}

/// A scope systemd started.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeStarted {
    unit: String,
    job: String,
}

impl ScopeStarted {
    /// The unit name.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn unit(&self) -> &str {
        &self.unit
    }

    #[cfg(test)]
    /// The object path of the start job (gone by now).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn job(&self) -> &str {
        &self.job
    }
}

/// A unit, as systemd names it.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    name: String,
    path: String,
}

impl Unit {
    /// The unit called `name` (`user@1000.service`, `app-x.scope`), to ask
    /// about without a process in it (see [`Systemd::delegate`]).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn named(name: &str) -> Result<Unit> {
        unit_name::check_any(name)?;
        Ok(Unit {
            name: name.into(),
            path: unit_name::object_path(name),
        })
    }

    #[cfg(test)]
    /// The unit name (`cgbox-1.scope`).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    /// The unit's object path.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The D-Bus interface that carries the unit's `Delegate` property,
    /// from its type; `None` for types that hold no processes of their own.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn cgroup_interface(&self) -> Option<&'static str> {
        let (_, suffix) = self.name.rsplit_once('.')?;
        Some(match suffix {
            "service" => "org.freedesktop.systemd1.Service",
            "scope" => "org.freedesktop.systemd1.Scope",
            "slice" => "org.freedesktop.systemd1.Slice",
            "socket" => "org.freedesktop.systemd1.Socket",
            "mount" => "org.freedesktop.systemd1.Mount",
            "swap" => "org.freedesktop.systemd1.Swap",
            _ => return None,
        })
    }
}

/// The `JobRemoved(uoss)` signal: a job ended, with its result.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRemoved {
    /// The job's number.
    pub id: u32,
    /// The job's object path, as `StartTransientUnit` returned it.
    pub job: String,
    /// The unit the job was for.
    pub unit: String,
    /// `done` when it succeeded; `canceled`, `timeout`, `failed`,
    /// `dependency`, `skipped` ... when not.
    pub result: String,
}

impl JobRemoved {
    /// `Ok(None)` when `m` is not `JobRemoved` from the manager object;
    /// an error (what was wrong) when it is, but its body is not `uoss`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn from_signal(m: &Message) -> Result<Option<JobRemoved>, WireError> {
        if m.kind() != MessageType::Signal
            || m.path() != Some(MANAGER_PATH)
            || m.interface() != Some(MANAGER)
            || m.member() != Some("JobRemoved")
        {
            return Ok(None);
        }
        match m.body() {
            [
                Value::Uint32(id),
                Value::Path(job),
                Value::Str(unit),
                Value::Str(result),
            ] => Ok(Some(JobRemoved {
                id: *id,
                job: job.clone(),
                unit: unit.clone(),
                result: result.clone(),
            })),
            _ => Err(WireError::unplaced(format!(
                "JobRemoved with a body of {:?} instead of \"uoss\"",
                m.signature()
            ))),
        }
    }
}

/// A systemd manager (the system's, or the user's) over D-Bus.
///
/// Every method takes a timeout for the whole exchange; the connection is
/// kept open between calls.
///
/// See the [example](crate::dbus#examples).
#[derive(Debug)]
pub struct Systemd<T: Transport = UnixTransport> {
    conn: Connection<T>,
    subscribed: bool,
}

impl Systemd<UnixTransport> {
    /// Connect to the manager on `bus`: find the bus (see
    /// [`Address::for_bus`]), authenticate as our effective uid, `Hello`.
    ///
    /// Where no bus listens, the error is [`ErrorKind::NotFound`] with the
    /// socket's path (containers and minimal hosts have none).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn connect(bus: BusKind, timeout: Duration) -> Result<Systemd> {
        let deadline = deadline_after(timeout);
        let uid = rustix::process::geteuid().as_raw();
        let mut first_error = None;
        for address in Address::for_bus(bus, |name| std::env::var_os(name))? {
            match UnixTransport::connect(&address, bus) {
                Ok(t) => return Systemd::open(t, uid, deadline),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            Error::new(ErrorKind::NotFound, "connect to the D-Bus bus").with_detail("no address")
        }))
    }
}

impl<T: Transport> Systemd<T> {
    #[cfg(test)]
    /// Authenticate as `uid` on `transport` and say `Hello`, within `timeout`.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn over(transport: T, uid: u32, timeout: Duration) -> Result<Systemd<T>> {
        Systemd::open(transport, uid, deadline_after(timeout))
    }

    fn open(transport: T, uid: u32, deadline: Instant) -> Result<Systemd<T>> {
        Ok(Systemd {
            conn: Connection::open(transport, uid, deadline)?,
            subscribed: false,
        })
    }

    #[cfg(test)]
    /// The connection underneath.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn connection(&self) -> &Connection<T> {
        &self.conn
    }

    /// Ask for `scope` with `Delegate=yes` and wait until systemd reports
    /// its start job `done` (the processes are in it then). Another result
    /// is an error that names it: [`ErrorKind::TimedOut`] for `timeout`,
    /// [`ErrorKind::Bus`] for the others.
    ///
    /// See the [example](crate::dbus#examples).
    pub fn start_delegated_scope(
        &mut self,
        scope: &Scope,
        timeout: Duration,
    ) -> Result<ScopeStarted> {
        let deadline = deadline_after(timeout);
        self.subscribe(deadline)?;
        let call = Message::method_call(SYSTEMD, MANAGER_PATH, MANAGER, "StartTransientUnit")
            .with_body(scope.arguments());
        let reply = self.conn.call(call, deadline)?;
        let op = format!("start {} through systemd", scope.name);
        let [Value::Path(job)] = reply.body() else {
            return Err(self.conn.protocol(
                &op,
                format!(
                    "StartTransientUnit replied {:?} instead of \"o\"",
                    reply.signature()
                ),
            ));
        };
        let job = job.clone();
        // JobRemoved comes from the same peer that answered.
        let systemd = reply.sender().map(str::to_owned);
        let removed = loop {
            let signal = self.conn.wait_signal(&op, deadline, |m| {
                m.member() == Some("JobRemoved")
                    && (systemd.is_none() || m.sender() == systemd.as_deref())
            })?;
            match JobRemoved::from_signal(&signal) {
                Ok(Some(r)) if r.job == job => break r,
                Ok(_) => continue, // another job's, or another JobRemoved
                Err(why) => return Err(self.conn.protocol(&op, why.to_string())),
            }
        };
        if removed.result == "done" {
            return Ok(ScopeStarted {
                unit: scope.name.clone(),
                job,
            });
        }
        let kind = match removed.result.as_str() {
            "timeout" => ErrorKind::TimedOut,
            _ => ErrorKind::Bus,
        };
        Err(Error::new(kind, op)
            .with_path(self.conn.transport().socket())
            .with_detail(format!(
                "systemd's start job {job} for {} ended with result {:?}, not \"done\"",
                removed.unit, removed.result
            ))
            .with_hint(format!(
                "journalctl -u {} (add --user for the user manager) says why",
                scope.name
            )))
    }

    #[cfg(test)]
    /// The unit process `pid` is in (`GetUnitByPID`).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn unit_of_pid(&mut self, pid: u32, timeout: Duration) -> Result<Unit> {
        self.unit_by_pid(pid, deadline_after(timeout))
    }

    /// Whether `unit` has `Delegate=yes`; `None` for unit types without the
    /// property (targets, devices ...: they hold no processes). A unit that
    /// is not loaded is [`ErrorKind::NotFound`].
    ///
    /// See the [example](crate::dbus#examples).
    pub fn delegate(&mut self, unit: &Unit, timeout: Duration) -> Result<Option<bool>> {
        self.delegate_by(unit, deadline_after(timeout))
    }

    #[cfg(test)]
    /// Whether the unit that holds process `pid` has `Delegate=yes`.
    ///
    /// The way to tell a delegated scope of the user manager: systemd 252's
    /// user manager marks its delegated cgroups with no extended attribute,
    /// where the system manager sets `trusted.delegate` and `user.delegate`
    /// to `1` (seen on 252.39).
    ///
    /// See the [example](crate::dbus#examples).
    pub fn unit_delegates(&mut self, pid: u32, timeout: Duration) -> Result<Option<bool>> {
        let deadline = deadline_after(timeout);
        let unit = self.unit_by_pid(pid, deadline)?;
        self.delegate_by(&unit, deadline)
    }

    #[cfg(test)]
    fn unit_by_pid(&mut self, pid: u32, deadline: Instant) -> Result<Unit> {
        let call = Message::method_call(SYSTEMD, MANAGER_PATH, MANAGER, "GetUnitByPID")
            .with_body(vec![Value::Uint32(pid)]);
        let reply = self.conn.call(call, deadline)?;
        let path = match reply.body() {
            [Value::Path(p)] => p.clone(),
            _ => {
                return Err(self.conn.protocol(
                    "call org.freedesktop.systemd1.Manager.GetUnitByPID",
                    format!("a reply of {:?} instead of \"o\"", reply.signature()),
                ));
            }
        };
        let Some(name) = unit_name::from_object_path(&path) else {
            return Err(self.conn.protocol(
                "call org.freedesktop.systemd1.Manager.GetUnitByPID",
                format!("{path:?} is not a unit's object path"),
            ));
        };
        Ok(Unit { name, path })
    }

    fn delegate_by(&mut self, unit: &Unit, deadline: Instant) -> Result<Option<bool>> {
        let Some(interface) = unit.cgroup_interface() else {
            return Ok(None);
        };
        let call = Message::method_call(SYSTEMD, &unit.path, PROPERTIES, "Get")
            .with_body(vec![Value::str(interface), Value::str("Delegate")]);
        let reply = self.conn.call(call, deadline)?;
        match reply.body() {
            [Value::Variant(v)] => match **v {
                Value::Bool(b) => Ok(Some(b)),
                _ => Err(self.conn.protocol(
                    "call org.freedesktop.DBus.Properties.Get",
                    format!(
                        "Delegate of {} is {} instead of \"b\"",
                        unit.name,
                        v.type_of()
                    ),
                )),
            },
            _ => Err(self.conn.protocol(
                "call org.freedesktop.DBus.Properties.Get",
                format!("a reply of {:?} instead of \"v\"", reply.signature()),
            )),
        }
    }

    /// Add the `JobRemoved` match rule, once per connection, before the
    /// first job is queued (a job can end before its reply is read).
    fn subscribe(&mut self, deadline: Instant) -> Result<()> {
        if self.subscribed {
            return Ok(());
        }
        let call = Message::method_call(BUS_NAME, "/org/freedesktop/DBus", BUS_NAME, "AddMatch")
            .with_body(vec![Value::str(JOB_REMOVED_RULE)]);
        self.conn.call(call, deadline)?;
        self.subscribed = true;
        Ok(())
    }
}

/// `timeout` from now; a timeout too large for the clock waits for ~136 years.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests;
