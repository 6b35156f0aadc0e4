//! The raw-syscall floor, counted beside the contenders (not timed here:
//! `cargo bench` times it): what the kernel needs at least for an
//! operation, with nothing a library adds. The lifecycle is the floor of
//! `benches/cgbox.rs`: `mkdir`, open the directory, `clone3(CLONE_VM |
//! CLONE_CHILD_CLEARTID | CLONE_INTO_CGROUP)` straight into `execve`
//! (nothing else in the child), `cgroup.kill`, `waitpid`, `rmdir`, each
//! wait (for the exec, for the exit) as cgbox waits: a short spin first.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::peers::{CPU_MAX, MEMORY_MAX, PIDS_MAX};
#[cfg(target_arch = "x86_64")]
use crate::raw;
use crate::sandbox::MOUNT;

/// The floor's home, `/sys/fs/cgroup/floor`, open, with the controllers
/// its boxes need enabled on the way (as the tokio manager does).
pub struct Floor {
    home: OwnedFd,
    limits: bool,
    #[cfg(target_arch = "x86_64")]
    exec: raw::Exec,
}

fn open_dir(base: impl AsFd, name: &str) -> Result<OwnedFd, String> {
    rustix::fs::openat(
        base,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {name}: {e}"))
}

fn write_at(dir: impl AsFd, file: &str, value: &[u8]) -> Result<(), String> {
    let fd = rustix::fs::openat(dir, file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("open {file}: {e}"))?;
    rustix::io::write(&fd, value).map_err(|e| format!("write {file}: {e}"))?;
    Ok(())
}

impl Floor {
    pub fn new(limits: bool) -> Result<Floor, String> {
        let home = Path::new(MOUNT).join("floor");
        std::fs::create_dir_all(&home).map_err(|e| format!("mkdir floor: {e}"))?;
        if limits {
            for dir in [Path::new(MOUNT), &home] {
                std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory +pids")
                    .map_err(|e| format!("enable controllers: {e}"))?;
            }
        }
        Ok(Floor {
            home: open_dir(rustix::fs::CWD, &home.display().to_string())?,
            limits,
            #[cfg(target_arch = "x86_64")]
            exec: raw::Exec::new(&["/bin/sleep", "1000"]),
        })
    }

    /// `mkdir`, then each limit as open (relative to the home, through
    /// the new directory's name), write, close.
    pub fn create(&self, name: &str) -> Result<(), String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        if self.limits {
            let limit =
                |file: &str, value: &[u8]| write_at(&self.home, &format!("{name}/{file}"), value);
            limit("memory.max", MEMORY_MAX.to_string().as_bytes())?;
            limit("cpu.max", CPU_MAX.as_bytes())?;
            limit("pids.max", PIDS_MAX.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// One `rmdir`.
    pub fn remove(&self, name: &str) -> Result<(), String> {
        rustix::fs::unlinkat(&self.home, name, AtFlags::REMOVEDIR)
            .map_err(|e| format!("rmdir: {e}"))
    }

    /// mkdir and open a box.
    pub fn make(&self, name: &str) -> Result<OwnedFd, String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        open_dir(&self.home, name)
    }

    /// The lifecycle, each step timed (ns): mkdir + open, clone3 + exec,
    /// cgroup.kill + waitpid, close + rmdir, 0 (no separate reap), all.
    /// Each wait as cgbox waits, or with `sleeping` as cgbox waited until
    /// Dec 2026: the parent asleep in `clone3` until the exec
    /// (`CLONE_VFORK`, as `posix_spawn` waits) and in `waitpid` at once.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle_steps(&self, name: &str, sleeping: bool) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let t1 = Instant::now();
        let pid = match sleeping {
            true => raw::spawn_vfork(dir.as_fd(), &self.exec)?,
            false => raw::spawn(dir.as_fd(), &self.exec)?,
        };
        self.kill_and_remove(name, dir, [t, t1], || raw::reap(pid, !sleeping))
    }

    /// The lifecycle with the job moving itself: mkdir + open (and open
    /// cgroup.procs) | clone3 without CLONE_INTO_CGROUP, the child writes
    /// "0" to cgroup.procs, then exec | cgroup.kill + waitpid | close +
    /// rmdir. The other way to keep a job from ever running outside its
    /// box, shown beside the two others.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle_steps_self_moved(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let procs = rustix::fs::openat(
            &dir,
            "cgroup.procs",
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("open cgroup.procs: {e}"))?;
        let t1 = Instant::now();
        let pid = raw::spawn_moving_itself(procs.as_fd(), &self.exec)?;
        drop(procs);
        self.kill_and_remove(name, dir, [t, t1], || raw::reap(pid, true))
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle_steps_self_moved(&self, _name: &str) -> Result<[f64; 6], String> {
        Err("the clone3 floor is x86_64 only".into())
    }

    /// The lifecycle as the peers start a job: mkdir + open | std spawn
    /// (posix_spawn) + the PID written to cgroup.procs | cgroup.kill +
    /// waitpid | close + rmdir.
    pub fn lifecycle_steps_spawned(&self, name: &str) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t = Instant::now();
        let dir = self.make(name)?;
        let t1 = Instant::now();
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("1000")
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        write_at(&dir, "cgroup.procs", child.id().to_string().as_bytes())?;
        self.kill_and_remove(name, dir, [t, t1], || {
            child.wait().map(drop).map_err(|e| format!("waitpid: {e}"))
        })
    }

    /// The lifecycle's end, once the job runs in `dir`: cgroup.kill, `reap`,
    /// close + rmdir; the six timings from `t` (start) and `t1` (made).
    fn kill_and_remove(
        &self,
        name: &str,
        dir: OwnedFd,
        [t, t1]: [std::time::Instant; 2],
        reap: impl FnOnce() -> Result<(), String>,
    ) -> Result<[f64; 6], String> {
        use std::time::Instant;
        let t2 = Instant::now();
        write_at(&dir, "cgroup.kill", b"1")?;
        reap()?;
        let t3 = Instant::now();
        drop(dir);
        self.remove(name)?;
        let t4 = Instant::now();
        let d = |a: Instant, b: Instant| (b - a).as_nanos() as f64;
        Ok([d(t, t1), d(t1, t2), d(t2, t3), d(t3, t4), 0.0, d(t, t4)])
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle_steps(&self, _name: &str, _sleeping: bool) -> Result<[f64; 6], String> {
        Err("the clone3 floor is x86_64 only".into())
    }

    /// mkdir, open, clone3 into it + exec, cgroup.kill, waitpid, rmdir.
    #[cfg(target_arch = "x86_64")]
    pub fn lifecycle(&self, name: &str) -> Result<(), String> {
        rustix::fs::mkdirat(&self.home, name, Mode::from_raw_mode(0o755))
            .map_err(|e| format!("mkdir: {e}"))?;
        let dir = open_dir(&self.home, name)?;
        let pid = raw::spawn(dir.as_fd(), &self.exec)?;
        write_at(&dir, "cgroup.kill", b"1")?;
        // We are the parent: once waitpid returns, the cgroup is empty.
        raw::reap(pid, true)?;
        drop(dir);
        self.remove(name)
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn lifecycle(&self, _name: &str) -> Result<(), String> {
        Err("the clone3 floor is x86_64 only".into())
    }
}

/// Full stats at the floor: open, one read, close, for each file of
/// cgbox's list that exists in `dir` (found before the count starts).
pub fn read_files(dir: &OwnedFd, files: &[&str], buf: &mut [u8]) -> u64 {
    let mut n = 0;
    for f in files {
        if let Ok(fd) = rustix::fs::openat(dir, *f, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        {
            n += rustix::io::read(&fd, &mut *buf).unwrap_or(0) as u64;
        }
    }
    n
}

/// The hot sample at the floor: one `pread` per kept file.
pub fn pread_all(files: &[OwnedFd], buf: &mut [u8]) -> u64 {
    files
        .iter()
        .map(|fd| rustix::io::pread(fd, &mut *buf, 0).unwrap_or(0) as u64)
        .sum()
}

/// Open `dir`'s files among `names` that exist.
pub fn open_existing(dir: &Path, names: &[&'static str]) -> (OwnedFd, Vec<&'static str>) {
    let fd = open_dir(rustix::fs::CWD, &dir.display().to_string()).expect("open the box");
    let there = names
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    (fd, there)
}

/// The files `Stats::read` reads, in its order: what the floor reads with
/// one `openat`, `read` and `close` each.
pub const STATS_FILES: [&str; 22] = [
    "cgroup.events",
    "cgroup.stat",
    "cpu.stat",
    "memory.current",
    "memory.peak",
    "memory.max",
    "memory.high",
    "memory.events",
    "memory.events.local",
    "memory.stat",
    "memory.swap.current",
    "memory.swap.peak",
    "memory.swap.max",
    "pids.current",
    "pids.peak",
    "pids.max",
    "pids.events",
    "io.stat",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
    "irq.pressure",
];
