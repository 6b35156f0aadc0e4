//! [`SysFs`]: the real backend, on rustix system calls.
//!
//! See the [example](crate::fs::SysFs#examples).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{Access, CgroupFs, Handle, check_component};
use crate::{Error, ErrorKind, Result};

/// `CGROUP2_SUPER_MAGIC` from `linux/magic.h`.
///
/// See the [example](crate::fs::SysFs#examples).
pub(crate) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The real backend.
///
/// [`SysFs::new`] works on the live system and refuses to open, and so to
/// write in, any directory that is not on cgroup2. [`SysFs::rooted`] treats
/// another directory as `/` (a fixture tree); only then is that check off.
/// Every open inside the cgroup tree is `O_CLOEXEC | O_NOFOLLOW` and
/// relative to a directory fd, walked one component at a time, so no
/// symlink is ever followed there. Two opens follow links on purpose, both
/// read-only: the root given to [`SysFs::new`] or [`SysFs::rooted`], and
/// host files such as `/proc/self/cgroup`, which sit behind the
/// `/proc/self` magic link.
///
/// # Examples
///
/// On a fixture tree (a directory treated as `/`):
///
/// ```
/// use std::path::Path;
/// use cgbox::fs::{CgroupFs, SysFs};
///
/// let tree = tempfile::tempdir()?;
/// std::fs::create_dir_all(tree.path().join("sys/fs/cgroup/job"))?;
/// std::fs::write(tree.path().join("sys/fs/cgroup/job/memory.current"), "4096\n")?;
/// let fs = SysFs::rooted(tree.path())?;
/// assert!(!fs.checks_magic());
/// assert_eq!(fs.root(), tree.path());
/// let job = fs.open_dir(Path::new("/sys/fs/cgroup/job"))?;
/// let mut buf = Vec::new();
/// fs.read_file(&job, "memory.current", &mut buf)?;
/// assert_eq!(buf, b"4096\n");
/// let _fd = job.fd(); // raw access, for spawning inside
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// On the live system it opens only cgroup2 (checked with `fstatfs`
/// against cgroup2's magic, `0x63677270`):
///
/// ```no_run
/// use std::path::Path;
/// use cgbox::fs::{CgroupFs, SysFs};
///
/// let fs = SysFs::new()?;
/// assert!(fs.checks_magic());
/// assert!(fs.open_dir(Path::new("/proc")).is_err()); // not cgroup2: refused
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug)]
pub struct SysFs {
    root: PathBuf,
    root_fd: OwnedFd,
    check_magic: bool,
    epoch: Instant,
}

/// An open cgroup directory of [`SysFs`].
///
/// See the [example](crate::fs::SysFs#examples).
#[derive(Debug)]
pub struct SysDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// A kept interface file of [`SysFs`].
///
/// See the [example](crate::fs::SysFs#examples).
#[derive(Debug)]
pub struct SysFile {
    fd: OwnedFd,
    path: PathBuf,
}

impl Handle for SysDir {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Handle for SysFile {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl SysDir {
    /// The directory fd, for callers that need raw access (spawning inside).
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The same directory opened anew (`openat(fd, ".")`): a handle that
    /// may outlive this one, with an open file description of its own, so
    /// that it never holds this one's `flock`.
    pub(crate) fn reopen(&self) -> Result<SysDir> {
        let fd = rfs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| Error::from_rustix("open cgroup directory", &self.path, e))?;
        Ok(SysDir {
            fd,
            path: self.path.clone(),
        })
    }
}

impl SysFile {
    /// The file fd.
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// How a checked directory's children are opened: on its mount, without
/// following any link.
const SAME_MOUNT: rfs::ResolveFlags = rfs::ResolveFlags::NO_XDEV
    .union(rfs::ResolveFlags::NO_SYMLINKS)
    .union(rfs::ResolveFlags::NO_MAGICLINKS)
    .union(rfs::ResolveFlags::BENEATH);

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

impl SysFs {
    /// The live system, rooted at `/`, writing only to cgroup2.
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn new() -> Result<SysFs> {
        SysFs::open_root(Path::new("/"), true)
    }

    /// Treat `dir` as `/` (for fixture trees). The cgroup2 check is off.
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn rooted(dir: impl AsRef<Path>) -> Result<SysFs> {
        SysFs::open_root(dir.as_ref(), false)
    }

