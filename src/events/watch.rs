//! [`Events`]: the watcher, on the real backend.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::aio::{self, Aio};
use super::state::{State, changes};
use super::{Event, Trigger};
use crate::fs::{Access, CgroupFs, Handle, SysFs};
use crate::{Error, ErrorKind, Result};

type SysDir = <SysFs as CgroupFs>::Dir;
type SysFile = <SysFs as CgroupFs>::File;

/// Tokens of the epoll set: 0, 1 and 2 are the event files, in the
/// order of `Events::files`; then these.
const PARENT: u64 = 3;
const COMPLETIONS: u64 = 4;
/// Trigger `i` polled in the epoll set itself (the fallback): `TRIGGER + i`.
const TRIGGER: u64 = 16;
/// Room for any of the event files (`memory.events` is ~120 bytes).
const BUF: usize = 4096;
/// The longest single wait: a longer timeout is waited in steps (a wait
/// beyond `i32` milliseconds would need `epoll_pwait2`, which 5.10 lacks).
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// A watcher of one box's events, from
/// [`BoxRef::events`](crate::BoxRef::events).
///
/// [`Events::next`] waits (no thread, no spinning) and returns one
/// [`Event`] at a time; what one wake brings (an OOM kill and the box
/// becoming empty, say) is queued and returned by the next calls. Add PSI
/// triggers with [`Events::trigger`]. The events are the changes after the
/// watcher was made: [`Events::is_populated`] and [`Events::is_frozen`]
/// give the state they start from. When the box is removed the watcher
/// says [`Event::Gone`] and then nothing more: `next` returns an error of
/// kind [`ErrorKind::NotFound`].
///
/// Counted events (OOM kills, limits hit, forks refused) are never lost:
/// the counters are compared with the last read. Populated, empty, frozen
/// and thawed are changes of `cgroup.events` between two reads: the kernel
/// signals each change, but at most once every 10 ms or so, so a job that
/// starts and ends between two reads (a command of a millisecond, soon
/// after another change) leaves the state as it was and brings neither
/// event. A box seen populated is always seen to empty. So a watcher
/// made before the job starts counts everything the job does, and the
/// job's end is best known from its process (`BoxChild::wait`); a watcher
/// made after it started says [`Events::is_populated`] false if it has
/// already ended, and [`Event::Empty`] when it ends.
///
/// The watcher is one file descriptor ([`AsFd`]): an epoll descriptor that
/// turns readable when something may have happened, so it fits `poll`,
/// `epoll`, mio and tokio's `AsyncFd`: wait for it to be readable, then
/// call `next(Duration::ZERO)` until it returns `None`. Nothing is lost
/// by polling it from outside: the counter files are re-read and compared
/// at each call, and PSI firings are handed over by the kernel through an
/// AIO poll request (Linux AIO, in every kernel cgbox supports) rather
/// than by the trigger's own descriptor, whose firing any poll of it would
/// clear. Where AIO cannot be had (an architecture other than x86_64,
/// aarch64 and riscv64, a kernel without `CONFIG_AIO`, `fs.aio-max-nr`
/// used up), trigger descriptors go in the epoll set instead, and a
/// firing is seen only by a `next` that does the waiting itself.
///
/// Only on the real backend ([`SysFs`]): the watcher is made of kernel
/// objects (kept interface files, epoll, inotify, an AIO context) that
/// the fake has no counterpart of.
///
/// # Examples
///
/// An agent manager's loop: start the tool call in its box, tell the model
/// what happens to it.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cgbox::fs::SysFs;
/// use cgbox::{BoxCommand, Builder, Event, Limits, Resource, Size, Trigger};
///
/// let fs = Arc::new(SysFs::new()?);
/// let job = Builder::new()
///     .limits(Limits::new().memory_max(Size::parse("512M")?).pids_max(64))
///     .create(fs)?;
/// let mut events = job.events()?;
/// assert!(!events.is_populated() && !events.is_frozen());
/// // Wake when the tool stalled on memory for 200 ms within 2 s.
/// events.trigger(Trigger::some(Resource::Memory, Duration::from_millis(200), Duration::from_secs(2)))?;
/// let mut child = job.start(&BoxCommand::new("make").arg("-j8"))?;
/// while let Some(event) = events.next(Duration::from_secs(600))? {
///     match event {
///         Event::OomKill { count } => eprintln!("OOM-killed at 512 MiB ({count} processes)"),
///         Event::Pressure(t) => eprintln!("memory is tight: {t}"),
///         Event::Empty => break, // the tool call is over
///         other => eprintln!("{other}"),
///     }
/// }
/// child.wait()?;
/// job.destroy()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Under an event loop, the descriptor says when to call `next`:
///
/// ```no_run
/// use std::os::fd::AsFd;
/// use std::time::Duration;
/// use rustix::event::{PollFd, PollFlags, poll};
/// # fn watch(events: &mut cgbox::Events) -> Result<(), Box<dyn std::error::Error>> {
/// loop {
///     let mut fds = [PollFd::from_borrowed_fd(events.as_fd(), PollFlags::IN)];
///     poll(&mut fds, None)?; // or AsyncFd::readable().await
///     while let Some(event) = events.next(Duration::ZERO)? {
///         println!("{event}");
///         if event == cgbox::Event::Gone {
///             return Ok(());
///         }
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Events {
    fs: Arc<SysFs>,
    /// The box, opened anew: the trigger files are opened in it.
    dir: SysDir,
    epoll: OwnedFd,
    /// `cgroup.events`, `memory.events`, `pids.events`, where they exist;
    /// all `None` once the box is gone.
    files: [Option<SysFile>; 3],
    /// inotify on the parent directory: the box's removal.
    parent: Option<OwnedFd>,
    triggers: Vec<Armed>,
    /// Triggers that fired, not yet queued.
    pending: Vec<Trigger>,
    /// How firings are delivered, decided with the first trigger.
    delivery: Delivery,
    state: State,
    queue: VecDeque<Event>,
    /// Whether this process has `CAP_SYS_RESOURCE`.
    privileged: bool,
    /// `Event::Gone` was queued: nothing more will come.
    gone: bool,
}

