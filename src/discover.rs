//! Where cgroup2 is mounted, where this process lives, and where its boxes go.
//!
//! [`Discovery::probe`] reads `/proc/self/mountinfo` and `/proc/self/cgroup`
//! through a [`CgroupFs`] and never guesses: what it cannot establish is a
//! named problem, and what stops boxes from being made at all is kept as a
//! typed [`Error`] ([`Discovery::require_parent`]).

use std::path::{Path, PathBuf};

use crate::fs::{CgroupFs, Handle, read_optional};
use crate::parse::{mountinfo, proc_cgroup, value};
use crate::{Error, ErrorKind, Result};

/// How cgroups are mounted on this system.
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
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unified => "unified",
            Mode::Hybrid => "hybrid",
            Mode::Legacy => "legacy",
            Mode::None => "none",
        }
    }
}

/// How the directory holding `<app>/agents/` relates to our own cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentKind {
    /// Our cgroup is the real root; boxes go below it (the root is exempt
    /// from the no-internal-process rule).
    RealRoot,
    /// The parent of our cgroup: boxes are siblings of our cgroup.
    Sibling,
    /// Our cgroup is the root of what we can see (a cgroup namespace, or a
    /// bind-mounted sub-tree) but not the real root; boxes go below it,
    /// where our own processes keep it from enabling controllers.
    VisibleRoot,
}

/// What the kernel offers the boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// `cgroup.kill` (Linux 5.14).
    pub kill: bool,
    /// `cgroup.freeze` (Linux 5.2).
    pub freeze: bool,
    /// `memory.peak` (Linux 5.19, and the memory controller).
    pub memory_peak: bool,
    /// Pressure stall information files.
    pub psi: bool,
}

/// Everything discovery found out. See the [module docs](self).
#[derive(Debug)]
pub struct Discovery {
    /// How cgroups are mounted.
    pub mode: Mode,
    /// The cgroup2 mount point, as the process sees it.
    pub mount: Option<PathBuf>,
    /// Our cgroup path from `/proc/self/cgroup`, cleaned of ` (deleted)`.
    pub cgroup: Option<String>,
    /// The absolute directory that holds `<app>/agents/`.
    pub parent: Option<PathBuf>,
    /// How `parent` relates to our cgroup.
    pub parent_kind: Option<ParentKind>,
    /// The parent's `cgroup.controllers`: what boxes can be given.
    pub controllers: Vec<String>,
    /// Whether boxes can be created under `parent`.
    pub writable: bool,
    /// Kernel features.
    pub features: Features,
    /// Each thing that is wrong or missing, with what would fix it.
    pub problems: Vec<String>,
    fatal: Option<Error>,
}

const SYSTEMD_FIX: &str = "on a systemd host run the job under a delegated scope \
(systemd-run --user --scope -p Delegate=yes <cmd>) or add a drop-in with \
Delegate=cpu cpuset io memory pids to its unit";

impl Discovery {
    /// Look at this process's cgroups through `fs`. `app` is the subtree
    /// name under the parent (`cgbox` by default). Never fails: see
    /// [`Discovery::require_parent`].
    pub fn probe<F: CgroupFs>(fs: &F, app: &str) -> Discovery {
        let mut d = Discovery {
            mode: Mode::None,
            mount: None,
            cgroup: None,
            parent: None,
            parent_kind: None,
            controllers: Vec::new(),
            writable: false,
            features: Features::default(),
            problems: Vec::new(),
            fatal: None,
        };
        if let Err(e) = d.run(fs, app) {
            d.problems.push(e.to_string());
            d.fatal = Some(e);
        }
        d
    }

