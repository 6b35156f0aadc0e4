//! Where boxes go: inside a cgroup delegated to this process, never beside
//! it.
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
//!   252's user manager marks nothing), through a [`UnitOracle`];
//! - for a non-root user, the topmost cgroup of the chain that the user may
//!   write (the kernel's own delegation model: a chowned directory and its
//!   `cgroup.procs`);
//! - the root of a cgroup namespace (a container) or of a bind-mounted tree;
//! - the real root of a host without a cgroup manager.
//!
//! A systemd unit (`*.service`, `*.scope`, `*.slice`) that is not delegated
//! ends the walk with a refusal, before anything is written: its cgroups are
//! systemd's. Cgroups without a unit's name that are not marked (a leaf such
//! as `init` that holds our processes) are walked through.
//!
//! # Examples
//!
//! ```
//! use std::path::Path;
//! use cgbox::fs::{CgroupFs, FakeFs};
//! use cgbox::placement::{self, HomeKind, NoOracle, Placement, UnitOracle, is_marked_delegated, is_unit_name};
//!
//! let fake = FakeFs::new();
//! let mount = Path::new("/sys/fs/cgroup");
//!
//! // A service with Delegate=yes (systemd marks it with user.delegate = 1).
//! fake.mkdir_p("system.slice/runner.service")?;
//! fake.set_xattr("system.slice/runner.service", "user.delegate", b"1")?;
//! let dir = fake.open_dir(&mount.join("system.slice/runner.service"))?;
//! assert!(is_marked_delegated(&fake, &dir));
//! assert!(is_unit_name("runner.service") && !is_unit_name("agents"));
//! let home = placement::find(&fake, mount, "system.slice/runner.service", &NoOracle)?;
//! assert_eq!(home.kind, HomeKind::Delegated("runner.service".into()));
//! assert_eq!(home.kind.as_str(), "delegated");
//! assert_eq!(home.home, mount.join("system.slice/runner.service"));
//!
//! // A service without it: systemd's, refused.
//! fake.mkdir_p("system.slice/plain.service")?;
//! assert!(placement::find(&fake, mount, "system.slice/plain.service", &NoOracle).is_err());
//!
//! // The user manager marks nothing: an oracle asks it (here: a stand-in).
//! struct Says(bool);
//! impl UnitOracle for Says {
//!     fn delegates(&self, _unit: &str) -> Result<bool, String> { Ok(self.0) }
//! }
//! let user = "user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope";
//! fake.mkdir_p(user)?;
//! let home = placement::find(&fake, mount, user, &Says(true))?;
//! assert_eq!(home.kind, HomeKind::Delegated("run-1.scope".into()));
//!
//! // The root of a host without a manager, and a home the caller names.
//! assert!(placement::find(&fake, mount, "", &NoOracle)?.kind.is_real_root());
//! assert_eq!(Placement::explicit("/sys/fs/cgroup/x").kind, HomeKind::Explicit);
//! # Ok::<(), cgbox::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::fs::CgroupFs;
use crate::jobbox::AGENTS;
use crate::{Error, ErrorKind, Result, fixes};

/// What the home of the boxes is.
///
/// See the [example](crate::placement#examples).
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
    /// A parent the caller named ([`crate::Builder::parent`], `--parent`).
    Explicit,
}

impl HomeKind {
    /// The word used by `cgbox inspect --json`.
    ///
    /// See the [example](crate::placement#examples).
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
    /// See the [example](crate::placement#examples).
    pub fn is_real_root(&self) -> bool {
        *self == HomeKind::RealRoot
    }
}

/// Where the boxes of this process go. See the [module docs](self).
///
/// See the [example](crate::placement#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The cgroup that holds `<app>/agents/<name>`.
    pub home: PathBuf,
    /// What it is.
    pub kind: HomeKind,
}

impl Placement {
    /// A home the caller vouches for.
    ///
    /// See the [example](crate::placement#examples).
    pub fn explicit(home: impl Into<PathBuf>) -> Placement {
        Placement {
            home: home.into(),
            kind: HomeKind::Explicit,
        }
    }
}

/// Answers whether a unit of the user manager delegates its cgroup, where
/// the cgroup carries no mark. `None`: cannot tell (no bus).
///
/// See the [example](crate::placement#examples).
pub trait UnitOracle {
    /// Whether `unit` (a scope or service of the user manager) has
    /// `Delegate=yes`; `Err` says why it could not be asked.
    ///
    /// See the [example](crate::placement#examples).
    fn delegates(&self, unit: &str) -> std::result::Result<bool, String>;
}

/// The oracle of a process that cannot ask: every unmarked unit is refused.
///
/// See the [example](crate::placement#examples).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOracle;

impl UnitOracle for NoOracle {
    fn delegates(&self, _unit: &str) -> std::result::Result<bool, String> {
        Err("cgbox was told not to ask the service manager (--no-systemd)".into())
    }
}

/// The extended attributes that mark a delegated cgroup. systemd sets both
/// (`trusted.*` only where it may); `user.*` is readable by everyone.
///
/// See the [example](crate::placement#examples).
pub const DELEGATE_XATTRS: [&str; 2] = ["user.delegate", "trusted.delegate"];

/// The suffixes of systemd's unit cgroups.
const UNIT_SUFFIXES: [&str; 3] = [".service", ".scope", ".slice"];

/// Whether `name` is a systemd unit's cgroup (`x.service`, `x.scope`, `x.slice`).
///
/// See the [example](crate::placement#examples).
pub fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// Whether the cgroup `dir` is marked delegated (systemd's `Delegate=yes`,
/// or a cgbox box).
///
/// See the [example](crate::placement#examples).
pub fn is_marked_delegated<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir) -> bool {
    DELEGATE_XATTRS
        .iter()
        .any(|name| matches!(fs.read_xattr(dir, name), Ok(Some(v)) if v.as_slice() == b"1"))
}

