//! What to do about each problem: the fix texts, in one place, so that
//! `inspect`, errors and the README say the same thing.

use std::path::Path;

/// Run cgbox under a scope that systemd delegates to it.
pub fn delegated_scope(root_user: bool) -> &'static str {
    if root_user {
        "systemd-run --scope -p Delegate=yes -- cgbox run ..."
    } else {
        "systemd-run --user --scope -p Delegate=yes -- cgbox run ..."
    }
}

/// A unit of systemd's (or its user manager's) did not delegate its cgroup.
pub fn systemd_delegation(unit: &str, user_manager: bool, root_user: bool) -> String {
    if unit.ends_with(".service") {
        let edit = if user_manager {
            format!("systemctl --user edit {unit}")
        } else {
            format!("systemctl edit {unit}")
        };
        format!(
            "give the unit Delegate=yes ({edit}: [Service] Delegate=yes, then restart it), or start cgbox under a delegated scope: {}",
            delegated_scope(root_user && !user_manager)
        )
    } else {
        format!(
            "start cgbox under a scope systemd delegates to it: {}",
            delegated_scope(root_user && !user_manager)
        )
    }
}

/// A non-root user's cgroup was not delegated to them.
pub fn user_delegation(dir: &Path) -> String {
    format!(
        "on a systemd host: {}; elsewhere an administrator delegates a cgroup: chown the user {} and its cgroup.procs, cgroup.subtree_control and cgroup.threads",
        delegated_scope(false),
        dir.display()
    )
}

/// A controller is not offered to the home of the boxes.
pub fn controller_not_delegated(controller: &str, in_user_manager: bool) -> String {
    if in_user_manager {
        format!(
            "the user manager does not get {controller} (Debian's user@.service delegates only cpu, memory and pids): an administrator adds a drop-in /etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu cpuset io memory pids, then the user logs in again; or run without the limit (--best-effort)"
        )
    } else {
        format!(
            "enable {controller} in cgroup.subtree_control of every ancestor (on a systemd host: Delegate=yes or Delegate={controller} in the unit), or run without the limit (--best-effort)"
        )
    }
}

/// Controllers held by cgroup v1 on a hybrid host.
pub const UNIFIED_BOOT: &str = "boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=all) so that the controllers move to cgroup2";

/// The home of the boxes holds processes of its own.
pub fn prepare(home: &Path) -> String {
    format!(
        "run `cgbox prepare` once (it moves the processes of {} into a leaf, {}/init, and enables the controllers), as container entrypoints do: cgbox prepare && exec my-agent",
        home.display(),
        home.display()
    )
}

/// The cgroup2 mount is read-only.
pub const READ_ONLY_MOUNT: &str = "the cgroup2 mount is read-only (containers mount it so by default): run the container with a writable cgroup namespace (docker/podman: --cgroupns=private and --privileged, or a runtime option for writable cgroups; Kubernetes: ask for a privileged container); boxes cannot be made until then";

/// A thread-mode subtree cannot hold domain controllers.
pub fn thread_mode(home: &Path) -> String {
    format!(
        "{} is in thread mode (threaded controllers were enabled while it held processes): move its processes into a leaf (`cgbox prepare`) so that it becomes a domain again, or disable its threaded controllers",
        home.display()
    )
}