    /// The directory that holds `<app>/agents/`, or the typed error that
    /// explains why there is none here.
    pub fn require_parent(&self) -> Result<&Path> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        self.parent.as_deref().ok_or_else(|| {
            Error::new(ErrorKind::NoCgroup2, "discover cgroup2")
                .with_detail("no parent directory found")
        })
    }

    /// Whether boxes (at least with the core interface) can be made here.
    pub fn usable(&self) -> bool {
        self.fatal.is_none() && self.parent.is_some() && self.writable
    }

    fn run<F: CgroupFs>(&mut self, fs: &F, app: &str) -> Result<()> {
        let mounts = read_mountinfo(fs)?;
        let v2: Vec<&mountinfo::Mount> = mounts.iter().filter(|m| m.fstype == "cgroup2").collect();
        let v1: Vec<&mountinfo::Mount> = mounts.iter().filter(|m| m.fstype == "cgroup").collect();
        let v1_controllers: Vec<(&str, &Path)> = v1
            .iter()
            .flat_map(|m| {
                m.super_options
                    .iter()
                    .filter(|o| is_v1_controller(o))
                    .map(move |o| (o.as_str(), m.mount_point.as_path()))
            })
            .collect();
        self.mode = match (v2.is_empty(), v1.is_empty()) {
            (false, _) if !v1_controllers.is_empty() => Mode::Hybrid,
            (false, _) => Mode::Unified,
            (true, false) => Mode::Legacy,
            (true, true) => Mode::None,
        };
        if v2.is_empty() {
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
            return Err(Error::new(ErrorKind::NoCgroup2, "discover cgroup2")
                .with_path("/proc/self/mountinfo")
                .with_detail(what)
                .with_hint(fix));
        }

        // Until our cgroup says which mount shows it, the first cgroup2 mount.
        self.mount = v2.first().map(|m| m.mount_point.clone());
        let memberships = read_proc_cgroup(fs)?;
        let Some(unified) = proc_cgroup::unified(&memberships) else {
            return Err(Error::new(ErrorKind::NoCgroup2, "discover cgroup")
                .with_path("/proc/self/cgroup")
                .with_detail("no cgroup2 (\"0::\") line: this process has no cgroup2 membership")
                .with_hint("run on a kernel with cgroup2 support"));
        };
        let cgroup = unified.path.clone();
        self.cgroup = Some(cgroup.clone());
        if is_outside(&cgroup) {
            return Err(Error::new(ErrorKind::OutsideNamespace, "locate own cgroup")
                .with_path("/proc/self/cgroup")
                .with_detail(format!(
                    "our cgroup {cgroup} lies outside this cgroup namespace (it starts with /..), so it cannot be reached"
                ))
                .with_hint("run cgbox from a process inside the namespace's tree, or unshare a new cgroup namespace (unshare -C) after moving into the target cgroup"));
        }

        // The mount through which our cgroup is visible: its root must be
        // an ancestor of our path (bind-mounted sub-trees have root != "/").
        let mount = v2
            .iter()
            .filter_map(|m| relative_to(&cgroup, &m.root).map(|rel| (*m, rel)))
            .min_by_key(|(_, rel)| rel.len());
        let Some((mount, rel)) = mount else {
            let roots: Vec<String> = v2
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
        self.mount = Some(mount.mount_point.clone());
        if mount.is_read_only() {
            self.problems.push(format!(
                "cgroup2 is mounted read-only at {} (containers do this by default); fix: mount it read-write, e.g. run the container with a writable cgroupns (--cgroupns=private and --security-opt writable-cgroups=true, or --privileged)",
                mount.mount_point.display()
            ));
        }

        let own_path = join_rel(&mount.mount_point, &rel);
        let (parent_path, kind) = if !rel.is_empty() {
            // Our own directory need not be opened (it may be gone: "(deleted)").
            let parent_rel = match rel.rfind('/') {
                Some(i) => rel.get(..i).unwrap_or(""),
                None => "",
            };
            (
                join_rel(&mount.mount_point, parent_rel),
                ParentKind::Sibling,
            )
        } else {
            // The root of our view: the real root has no cgroup.type.
            let own = fs.open_dir(&own_path).map_err(|e| {
                e.with_hint(format!(
                    "check that cgroup2 is mounted at {}",
                    own_path.display()
                ))
            })?;
            if fs.has_file(&own, "cgroup.type")? {
                (own_path.clone(), ParentKind::VisibleRoot)
            } else {
                (own_path.clone(), ParentKind::RealRoot)
            }
        };
        if kind == ParentKind::VisibleRoot {
            self.problems.push(format!(
                "our cgroup {} is the root of what this process can see (a cgroup namespace or a bind-mounted sub-tree) but not the real root, and it holds our own processes: by the no-internal-process rule it cannot enable controllers for boxes below it; fix: first move this process into a leaf (mkdir {0}/init && echo $$ > {0}/init/cgroup.procs), as container init systems do, then run cgbox from there",
                own_path.display()
            ));
        }
        let parent = fs.open_dir(&parent_path)?;
        self.parent = Some(parent_path.clone());
        self.parent_kind = Some(kind);

        let controllers = read_optional(fs, &parent, "cgroup.controllers")?.unwrap_or_default();
        self.controllers = value::words(&controllers).map(str::to_owned).collect();
        self.note_missing_controllers(&v1_controllers, kind);

        let app_dir = fs.open_child(&parent, app).ok();
        self.writable = !mount.is_read_only()
            && match &app_dir {
                Some(dir) => fs.may_write(dir, None),
                None => fs.may_write(&parent, None),
            };
        if !self.writable && !mount.is_read_only() {
            self.problems.push(format!(
                "no write permission on {}; fix: run as the owner of that cgroup, or {SYSTEMD_FIX}",
                app_dir
                    .as_ref()
                    .map(|d| d.path())
                    .unwrap_or(&parent_path)
                    .display()
            ));
        }

        self.features = probe_features(fs, &parent, kind, app_dir.as_ref(), &self.controllers)?;
        if !self.features.kill {
            self.problems.push(
                "cgroup.kill is not available (Linux < 5.14): boxes are killed by freezing and signalling each process".into(),
            );
        }
        Ok(())
    }

    fn note_missing_controllers(&mut self, v1: &[(&str, &Path)], kind: ParentKind) {
        let wanted = ["cpu", "memory", "pids", "io"];
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| !self.controllers.iter().any(|h| h == c))
            .collect();
        if missing.is_empty() {
            return;
        }
        let held: Vec<String> = missing
            .iter()
            .filter_map(|c| {
                let v1name = if *c == "io" { "blkio" } else { c };
                v1.iter()
                    .find(|(n, _)| *n == v1name)
                    .map(|(_, p)| format!("{c} at {}", p.display()))
            })
            .collect();
        let list = missing.join(", ");
        let msg = if self.mode == Mode::Hybrid && !held.is_empty() {
            format!(
                "{list} not available on cgroup2 here: this is a hybrid host and cgroup v1 holds them ({}); boxes get only the core interface (kill, freeze, cpu.stat), and limits on {list} cannot be applied; fix: boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=all) so the controllers move to cgroup2",
                held.join(", ")
            )
        } else if kind == ParentKind::RealRoot {
            format!(
                "{list} not available at the cgroup2 root: the kernel was built without them, or they are bound to cgroup v1; fix: boot with cgroup_no_v1=all"
            )
        } else {
            format!(
                "{list} not delegated to this cgroup (absent from its cgroup.controllers), so limits on them cannot be applied; fix: enable them in cgroup.subtree_control of every ancestor, or {SYSTEMD_FIX}"
            )
        };
        self.problems.push(msg);
    }
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

