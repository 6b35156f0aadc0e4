//! Where this process is: the cgroup filesystems mounted
//! (`/proc/self/mountinfo`), its own cgroup (`/proc/self/cgroup`), and the
//! cgroup2 mount through which that cgroup is visible.

use std::path::{Path, PathBuf};

use crate::fs::CgroupFs;
use crate::parse::{mountinfo, proc_cgroup};
use crate::{Error, ErrorKind, Result};

/// How cgroups are mounted on this system.
///
/// See the [example](crate::Discovery#examples) of [`Discovery`](crate::Discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup2.
    Unified,
    /// cgroup v1 controllers beside a cgroup2 mount (systemd's hybrid layout).
    Hybrid,
    /// Only cgroup v1.
    Legacy,
    /// No cgroup filesystem at all.
    None,
}

impl Mode {
    /// The name used in `cgbox inspect --json`.
    ///
    /// See the [example](crate::Discovery#examples) of [`Discovery`](crate::Discovery).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unified => "unified",
            Mode::Hybrid => "hybrid",
            Mode::Legacy => "legacy",
            Mode::None => "none",
        }
    }
}

/// What the mounts say.
pub(crate) struct Mounts {
    pub(crate) mode: Mode,
    /// The cgroup2 mounts.
    pub(crate) v2: Vec<mountinfo::Mount>,
    /// Each v1 controller and where it is mounted.
    pub(crate) v1_controllers: Vec<(String, PathBuf)>,
}

/// This process's cgroup, and the mount that shows it.
pub(crate) struct Located {
    pub(crate) mount: mountinfo::Mount,
    /// Our cgroup relative to the mount's root, `""` for the root itself.
    pub(crate) rel: String,
}

/// Where this process's cgroup is, through one read of each `/proc` file.
pub(crate) fn locate<F: CgroupFs + ?Sized>(fs: &F) -> Result<Located> {
    let mounts = mounts(fs)?;
    mounts.require_v2()?;
    let cgroup = own_cgroup(fs)?;
    mounts.showing(&cgroup)
}

/// The cgroup filesystems mounted here.
pub(crate) fn mounts<F: CgroupFs + ?Sized>(fs: &F) -> Result<Mounts> {
    let path = "/proc/self/mountinfo";
    let text = read_host_text(fs, path)?;
    let all = mountinfo::parse(&text).map_err(|e| e.into_error(Path::new(path)))?;
    let v1_controllers: Vec<(String, PathBuf)> = all
        .iter()
        .filter(|m| m.fstype == "cgroup")
        .flat_map(|m| {
            m.super_options
                .iter()
                .filter(|o| is_v1_controller(o))
                .map(move |o| (o.clone(), m.mount_point.clone()))
        })
        .collect();
    let any_v1 = all.iter().any(|m| m.fstype == "cgroup");
    let v2: Vec<mountinfo::Mount> = all.into_iter().filter(|m| m.fstype == "cgroup2").collect();
    let mode = match (v2.is_empty(), any_v1) {
        (false, _) if !v1_controllers.is_empty() => Mode::Hybrid,
        (false, _) => Mode::Unified,
        (true, true) => Mode::Legacy,
        (true, false) => Mode::None,
    };
    Ok(Mounts {
        mode,
        v2,
        v1_controllers,
    })
}

impl Mounts {
    /// An error that says what is mounted instead, when there is no cgroup2.
    pub(crate) fn require_v2(&self) -> Result<()> {
        if !self.v2.is_empty() {
            return Ok(());
        }
        let (what, fix) = match self.mode {
            Mode::Legacy => (
                "only cgroup v1 is mounted (legacy layout); cgbox needs cgroup2",
                "boot with systemd.unified_cgroup_hierarchy=1 (or mount cgroup2: mount -t cgroup2 none /sys/fs/cgroup)",
            ),
            _ => (
                "no cgroup filesystem is mounted",
                "mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup); in a container, run it with /sys/fs/cgroup mounted",
            ),
        };
        Err(Error::new(ErrorKind::NoCgroup2, "discover cgroup2")
            .with_path("/proc/self/mountinfo")
            .with_detail(what)
            .with_hint(fix))
    }