    fn open_root(dir: &Path, check_magic: bool) -> Result<SysFs> {
        let root_fd = rfs::open(
            dir,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::from_rustix("open root", dir, e))?;
        Ok(SysFs {
            root: dir.to_path_buf(),
            root_fd,
            check_magic,
            epoch: Instant::now(),
        })
    }

    /// Whether this backend checks that directories are on cgroup2.
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn checks_magic(&self) -> bool {
        self.check_magic
    }

    /// The directory treated as `/`.
    ///
    /// See the [example](crate::fs::SysFs#examples).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_cgroup2(&self, fd: &OwnedFd, path: &Path) -> Result<()> {
        if !self.check_magic {
            return Ok(());
        }
        let st = rfs::fstatfs(fd).map_err(|e| Error::from_rustix("fstatfs", path, e))?;
        #[allow(clippy::unnecessary_cast)]
        if st.f_type as i64 != CGROUP2_SUPER_MAGIC {
            return Err(Error::new(ErrorKind::NotCgroup2, "open cgroup directory")
                .with_path(path)
                .with_detail(format!("filesystem magic {:#x} is not cgroup2", st.f_type))
                .with_hint("pass a directory on a cgroup2 mount (see /proc/self/mountinfo)"));
        }
        Ok(())
    }
}

/// See [`read_all`]: a short read below this many bytes is the whole file.
const SHORT_MEANS_END: usize = 2048;

fn read_all(fd: &OwnedFd, buf: &mut Vec<u8>) -> rustix::io::Result<()> {
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        let room = buf.capacity() - buf.len();
        // `spare_capacity` reads into the unused capacity and extends the
        // length by what was read.
        let n = rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?;
        // A short read of less than half a page has reached the end, so
        // the read that would return 0 is spared: a seq_file (cgroupfs,
        // /proc) fills the reader's buffer record by record from a
        // page-sized buffer, and stops short of the end only when that page
        // is full, which a record of under 2 KiB cannot leave at under
        // 2 KiB. (A longer short read may be such a full page: read on.)
        if n < room && n < SHORT_MEANS_END {
            return Ok(());
        }
    }
}

fn write_once(fd: &OwnedFd, data: &[u8], path: &Path) -> Result<()> {
    let n = rustix::io::write(fd, data).map_err(|e| Error::from_rustix("write", path, e))?;
    if n != data.len() {
        return Err(Error::new(ErrorKind::Other, "write")
            .with_path(path)
            .with_detail(format!("short write: {n} of {} bytes", data.len())));
    }
    Ok(())
}

impl CgroupFs for SysFs {
    type Dir = SysDir;
    type File = SysFile;
    /// Shared: a child started in a box and the box's wait for it poll
    /// the same pidfd (no duplicate to make and close).
    type Pidfd = Arc<OwnedFd>;

    fn read_host_file(&self, path: &Path) -> Result<Vec<u8>> {
        // Host files such as /proc/self/cgroup sit behind the /proc/self
        // magic link, so they are opened with links followed, read-only.
        let rel = path.strip_prefix("/").unwrap_or(path);
        let fd = rfs::openat(
            &self.root_fd,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::from_rustix("open", path, e))?;
        let mut buf = Vec::new();
        read_all(&fd, &mut buf).map_err(|e| Error::from_rustix("read", path, e))?;
        Ok(buf)
    }

    fn open_dir(&self, path: &Path) -> Result<SysDir> {
        let mut fd: Option<OwnedFd> = None;
        for component in path.components() {
            let name = match component {
                Component::RootDir | Component::CurDir => continue,
                Component::Normal(n) => n,
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(Error::new(ErrorKind::InvalidName, "open cgroup directory")
                        .with_path(path)
                        .with_detail("the path contains '..'"));
                }
            };
            let base = fd.as_ref().unwrap_or(&self.root_fd);
            let next = rfs::openat(base, name, DIR_FLAGS, Mode::empty())
                .map_err(|e| Error::from_rustix("open cgroup directory", path, e))?;
            fd = Some(next);
        }
        let fd = match fd {
            Some(fd) => fd,
            None => rfs::openat(&self.root_fd, ".", DIR_FLAGS, Mode::empty())
                .map_err(|e| Error::from_rustix("open cgroup directory", path, e))?,
        };
        self.check_cgroup2(&fd, path)?;
        Ok(SysDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    fn open_child(&self, dir: &SysDir, name: &str) -> Result<SysDir> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let open = |e| Error::from_rustix("open cgroup directory", &path, e);
        if self.check_magic {
            // The parent was checked to be cgroup2: a child reached without
            // crossing a mount is cgroup2 too, so openat2 with
            // RESOLVE_NO_XDEV spares the fstatfs. Where openat2 is missing
            // (before 5.6) or filtered out, open and check.
            match rfs::openat2(&dir.fd, name, DIR_FLAGS, Mode::empty(), SAME_MOUNT) {
                Ok(fd) => return Ok(SysDir { fd, path }),
                Err(e) if e == Errno::NOSYS || e == Errno::PERM => {}
                Err(e) if e == Errno::XDEV => {
                    return Err(Error::new(ErrorKind::NotCgroup2, "open cgroup directory")
                        .with_path(&path)
                        .with_detail("another file system is mounted there")
                        .with_hint("cgbox opens only cgroup2 directories"));
                }
                Err(e) => return Err(open(e)),
            }
        }
        let fd = rfs::openat(&dir.fd, name, DIR_FLAGS, Mode::empty()).map_err(open)?;
        self.check_cgroup2(&fd, &path)?;
        Ok(SysDir { fd, path })
    }

