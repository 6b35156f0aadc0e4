//! systemd, as where boxes go needs it: asked whether a unit of the user
//! manager delegates its cgroup (the user manager marks nothing), and
//! asked for a scope of our own with `Delegate=yes` where a unit refuses,
//! as `systemd-run --scope -p Delegate=yes` would.
//!
//! [`ServiceManager`] is the seam: [`Systemd`] talks to the real managers
//! over D-Bus; a test answers for them with a type of its own.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::dbus::{self, BusKind};
use crate::fs::{CgroupFs, read_optional};
use crate::{Error, ErrorKind, Result};

/// The service manager that decides where boxes may go on a systemd host.
///
/// Given to [`AppOptions::ask_systemd`](crate::AppOptions::ask_systemd).
/// [`Systemd`] is the real one; tests answer with a type of their own.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{App, ErrorKind, ScopeRequest, ServiceManager};
///
/// /// A user manager that says yes to one scope and starts none.
/// struct Says(&'static str);
/// impl ServiceManager for Says {
///     fn delegates(&self, unit: &str) -> cgbox::Result<bool> {
///         Ok(unit == self.0)
///     }
///     fn start_scope(&self, scope: &ScopeRequest) -> cgbox::Result<String> {
///         Err(cgbox::Error::new(ErrorKind::Bus, format!("start {}", scope.name)))
///     }
/// }
///
/// let fake = Arc::new(FakeFs::new());
/// let user = "user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope";
/// fake.enter(user)?;
/// assert_eq!(App::open(fake.clone(), "tools").unwrap_err().kind(), ErrorKind::NotDelegated);
/// let app = App::options("tools").ask_systemd(&Says("run-1.scope")).open(fake.clone())?;
/// assert!(app.agents_path().starts_with(format!("/sys/fs/cgroup/{user}")));
/// # Ok::<(), cgbox::Error>(())
/// ```
pub trait ServiceManager {
    /// Whether `unit`, a scope or service of the user manager, has
    /// `Delegate=yes`. An error says why it could not be asked; where
    /// boxes go then refuses, naming it.
    ///
    /// See the [example](ServiceManager#examples).
    fn delegates(&self, unit: &str) -> Result<bool>;

    /// Start the transient scope `scope` with `Delegate=yes`, holding the
    /// process `scope.pid`, and return once it is started (the process is
    /// in it then): the unit's name.
    ///
    /// See the [example](ServiceManager#examples).
    fn start_scope(&self, scope: &ScopeRequest) -> Result<String>;
}

/// A scope of our own to ask a [`ServiceManager`] for.
///
/// See the [example](ServiceManager#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    /// Ask the user manager (true) or the system manager.
    pub user_manager: bool,
    /// The unit's name, `cgbox-<what>.scope`.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The process it holds.
    pub pid: u32,
    /// The slice to put it in: that of the unit that refused, so that the
    /// slice's limits still hold.
    pub slice: Option<String>,
    /// The unit it ends with (`BindsTo=`, `After=`): the one that refused.
    pub bound_to: Option<String>,
}

/// The real managers, over D-Bus: the user manager for
/// [`ServiceManager::delegates`], the system or the user manager for
/// [`ServiceManager::start_scope`] as the request says. Connects on first
/// use; each exchange takes at most the timeout.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::SysFs;
/// use cgbox::{App, Systemd};
///
/// // In a unit that does not delegate: a scope of our own, as
/// // `systemd-run --scope -p Delegate=yes` would make.
/// let systemd = Systemd::new(Duration::from_secs(30));
/// let app = App::options("tools")
///     .ask_systemd(&systemd)
///     .own_scope("tools", "cgbox boxes of tools")
///     .open(Arc::new(SysFs::new()?))?;
/// println!("boxes go to {}", app.agents_path().display());
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Systemd {
    timeout: Duration,
    /// The user manager's connection, made on the first question.
    user: Mutex<Option<Result<dbus::Systemd>>>,
}

impl Systemd {
    /// The managers of this machine, each exchange within `timeout`.
    ///
    /// See the [example](Systemd#examples).
    pub fn new(timeout: Duration) -> Systemd {
        Systemd {
            timeout,
            user: Mutex::new(None),
        }
    }
}