/// A trigger written to its own descriptor of the pressure file.
#[derive(Debug)]
struct Armed {
    trigger: Trigger,
    file: OwnedFd,
    /// Still watched: not ended by `POLLERR` (trigger or cgroup gone).
    live: bool,
}

#[derive(Debug)]
enum Delivery {
    /// No trigger yet.
    Undecided,
    /// Each trigger is polled by an AIO request (exact, however the
    /// watcher's descriptor is polled).
    Aio(Aio),
    /// Trigger descriptors are in the epoll set.
    Epoll,
}

/// Open `name` in `dir` to keep it; `None` when this box lacks it (a
/// controller it was not given).
fn optional(fs: &SysFs, dir: &SysDir, name: &str) -> Result<Option<SysFile>> {
    match fs.open_file(dir, name, Access::Read) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.is_errno(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Events {
    pub(crate) fn open(fs: Arc<SysFs>, dir: &SysDir) -> Result<Events> {
        let dir = dir.reopen()?;
        let path = dir.path().to_path_buf();
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| Error::from_rustix("epoll_create", &path, e))?;
        let files = [
            Some(fs.open_file(&dir, "cgroup.events", Access::Read)?),
            optional(&fs, &dir, "memory.events")?,
            optional(&fs, &dir, "pids.events")?,
        ];
        for (token, file) in (0u64..).zip(&files) {
            if let Some(file) = file {
                add(
                    &epoll,
                    file.fd(),
                    token,
                    epoll::EventFlags::PRI,
                    file.path(),
                )?;
            }
        }
        let parent = match watch_parent(&dir) {
            Ok(fd) => {
                add(&epoll, fd.as_fd(), PARENT, epoll::EventFlags::IN, &path)?;
                Some(fd)
            }
            Err(e) => {
                log::warn!(
                    "{}: cannot watch for its removal (inotify on its parent: {e}); it will be seen gone at the next wake",
                    path.display()
                );
                None
            }
        };
        let privileged = rustix::thread::capabilities(None)
            .map(|c| {
                c.effective
                    .contains(rustix::thread::CapabilitySet::SYS_RESOURCE)
            })
            .unwrap_or(false);
        let mut events = Events {
            fs,
            dir,
            epoll,
            files,
            parent,
            triggers: Vec::new(),
            pending: Vec::new(),
            delivery: Delivery::Undecided,
            state: State::default(),
            queue: VecDeque::new(),
            privileged,
            gone: false,
        };
        events.state = events.read_state()?.unwrap_or_default();
        Ok(events)
    }

    /// The box's path.
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the box held a process at the last read (when the watcher
    /// was made, or at the last `next`): the state the events start from.
    ///
    /// See the [example](crate::Events#examples).
    pub fn is_populated(&self) -> bool {
        self.state.populated.unwrap_or(false)
    }

    /// Whether the box was frozen at the last read (false on a kernel
    /// without the freezer, before 5.2).
    ///
    /// See the [example](crate::Events#examples).
    pub fn is_frozen(&self) -> bool {
        self.state.frozen.unwrap_or(false)
    }

    /// Add a PSI trigger: from now on, each time the box's tasks stall on
    /// its resource for its threshold within its window, `next` returns
    /// [`Event::Pressure`] with it (at most once per window, the kernel's
    /// rate). The trigger lives as long as the watcher.
    ///
    /// Refused with [`ErrorKind::InvalidInput`] and the rule it breaks: the
    /// window 500 ms to 10 s; the stall more than 0 and at most the window;
    /// whole microseconds; without `CAP_SYS_RESOURCE`, a window that is a
    /// multiple of 2 s (and the kernel's own refusals, such as `cpu` "full"
    /// before 5.13). [`ErrorKind::Unsupported`] where the kernel has no
    /// PSI for the box: no pressure file (no `CONFIG_PSI`, `psi=0` at
    /// boot, `cgroup.pressure` set to 0) or a write refused with
    /// `EOPNOTSUPP`; never a trigger silently not set.
    /// [`ErrorKind::PermissionDenied`] before Linux 6.5 without
    /// `CAP_SYS_RESOURCE`. At most 16 triggers per watcher.
    ///
    /// See the [example](crate::Events#examples).
    pub fn trigger(&mut self, trigger: Trigger) -> Result<()> {
        let file_name = trigger.resource().file();
        let path = self.path().join(file_name);
        trigger
            .check(Some(self.privileged))
            .map_err(|e| e.with_path(&path))?;
        if self.gone {
            return Err(self.gone_error());
        }
        if self.triggers.len() >= aio::MAX_REQUESTS {
            return Err(Error::new(ErrorKind::InvalidInput, "add PSI trigger")
                .with_path(&path)
                .with_detail(format!(
                    "{trigger}: a watcher holds at most {} triggers",
                    aio::MAX_REQUESTS
                )));
        }
        let file = match rustix::fs::openat(
            self.dir.fd(),
            file_name,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if self.fs.has_file(&self.dir, "cgroup.procs").unwrap_or(false) => {
                return Err(no_psi(&path, &trigger, "the file is not there"));
            }
            Err(Errno::PERM) if !self.privileged => {
                return Err(Error::from_rustix("open", &path, Errno::PERM)
                    .with_detail(format!(
                        "{trigger}: PSI triggers need CAP_SYS_RESOURCE before Linux 6.5"
                    ))
                    .with_hint(
                        "run with CAP_SYS_RESOURCE, or on Linux 6.5 or later with a window that is a multiple of 2 s",
                    ));
            }
            Err(Errno::ACCESS) => {
                return Err(Error::from_rustix("open", &path, Errno::ACCESS).with_detail(
                    format!("{trigger}: the pressure file is not writable by this process (a delegated cgroup's pressure files stay root's)"),
                ));
            }
            Err(e) => return Err(Error::from_rustix("open", &path, e)),
        };
        match rustix::io::write(&file, trigger.kernel_text().as_bytes()) {
            Ok(_) => {}
            Err(Errno::OPNOTSUPP) => {
                return Err(no_psi(
                    &path,
                    &trigger,
                    "the kernel refused it with EOPNOTSUPP",
                ));
            }
            Err(Errno::INVAL) => {
                return Err(Error::from_rustix("write PSI trigger", &path, Errno::INVAL)
                    .with_detail(format!(
                        "{trigger}: this kernel refused the trigger (cpu \"full\" needs Linux 5.13 in a cgroup)"
                    )));
            }
            Err(e) => {
                return Err(Error::from_rustix("write PSI trigger", &path, e)
                    .with_detail(trigger.to_string()));
            }
        }
        let index = self.triggers.len();
        self.deliver(&file, index, &path)?;
        self.triggers.push(Armed {
            trigger,
            file,
            live: true,
        });
        Ok(())
    }

    /// Have the kernel tell this watcher when trigger `index` (on `file`)
    /// fires: by AIO where it can, else in the epoll set.
    fn deliver(&mut self, file: &OwnedFd, index: usize, path: &Path) -> Result<()> {
        if matches!(self.delivery, Delivery::Undecided) {
            self.delivery = match Aio::new() {
                Ok(aio) => {
                    add(
                        &self.epoll,
                        aio.fd(),
                        COMPLETIONS,
                        epoll::EventFlags::IN,
                        path,
                    )?;
                    Delivery::Aio(aio)
                }
                Err(e) => {
                    log::info!(
                        "{}: no AIO context ({e}): PSI trigger descriptors go in the watcher's epoll set, where only a waiting next() sees their firings",
                        path.display()
                    );
                    Delivery::Epoll
                }
            };
        }
        let token = TRIGGER + index as u64;
        match &self.delivery {
            Delivery::Aio(aio) => aio
                .submit(file.as_fd(), token)
                .map_err(|e| io_error("submit an AIO poll request", path, e)),
            _ => add(
                &self.epoll,
                file.as_fd(),
                token,
                epoll::EventFlags::PRI,
                path,
            ),
        }
    }

    /// The next event, waiting up to `timeout` for one (`Duration::ZERO`:
    /// do not wait, only look). `None` when the timeout ran out or a
    /// signal cut the wait short. After [`Event::Gone`], an error of kind
    /// [`ErrorKind::NotFound`].
    ///
    /// See the [example](crate::Events#examples).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let start = Instant::now();
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            if self.gone {
                return Err(self.gone_error());
            }
            let left = timeout.saturating_sub(start.elapsed());
            let interrupted = self.wait(left.min(LONGEST_WAIT))?;
            self.collect()?;
            if self.queue.is_empty() && (interrupted || start.elapsed() >= timeout) {
                return Ok(None);
            }
        }
    }

    /// Wait up to `timeout` for the epoll set; note the trigger
    /// descriptors that fired (in the fallback). True when a signal cut
    /// the wait short.
    fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let ts = rustix::event::Timespec::try_from(timeout).unwrap_or(rustix::event::Timespec {
            tv_sec: 3600,
            tv_nsec: 0,
        });
        let mut ready: Vec<epoll::Event> = Vec::with_capacity(8);
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut ready),
            Some(&ts),
        ) {
            Ok(_) => {}
            Err(Errno::INTR) => return Ok(true),
            Err(e) => return Err(Error::from_rustix("epoll_wait", self.dir.path(), e)),
        }
        for event in ready {
            let (flags, token) = (event.flags, event.data.u64());
            if token < TRIGGER {
                continue;
            }
            let index = usize::try_from(token - TRIGGER).unwrap_or(usize::MAX);
            let mask = if flags.contains(epoll::EventFlags::ERR) {
                aio::POLLERR
            } else if flags.contains(epoll::EventFlags::PRI) {
                aio::POLLPRI
            } else {
                0
            };
            self.fired(index, mask);
        }
        Ok(false)
    }

    /// Trigger `index` reported poll result `mask`: a firing is queued;
    /// `POLLERR` (its cgroup or its trigger is gone) ends its watch.
    /// Returns whether it is still watched.
    fn fired(&mut self, index: usize, mask: i64) -> bool {
        let Some(armed) = self.triggers.get_mut(index).filter(|a| a.live) else {
            return false;
        };
        if mask & aio::POLLERR != 0 || mask < 0 {
            armed.live = false;
            if matches!(self.delivery, Delivery::Epoll) {
                let _ = epoll::delete(&self.epoll, &armed.file);
            }
            return false;
        }
        if mask & aio::POLLPRI != 0 {
            self.pending.push(armed.trigger);
        }
        true
    }

    /// Collect what happened: AIO completions, the parent's inotify events,
    /// and the event files, compared with the last read.
    fn collect(&mut self) -> Result<()> {
        let mut done = Vec::new();
        if let Delivery::Aio(aio) = &self.delivery {
            aio.completions(&mut done)
                .map_err(|e| io_error("collect AIO completions", self.dir.path(), e))?;
        }
        {
            for (token, mask) in done {
                let index = usize::try_from(token.saturating_sub(TRIGGER)).unwrap_or(usize::MAX);
                if self.fired(index, mask) {
                    self.rearm(index)?;
                }
            }
        }
        if let Some(fd) = &self.parent {
            drain(fd);
        }
        let pressure: Vec<Event> = self.pending.drain(..).map(Event::Pressure).collect();
        match self.read_state()? {
            Some(new) => {
                changes(&self.state, &new, pressure, &mut self.queue);
                self.state = new;
            }
            None => {
                self.queue.extend(pressure);
                self.end();
            }
        }
        Ok(())
    }

    /// Submit trigger `index`'s AIO poll request again.
    fn rearm(&mut self, index: usize) -> Result<()> {
        let (Delivery::Aio(aio), Some(armed)) = (&self.delivery, self.triggers.get(index)) else {
            return Ok(());
        };
        aio.submit(armed.file.as_fd(), TRIGGER + index as u64)
            .map_err(|e| io_error("submit an AIO poll request", self.dir.path(), e))
    }

    /// Read every event file; `None` when the box is gone.
    fn read_state(&self) -> Result<Option<State>> {
        let mut state = State::default();
        let mut buf = [0u8; BUF];
        for (index, file) in self.files.iter().enumerate() {
            let Some(file) = file else { continue };
            let n = match self.fs.read_kept(file, &mut buf) {
                Ok(n) => n,
                Err(e) if e.is_gone() => return Ok(None),
                Err(e) => return Err(e),
            };
            let text = std::str::from_utf8(buf.get(..n).unwrap_or_default()).map_err(|_| {
                Error::new(ErrorKind::Parse, "read")
                    .with_path(file.path())
                    .with_detail("content is not UTF-8")
            })?;
            let parsed = match index {
                0 => state.cgroup_events(text),
                1 => state.memory_events(text),
                _ => state.pids_events(text),
            };
            parsed.map_err(|e| e.into_error(file.path()))?;
        }
        Ok(Some(state))
    }

    /// The box is gone: say so once, and stop watching. The descriptors
    /// leave the epoll set now (a removed cgroup's files would poll ready
    /// for ever) and are closed when the watcher is dropped: closing an
    /// inotify descriptor waits for an RCU grace period (milliseconds),
    /// which must not delay `Event::Gone`.
    fn end(&mut self) {
        self.queue.push_back(Event::Gone);
        self.gone = true;
        let files = self.files.iter().flatten().map(|f| f.fd());
        let parent = self.parent.iter().map(|fd| fd.as_fd());
        for fd in files.chain(parent) {
            let _ = epoll::delete(&self.epoll, fd);
        }
        match &self.delivery {
            Delivery::Aio(aio) => {
                let _ = epoll::delete(&self.epoll, aio.fd());
            }
            Delivery::Epoll => {
                for armed in &self.triggers {
                    let _ = epoll::delete(&self.epoll, &armed.file);
                }
            }
            Delivery::Undecided => {}
        }
    }

    fn gone_error(&self) -> Error {
        Error::from_rustix("watch box events", self.dir.path(), Errno::NODEV)
            .with_kind(ErrorKind::NotFound)
            .with_detail("the box is gone (Event::Gone was its last event)")
    }
}

