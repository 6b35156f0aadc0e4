//! What the box commands share: the backend, where boxes go (decided by
//! the library's `AppOptions`, as for every user of it), and naming boxes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cgbox::fs::SysFs;
use cgbox::{App, AppOptions, BoxRef, Discovery, Placement, ScopeRequest, ServiceManager, Systemd};

use crate::Global;

/// How long one exchange with systemd may take (a start job in a slow VM
/// takes most of a second).
pub const SYSTEMD_TIMEOUT: Duration = Duration::from_secs(30);

/// The backend and what discovery found.
pub struct Context {
    pub fs: Arc<SysFs>,
    pub discovery: Discovery,
    pub app: String,
    systemd: Manager,
    parent: Option<PathBuf>,
}

/// Who answers for systemd: the real managers, or nobody, with the reason.
enum Manager {
    Asked(Systemd),
    NotAsked(&'static str),
}

impl ServiceManager for Manager {
    fn delegates(&self, unit: &str) -> cgbox::Result<bool> {
        match self {
            Manager::Asked(s) => s.delegates(unit),
            Manager::NotAsked(why) => Err(not_asked(why)),
        }
    }

    fn start_scope(&self, scope: &ScopeRequest) -> cgbox::Result<String> {
        match self {
            Manager::Asked(s) => s.start_scope(scope),
            Manager::NotAsked(why) => Err(not_asked(why)),
        }
    }
}

fn not_asked(why: &str) -> cgbox::Error {
    cgbox::Error::new(cgbox::ErrorKind::Unsupported, why)
}

impl Context {
    /// The backend, and where boxes go as `global` says, never moving this
    /// process.
    pub fn new(global: &Global) -> cgbox::Result<Context> {
        let fs = Arc::new(global.fs()?);
        let systemd = if global.root.is_some() {
            Manager::NotAsked("--root treats a directory as /, so the service manager is not asked")
        } else if !global.systemd {
            Manager::NotAsked("cgbox was told not to ask the service manager (--no-systemd)")
        } else {
            Manager::Asked(Systemd::new(SYSTEMD_TIMEOUT))
        };
        let mut ctx = Context {
            discovery: Discovery::probe(&*fs, &global.app), // replaced below
            fs,
            app: global.app.clone(),
            systemd,
            parent: global.parent.clone(),
        };
        ctx.discovery = ctx.options().inspect(&*ctx.fs);
        Ok(ctx)
    }

    /// Where boxes go, as the library decides it for these options.
    pub fn options(&self) -> AppOptions<'_> {
        let mut options = App::options(&self.app).ask_systemd(&self.systemd);
        if let Some(home) = &self.parent {
            options = options.home(home);
        }
        options
    }

    /// Open the app for a new box; where a unit refuses, ask systemd for a
    /// scope of our own named after the box (unless --no-systemd or
    /// --root), and say so unless `quiet`.
    pub fn open_for_run(&self, box_name: &str, quiet: bool) -> cgbox::Result<App<SysFs>> {
        let app = self
            .options()
            .own_scope(box_name, format!("cgbox run {box_name}"))
            .open(self.fs.clone())?;
        if let Some(unit) = &app.placement().scope
            && !quiet
        {
            errln!(
                "cgbox: running in {unit}, a scope systemd delegates to cgbox (--no-systemd: refuse instead)"
            );
        }
        Ok(app)
    }

    /// Where the boxes go, or discovery's error.
    pub fn placement(&self) -> cgbox::Result<Placement> {
        self.discovery.require_placement()
    }

    /// The app at the home discovery found, if it exists; nothing is made.
    pub fn existing_app(&self) -> cgbox::Result<Option<App<SysFs>>> {
        App::options(&self.app)
            .home(self.placement()?.home)
            .existing(self.fs.clone())
    }

    /// The app at the home discovery found, made where missing.
    pub fn app(&self) -> cgbox::Result<App<SysFs>> {
        App::options(&self.app)
            .home(self.placement()?.home)
            .open(self.fs.clone())
    }

    /// The box `name` of the app, opened by name (not owned).
    pub fn open_box(&self, name: &str) -> cgbox::Result<BoxRef<SysFs>> {
        cgbox::fs::validate_name(name)?;
        match self.existing_app()? {
            Some(app) => app.open_box(name),
            None => Err(cgbox::Error::new(cgbox::ErrorKind::NotFound, "open box")
                .with_detail(format!("no box named {name:?} in app {:?}", self.app))
                .with_hint("see `cgbox list`")),
        }
    }

    /// The cgroup2 mount point. When mountinfo names none (a bare fixture
    /// tree), `/sys/fs/cgroup`, said on stderr.
    pub fn mount(&self) -> PathBuf {
        match &self.discovery.mount {
            Some(m) => m.clone(),
            None => {
                errln!("cgbox: note: no cgroup2 mount found in mountinfo; assuming /sys/fs/cgroup");
                PathBuf::from("/sys/fs/cgroup")
            }
        }
    }

    /// `PATH` (relative to the mount, starting with `/`) or a box `NAME`.
    pub fn resolve(&self, target: &str) -> cgbox::Result<PathBuf> {
        if target.starts_with('/') {
            let rel = target.trim_start_matches('/');
            Ok(if rel.is_empty() {
                self.mount()
            } else {
                self.mount().join(rel)
            })
        } else {
            cgbox::fs::validate_name(target)?;
            Ok(self.placement()?.box_path(&self.app, target))
        }
    }

    /// `path` as `/proc/self/cgroup` would show it: relative to the mount.
    pub fn relative(&self, path: &Path) -> String {
        match path.strip_prefix(self.mount()) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Print an error the way every command does.
pub fn report(e: &cgbox::Error) {
    errln!("cgbox: {e}");
}
