//! The layout of cgbox's cgroups, and systemd's names, in one place: every
//! other module asks here (this module asks nobody).
//!
//! ```text
//! <home>/<app>/agents/<name>     a box; <home> is where boxes may go
//! <home>/init                    the leaf a home's own processes move to
//! ```

use std::path::{Path, PathBuf};

/// The directory under `<home>/<app>/` that holds the boxes.
pub(crate) const AGENTS: &str = "agents";

/// The leaf a home's own processes move to, so that the home can give its
/// boxes controllers (the no-internal-process rule).
///
/// See the [example](crate::prepare()#examples) of [`prepare`](crate::prepare()).
pub const LEAF: &str = "init";

/// The xattr that marks a box kept on purpose: reaping leaves it alone.
pub(crate) const KEPT_XATTR: &str = "user.cgbox.kept";

/// The xattr that records a cgroup's own limits where its files show
/// tighter ones from above (see `jobbox/shown.rs`).
pub(crate) const LIMITS_XATTR: &str = "user.cgbox.limits";

/// The extended attributes that mark a delegated cgroup. systemd sets both
/// on a unit with `Delegate=yes` (`trusted.*` only where it may); cgbox
/// sets the first on its boxes, which are delegated to their jobs.
pub(crate) const DELEGATE_XATTRS: [&str; 2] = ["user.delegate", "trusted.delegate"];

/// The suffixes of systemd's unit cgroups.
const UNIT_SUFFIXES: [&str; 3] = [".service", ".scope", ".slice"];

/// `<home>/<app>/agents`.
pub(crate) fn agents_dir(home: &Path, app: &str) -> PathBuf {
    home.join(app).join(AGENTS)
}

/// `<home>/<app>/agents/<name>`.
pub(crate) fn box_dir(home: &Path, app: &str, name: &str) -> PathBuf {
    agents_dir(home, app).join(name)
}

/// Whether `name` is a systemd unit's cgroup (`x.service`, `x.scope`, `x.slice`).
pub(crate) fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// Whether `name` is the user manager's own cgroup: `user@UID.service`, UID
/// a number.
pub(crate) fn is_user_manager(name: &str) -> bool {
    name.strip_prefix("user@")
        .and_then(|r| r.strip_suffix(".service"))
        .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether the cgroup `path` lies in a user manager's tree.
pub(crate) fn in_user_manager(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().to_str().is_some_and(is_user_manager))
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
    }

    #[test]
    fn one_rule_for_the_user_manager() {
        assert!(is_user_manager("user@1000.service"));
        assert!(!is_user_manager("user@.service"));
        assert!(
            !is_user_manager("user@foo.service"),
            "a unit named so is not the manager"
        );
        assert!(!is_user_manager("user-1000.slice"));
        assert!(in_user_manager(Path::new(
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"
        )));
        assert!(!in_user_manager(Path::new(
            "/sys/fs/cgroup/system.slice/user@foo.service"
        )));
    }

    #[test]
    fn where_a_box_lives() {
        assert_eq!(
            box_dir(Path::new("/sys/fs/cgroup/x"), "ci", "step"),
            Path::new("/sys/fs/cgroup/x/ci/agents/step")
        );
    }
}
