//! The walk up from this process's cgroup to the home of its boxes (see
//! the [module docs](super)).

use std::path::{Path, PathBuf};

use super::{HomeKind, Placement};
use crate::fs::CgroupFs;
use crate::layout::{AGENTS, DELEGATE_XATTRS, is_unit_name, is_user_manager};
use crate::systemd::ServiceManager;
use crate::{Error, ErrorKind, Result, fixes};

/// Why an unmarked unit of the user manager was not asked about, when no
/// service manager was given.
const NOT_ASKED: &str = "no service manager was given to ask";

/// Whether the cgroup `dir` is marked delegated (systemd's `Delegate=yes`,
/// or a cgbox box).
pub(crate) fn is_marked_delegated<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir) -> bool {
    DELEGATE_XATTRS
        .iter()
        .any(|name| matches!(fs.read_xattr(dir, name), Ok(Some(v)) if v.as_slice() == b"1"))
}

/// Find the home for the boxes of a process whose cgroup is `rel` (relative
/// to `mount`, `""` for the root of what it sees). Reads only; a refusal is
/// a typed error with the fix for this situation. `systemd` answers for
/// units of the user manager that carry no mark.
pub(crate) fn find<F: CgroupFs + ?Sized>(
    fs: &F,
    mount: &Path,
    rel: &str,
    systemd: Option<&dyn ServiceManager>,
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
            return Ok(Placement::of(path, kind));
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
            return Ok(Placement::of(path, kind));
        }
        if in_agents && depth >= 3 && dir.is_some() {
            return Ok(Placement::of(path, HomeKind::Box((*name).to_owned())));
        }
        if is_unit_name(name) {
            let user_manager = above.iter().any(|p| is_user_manager(p));
            let asked = if user_manager && !name.ends_with(".slice") && dir.is_some() {
                Some(match systemd {
                    Some(s) => s.delegates(name).map_err(|e| e.to_string()),
                    None => Err(NOT_ASKED.to_owned()),
                })
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
    Placement::of(home, HomeKind::Delegated(name))
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
            "if {unit} was started with Delegate=yes, let cgbox ask the user manager; else {hint}"
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
