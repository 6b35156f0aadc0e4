//! Where cgroup2 is mounted, where this process lives, and where its boxes go.
//!
//! [`Discovery::probe`] reads `/proc/self/mountinfo` and `/proc/self/cgroup`
//! through a [`CgroupFs`] and never guesses: what it cannot establish is a
//! named problem, and what stops boxes from being made at all is kept as a
//! typed [`Error`] ([`Discovery::require_parent`]).
//!
//! # Examples
//!
//! ```
//! use std::path::Path;
//! use cgbox::discover::{Discovery, Mode, Probe};
//! use cgbox::fs::FakeFs;
//! use cgbox::placement::{HomeKind, NoOracle};
//! use cgbox::ErrorKind;
//!
//! // A unified host, this process in the root: boxes go under the root.
//! let found = Discovery::probe(&FakeFs::new(), "cgbox");
//! assert_eq!((found.mode, found.mode.as_str()), (Mode::Unified, "unified"));
//! assert_eq!(found.mount.as_deref(), Some(Path::new("/sys/fs/cgroup")));
//! assert_eq!(found.require_parent()?, Path::new("/sys/fs/cgroup"));
//! assert_eq!(found.require_placement()?.kind, HomeKind::RealRoot);
//! assert!(found.usable() && found.writable && found.problems.is_empty());
//! assert!(found.features.kill && found.features.memory_peak && found.features.psi);
//! assert!(found.controllers.contains(&"memory".to_owned()));
//!
//! // In a systemd service that does not delegate: refused, with the fix.
//! let fake = FakeFs::new();
//! fake.enter("system.slice/agent.service")?;
//! let found = Probe::new("cgbox").oracle(&NoOracle).run(&fake);
//! assert!(!found.usable());
//! let err = found.require_parent().unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::NotDelegated);
//! assert!(err.hint().unwrap().contains("Delegate=yes"));
//!
//! // A home the caller names.
//! fake.mkdir_p("mine")?;
//! let found = Probe::new("cgbox").parent(Some(Path::new("/sys/fs/cgroup/mine"))).run(&fake);
//! assert_eq!(found.require_placement()?.kind, HomeKind::Explicit);
//! # Ok::<(), cgbox::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::fs::{CgroupFs, Handle, read_optional};
use crate::parse::{mountinfo, proc_cgroup, token, value};
use crate::placement::{self, HomeKind, NoOracle, Placement, UnitOracle};
use crate::{Error, ErrorKind, Result, fixes};

/// How cgroups are mounted on this system.
///
/// See the [example](crate::discover#examples).
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
    /// See the [example](crate::discover#examples).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unified => "unified",
            Mode::Hybrid => "hybrid",
            Mode::Legacy => "legacy",
            Mode::None => "none",
        }
    }
}

/// What the kernel offers the boxes.
///
/// See the [example](crate::discover#examples).
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
///
/// See the [example](crate::discover#examples).
#[derive(Debug)]
pub struct Discovery {
    /// How cgroups are mounted.
    pub mode: Mode,
    /// The cgroup2 mount point, as the process sees it.
    pub mount: Option<PathBuf>,
    /// Our cgroup path from `/proc/self/cgroup`, cleaned of ` (deleted)`.
    pub cgroup: Option<String>,
    /// The home of the boxes: the absolute directory that holds
    /// `<app>/agents/` (see [`placement`]).
    pub parent: Option<PathBuf>,
    /// What that home is; `None` when boxes cannot be placed here.
    pub placement: Option<HomeKind>,
    /// The home's `cgroup.type` where it is not a plain `domain`
    /// (`domain threaded`, `domain invalid`, `threaded`).
    pub home_type: Option<String>,
    /// Processes in the home other than this one: they keep a non-root home
    /// from giving boxes controllers until they move to a leaf.
    pub home_processes: Vec<u32>,
    /// The controllers boxes can be given here now.
    pub controllers: Vec<String>,
    /// Whether boxes can be created in the home.
    pub writable: bool,
    /// Kernel features.
    pub features: Features,
    /// Each thing that is wrong or missing, with what would fix it.
    pub problems: Vec<String>,
    fatal: Option<Error>,
}

/// How [`Discovery`] looks: the app, a home the caller names, and who to
/// ask about units that carry no delegation mark.
///
/// See the [example](crate::discover#examples).
pub struct Probe<'a> {
    app: &'a str,
    parent: Option<&'a Path>,
    oracle: &'a dyn UnitOracle,
}

