//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../../src/testkit.rs"]
mod testkit;
#[allow(unused_imports)] // each test binary uses some
pub use testkit::{Rng, fixtures, mutate, required, skip};

/// A copy of the fixture tree `fixtures/<rel>` in a temporary directory owned
/// by whoever runs the tests, removed on drop.
///
/// Discovery judges a tree the way it judges a real cgroup: by its owner and
/// its write bits. Probed in place, a checkout owned by another user (a CI
/// clone made by root, a shared machine) reads as "not delegated to this
/// user" or "no write permission", and the layouts' expectations (written
/// for the owner) fail for reasons that have nothing to do with discovery.
/// The copy keeps each file's mode bits and copies symlinks as symlinks.
pub struct FixtureCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl FixtureCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a `&str`, for command lines (`--root DIR`).
    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("temporary paths are UTF-8")
    }
}

pub fn fixture_copy(rel: &str) -> FixtureCopy {
    let from = fixtures().join(rel);
    let dir = tempfile::Builder::new()
        .prefix("cgbox-fixture.")
        .tempdir()
        .unwrap();
    let path = dir.path().join(from.file_name().unwrap());
    copy_tree(&from, &path)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), path.display()));
    FixtureCopy { _dir: dir, path }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())
    } else {
        // std::fs::copy keeps the mode bits.
        std::fs::copy(from, to).map(drop)
    }
}

/// The running kernel's release (`/proc/sys/kernel/osrelease`), trimmed.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The running kernel's `(major, minor)`; `(0, 0)` when unreadable.
pub fn kernel_version() -> (u32, u32) {
    let release = kernel_release();
    let mut parts = release.split(['.', '-', '+']);
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

/// True when the running kernel is `major.minor` or newer.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    kernel_version() >= (major, minor)
}

/// The app tree (`<home>/<app>/agents`) outlives the boxes by design: a test
/// that makes boxes of its own app removes the tree when it ends, also when
/// an assertion fails, with whatever the test left in it: processes are
/// killed the way this kernel allows (`KillMethod::Auto`: a box made with
/// a forced `cgroup.kill` on 5.10 is still full), then every cgroup is
/// removed. So a failed test leaves nothing for the next one to trip over.
pub struct AppTree {
    pub fs: std::sync::Arc<cgbox::fs::SysFs>,
    pub app: String,
}

impl Drop for AppTree {
    fn drop(&mut self) {
        // Through the public API, as a user would: every box destroyed
        // (killed the way this kernel allows, then removed with whatever
        // the job nested inside), then the app tree.
        let app = match cgbox::App::options(&self.app).existing(self.fs.clone()) {
            Ok(Some(app)) => app,
            Ok(None) => return, // nothing left
            Err(e) => return eprintln!("cleanup: open {}: {e}", self.app),
        };
        match app.list() {
            Ok(listing) => {
                for b in listing.boxes {
                    if let Err(e) = app.open_box(&b.name).and_then(|b| b.destroy()) {
                        eprintln!("cleanup: destroy {}/{}: {e}", self.app, b.name);
                    }
                }
                for odd in listing.odd {
                    eprintln!("cleanup: {}/{}: {}", self.app, odd.name, odd.why);
                }
            }
            Err(e) => eprintln!("cleanup: list {}: {e}", self.app),
        }
        if let Err(e) = app.remove() {
            eprintln!("cleanup: remove {}: {e}", self.app);
        }
    }
}

/// Make a box with `builder` forcing `method`. A forced `cgroup.kill` on a
/// kernel without it (before 5.14) must be refused when the box is made,
/// with the typed error naming the version it needs and no box left
/// behind; this asserts that and returns `None`, saying so in the output.
/// Every other case returns the box.
pub fn create_forcing(
    fs: &std::sync::Arc<cgbox::fs::SysFs>,
    agents: &Path,
    builder: cgbox::Builder,
    method: cgbox::KillMethod,
) -> Option<cgbox::JobBox<cgbox::fs::SysFs>> {
    let before = child_dirs(agents);
    let result = builder.kill_method(method).create(fs.clone());
    if method != cgbox::KillMethod::CgroupKill || kernel_at_least(5, 14) {
        return Some(result.expect("the box is made"));
    }
    let e = match result {
        Ok(b) => panic!(
            "{}: a forced cgroup.kill was accepted on {}",
            b.name(),
            kernel_release()
        ),
        Err(e) => e,
    };
    assert_eq!(e.kind(), cgbox::ErrorKind::Unsupported, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("needs Linux 5.14") && text.contains(&kernel_release()),
        "{text}"
    );
    assert_eq!(child_dirs(agents), before, "no box left behind: {text}");
    eprintln!(
        "{}: a forced cgroup.kill is refused at creation, as asserted",
        kernel_release()
    );
    None
}

