//! The inspection report: where cgroup2 is mounted, where this process
//! lives, where its boxes would go and what they could be given.

mod features;
mod problem;

use std::path::{Path, PathBuf};

pub use features::Features;
pub use problem::Problem;

use crate::fs::{CgroupFs, Handle};
use crate::home::{self, HomeKind, HomeState, Locate, Mode, Mounts, Placement};
use crate::{Error, ErrorKind, Result};

/// Everything discovery found out: what `cgbox inspect` prints.
///
/// Discovery reads `/proc/self/mountinfo` and `/proc/self/cgroup` through
/// a [`CgroupFs`] and never guesses: what it cannot establish is a named
/// [`Problem`], and what stops boxes from being made at all is kept as a
/// typed [`Error`] ([`Discovery::require_placement`]). It decides where
/// boxes go exactly as [`App::open`](crate::App::open) does; for the same
/// options, use [`AppOptions::inspect`](crate::AppOptions::inspect).
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use cgbox::fs::FakeFs;
/// use cgbox::{App, Discovery, ErrorKind, HomeKind, Mode, Problem};
///
/// // A unified host, this process in the root: boxes go under the root.
/// let found = Discovery::probe(&FakeFs::new(), "cgbox");
/// assert_eq!((found.mode, found.mode.as_str()), (Mode::Unified, "unified"));
/// assert_eq!(found.mount.as_deref(), Some(Path::new("/sys/fs/cgroup")));
/// let placement = found.require_placement()?;
/// assert_eq!(found.home(), Some(Path::new("/sys/fs/cgroup")));
/// assert_eq!(placement.kind, HomeKind::RealRoot);
/// assert!(found.usable() && found.writable && found.problems.is_empty());
/// assert!(found.features.kill && found.features.memory_peak && found.features.psi);
/// assert!(found.controllers.contains(&"memory".to_owned()));
///
/// // In a systemd service that does not delegate: refused, with the fix.
/// let fake = FakeFs::new();
/// fake.enter("system.slice/agent.service")?;
/// let found = Discovery::probe(&fake, "cgbox");
/// assert!(!found.usable());
/// let err = found.require_placement().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotDelegated);
/// assert!(err.hint().unwrap().contains("Delegate=yes"));
/// assert!(matches!(&found.problems[0], Problem::Unusable(e) if e.kind() == ErrorKind::NotDelegated));
/// assert!(found.problems[0].fix().unwrap().contains("Delegate=yes"));
///
/// // A home the caller names.
/// fake.mkdir_p("mine")?;
/// let found = App::options("cgbox").home("/sys/fs/cgroup/mine").inspect(&fake);
/// assert_eq!(found.require_placement()?.kind, HomeKind::Explicit);
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Discovery {
    /// How cgroups are mounted.
    pub mode: Mode,
    /// The cgroup2 mount point, as the process sees it.
    pub mount: Option<PathBuf>,
    /// Our cgroup path from `/proc/self/cgroup`, cleaned of ` (deleted)`.
    pub cgroup: Option<String>,
    /// Where the boxes go, and why; `None` when they cannot be placed here
    /// ([`Discovery::require_placement`] says why).
    pub placement: Option<Placement>,
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
    pub problems: Vec<Problem>,
    fatal: Option<Error>,
}

impl Discovery {
    /// Look at this process's cgroups through `fs`, for the boxes of `app`
    /// (`cgbox` by default), without asking a service manager. Never fails:
    /// see [`Discovery::require_placement`].
    ///
    /// See the [example](Discovery#examples).
    pub fn probe<F: CgroupFs>(fs: &F, app: &str) -> Discovery {
        Discovery::run(fs, &Locate::default(), app)
    }

    /// Discovery as `how` finds the home.
    pub(crate) fn run<F: CgroupFs>(fs: &F, how: &Locate<'_>, app: &str) -> Discovery {
        let mut d = Discovery {
            mode: Mode::None,
            mount: None,
            cgroup: None,
            placement: None,
            home_type: None,
            home_processes: Vec::new(),
            controllers: Vec::new(),
            writable: false,
            features: Features::default(),
            problems: Vec::new(),
            fatal: None,
        };
        if let Err(e) = d.look(fs, how, app) {
            d.problems.push(Problem::Unusable(e.clone()));
            d.fatal = Some(e);
        }
        d
    }

