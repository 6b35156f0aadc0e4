//! [`AppOptions`]: how the home of an app's boxes is found.

use std::path::PathBuf;
use std::sync::Arc;

use super::App;
use crate::fs::{CgroupFs, validate_name};
use crate::home::{Locate, Placement, resolve};
use crate::systemd::ServiceManager;
use crate::{Discovery, Result};

/// How to open an [`App`]: where its boxes go is decided here, in one
/// place, for every caller (the CLI's `run`, `inspect` and box commands
/// included).
///
/// By default the home is the cgroup delegated to this process, found
/// without asking anyone; a unit of systemd's that does not delegate is
/// refused with the fix. [`AppOptions::ask_systemd`] lets cgbox ask the
/// user manager about its units, and [`AppOptions::own_scope`] lets a
/// refused process ask systemd for a scope of its own. [`AppOptions::home`]
/// names the home instead.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{App, HomeKind};
///
/// let fake = Arc::new(FakeFs::new());
/// fake.mkdir_p("services/runner")?;
/// let options = App::options("ci").home("/sys/fs/cgroup/services/runner");
/// assert_eq!(options.placement(&*fake)?.kind, HomeKind::Explicit);
/// assert!(options.existing(fake.clone())?.is_none(), "nothing made yet");
/// let app = options.open(fake.clone())?;
/// assert_eq!(app.agents_path().to_str(), Some("/sys/fs/cgroup/services/runner/ci/agents"));
/// assert!(options.existing(fake.clone())?.is_some());
/// assert!(options.inspect(&*fake).usable());
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Clone)]
pub struct AppOptions<'a> {
    name: String,
    home: Option<PathBuf>,
    systemd: Option<&'a dyn ServiceManager>,
    own_scope: Option<(String, String)>,
}

impl std::fmt::Debug for AppOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOptions")
            .field("name", &self.name)
            .field("home", &self.home)
            .field("systemd", &self.systemd.is_some())
            .field("own_scope", &self.own_scope)
            .finish()
    }
}

impl<'a> AppOptions<'a> {
    pub(crate) fn new(name: &str) -> AppOptions<'a> {
        AppOptions {
            name: name.to_owned(),
            home: None,
            systemd: None,
            own_scope: None,
        }
    }

    /// Use this absolute cgroup directory as the home of the boxes instead
    /// of finding the delegated one. The caller vouches that it may manage
    /// it.
    ///
    /// See the [example](AppOptions#examples).
    pub fn home(mut self, home: impl Into<PathBuf>) -> AppOptions<'a> {
        self.home = Some(home.into());
        self
    }

    /// Ask `systemd` whether a unit of the user manager delegates its
    /// cgroup, where the cgroup carries no mark (systemd 252's user manager
    /// marks nothing).
    ///
    /// See the [example](crate::ServiceManager#examples) of [`ServiceManager`].
    pub fn ask_systemd(mut self, systemd: &'a dyn ServiceManager) -> AppOptions<'a> {
        self.systemd = Some(systemd);
        self
    }

    /// Where a unit refuses (it does not delegate), ask systemd (given with
    /// [`AppOptions::ask_systemd`]) for a scope of our own with
    /// `Delegate=yes`, `cgbox-<label>.scope`, that holds this process, in
    /// the refused unit's slice and ending with it; boxes then go there. A
    /// unit with limits of its own (`memory.max`, `memory.high`, `cpu.max`,
    /// `io.max`) is not left: its jobs would escape them.
    ///
    /// See the [example](crate::Systemd#examples) of [`Systemd`](crate::Systemd).
    pub fn own_scope(
        mut self,
        label: impl Into<String>,
        description: impl Into<String>,
    ) -> AppOptions<'a> {
        self.own_scope = Some((label.into(), description.into()));
        self
    }

    fn locate(&self) -> Locate<'_> {
        Locate {
            home: self.home.as_deref(),
            systemd: self.systemd,
            own_scope: self
                .own_scope
                .as_ref()
                .map(|(l, d)| (l.as_str(), d.as_str())),
        }
    }

    /// Where the boxes go, and why; a refusal is a typed error with the
    /// fix. With [`AppOptions::own_scope`], this may move the process into
    /// a scope of its own.
    ///
    /// See the [example](AppOptions#examples).
    pub fn placement<F: CgroupFs + ?Sized>(&self, fs: &F) -> Result<Placement> {
        validate_name(&self.name)?;
        resolve(fs, &self.locate())
    }

    /// Find the home and open `<home>/<app>/agents`, making what is
    /// missing.
    ///
    /// See the [example](AppOptions#examples).
    pub fn open<F: CgroupFs>(&self, fs: Arc<F>) -> Result<App<F>> {
        let placement = self.placement(&*fs)?;
        App::open_at(fs, placement, &self.name)
    }

    /// Find the home and open `<home>/<app>/agents` if it exists, making
    /// nothing.
    ///
    /// See the [example](AppOptions#examples).
    pub fn existing<F: CgroupFs>(&self, fs: Arc<F>) -> Result<Option<App<F>>> {
        let placement = self.placement(&*fs)?;
        App::existing_at(fs, placement, &self.name)
    }

    /// The inspection report for these options: where boxes would go and
    /// what they could be given (never moves the process).
    ///
    /// See the [example](AppOptions#examples).
    pub fn inspect<F: CgroupFs>(&self, fs: &F) -> Discovery {
        let mut locate = self.locate();
        locate.own_scope = None;
        Discovery::run(fs, &locate, &self.name)
    }
}