    fn make_child(&self, dir: &SysDir, name: &str) -> Result<()> {
        check_component(name, &dir.path)?;
        rfs::mkdirat(&dir.fd, name, Mode::from_raw_mode(0o755))
            .map_err(|e| Error::from_rustix("mkdir", &dir.path.join(name), e))
    }

    fn remove_child(&self, dir: &SysDir, name: &str) -> Result<()> {
        check_component(name, &dir.path)?;
        rfs::unlinkat(&dir.fd, name, AtFlags::REMOVEDIR)
            .map_err(|e| Error::from_rustix("rmdir", &dir.path.join(name), e))
    }

    fn child_names(&self, dir: &SysDir) -> Result<Vec<String>> {
        let mut reader =
            rfs::Dir::read_from(&dir.fd).map_err(|e| Error::from_rustix("list", &dir.path, e))?;
        let mut names = Vec::new();
        while let Some(entry) = reader.read() {
            let entry = entry.map_err(|e| Error::from_rustix("list", &dir.path, e))?;
            if entry.file_type() != rfs::FileType::Directory {
                continue;
            }
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn has_file(&self, dir: &SysDir, name: &str) -> Result<bool> {
        check_component(name, &dir.path)?;
        match rfs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::from_rustix("stat", &dir.path.join(name), e)),
        }
    }

    fn may_write(&self, dir: &SysDir, name: Option<&str>) -> bool {
        let target = name.unwrap_or(".");
        rfs::accessat(&dir.fd, target, rfs::Access::WRITE_OK, AtFlags::EACCESS).is_ok()
    }

    fn read_file(&self, dir: &SysDir, name: &str, buf: &mut Vec<u8>) -> Result<()> {
        check_component(name, &dir.path)?;
        // The file's path is made only for an error: a read is the open,
        // the read and the close, and no allocation (full stats read a
        // dozen files).
        let fd = rfs::openat(
            &dir.fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| Error::from_rustix("open", &dir.path.join(name), e))?;
        read_all(&fd, buf).map_err(|e| Error::from_rustix("read", &dir.path.join(name), e))
    }

    fn write_file(&self, dir: &SysDir, name: &str, data: &[u8]) -> Result<()> {
        let file = self.open_file(dir, name, Access::Write)?;
        write_once(&file.fd, data, &file.path)
    }

    fn open_file(&self, dir: &SysDir, name: &str, access: Access) -> Result<SysFile> {
        check_component(name, &dir.path)?;
        let path = dir.path.join(name);
        let mode = match access {
            Access::Read => OFlags::RDONLY,
            Access::Write => OFlags::WRONLY,
            Access::ReadWrite => OFlags::RDWR,
        };
        let fd = rfs::openat(
            &dir.fd,
            name,
            mode | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| Error::from_rustix("open", &path, e))?;
        Ok(SysFile { fd, path })
    }

    fn read_kept(&self, file: &SysFile, buf: &mut [u8]) -> Result<usize> {
        rustix::io::pread(&file.fd, buf, 0).map_err(|e| Error::from_rustix("read", &file.path, e))
    }

    fn write_kept(&self, file: &SysFile, data: &[u8]) -> Result<()> {
        write_once(&file.fd, data, &file.path)
    }

    fn wait_for_change(
        &self,
        file: &SysFile,
        exits: &mut Vec<Arc<OwnedFd>>,
        timeout: Duration,
    ) -> Result<bool> {
        poll_exits(Some(file), exits, timeout)
    }