    /// The placement, or the typed error that explains why there is none.
    ///
    /// See the [example](Discovery#examples).
    pub fn require_placement(&self) -> Result<Placement> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        self.placement.clone().ok_or_else(|| {
            Error::new(ErrorKind::NoCgroup2, "discover cgroup2")
                .with_detail("no home for boxes found")
        })
    }

    /// Whether boxes (at least with the core interface) can be made here.
    ///
    /// See the [example](Discovery#examples).
    pub fn usable(&self) -> bool {
        self.fatal.is_none() && self.placement.is_some() && self.writable
    }

    fn look<F: CgroupFs>(&mut self, fs: &F, how: &Locate<'_>, app: &str) -> Result<()> {
        // The same steps as home::resolve, each result kept for the report.
        let mounts = home::mounts(fs)?;
        self.mode = mounts.mode;
        mounts.require_v2()?;
        // Until our cgroup says which mount shows it, the first cgroup2 mount.
        self.mount = mounts.v2.first().map(|m| m.mount_point.clone());
        let cgroup = home::own_cgroup(fs)?;
        self.cgroup = Some(cgroup.clone());
        let here = mounts.showing(&cgroup)?;
        self.mount = Some(here.mount.mount_point.clone());
        let read_only = here.mount.is_read_only();
        if read_only {
            self.problems.push(Problem::ReadOnlyMount {
                mount: here.mount.mount_point.clone(),
            });
        }
        let placement = match how.home {
            Some(home) => Placement::explicit(home),
            None => home::find(fs, &here.mount.mount_point, &here.rel, how.systemd)?,
        };
        let home = fs.open_dir(&placement.home)?;
        self.placement = Some(placement.clone());
        self.look_at_home(fs, &home, &placement, &mounts, read_only, app)?;
        let app_dir = fs.open_child(&home, app).ok();
        self.features = features::probe_features(
            fs,
            &home,
            &placement.kind,
            app_dir.as_ref(),
            &self.controllers,
        )?;
        if !self.features.kill {
            self.problems.push(Problem::NoKill);
        }
        Ok(())
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
        let state = HomeState::read(fs, home, real_root)?;
        self.home_processes = state.others(fs.self_pid());
        let thread_mode = state.thread_mode();
        let can_enable = real_root || (!thread_mode && self.home_processes.is_empty());
        self.controllers = match (thread_mode, can_enable) {
            (true, _) => Vec::new(),
            (false, true) => state.controllers.clone(),
            (false, false) => state.enabled.clone(),
        };
        if thread_mode {
            let kind = state.kind.clone().unwrap_or_default();
            self.problems.push(Problem::ThreadMode {
                home: placement.home.clone(),
                kind: kind.clone(),
            });
            self.home_type = Some(kind);
        }
        if !can_enable && !thread_mode {
            self.problems.push(Problem::HomeProcesses {
                home: placement.home.clone(),
                pids: self.home_processes.clone(),
            });
        }
        if !thread_mode {
            self.note_missing_controllers(&state.controllers, mounts, placement);
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
            self.problems.push(Problem::NotWritable {
                dir: dir.to_path_buf(),
            });
        }
        Ok(())
    }

    fn note_missing_controllers(
        &mut self,
        available: &[String],
        mounts: &Mounts,
        placement: &Placement,
    ) {
        let controllers: Vec<String> = ["cpu", "memory", "pids", "io"]
            .iter()
            .filter(|c| !available.iter().any(|h| h == *c))
            .map(|c| (*c).to_owned())
            .collect();
        if controllers.is_empty() {
            return;
        }
        let held: Vec<(String, PathBuf)> = controllers
            .iter()
            .filter_map(|c| {
                let v1name = if c == "io" { "blkio" } else { c.as_str() };
                mounts
                    .v1_controllers
                    .iter()
                    .find(|(n, _)| n == v1name)
                    .map(|(_, p)| (c.clone(), p.clone()))
            })
            .collect();
        self.problems
            .push(if self.mode == Mode::Hybrid && !held.is_empty() {
                Problem::HeldByV1 {
                    controllers,
                    mounts: held,
                }
            } else if placement.kind.is_real_root() {
                Problem::NotAtRoot { controllers }
            } else {
                Problem::NotDelegated {
                    controllers,
                    home: placement.home.clone(),
                }
            });
    }
}

impl Discovery {
    /// The home of the boxes: the directory that holds `<app>/agents/`.
    ///
    /// See the [example](Discovery#examples).
    pub fn home(&self) -> Option<&Path> {
        self.placement.as_ref().map(|p| p.home.as_path())
    }

    /// What the home is, when there is one.
    ///
    /// See the [example](Discovery#examples).
    pub fn home_kind(&self) -> Option<&HomeKind> {
        self.placement.as_ref().map(|p| &p.kind)
    }
}
