//! The benchmark's own cgroup2 subtree, bind-mounted over `/sys/fs/cgroup`
//! in a private mount namespace, so that the peers (which hard-code
//! `/sys/fs/cgroup`, write to its `cgroup.subtree_control`, and pick cgroup
//! v1 when it is not cgroup2) work inside a directory this program made
//! and nowhere else.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD};
use rustix::mount::{MountPropagationFlags, UnmountFlags};

/// `CGROUP2_SUPER_MAGIC` from `linux/magic.h`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
pub const MOUNT: &str = "/sys/fs/cgroup";

fn is_cgroup2(path: &Path) -> Result<bool, String> {
    let st = rustix::fs::statfs(path).map_err(|e| format!("statfs {}: {e}", path.display()))?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

pub struct Sandbox {
    /// The fresh directory, as seen outside the bind mount.
    pub dir: PathBuf,
    mounted: bool,
}

impl Sandbox {
    /// Enter a private mount namespace, make `<parent>/cgbox-peers-<pid>`
    /// on cgroup2 and bind it over `/sys/fs/cgroup`. Refuses (and undoes
    /// what it did) unless both the directory and the result are cgroup2.
    pub fn enter(parent: &Path) -> Result<Sandbox, String> {
        if !is_cgroup2(parent)? {
            return Err(format!(
                "refusing to start: {} is not cgroup2 (statfs magic); pass the cgroup2 mount with --parent",
                parent.display()
            ));
        }
        unshare_ns()?;
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        let dir = parent.join(format!("cgbox-peers-{}", std::process::id()));
        rustix::fs::mkdir(&dir, rustix::fs::Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let mut sandbox = Sandbox {
            dir,
            mounted: false,
        };
        if !is_cgroup2(&sandbox.dir)? {
            return Err(format!(
                "refusing to start: {} is not cgroup2",
                sandbox.dir.display()
            ));
        }
        rustix::mount::mount_bind(&sandbox.dir, MOUNT)
            .map_err(|e| format!("bind {} over {MOUNT}: {e}", sandbox.dir.display()))?;
        sandbox.mounted = true;
        if !is_cgroup2(Path::new(MOUNT))? {
            return Err(format!(
                "refusing to start: {MOUNT} is not cgroup2 after the bind"
            ));
        }
        let root = mount_root(MOUNT)?;
        let name = sandbox
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?");
        if !root.ends_with(&format!("/{name}")) {
            return Err(format!(
                "refusing to start: {MOUNT} shows cgroup {root:?}, not our {name}"
            ));
        }
        Ok(sandbox)
    }

    /// Unmount, then kill and remove whatever is left in our directory.
    /// Returns the cgroups that had to be removed here (leaks of the run).
    pub fn leave(mut self) -> Vec<String> {
        self.unmount();
        let mut left = Vec::new();
        remove_tree(&self.dir, &self.dir, &mut left);
        left
    }

    fn unmount(&mut self) {
        if self.mounted {
            if let Err(e) = rustix::mount::unmount(MOUNT, UnmountFlags::DETACH) {
                eprintln!("peers: unmount {MOUNT}: {e}");
            }
            self.mounted = false;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.mounted {
            self.unmount();
            let mut left = Vec::new();
            remove_tree(&self.dir, &self.dir, &mut left);
        }
    }
}

/// The `root` field of the mountinfo line of `point` (the cgroup shown there).
fn mount_root(point: &str) -> Result<String, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&point)).then(|| f.get(3).map(|r| r.to_string()))?
        })
        .next_back()
        .ok_or_else(|| format!("{point} not in mountinfo"))
}

/// Kill, wait for and remove `dir` and everything below it, depth first;
/// every cgroup below `top` removed here is named in `left`.
pub fn remove_tree(top: &Path, dir: &Path, left: &mut Vec<String>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(top, &e.path(), left);
            }
        }
    }
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|t| t.contains("populated 1"))
        .unwrap_or(false)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    loop {
        match rustix::fs::unlinkat(CWD, dir, AtFlags::REMOVEDIR) {
            Ok(()) => break,
            Err(rustix::io::Errno::BUSY) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(rustix::io::Errno::NOENT) => break,
            Err(e) => {
                eprintln!("peers: rmdir {}: {e}", dir.display());
                break;
            }
        }
    }
    if dir != top {
        left.push(dir.strip_prefix(top).unwrap_or(dir).display().to_string());
    }
}

/// `unshare(CLONE_NEWNS)` while we are still single-threaded.
fn unshare_ns() -> Result<(), String> {
    // SAFETY: called first thing in main, before any thread exists, so no
    // other thread shares the fs struct or the mount namespace.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e} (run as root)"))
}
