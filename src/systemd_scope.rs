//! systemd as a partner of [`placement`](crate::placement): ask the user
//! manager whether one of its scopes delegates ([`ManagerOracle`]), and ask
//! the right manager for a scope of our own with `Delegate=yes`
//! ([`enter_delegated_scope`]), as `systemd-run --scope -p Delegate=yes`
//! would, so that `cgbox run` needs no prefix on a systemd host.
//!
//! # Examples
//!
//! ```
//! use std::path::Path;
//! use cgbox::dbus::BusKind;
//! use cgbox::systemd_scope::{manager_for, scope_name};
//!
//! assert_eq!(scope_name("build 42")?, "cgbox-build_42.scope");
//! // Root refused in a system service asks the system manager; a user, or a
//! // refusal inside the user's manager, asks the user manager.
//! assert_eq!(manager_for(Some(Path::new("/sys/fs/cgroup/system.slice/x.service")), 0), BusKind::System);
//! assert_eq!(manager_for(None, 1000), BusKind::User);
//! # Ok::<(), cgbox::Error>(())
//! ```
//!
//! On a systemd host (what `cgbox run` does when its unit does not delegate):
//!
//! ```no_run
//! use std::time::Duration;
//! use cgbox::systemd_scope::{ManagerOracle, enter_delegated_scope, manager_for, scope_name};
//!
//! let timeout = Duration::from_secs(30);
//! let unit = enter_delegated_scope(manager_for(None, 1000), &scope_name("tool")?, "cgbox boxes of tool", timeout)?;
//! // This process is now in `unit`, which systemd delegates to it; discovery
//! // may trust it without asking again.
//! let oracle = ManagerOracle::new(timeout).trusting(unit);
//! let found = cgbox::discover::Probe::new("tool").oracle(&oracle).run(&cgbox::fs::SysFs::new()?);
//! assert!(found.usable());
//! # Ok::<(), cgbox::Error>(())
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::dbus::{BusKind, Scope, Systemd, Unit};
use crate::placement::UnitOracle;
use crate::{Error, ErrorKind, Result};

/// Asks the user manager, over the user's bus, whether a unit has
/// `Delegate=yes`. Connects on first use; a bus that cannot be reached is
/// the reason given to placement, which then refuses.
///
/// See the [example](crate::systemd_scope#examples).
#[derive(Debug)]
pub struct ManagerOracle {
    timeout: Duration,
    /// A unit this process was just moved into, known to delegate.
    trusted: Option<String>,
    conn: Mutex<Option<std::result::Result<Systemd, String>>>,
}

impl ManagerOracle {
    /// An oracle that asks the user manager, each exchange within `timeout`.
    ///
    /// See the [example](crate::systemd_scope#examples).
    pub fn new(timeout: Duration) -> ManagerOracle {
        ManagerOracle {
            timeout,
            trusted: None,
            conn: Mutex::new(None),
        }
    }

    /// Answer yes for `unit` without asking: the scope this process was
    /// just moved into by [`enter_delegated_scope`].
    ///
    /// See the [example](crate::systemd_scope#examples).
    pub fn trusting(mut self, unit: impl Into<String>) -> ManagerOracle {
        self.trusted = Some(unit.into());
        self
    }
}

impl UnitOracle for ManagerOracle {
    fn delegates(&self, unit: &str) -> std::result::Result<bool, String> {
        if self.trusted.as_deref() == Some(unit) {
            return Ok(true);
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let systemd = conn.get_or_insert_with(|| {
            Systemd::connect(BusKind::User, self.timeout).map_err(|e| e.to_string())
        });
        let systemd = systemd.as_mut().map_err(|why| why.clone())?;
        let unit = Unit::named(unit).map_err(|e| e.to_string())?;
        match systemd.delegate(&unit, self.timeout) {
            Ok(answer) => Ok(answer == Some(true)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Which manager to ask for a scope, from where this process is refused
/// and who it is: the user manager for a user (and for a refusal inside
/// its tree), the system manager for root.
///
/// See the [example](crate::systemd_scope#examples).
pub fn manager_for(refused_at: Option<&Path>, euid: u32) -> BusKind {
    let in_user_manager = refused_at.is_some_and(|p| {
        p.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|s| s.starts_with("user@") && s.ends_with(".service"))
        })
    });
    if euid == 0 && !in_user_manager {
        BusKind::System
    } else {
        BusKind::User
    }
}

/// Ask the manager on `bus` for a scope `name` with `Delegate=yes` that
/// holds this process, and wait until it is started: this process is then
/// in it. The scope ends by itself when its last process has gone.
///
/// See the [example](crate::systemd_scope#examples).
pub fn enter_delegated_scope(
    bus: BusKind,
    name: &str,
    description: &str,
    timeout: Duration,
) -> Result<String> {
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    let scope = Scope::new(name, pid)?.description(description);
    let mut systemd = Systemd::connect(bus, timeout)?;
    let started = systemd.start_delegated_scope(&scope, timeout)?;
    Ok(started.unit().to_owned())
}

/// A scope name for `what` (a box or app name): `cgbox-<what>.scope`, with
/// what systemd does not take in a unit name replaced.
///
/// See the [example](crate::systemd_scope#examples).
pub fn scope_name(what: &str) -> Result<String> {
    let clean: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        return Err(Error::new(ErrorKind::InvalidName, "name a scope").with_detail("empty name"));
    }
    Ok(format!("cgbox-{clean}.scope"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_manager() {
        let user_tree = Path::new(
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope",
        );
        let system = Path::new("/sys/fs/cgroup/system.slice/x.service");
        assert_eq!(manager_for(Some(system), 0), BusKind::System);
        assert_eq!(manager_for(Some(system), 1000), BusKind::User);
        assert_eq!(manager_for(Some(user_tree), 1000), BusKind::User);
        assert_eq!(manager_for(Some(user_tree), 0), BusKind::User);
        assert_eq!(scope_name("job-1").unwrap(), "cgbox-job-1.scope");
        assert_eq!(scope_name("a b").unwrap(), "cgbox-a_b.scope");
    }

    #[test]
    fn a_trusted_unit_needs_no_bus() {
        let oracle = ManagerOracle::new(Duration::from_millis(1)).trusting("cgbox-x.scope");
        assert_eq!(oracle.delegates("cgbox-x.scope"), Ok(true));
    }
}