    fn wait_for_exit(&self, exits: &mut Vec<Arc<OwnedFd>>, timeout: Duration) -> Result<bool> {
        if exits.is_empty() || timeout.is_zero() {
            return poll_exits(None, exits, timeout);
        }
        // A killed job ends within tens of microseconds, mostly on another
        // CPU: spin first (see crate::spin), then sleep for what is left of
        // the timeout. A failed look is left to the sleeping poll to report.
        let began = std::time::Instant::now();
        let mut looked_in_vain = false;
        let ended = crate::spin::until(timeout, || match poll_exits(None, exits, Duration::ZERO) {
            Ok(woke) => woke,
            Err(_) => {
                looked_in_vain = true;
                true
            }
        });
        if ended && !looked_in_vain {
            return Ok(true);
        }
        poll_exits(None, exits, timeout.saturating_sub(began.elapsed()))
    }

    fn pidfd_open(&self, pid: u32) -> Result<Arc<OwnedFd>> {
        let path = PathBuf::from(format!("/proc/{pid}"));
        let raw = i32::try_from(pid)
            .map_err(|_| Error::from_errno("pidfd_open", &path, Errno::SRCH.raw_os_error()))?;
        let pid = rustix::process::Pid::from_raw(raw)
            .ok_or_else(|| Error::from_errno("pidfd_open", &path, Errno::SRCH.raw_os_error()))?;
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .map(Arc::new)
            .map_err(|e| Error::from_rustix("pidfd_open", &path, e))
    }

    fn pidfd_kill(&self, pidfd: &Arc<OwnedFd>) -> Result<()> {
        rustix::process::pidfd_send_signal(&**pidfd, rustix::process::Signal::KILL)
            .map_err(|e| Error::from_rustix("pidfd_send_signal", Path::new("pidfd"), e))
    }

    fn read_xattr(&self, dir: &SysDir, name: &str) -> Result<Option<Vec<u8>>> {
        let mut buf = [0u8; 256];
        match rfs::fgetxattr(&dir.fd, name, &mut buf[..]) {
            Ok(n) => Ok(Some(buf.get(..n).unwrap_or(&[]).to_vec())),
            // Not set, or no xattr support for this name on this kernel.
            Err(Errno::NODATA | Errno::OPNOTSUPP) => Ok(None),
            Err(e) => Err(Error::from_rustix(format!("getxattr {name}"), &dir.path, e)),
        }
    }

    fn write_xattr(&self, dir: &SysDir, name: &str, value: &[u8]) -> Result<()> {
        rfs::fsetxattr(&dir.fd, name, value, rfs::XattrFlags::empty())
            .map_err(|e| Error::from_rustix(format!("setxattr {name}"), &dir.path, e))
    }

    fn try_lock(&self, dir: &SysDir) -> Result<bool> {
        match rfs::flock(&dir.fd, rfs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(Error::from_rustix("flock", &dir.path, e)),
        }
    }

