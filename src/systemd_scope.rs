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
//! let unit = enter_delegated_scope(manager_for(None, 1000), &scope_name("tool")?, "cgbox boxes of tool", None, timeout)?;
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
use crate::fs::{CgroupFs, read_optional};
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

/// The unit a process was refused in, as systemd sees it.
///
/// See the [example](crate::systemd_scope#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The unit (`x.service`, `session-c1.scope`).
    pub unit: String,
    /// The slice it is in, when its cgroup's parent is one.
    pub slice: Option<String>,
    /// Whether the user manager runs it (it lies below `user@UID.service`).
    pub user_manager: bool,
}

impl Refused {
    /// From the cgroup placement refused (a unit's cgroup path).
    ///
    /// See the [example](crate::systemd_scope#examples).
    pub fn at(path: &Path) -> Option<Refused> {
        let name = |c: Option<&std::ffi::OsStr>| c.and_then(|n| n.to_str()).map(str::to_owned);
        let unit = name(path.file_name())?;
        let slice = name(path.parent().and_then(Path::file_name)).filter(|s| s.ends_with(".slice"));
        Some(Refused {
            user_manager: manager_for(Some(path), 0) == BusKind::User,
            unit,
            slice,
        })
    }
}

/// The limits of the unit's own cgroup that a job would escape by
/// leaving it for a scope: `memory.max`, `memory.high`, `cpu.max`,
/// `io.max` set to something. (`pids.max` is left out: systemd gives every
/// service one, `DefaultTasksMax`.)
///
/// See the [example](crate::systemd_scope#examples).
pub fn escaped_limits<F: CgroupFs + ?Sized>(fs: &F, unit_cgroup: &Path) -> Vec<String> {
    let Ok(dir) = fs.open_dir(unit_cgroup) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for file in ["memory.max", "memory.high", "cpu.max", "io.max"] {
        let Ok(Some(text)) = read_optional(fs, &dir, file) else {
            continue;
        };
        let value = text.trim();
        let unlimited = value.is_empty() || value == "max" || value.starts_with("max ");
        if !unlimited {
            out.push(format!("{file} {}", value.lines().next().unwrap_or(value)));
        }
    }
    out
}

/// Whether a process refused in a unit (`refusal`, the `NotDelegated`
/// error placement gave) may leave it for a scope of its own: not when
/// the unit has limits of its own ([`escaped_limits`]), since its jobs
/// would escape them. Then the refusal comes back, its detail naming those
/// limits; its fix (`Delegate=yes` on the unit) stands.
///
/// See the [example](crate::systemd_scope#examples).
pub fn may_leave<F: CgroupFs + ?Sized>(fs: &F, refusal: &Error) -> Result<()> {
    let escaped = refusal
        .path()
        .map(|p| escaped_limits(fs, p))
        .unwrap_or_default();
    if escaped.is_empty() {
        return Ok(());
    }
    let detail = format!(
        "{}; leaving the unit for a scope of its own would escape its limits ({})",
        refusal.detail().unwrap_or(""),
        escaped.join(", ")
    );
    Err(refusal.clone().with_detail(detail))
}

/// Ask the manager on `bus` for a scope `name` with `Delegate=yes` that
/// holds this process, and wait until it is started: this process is then
/// in it. The scope ends by itself when its last process has gone. When
/// the same manager runs the unit this process was `refused` in, the
/// scope goes into that unit's slice (the slice's limits hold) and ends
/// with the unit (`BindsTo=`).
///
/// See the [example](crate::systemd_scope#examples).
pub fn enter_delegated_scope(
    bus: BusKind,
    name: &str,
    description: &str,
    refused: Option<&Refused>,
    timeout: Duration,
) -> Result<String> {
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    let mut scope = Scope::new(name, pid)?.description(description);
    if let Some(r) = refused
        && r.user_manager == (bus == BusKind::User)
    {
        scope = scope.bound_to(&r.unit)?;
        if let Some(slice) = &r.slice {
            scope = scope.slice(slice)?;
        }
    }
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
    fn the_refused_unit_and_what_leaving_it_would_escape() {
        let r = Refused::at(Path::new(
            "/sys/fs/cgroup/system.slice/agents.slice/x.service",
        ))
        .unwrap();
        assert_eq!(
            (r.unit.as_str(), r.slice.as_deref(), r.user_manager),
            ("x.service", Some("agents.slice"), false)
        );
        let fake = crate::fs::FakeFs::new();
        fake.write_file(
            &fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap(),
            "cgroup.subtree_control",
            b"+memory +pids +cpu",
        )
        .unwrap();
        fake.mkdir_p("system.slice").unwrap();
        fake.write_file(
            &fake
                .open_dir(Path::new("/sys/fs/cgroup/system.slice"))
                .unwrap(),
            "cgroup.subtree_control",
            b"+memory +pids +cpu",
        )
        .unwrap();
        fake.mkdir_p("system.slice/x.service").unwrap();
        let unit = Path::new("/sys/fs/cgroup/system.slice/x.service");
        assert!(
            escaped_limits(&fake, unit).is_empty(),
            "defaults escape nothing"
        );
        let dir = fake.open_dir(unit).unwrap();
        fake.write_file(&dir, "pids.max", b"4915").unwrap();
        assert!(
            escaped_limits(&fake, unit).is_empty(),
            "DefaultTasksMax is not the unit's own"
        );
        fake.write_file(&dir, "memory.max", b"33554432").unwrap();
        assert_eq!(escaped_limits(&fake, unit), ["memory.max 33554432"]);
    }

    #[test]
    fn leaving_a_unit_with_limits_is_refused_naming_them() {
        let fake = crate::fs::FakeFs::new();
        for level in ["", "system.slice"] {
            fake.mkdir_p(level).unwrap();
            let dir = fake
                .open_dir(&Path::new("/sys/fs/cgroup").join(level))
                .unwrap();
            fake.write_file(&dir, "cgroup.subtree_control", b"+memory")
                .unwrap();
        }
        fake.mkdir_p("system.slice/x.service").unwrap();
        let unit = Path::new("/sys/fs/cgroup/system.slice/x.service");
        let refusal = Error::new(ErrorKind::NotDelegated, "place boxes")
            .with_path(unit)
            .with_detail("x.service did not delegate")
            .with_hint("give the unit Delegate=yes");
        assert!(may_leave(&fake, &refusal).is_ok(), "no limits of its own");
        let dir = fake.open_dir(unit).unwrap();
        fake.write_file(&dir, "memory.max", b"33554432").unwrap();
        let e = may_leave(&fake, &refusal).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotDelegated);
        let text = e.to_string();
        assert!(text.contains("x.service did not delegate; leaving the unit for a scope of its own would escape its limits (memory.max 33554432)"), "{text}");
        assert!(text.contains("give the unit Delegate=yes"), "{text}");
    }

    #[test]
    fn a_trusted_unit_needs_no_bus() {
        let oracle = ManagerOracle::new(Duration::from_millis(1)).trusting("cgbox-x.scope");
        assert_eq!(oracle.delegates("cgbox-x.scope"), Ok(true));
    }
}
