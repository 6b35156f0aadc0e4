//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A small deterministic PRNG (xorshift64*), so that every "random" test
/// is reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Corrupt `input` one of several ways: truncate, flip a byte, insert a
/// huge number, drop the newlines, duplicate a line, insert junk bytes.
pub fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    match rng.below(8) {
        0 => v.truncate(rng.below(v.len() + 1)),
        1 => {
            if !v.is_empty() {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(v.len() + 1);
            v.splice(i..i, b"184467440737095516159999".iter().copied());
        }
        3 => v.retain(|&b| b != b'\n'),
        4 => {
            let text = String::from_utf8_lossy(&v).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let l = lines[rng.below(lines.len())];
                v.extend_from_slice(l.as_bytes());
                v.push(b'\n');
            }
        }
        5 => v.clear(),
        6 => {
            let i = rng.below(v.len() + 1);
            let junk = [0u8, 0xff, b'=', b' ', b':', b'-', b'\\', b'/'];
            v.insert(i, junk[rng.below(junk.len())]);
        }
        _ => {
            if !v.is_empty() {
                let i = rng.below(v.len());
                let alphabet = b"0123456789 \n=:";
                v[i] = alphabet[rng.below(alphabet.len())];
            }
        }
    }
    v
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

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
        use cgbox::fs::{Access, CgroupFs};
        use std::time::Duration;
        let fs = &*self.fs;
        let Ok(placement) = cgbox::discover::Discovery::probe(fs, &self.app).require_placement()
        else {
            return;
        };
        let Ok(home) = fs.open_dir(&placement.home) else {
            return;
        };
        let Ok(dir) = fs.open_child(&home, &self.app) else {
            return; // nothing left
        };
        let deadline = fs.now() + Duration::from_secs(20);
        if let Err(e) = cgbox::kill::kill(fs, &dir, cgbox::kill::KillMethod::Auto, deadline) {
            eprintln!("cleanup: kill {}: {e}", self.app);
        }
        if let Ok(events) = fs.open_file(&dir, "cgroup.events", Access::Read)
            && let Err(e) = cgbox::kill::wait_until_empty(fs, &events, &mut Vec::new(), deadline)
        {
            eprintln!("cleanup: wait {}: {e}", self.app);
        }
        if let Err(e) = cgbox::kill::remove_tree(fs, &home, &self.app, deadline) {
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
    method: cgbox::kill::KillMethod,
) -> Option<cgbox::JobBox<cgbox::fs::SysFs>> {
    let before = child_dirs(agents);
    let result = builder.kill_method(method).create(fs.clone());
    if method != cgbox::kill::KillMethod::CgroupKill || kernel_at_least(5, 14) {
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

/// True when this run must prove things on a real cgroup2
/// (`CGBOX_REQUIRE_REAL_CGROUP=1`, as the VM suite sets it).
pub fn required() -> bool {
    std::env::var("CGBOX_REQUIRE_REAL_CGROUP").as_deref() == Ok("1")
}

/// Say why `test` cannot run here; under `CGBOX_REQUIRE_REAL_CGROUP=1` that
/// is a failure.
pub fn skip(test: &str, why: &str) {
    assert!(!required(), "CGBOX_REQUIRE_REAL_CGROUP=1 but {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// The live system, for a test with an app of its own.
pub struct Live {
    pub fs: std::sync::Arc<cgbox::fs::SysFs>,
    pub app: String,
    pub discovery: cgbox::discover::Discovery,
    /// The app's tree, removed when the test ends, also on failure.
    pub tree: AppTree,
}

/// The live system with the app `<prefix>-<test>-<pid>` when boxes can be
/// made here, else `None` (said through [`skip`]).
pub fn live(prefix: &str, test: &str) -> Option<Live> {
    let app = format!("{prefix}-{test}-{}", std::process::id());
    let why = match cgbox::fs::SysFs::new() {
        Err(e) => format!("cannot open /: {e}"),
        Ok(fs) => {
            let discovery = cgbox::discover::Discovery::probe(&fs, &app);
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
        let dir = live.discovery.parent.clone()?.join(&live.app);
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