impl ServiceManager for Systemd {
    fn delegates(&self, unit: &str) -> Result<bool> {
        let mut conn = self.user.lock().unwrap_or_else(|p| p.into_inner());
        let systemd =
            conn.get_or_insert_with(|| dbus::Systemd::connect(BusKind::User, self.timeout));
        let systemd = systemd.as_mut().map_err(|e| e.clone())?;
        let unit = dbus::Unit::named(unit)?;
        Ok(systemd.delegate(&unit, self.timeout)? == Some(true))
    }

    fn start_scope(&self, request: &ScopeRequest) -> Result<String> {
        let mut scope =
            dbus::Scope::new(&request.name, request.pid)?.description(&request.description);
        if let Some(unit) = &request.bound_to {
            scope = scope.bound_to(unit)?;
        }
        if let Some(slice) = &request.slice {
            scope = scope.slice(slice)?;
        }
        let bus = if request.user_manager {
            BusKind::User
        } else {
            BusKind::System
        };
        let mut systemd = dbus::Systemd::connect(bus, self.timeout)?;
        let started = systemd.start_delegated_scope(&scope, self.timeout)?;
        Ok(started.unit().to_owned())
    }
}

/// What a process refused in a unit asks for: a scope of its own from the
/// manager that should run it (the user manager for a user and for a
/// refusal inside its tree, the system manager for root), in the refused
/// unit's slice and bound to it when that manager runs both.
pub(crate) fn own_scope_request(
    refused_at: &Path,
    euid: u32,
    label: &str,
    description: &str,
) -> Result<ScopeRequest> {
    let in_user_manager = crate::layout::in_user_manager(refused_at);
    let user_manager = euid != 0 || in_user_manager;
    let name = |c: Option<&std::ffi::OsStr>| c.and_then(|n| n.to_str()).map(str::to_owned);
    // Bound to the refused unit only when the same manager runs it.
    let same_manager = user_manager == in_user_manager;
    let unit = name(refused_at.file_name()).filter(|_| same_manager);
    let slice = name(refused_at.parent().and_then(Path::file_name))
        .filter(|s| same_manager && s.ends_with(".slice"));
    Ok(ScopeRequest {
        user_manager,
        name: scope_name(label)?,
        description: description.to_owned(),
        pid: rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs(),
        slice: if unit.is_some() { slice } else { None },
        bound_to: unit,
    })
}

/// The limits of the unit's own cgroup that a job would escape by
/// leaving it for a scope: `memory.max`, `memory.high`, `cpu.max`,
/// `io.max` set to something. (`pids.max` is left out: systemd gives every
/// service one, `DefaultTasksMax`.)
fn escaped_limits<F: CgroupFs + ?Sized>(fs: &F, unit_cgroup: &Path) -> Vec<String> {
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
pub(crate) fn may_leave<F: CgroupFs + ?Sized>(fs: &F, refusal: &Error) -> Result<()> {
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

/// A scope name for `what` (a box or app name): `cgbox-<what>.scope`, with
/// what systemd does not take in a unit name replaced.
fn scope_name(what: &str) -> Result<String> {
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
    fn the_right_manager_the_slice_and_the_binding() {
        let user_tree = Path::new(
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope",
        );
        let system = Path::new("/sys/fs/cgroup/system.slice/agents.slice/x.service");
        let r = own_scope_request(system, 0, "job-1", "d").unwrap();
        assert_eq!(
            (
                r.user_manager,
                r.name.as_str(),
                r.slice.as_deref(),
                r.bound_to.as_deref()
            ),
            (
                false,
                "cgbox-job-1.scope",
                Some("agents.slice"),
                Some("x.service")
            )
        );
        // A user refused in a system unit asks its own manager, which does
        // not run that unit: neither its slice nor a binding.
        let r = own_scope_request(system, 1000, "a b", "d").unwrap();
        assert_eq!(
            (r.user_manager, r.name.as_str(), r.slice, r.bound_to),
            (true, "cgbox-a_b.scope", None, None)
        );
        for euid in [0, 1000] {
            let r = own_scope_request(user_tree, euid, "x", "d").unwrap();
            assert!(r.user_manager);
            assert_eq!(r.bound_to.as_deref(), Some("x.scope"));
            assert_eq!(r.slice.as_deref(), Some("app.slice"));
        }
        assert!(own_scope_request(system, 0, "", "d").is_err());
    }

    #[test]
    fn the_refused_unit_and_what_leaving_it_would_escape() {
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
}