    fn age(&self, dir: &SysDir) -> Result<Duration> {
        let st = rfs::fstat(&dir.fd).map_err(|e| Error::from_rustix("fstat", &dir.path, e))?;
        let then = Duration::new(
            u64::try_from(st.st_mtime).unwrap_or(0),
            u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(now.saturating_sub(then))
    }

    fn self_pid(&self) -> u32 {
        rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs()
    }

    fn euid(&self) -> u32 {
        rustix::process::geteuid().as_raw()
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// One `poll(2)` on the pidfds of `exits` (`POLLIN`: ended) and, when
/// given, on a kept `cgroup.events` (`POLLPRI`: changed since last read),
/// up to `timeout`. Ended pidfds leave `exits`. `Ok(false)`: nothing woke
/// the wait (or a signal cut it short: the caller re-reads and decides;
/// it holds the deadline).
fn poll_exits(
    file: Option<&SysFile>,
    exits: &mut Vec<Arc<OwnedFd>>,
    timeout: Duration,
) -> Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    // A timeout beyond what a timespec holds waits as long as one can.
    let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let watched = usize::from(file.is_some());
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(watched + exits.len());
    fds.extend(file.map(|f| PollFd::new(&f.fd, PollFlags::PRI)));
    fds.extend(exits.iter().map(|fd| PollFd::new(fd, PollFlags::IN)));
    let woke = match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(n) => n > 0,
        Err(Errno::INTR) => false,
        Err(e) => {
            let path = file.map_or(Path::new("pidfd"), |f| f.path.as_path());
            return Err(Error::from_rustix("poll", path, e));
        }
    };
    // Most looks (a spin's among them) find nothing ended: no list then.
    if !fds.iter().skip(watched).any(|p| !p.revents().is_empty()) {
        return Ok(woke);
    }
    let ended: Vec<bool> = fds
        .iter()
        .skip(watched)
        .map(|p| !p.revents().is_empty())
        .collect();
    drop(fds);
    let mut ended = ended.into_iter();
    exits.retain(|_| !ended.next().unwrap_or(false));
    Ok(woke)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_reads_writes_and_refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("sys/fs/cgroup/a")).unwrap();
        std::fs::write(tmp.path().join("sys/fs/cgroup/a/cgroup.procs"), "1\n").unwrap();
        std::os::unix::fs::symlink("/etc", tmp.path().join("sys/fs/cgroup/link")).unwrap();
        let fs = SysFs::rooted(tmp.path()).unwrap();
        let root = fs.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(fs.child_names(&root).unwrap(), vec!["a"]);
        let a = fs.open_child(&root, "a").unwrap();
        assert_eq!(
            super::super::read_string(&fs, &a, "cgroup.procs").unwrap(),
            "1\n"
        );
        assert!(fs.has_file(&a, "cgroup.procs").unwrap());
        assert!(!fs.has_file(&a, "memory.max").unwrap());
        // a symlink is never followed
        let e = fs.open_child(&root, "link").unwrap_err();
        // O_DIRECTORY|O_NOFOLLOW on a link: ENOTDIR (or ELOOP on some kernels)
        let refused = [Errno::NOTDIR.raw_os_error(), Errno::LOOP.raw_os_error()];
        assert!(e.errno().is_some_and(|n| refused.contains(&n)), "{e}");
        let e = fs.open_dir(Path::new("/sys/fs/cgroup/../..")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
        let e = fs
            .read_file(&a, "../a/cgroup.procs", &mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
        fs.make_child(&a, "b").unwrap();
        assert_eq!(
            fs.make_child(&a, "b").unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        fs.remove_child(&a, "b").unwrap();
        let kept = fs.open_file(&a, "cgroup.procs", Access::Read).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(fs.read_kept(&kept, &mut buf).unwrap(), 2);
        assert_eq!(
            fs.read_kept(&kept, &mut buf).unwrap(),
            2,
            "pread at 0 reads again"
        );
    }

    #[test]
    fn live_backend_refuses_non_cgroup2() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = SysFs::new().unwrap();
        let e = fs.open_dir(tmp.path()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotCgroup2, "{e}");
        assert!(e.to_string().contains("not cgroup2"), "{e}");
    }

    #[test]
    fn waiting_for_exits_sees_an_ended_job_and_times_out_on_a_live_one() {
        let fs = SysFs::rooted(Path::new("/")).unwrap();
        // Killed and reaped however the test ends.
        struct Reaped(std::process::Child);
        impl Drop for Reaped {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let live = Reaped(
            std::process::Command::new("/bin/sleep")
                .arg("1000")
                .spawn()
                .unwrap(),
        );
        let mut ends = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 0"])
            .spawn()
            .unwrap();
        let live_fd = fs.pidfd_open(live.0.id()).unwrap();
        let ends_fd = fs.pidfd_open(ends.id()).unwrap();
        // The live one alone: the spin gives up, the sleep times out, and
        // the pidfd stays to wait on.
        let mut exits = vec![Arc::clone(&live_fd)];
        let t = std::time::Instant::now();
        let timeout = Duration::from_millis(20);
        assert!(!fs.wait_for_exit(&mut exits, timeout).unwrap());
        assert!(t.elapsed() >= timeout, "returned after {:?}", t.elapsed());
        assert_eq!(exits.len(), 1);
        // With the one that ends: it is seen, dropped, and the live one kept.
        exits.push(Arc::clone(&ends_fd));
        assert!(
            fs.wait_for_exit(&mut exits, Duration::from_secs(10))
                .unwrap()
        );
        assert_eq!(exits.len(), 1);
        assert!(Arc::ptr_eq(&exits[0], &live_fd));
        assert!(ends.wait().unwrap().success());
        // A zero timeout only looks.
        let t = std::time::Instant::now();
        assert!(!fs.wait_for_exit(&mut exits, Duration::ZERO).unwrap());
        assert!(
            t.elapsed() < timeout,
            "a zero timeout took {:?}",
            t.elapsed()
        );
        drop(live);
    }
}