impl AsFd for Events {
    /// The epoll descriptor: readable when [`Events::next`] may have
    /// something.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

fn add(
    epoll: &OwnedFd,
    fd: BorrowedFd<'_>,
    token: u64,
    flags: epoll::EventFlags,
    path: &Path,
) -> Result<()> {
    epoll::add(epoll, fd, epoll::EventData::new_u64(token), flags)
        .map_err(|e| Error::from_rustix("epoll_ctl", path, e))
}

fn io_error(operation: &str, path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(errno) => Error::from_errno(operation, path, errno),
        None => Error::new(ErrorKind::Other, operation)
            .with_path(path)
            .with_detail(e.to_string()),
    }
}

/// The kernel has no PSI for this box.
fn no_psi(path: &Path, trigger: &Trigger, why: &str) -> Error {
    Error::new(ErrorKind::Unsupported, "add PSI trigger")
        .with_path(path)
        .with_detail(format!(
            "{trigger}: this kernel keeps no pressure stall information for the box ({why})"
        ))
        .with_hint(
            "PSI needs CONFIG_PSI, no psi=0 on the kernel command line (psi=1 where CONFIG_PSI_DEFAULT_DISABLED), and cgroup.pressure 1 in the box",
        )
}

/// inotify on the directory holding `dir`, for its removal (`IN_DELETE`
/// there; the box's own `IN_DELETE_SELF` waits for the last descriptor of
/// it to close, which this watcher holds).
fn watch_parent(dir: &SysDir) -> std::io::Result<OwnedFd> {
    use rustix::fs::inotify;
    let parent = rustix::fs::openat(
        dir.fd(),
        "..",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
    inotify::add_watch(
        &fd,
        format!("/proc/self/fd/{}", parent.as_raw_fd()),
        inotify::WatchFlags::DELETE
            | inotify::WatchFlags::MOVED_FROM
            | inotify::WatchFlags::DELETE_SELF
            | inotify::WatchFlags::ONLYDIR,
    )?;
    Ok(fd)
}

/// Read everything waiting on a non-blocking descriptor; what it says is
/// not needed (the files are re-read), only that it no longer wakes.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; BUF];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}