/// Find the home for the boxes of a process whose cgroup is `rel` (relative
/// to `mount`, `""` for the root of what it sees). Reads only; a refusal is
/// a typed error with the fix for this situation.
///
/// See the [example](crate::placement#examples).
pub fn find<F: CgroupFs + ?Sized>(
    fs: &F,
    mount: &Path,
    rel: &str,
    oracle: &dyn UnitOracle,
) -> Result<Placement> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let root_user = fs.euid() == 0;
    // For a non-root user: the topmost cgroup on the way up that the user
    // may write, so far.
    let mut owned: Option<PathBuf> = None;
    for depth in (0..=parts.len()).rev() {
        let path = join(mount, parts.get(..depth).unwrap_or(&[]));
        let Some((name, above)) = parts.get(..depth).and_then(|p| p.split_last()) else {
            // The root of what we see.
            if let Some(home) = owned {
                return Ok(delegated(home));
            }
            let dir = fs.open_dir(&path)?;
            let kind = if fs.has_file(&dir, "cgroup.type")? {
                HomeKind::NamespaceRoot
            } else {
                HomeKind::RealRoot
            };
            return Ok(Placement { home: path, kind });
        };
        // Our own cgroup may be gone (` (deleted)`): judged by its name only.
        let dir = match fs.open_dir(&path) {
            Ok(d) => Some(d),
            Err(e) if e.is_gone() && depth == parts.len() => None,
            Err(e) => return Err(e),
        };
        let in_agents = above.last() == Some(&AGENTS);
        if dir.as_ref().is_some_and(|d| is_marked_delegated(fs, d)) {
            let kind = if in_agents {
                HomeKind::Box((*name).to_owned())
            } else {
                HomeKind::Delegated((*name).to_owned())
            };
            return Ok(Placement { home: path, kind });
        }
        if in_agents && depth >= 3 && dir.is_some() {
            return Ok(Placement {
                home: path,
                kind: HomeKind::Box((*name).to_owned()),
            });
        }
        if is_unit_name(name) {
            let user_manager = above.iter().any(|p| is_user_manager(p));
            let asked = if user_manager && !name.ends_with(".slice") && dir.is_some() {
                Some(oracle.delegates(name))
            } else {
                None
            };
            if let Some(Ok(true)) = asked {
                return Ok(delegated(path));
            }
            if let Some(home) = owned {
                // A plain cgroup chowned to us below the unit: delegated by
                // its owner, not by systemd's rule, but ours to use.
                return Ok(delegated(home));
            }
            let why_unknown = match asked {
                Some(Err(why)) => Some(why),
                _ => None,
            };
            return Err(systemd_territory(
                &path,
                name,
                user_manager,
                root_user,
                why_unknown,
            ));
        }
        if !root_user && let Some(dir) = &dir {
            if fs.may_write(dir, None) && fs.may_write(dir, Some("cgroup.procs")) {
                owned = Some(path);
            } else if let Some(home) = owned {
                return Ok(delegated(home));
            } else {
                return Err(not_delegated_to_user(&path, fs.euid()));
            }
        }
    }
    // The loop always returns at depth 0.
    Err(Error::new(ErrorKind::NoCgroup2, "place boxes").with_path(mount))
}

fn delegated(home: PathBuf) -> Placement {
    let name = home
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Placement {
        home,
        kind: HomeKind::Delegated(name),
    }
}

/// `user@1000.service`: the user manager's own cgroup.
fn is_user_manager(name: &str) -> bool {
    name.strip_prefix("user@")
        .and_then(|r| r.strip_suffix(".service"))
        .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

fn join(mount: &Path, parts: &[&str]) -> PathBuf {
    let mut p = mount.to_path_buf();
    for part in parts {
        p.push(part);
    }
    p
}

fn systemd_territory(
    path: &Path,
    unit: &str,
    user_manager: bool,
    root_user: bool,
    why_unknown: Option<String>,
) -> Error {
    let owner = if user_manager {
        "the user manager"
    } else {
        "systemd"
    };
    let why_unknown_given = why_unknown.is_some();
    let mut detail = format!(
        "{unit} belongs to {owner}, which did not delegate it to this process: boxes made there would escape the unit's limits and outlive it"
    );
    if let Some(why) = why_unknown {
        detail.push_str(&format!(
            " (whether {unit} has Delegate=yes could not be asked: {why})"
        ));
    }
    let mut hint = fixes::systemd_delegation(unit, user_manager, root_user);
    if user_manager && !unit.ends_with(".slice") && why_unknown_given {
        hint = format!(
            "if {unit} was started with Delegate=yes, let cgbox ask the user manager (without --no-systemd); else {hint}"
        );
    }
    Error::new(ErrorKind::NotDelegated, "place boxes")
        .with_path(path)
        .with_detail(detail)
        .with_hint(hint)
}

fn not_delegated_to_user(path: &Path, uid: u32) -> Error {
    Error::new(ErrorKind::PermissionDenied, "place boxes")
        .with_path(path)
        .with_detail(format!(
            "this process (uid {uid}) may not write its own cgroup: it was not delegated to this user"
        ))
        .with_hint(fixes::user_delegation(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        for unit in [
            "x.service",
            "app.slice",
            "session-c1.scope",
            "user@1000.service",
        ] {
            assert!(is_unit_name(unit), "{unit}");
        }
        for plain in ["init", "agents", ".service", "service", "x.services"] {
            assert!(!is_unit_name(plain), "{plain}");
        }
        assert!(is_user_manager("user@1000.service"));
        assert!(!is_user_manager("user@.service"));
        assert!(!is_user_manager("user-1000.slice"));
    }
}