    /// The mount through which `cgroup` is visible: its root must be an
    /// ancestor of our path (bind-mounted sub-trees have root != "/").
    pub(crate) fn showing(&self, cgroup: &str) -> Result<Located> {
        if is_outside(cgroup) {
            return Err(Error::new(ErrorKind::OutsideNamespace, "locate own cgroup")
                .with_path("/proc/self/cgroup")
                .with_detail(format!(
                    "our cgroup {cgroup} lies outside this cgroup namespace (it starts with /..), so it cannot be reached"
                ))
                .with_hint("run cgbox from a process inside the namespace's tree, or unshare a new cgroup namespace (unshare -C) after moving into the target cgroup"));
        }
        let found = self
            .v2
            .iter()
            .filter_map(|m| relative_to(cgroup, &m.root).map(|rel| (m, rel)))
            .min_by_key(|(_, rel)| rel.len());
        let Some((mount, rel)) = found else {
            let roots: Vec<String> = self
                .v2
                .iter()
                .map(|m| format!("{} (root {})", m.mount_point.display(), m.root.display()))
                .collect();
            return Err(Error::new(ErrorKind::OutsideNamespace, "locate own cgroup")
                .with_path("/proc/self/mountinfo")
                .with_detail(format!(
                    "our cgroup {cgroup} is not visible through any cgroup2 mount: {}",
                    roots.join(", ")
                ))
                .with_hint("mount the cgroup2 tree that holds this process (or use a private cgroup namespace: unshare -C)"));
        };
        Ok(Located {
            mount: mount.clone(),
            rel,
        })
    }
}

/// Our cgroup path from `/proc/self/cgroup` (its `0::` line), cleaned of
/// ` (deleted)`.
pub(crate) fn own_cgroup<F: CgroupFs + ?Sized>(fs: &F) -> Result<String> {
    let path = "/proc/self/cgroup";
    let text = read_host_text(fs, path)?;
    let memberships = proc_cgroup::parse(&text).map_err(|e| e.into_error(Path::new(path)))?;
    match proc_cgroup::unified(&memberships) {
        Some(unified) => Ok(unified.path.clone()),
        None => Err(Error::new(ErrorKind::NoCgroup2, "discover cgroup")
            .with_path(path)
            .with_detail("no cgroup2 (\"0::\") line: this process has no cgroup2 membership")
            .with_hint("run on a kernel with cgroup2 support")),
    }
}

pub(crate) fn read_host_text<F: CgroupFs + ?Sized>(fs: &F, path: &str) -> Result<String> {
    let path = Path::new(path);
    let bytes = fs
        .read_host_file(path)
        .map_err(|e| e.with_hint("cgbox needs /proc mounted and readable"))?;
    String::from_utf8(bytes).map_err(|_| {
        Error::new(ErrorKind::Parse, "parse")
            .with_path(path)
            .with_detail("content is not UTF-8")
    })
}

fn is_v1_controller(option: &str) -> bool {
    matches!(
        option,
        "cpu"
            | "cpuacct"
            | "cpuset"
            | "memory"
            | "devices"
            | "freezer"
            | "net_cls"
            | "blkio"
            | "perf_event"
            | "net_prio"
            | "hugetlb"
            | "pids"
            | "rdma"
            | "misc"
    )
}

/// True for paths that start with `/..`: outside our cgroup namespace.
fn is_outside(path: &str) -> bool {
    path == "/.." || path.starts_with("/../")
}

/// `path` relative to `root` (both absolute cgroup paths), `""` when equal.
fn relative_to(path: &str, root: &Path) -> Option<String> {
    let root = root.to_str()?;
    if root == "/" {
        return Some(
            path.trim_start_matches('/')
                .trim_end_matches('/')
                .to_owned(),
        );
    }
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() {
        Some(String::new())
    } else {
        rest.strip_prefix('/')
            .map(|r| r.trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_to("/", Path::new("/")).as_deref(), Some(""));
        assert_eq!(relative_to("/a/b", Path::new("/")).as_deref(), Some("a/b"));
        assert_eq!(
            relative_to("/docker/abc", Path::new("/docker/abc")).as_deref(),
            Some("")
        );
        assert_eq!(
            relative_to("/docker/abc/x", Path::new("/docker/abc")).as_deref(),
            Some("x")
        );
        assert_eq!(relative_to("/docker/abcd", Path::new("/docker/abc")), None);
        assert_eq!(relative_to("/other", Path::new("/docker/abc")), None);
        assert!(is_outside("/../x"));
        assert!(is_outside("/.."));
        assert!(!is_outside("/..x"));
    }
}