impl<'a> Probe<'a> {
    /// Look for the boxes of `app` (`cgbox` by default).
    ///
    /// See the [example](crate::discover#examples).
    pub fn new(app: &'a str) -> Probe<'a> {
        Probe {
            app,
            parent: None,
            oracle: &NoOracle,
        }
    }

    /// Use this home instead of finding one (the caller vouches for it).
    ///
    /// See the [example](crate::discover#examples).
    pub fn parent(mut self, parent: Option<&'a Path>) -> Probe<'a> {
        self.parent = parent;
        self
    }

    /// Ask `oracle` whether unmarked units of the user manager delegate.
    ///
    /// See the [example](crate::discover#examples).
    pub fn oracle(mut self, oracle: &'a dyn UnitOracle) -> Probe<'a> {
        self.oracle = oracle;
        self
    }

    /// Run discovery through `fs`.
    ///
    /// See the [example](crate::discover#examples).
    pub fn run<F: CgroupFs>(&self, fs: &F) -> Discovery {
        let mut d = Discovery {
            mode: Mode::None,
            mount: None,
            cgroup: None,
            parent: None,
            placement: None,
            home_type: None,
            home_processes: Vec::new(),
            controllers: Vec::new(),
            writable: false,
            features: Features::default(),
            problems: Vec::new(),
            fatal: None,
        };
        if let Err(e) = d.run(fs, self) {
            d.problems.push(e.to_string());
            d.fatal = Some(e);
        }
        d
    }
}

/// What the mounts say.
struct Mounts {
    v2: Vec<mountinfo::Mount>,
    v1_controllers: Vec<(String, PathBuf)>,
}

impl Discovery {
    /// Look at this process's cgroups through `fs`, for the boxes of `app`
    /// (`cgbox` by default). Never fails: see [`Discovery::require_parent`].
    /// [`Probe`] takes more options.
    ///
    /// See the [example](crate::discover#examples).
    pub fn probe<F: CgroupFs>(fs: &F, app: &str) -> Discovery {
        Probe::new(app).run(fs)
    }

    /// The home of the boxes, or the typed error that explains why there
    /// is none here.
    ///
    /// See the [example](crate::discover#examples).
    pub fn require_parent(&self) -> Result<&Path> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        self.parent.as_deref().ok_or_else(|| {
            Error::new(ErrorKind::NoCgroup2, "discover cgroup2")
                .with_detail("no home for boxes found")
        })
    }

    /// The placement, or the typed error that explains why there is none.
    ///
    /// See the [example](crate::discover#examples).
    pub fn require_placement(&self) -> Result<Placement> {
        let home = self.require_parent()?.to_path_buf();
        let kind = self.placement.clone().unwrap_or(HomeKind::Explicit);
        Ok(Placement { home, kind })
    }

    /// Whether boxes (at least with the core interface) can be made here.
    ///
    /// See the [example](crate::discover#examples).
    pub fn usable(&self) -> bool {
        self.fatal.is_none() && self.parent.is_some() && self.writable
    }

    fn run<F: CgroupFs>(&mut self, fs: &F, probe: &Probe<'_>) -> Result<()> {
        let mounts = self.find_mounts(fs)?;
        let (mount, rel) = self.locate_own_cgroup(fs, &mounts.v2)?;
        let placement = match probe.parent {
            Some(p) => Placement::explicit(p),
            None => placement::find(fs, &mount.mount_point, &rel, probe.oracle)?,
        };
        let home = fs.open_dir(&placement.home)?;
        self.parent = Some(placement.home.clone());
        self.placement = Some(placement.kind.clone());
        self.look_at_home(
            fs,
            &home,
            &placement,
            &mounts,
            mount.is_read_only(),
            probe.app,
        )?;
        let app_dir = fs.open_child(&home, probe.app).ok();
        self.features = probe_features(
            fs,
            &home,
            &placement.kind,
            app_dir.as_ref(),
            &self.controllers,
        )?;
        if !self.features.kill {
            self.problems.push(
                "cgroup.kill is not available (Linux < 5.14): boxes are killed by freezing and signalling each process".into(),
            );
        }
        Ok(())
    }

    /// Which cgroup filesystems are mounted; an error when there is no cgroup2.
    fn find_mounts<F: CgroupFs>(&mut self, fs: &F) -> Result<Mounts> {
        let mounts = read_mountinfo(fs)?;
        let v1_controllers: Vec<(String, PathBuf)> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .flat_map(|m| {
                m.super_options
                    .iter()
                    .filter(|o| is_v1_controller(o))
                    .map(move |o| (o.clone(), m.mount_point.clone()))
            })
            .collect();
        let any_v1 = mounts.iter().any(|m| m.fstype == "cgroup");
        let v2: Vec<mountinfo::Mount> = mounts
            .into_iter()
            .filter(|m| m.fstype == "cgroup2")
            .collect();
        self.mode = match (v2.is_empty(), any_v1) {
            (false, _) if !v1_controllers.is_empty() => Mode::Hybrid,
            (false, _) => Mode::Unified,
            (true, true) => Mode::Legacy,
            (true, false) => Mode::None,
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
        Ok(Mounts { v2, v1_controllers })
    }

    /// Our cgroup and the mount that shows it, with our path relative to
    /// that mount's root.
    fn locate_own_cgroup<'m, F: CgroupFs>(
        &mut self,
        fs: &F,
        v2: &'m [mountinfo::Mount],
    ) -> Result<(&'m mountinfo::Mount, String)> {
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
        let found = v2
            .iter()
            .filter_map(|m| relative_to(&cgroup, &m.root).map(|rel| (m, rel)))
            .min_by_key(|(_, rel)| rel.len());
        let Some((mount, rel)) = found else {
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
                "cgroup2 is mounted read-only at {}; fix: {}",
                mount.mount_point.display(),
                fixes::READ_ONLY_MOUNT
            ));
        }
        Ok((mount, rel))
    }

