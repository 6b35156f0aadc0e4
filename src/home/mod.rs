//! Where boxes go: inside a cgroup delegated to this process, never beside
//! it. This module decides it, for the library and the CLI alike
//! ([`resolve`]).
//!
//! A box made beside the caller's cgroup escapes everything that holds the
//! caller: on a systemd host its unit's limits, accounting and stop; in a
//! container the namespace root; inside another box the outer kill. So the
//! home of `<app>/agents/<name>` is the nearest cgroup, walking up from our
//! own, that was handed to us:
//!
//! - a cgroup marked delegated: systemd sets `user.delegate` (and
//!   `trusted.delegate`) to `1` on a unit with `Delegate=yes`, and cgbox
//!   marks its own boxes the same way, because a box is delegated to its job;
//! - a cgbox box (the parent directory is named `agents`), for kernels that
//!   keep no xattrs;
//! - a unit of the user manager that the manager says delegates (systemd
//!   252's user manager marks nothing), asked through a
//!   [`ServiceManager`];
//! - for a non-root user, the topmost cgroup of the chain that the user may
//!   write (the kernel's own delegation model: a chowned directory and its
//!   `cgroup.procs`);
//! - the root of a cgroup namespace (a container) or of a bind-mounted tree;
//! - the real root of a host without a cgroup manager.
//!
//! A systemd unit (`*.service`, `*.scope`, `*.slice`) that is not delegated
//! ends the walk with a refusal, before anything is written: its cgroups are
//! systemd's. Cgroups without a unit's name that are not marked (a leaf such
//! as `init` that holds our processes) are walked through. Where the caller
//! allows it, a refused process asks systemd for a scope of its own and
//! walks again from there.

mod own;
mod state;
mod walk;

use std::path::{Path, PathBuf};

pub use own::Mode;
pub(crate) use own::{Mounts, locate, mounts, own_cgroup, read_host_text};
pub(crate) use state::{HomeState, Obstacle, procs, some_pids};
pub(crate) use walk::find;

use crate::fs::CgroupFs;
use crate::systemd::{ServiceManager, may_leave, own_scope_request};
use crate::{ErrorKind, Result};

/// What the home of the boxes is.
///
/// See the [example](crate::App#examples) of [`App`](crate::App).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeKind {
    /// The real root of a host without a cgroup manager: exempt from the
    /// no-internal-process rule.
    RealRoot,
    /// The root of a cgroup namespace (a container) or of a bind-mounted
    /// sub-tree: not the real root, so its own processes must first move to
    /// a leaf before it can give boxes controllers (`cgbox prepare`).
    NamespaceRoot,
    /// A cgroup delegated to us: a systemd unit with `Delegate=yes`, or a
    /// cgroup chowned to this user. Holds its name.
    Delegated(String),
    /// A cgbox box: a cgbox started inside a box makes its boxes inside it.
    Box(String),
    /// A home the caller named ([`AppOptions::home`](crate::AppOptions::home), `--parent`).
    Explicit,
}

impl HomeKind {
    /// The word used by `cgbox inspect --json`.
    ///
    /// See the [example](crate::App#examples) of [`App`](crate::App).
    pub fn as_str(&self) -> &'static str {
        match self {
            HomeKind::RealRoot => "root",
            HomeKind::NamespaceRoot => "namespace-root",
            HomeKind::Delegated(_) => "delegated",
            HomeKind::Box(_) => "box",
            HomeKind::Explicit => "explicit",
        }
    }

    /// Whether the home is exempt from the no-internal-process rule.
    ///
    /// See the [example](crate::App#examples) of [`App`](crate::App).
    pub fn is_real_root(&self) -> bool {
        *self == HomeKind::RealRoot
    }
}

/// Where the boxes of this process go, and why. See the [crate docs](crate).
///
/// See the [example](crate::App#examples) of [`App`](crate::App).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The cgroup that holds `<app>/agents/<name>`.
    pub home: PathBuf,
    /// What it is.
    pub kind: HomeKind,
    /// The scope of our own this process moved into to get this home
    /// (a unit refused, and the caller let cgbox ask systemd).
    pub scope: Option<String>,
}

impl Placement {
    /// A home the caller vouches for.
    pub(crate) fn explicit(home: impl Into<PathBuf>) -> Placement {
        Placement::of(home.into(), HomeKind::Explicit)
    }

    pub(crate) fn of(home: PathBuf, kind: HomeKind) -> Placement {
        Placement {
            home,
            kind,
            scope: None,
        }
    }

    /// Where the box `name` of `app` lives here: `<home>/<app>/agents/<name>`.
    ///
    /// See the [example](crate::App#examples) of [`App`](crate::App).
    pub fn box_path(&self, app: &str, name: &str) -> PathBuf {
        crate::layout::box_dir(&self.home, app, name)
    }
}

/// How to find the home: a home the caller names, or the walk with or
/// without a service manager to ask, and whether a refused process may ask
/// it for a scope of its own.
#[derive(Clone, Copy, Default)]
pub(crate) struct Locate<'a> {
    pub(crate) home: Option<&'a Path>,
    pub(crate) systemd: Option<&'a dyn ServiceManager>,
    /// `(label, description)` of the scope to ask for when refused.
    pub(crate) own_scope: Option<(&'a str, &'a str)>,
}

/// Where the boxes of this process go. The one decision, for every caller.
pub(crate) fn resolve<F: CgroupFs + ?Sized>(fs: &F, how: &Locate<'_>) -> Result<Placement> {
    if let Some(home) = how.home {
        return Ok(Placement::explicit(home));
    }
    let here = locate(fs)?;
    let refusal = match find(fs, &here.mount.mount_point, &here.rel, how.systemd) {
        Err(e) if e.kind() == ErrorKind::NotDelegated => e,
        other => return other,
    };
    let (Some(systemd), Some((label, description))) = (how.systemd, how.own_scope) else {
        return Err(refusal);
    };
    // Leaving a unit with limits of its own would escape them: refused.
    may_leave(fs, &refusal)?;
    let refused_at = refusal
        .path()
        .unwrap_or(&here.mount.mount_point)
        .to_path_buf();
    let request = own_scope_request(&refused_at, fs.euid(), label, description)?;
    let unit = systemd.start_scope(&request).map_err(|e| {
        let why = format!("asking systemd for a delegated scope failed: {e}");
        let detail = match refusal.detail() {
            Some(d) => format!("{d}; {why}"),
            None => why,
        };
        refusal.clone().with_detail(detail)
    })?;
    // This process moved: walk again from its new cgroup, trusting the
    // scope it was given.
    let here = locate(fs)?;
    let trusting = Trusting {
        unit: &unit,
        systemd,
    };
    let mut placement = find(fs, &here.mount.mount_point, &here.rel, Some(&trusting))?;
    placement.scope = Some(unit);
    Ok(placement)
}

/// A manager that answers yes for the scope it just gave us, without asking.
struct Trusting<'a> {
    unit: &'a str,
    systemd: &'a dyn ServiceManager,
}

impl ServiceManager for Trusting<'_> {
    fn delegates(&self, unit: &str) -> Result<bool> {
        if unit == self.unit {
            return Ok(true);
        }
        self.systemd.delegates(unit)
    }

    fn start_scope(&self, scope: &crate::ScopeRequest) -> Result<String> {
        self.systemd.start_scope(scope)
    }
}