/// Kill every process in the cgroup `dir` and below, the way every kernel
/// of the matrix allows (freeze, SIGKILL each listed process, thaw), wait
/// until the kernel says it is empty, and remove the cgroups: for the raw
/// cgroups a test made by hand (boxes are ended through the library).
pub fn kill_and_remove(dir: &Path) {
    use std::time::{Duration, Instant};
    if !dir.exists() {
        return;
    }
    let _ = std::fs::write(dir.join("cgroup.freeze"), "1");
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(d) = all.get(i).cloned() {
        all.extend(child_dirs(&d).into_iter().map(|c| d.join(c)));
        i += 1;
    }
    for d in &all {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|e| e.lines().any(|l| l == "populated 1"))
    {
        assert!(Instant::now() < deadline, "{} did not empty", dir.display());
        std::thread::sleep(Duration::from_millis(5)); // a bounded wait on a state
    }
    remove_cgroups(dir);
}

/// Remove the cgroup `dir` and every cgroup below it, deepest first: the
/// raw cgroups a test made by hand, once the processes it put there are
/// reaped (then `rmdir` succeeds at once).
pub fn remove_cgroups(dir: &Path) {
    for child in child_dirs(dir) {
        remove_cgroups(&dir.join(child));
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        panic!("rmdir {}: {e}", dir.display());
    }
}

/// The directories in `dir` (in a cgroup: its child cgroups), sorted;
/// none when `dir` cannot be read.
fn child_dirs(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The live system, for a test with an app of its own.
pub struct Live {
    pub fs: std::sync::Arc<cgbox::fs::SysFs>,
    pub app: String,
    pub discovery: cgbox::Discovery,
    /// The app's tree, removed when the test ends, also on failure.
    pub tree: AppTree,
}

/// `BIN --app APP ARGS...`, stdin from `/dev/null`, its output collected:
/// how the command-line tool's tests run it in their app (BIN is the CLI
/// package's `env!("CARGO_BIN_EXE_cgbox")`, which only that package has).
pub fn cgbox_in(bin: &str, app: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin)
        .args(["--app", app])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The live system with the app `<prefix>-<test>-<pid>` when boxes can be
/// made here, else `None` (said through [`skip`]).
pub fn live(prefix: &str, test: &str) -> Option<Live> {
    let app = format!("{prefix}-{test}-{}", std::process::id());
    let why = match cgbox::fs::SysFs::new() {
        Err(e) => format!("cannot open /: {e}"),
        Ok(fs) => {
            let discovery = cgbox::Discovery::probe(&fs, &app);
            if discovery.usable() {
                let fs = std::sync::Arc::new(fs);
                let tree = AppTree {
                    fs: fs.clone(),
                    app: app.clone(),
                };
                return Some(Live {
                    fs,
                    app,
                    discovery,
                    tree,
                });
            }
            format!("no writable cgroup2 here: {:?}", discovery.problems)
        }
    };
    skip(test, &why);
    None
}

/// A CLI test's own app: its name, its directory `<home>/<app>`, and, when
/// it lives at the home discovery finds, its tree, killed and removed with
/// whatever boxes and processes the test left, also when an assertion
/// fails. `<app>` and `agents` outlive the boxes by design; the test
/// removes them when it ends.
pub struct TestApp {
    pub app: String,
    pub dir: PathBuf,
    tree: Option<AppTree>,
}

impl TestApp {
    /// The app `<prefix>-<test>-<pid>` at the home discovery finds, when
    /// boxes can be made here; else `None`, said through [`skip`].
    pub fn at_home(prefix: &str, test: &str) -> Option<TestApp> {
        let live = live(prefix, test)?;
        let dir = live.discovery.home()?.join(&live.app);
        Some(TestApp {
            app: live.app,
            dir,
            tree: Some(live.tree),
        })
    }

    /// The app `app` at an explicit parent, removed (when empty) at the end.
    pub fn at(parent: &Path, app: &str) -> TestApp {
        TestApp {
            app: app.to_owned(),
            dir: parent.join(app),
            tree: None,
        }
    }

    /// The boxes left in the app.
    pub fn boxes(&self) -> Vec<String> {
        child_dirs(&self.dir.join("agents"))
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The tree's own Drop kills and removes what is left.
        drop(self.tree.take());
        let _ = std::fs::remove_dir(self.dir.join("agents"));
        let _ = std::fs::remove_dir(&self.dir);
    }
}