    /// What the home offers: its type, its processes, its controllers,
    /// whether we may write there.
    fn look_at_home<F: CgroupFs>(
        &mut self,
        fs: &F,
        home: &F::Dir,
        placement: &Placement,
        mounts: &Mounts,
        read_only: bool,
        app: &str,
    ) -> Result<()> {
        let real_root = placement.kind.is_real_root();
        let available = read_optional(fs, home, "cgroup.controllers")?.unwrap_or_default();
        let enabled = read_optional(fs, home, "cgroup.subtree_control")?.unwrap_or_default();
        let kind = read_optional(fs, home, "cgroup.type")?.map(|t| t.trim().to_owned());
        let self_pid = fs.self_pid();
        if !real_root {
            let procs = read_optional(fs, home, "cgroup.procs")?.unwrap_or_default();
            self.home_processes = token::pids(&procs).filter(|&p| p != self_pid).collect();
        }
        let thread_mode = kind.as_deref().is_some_and(|t| t != "domain");
        let can_enable = real_root || (!thread_mode && self.home_processes.is_empty());
        let offered = if can_enable { &available } else { &enabled };
        self.controllers = if thread_mode {
            Vec::new()
        } else {
            value::words(offered).map(str::to_owned).collect()
        };
        if thread_mode {
            let t = kind.clone().unwrap_or_default();
            self.problems.push(format!(
                "{} has cgroup.type {t:?}: boxes below it cannot hold processes; fix: {}",
                placement.home.display(),
                fixes::thread_mode(&placement.home)
            ));
            self.home_type = kind;
        }
        if !can_enable && !thread_mode {
            let shown: Vec<String> = self
                .home_processes
                .iter()
                .take(5)
                .map(u32::to_string)
                .collect();
            self.problems.push(format!(
                "{} holds {} process(es) of its own ({}{}): boxes without limits work, but limits need controllers, which it cannot give its children while it holds processes (the no-internal-process rule); fix: {}",
                placement.home.display(),
                self.home_processes.len(),
                shown.join(", "),
                if self.home_processes.len() > 5 { ", ..." } else { "" },
                fixes::prepare(&placement.home)
            ));
        }
        if !thread_mode {
            let all: Vec<String> = value::words(&available).map(str::to_owned).collect();
            self.note_missing_controllers(&all, &mounts.v1_controllers, placement);
        }
        let app_dir = fs.open_child(home, app).ok();
        self.writable = !read_only
            && !thread_mode
            && match &app_dir {
                Some(dir) => fs.may_write(dir, None),
                None => fs.may_write(home, None),
            };
        if !self.writable && !read_only && !thread_mode {
            let dir = app_dir
                .as_ref()
                .map(|d| d.path())
                .unwrap_or(&placement.home);
            self.problems.push(format!(
                "no write permission on {}; fix: {}",
                dir.display(),
                fixes::user_delegation(dir)
            ));
        }
        Ok(())
    }

    fn note_missing_controllers(
        &mut self,
        available: &[String],
        v1: &[(String, PathBuf)],
        placement: &Placement,
    ) {
        let wanted = ["cpu", "memory", "pids", "io"];
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| !available.iter().any(|h| h == c))
            .collect();
        if missing.is_empty() {
            return;
        }
        let held: Vec<String> = missing
            .iter()
            .filter_map(|c| {
                let v1name = if *c == "io" { "blkio" } else { c };
                v1.iter()
                    .find(|(n, _)| n == v1name)
                    .map(|(_, p)| format!("{c} at {}", p.display()))
            })
            .collect();
        let list = missing.join(", ");
        let in_user_manager = placement.home.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|s| s.starts_with("user@") && s.ends_with(".service"))
        });
        let msg = if self.mode == Mode::Hybrid && !held.is_empty() {
            format!(
                "{list} not available on cgroup2 here: this is a hybrid host and cgroup v1 holds them ({}); boxes get only the core interface (kill, freeze, cpu.stat), and limits on {list} cannot be applied; fix: {}",
                held.join(", "),
                fixes::UNIFIED_BOOT
            )
        } else if placement.kind.is_real_root() {
            format!(
                "{list} not available at the cgroup2 root: the kernel was built without them, or they are bound to cgroup v1; fix: boot with cgroup_no_v1=all"
            )
        } else {
            format!(
                "{list} not delegated to {} (absent from its cgroup.controllers), so limits on them cannot be applied; fix: {}",
                placement.home.display(),
                fixes::controller_not_delegated(&list, in_user_manager)
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
    kind: &HomeKind,
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
    if !kind.is_real_root() && fs.has_file(parent, "cgroup.type")? {
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