fn join_rel(mount: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

fn read_host_text<F: CgroupFs>(fs: &F, path: &str) -> Result<String> {
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

fn read_mountinfo<F: CgroupFs>(fs: &F) -> Result<Vec<mountinfo::Mount>> {
    let path = "/proc/self/mountinfo";
    let text = read_host_text(fs, path)?;
    mountinfo::parse(&text).map_err(|e| e.into_error(Path::new(path)))
}

fn read_proc_cgroup<F: CgroupFs>(fs: &F) -> Result<Vec<proc_cgroup::Membership>> {
    let path = "/proc/self/cgroup";
    let text = read_host_text(fs, path)?;
    proc_cgroup::parse(&text).map_err(|e| e.into_error(Path::new(path)))
}

fn kernel_version<F: CgroupFs>(fs: &F) -> Option<(u32, u32)> {
    let text = read_host_text(fs, "/proc/sys/kernel/osrelease").ok()?;
    let mut parts = text.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Features of boxes: looked up in non-root cgroups when there are any
/// (the root lacks `cgroup.kill` and friends), else from the kernel version.
fn probe_features<F: CgroupFs>(
    fs: &F,
    parent: &F::Dir,
    kind: ParentKind,
    app_dir: Option<&F::Dir>,
    controllers: &[String],
) -> Result<Features> {
    let mut probes: Vec<F::Dir> = Vec::new();
    if let Some(app) = app_dir {
        probes.extend(fs.open_child(app, "agents").ok());
    }
    for name in fs.child_names(parent).unwrap_or_default().iter().take(8) {
        probes.extend(fs.open_child(parent, name).ok());
    }
    let mut non_root: Vec<&F::Dir> = Vec::new();
    if kind != ParentKind::RealRoot && fs.has_file(parent, "cgroup.type")? {
        non_root.push(parent);
    }
    if let Some(app) = app_dir {
        non_root.push(app);
    }
    for p in &probes {
        if fs.has_file(p, "cgroup.type").unwrap_or(false) {
            non_root.push(p);
        }
    }
    let version = kernel_version(fs);
    let at_least = |major: u32, minor: u32| version.is_some_and(|v| v >= (major, minor));
    let has = |file: &str| {
        non_root
            .iter()
            .any(|d| fs.has_file(d, file).unwrap_or(false))
    };
    let (kill, freeze) = if non_root.is_empty() {
        (at_least(5, 14), at_least(5, 2))
    } else {
        (has("cgroup.kill"), has("cgroup.freeze"))
    };
    let memory_on = controllers.iter().any(|c| c == "memory");
    let with_memory: Vec<&&F::Dir> = non_root
        .iter()
        .filter(|d| fs.has_file(d, "memory.current").unwrap_or(false))
        .collect();
    let memory_peak = memory_on
        && if with_memory.is_empty() {
            at_least(5, 19)
        } else {
            with_memory
                .iter()
                .any(|d| fs.has_file(d, "memory.peak").unwrap_or(false))
        };
    let psi = match read_optional(fs, parent, "cpu.pressure") {
        Ok(Some(_)) => read_optional(fs, parent, "cgroup.pressure")
            .ok()
            .flatten()
            .is_none_or(|v| v.trim() != "0"),
        _ => false,
    };
    Ok(Features {
        kill,
        freeze,
        memory_peak,
        psi,
    })
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
