//! What the box commands share: the backend, discovery, and naming boxes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use cgbox::discover::{Discovery, Probe};
use cgbox::fs::SysFs;
use cgbox::placement::Placement;
use cgbox::systemd_scope::ManagerOracle;

use crate::Global;

/// The backend and what discovery found.
pub struct Context {
    pub fs: Arc<SysFs>,
    pub discovery: Discovery,
    pub app: String,
}

/// How long one exchange with systemd may take (a start job in a slow VM
/// takes most of a second).
pub const SYSTEMD_TIMEOUT: Duration = Duration::from_secs(30);

impl Context {
    pub fn new(global: &Global) -> cgbox::Result<Context> {
        Context::probe(global, None)
    }

    /// Discovery again, after this process was moved into `unit`, a scope
    /// systemd delegates to it.
    pub fn in_scope(global: &Global, unit: &str) -> cgbox::Result<Context> {
        Context::probe(global, Some(unit))
    }

    fn probe(global: &Global, trusted: Option<&str>) -> cgbox::Result<Context> {
        let fs = global.fs()?;
        let mut oracle = ManagerOracle::new(SYSTEMD_TIMEOUT);
        if let Some(unit) = trusted {
            oracle = oracle.trusting(unit);
        }
        let mut probe = Probe::new(&global.app).parent(global.parent.as_deref());
        if global.asks_systemd() {
            probe = probe.oracle(&oracle);
        }
        let discovery = probe.run(&fs);
        Ok(Context {
            fs: Arc::new(fs),
            discovery,
            app: global.app.clone(),
        })
    }

    /// The home of `<app>/agents/`, or discovery's error.
    pub fn parent(&self) -> cgbox::Result<&Path> {
        self.discovery.require_parent()
    }

    /// Where the boxes go, or discovery's error.
    pub fn placement(&self) -> cgbox::Result<Placement> {
        self.discovery.require_placement()
    }

    /// The app's directories, if they exist; nothing is made.
    pub fn existing_app(&self) -> cgbox::Result<Option<cgbox::App<SysFs>>> {
        cgbox::App::existing(self.fs.clone(), self.placement()?, &self.app)
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
            Ok(self
                .parent()?
                .join(&self.app)
                .join(cgbox::jobbox::AGENTS)
                .join(target))
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
