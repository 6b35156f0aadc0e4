//! PSI firings kept for the watcher, whoever polls its descriptor.
//!
//! A PSI trigger's firing is a flag that the trigger file's `poll` clears
//! (`psi_trigger_poll`: `cmpxchg(&t->event, 1, 0)`). Polling an epoll
//! descriptor polls the files on its ready list, so with trigger fds in
//! the watcher's epoll set, a program that polls the watcher's descriptor
//! from outside (poll(2), its own epoll, mio or tokio's `AsyncFd`) clears
//! the flag in that poll, and `next` then finds nothing: the firing is
//! lost, every time under an event loop.
//!
//! So the watcher does not put trigger fds in its epoll set. It asks the
//! kernel to poll each one for it with a Linux AIO poll request
//! (`IOCB_CMD_POLL`, Linux 4.18): when the trigger fires, the kernel takes
//! the flag into a completion, which waits in the AIO context until `next`
//! collects it, and signals an eventfd, which is in the epoll set and whose
//! readiness no poll clears. Requests are one-shot: each is submitted again
//! after its completion is collected.
//!
//! The C library's `syscall()` reaches the four AIO calls (rustix does not
//! wrap them). Where this is not available (another architecture, a kernel
//! without `CONFIG_AIO`, `fs.aio-max-nr` used up), the watcher falls back
//! to trigger fds in its epoll set, exact only while `next` does the
//! waiting.

pub(super) use imp::Aio;

/// `POLLPRI`, as the request's events and in a completion's result.
pub(super) const POLLPRI: i64 = 0x2;
/// `POLLERR`: the file's trigger or cgroup is gone.
pub(super) const POLLERR: i64 = 0x8;
/// The most requests outstanding at once: one per trigger.
pub(super) const MAX_REQUESTS: usize = 16;

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
mod imp {
    use std::ffi::c_long;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

    use super::{MAX_REQUESTS, POLLPRI};

    /// The AIO system call numbers of this architecture.
    #[cfg(target_arch = "x86_64")]
    mod nr {
        pub const IO_SETUP: std::ffi::c_long = 206;
        pub const IO_DESTROY: std::ffi::c_long = 207;
        pub const IO_GETEVENTS: std::ffi::c_long = 208;
        pub const IO_SUBMIT: std::ffi::c_long = 209;
    }

    /// The AIO system call numbers of this architecture (asm-generic).
    #[cfg(not(target_arch = "x86_64"))]
    mod nr {
        pub const IO_SETUP: std::ffi::c_long = 0;
        pub const IO_DESTROY: std::ffi::c_long = 1;
        pub const IO_SUBMIT: std::ffi::c_long = 2;
        pub const IO_GETEVENTS: std::ffi::c_long = 4;
    }

    unsafe extern "C" {
        // From the C library std links (glibc and musl): the raw system call.
        fn syscall(number: c_long, ...) -> c_long;
    }

    /// `IOCB_CMD_POLL`: wait for `aio_buf`'s poll events on `aio_fildes`.
    const IOCB_CMD_POLL: u16 = 5;
    /// `IOCB_FLAG_RESFD`: signal the eventfd `aio_resfd` on completion.
    const IOCB_FLAG_RESFD: u32 = 1;
    /// Completions collected with one `io_getevents`.
    const BATCH: usize = 16;

    /// `struct iocb` of `linux/aio_abi.h` on a little-endian 64-bit machine.
    #[repr(C)]
    #[derive(Default)]
    struct Iocb {
        aio_data: u64,
        aio_key: u32,
        aio_rw_flags: i32,
        aio_lio_opcode: u16,
        aio_reqprio: i16,
        aio_fildes: u32,
        aio_buf: u64,
        aio_nbytes: u64,
        aio_offset: i64,
        aio_reserved2: u64,
        aio_flags: u32,
        aio_resfd: u32,
    }

    /// `struct io_event`.
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct IoEvent {
        data: u64,
        obj: u64,
        res: i64,
        res2: i64,
    }

    /// `struct __kernel_timespec`.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    /// The C library's `syscall` result: `-1` and errno on failure.
    fn check(ret: c_long) -> io::Result<c_long> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// An AIO context for poll requests, and the eventfd its completions
    /// signal. Dropping it cancels what is outstanding.
    #[derive(Debug)]
    pub struct Aio {
        /// `aio_context_t`.
        ctx: u64,
        eventfd: OwnedFd,
    }

    impl Aio {
        /// A context for up to [`MAX_REQUESTS`] poll requests.
        pub fn new() -> io::Result<Aio> {
            use rustix::event::{EventfdFlags, eventfd};
            let eventfd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            let mut ctx: u64 = 0;
            // SAFETY: io_setup(nr_events, aio_context_t *): `ctx` is a
            // valid aio_context_t, zeroed as the kernel requires, that
            // outlives the call.
            check(unsafe { syscall(nr::IO_SETUP, MAX_REQUESTS as c_long, &mut ctx as *mut u64) })?;
            Ok(Aio { ctx, eventfd })
        }

        /// The descriptor that turns readable when a completion waits.
        pub fn fd(&self) -> BorrowedFd<'_> {
            self.eventfd.as_fd()
        }

        /// Ask the kernel to poll `fd` for `POLLPRI` once; its completion
        /// carries `token`.
        pub fn submit(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
            let raw = |fd: BorrowedFd<'_>| {
                u32::try_from(fd.as_raw_fd())
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
            };
            let iocb = Iocb {
                aio_data: token,
                aio_lio_opcode: IOCB_CMD_POLL,
                aio_fildes: raw(fd)?,
                aio_buf: POLLPRI.unsigned_abs(),
                aio_flags: IOCB_FLAG_RESFD,
                aio_resfd: raw(self.eventfd.as_fd())?,
                ..Iocb::default()
            };
            let list = [&iocb as *const Iocb];
            // SAFETY: io_submit(ctx, nr, struct iocb **): `list` holds one
            // pointer to a valid iocb; the kernel copies the iocb during
            // the call and keeps its address only to report it back,
            // never to read it again.
            let n = check(unsafe { syscall(nr::IO_SUBMIT, self.ctx, 1 as c_long, list.as_ptr()) })?;
            if n == 1 {
                Ok(())
            } else {
                Err(io::Error::other("io_submit took no request"))
            }
        }

        /// The completions waiting, as `(token, poll result)`, without
        /// waiting; the eventfd is drained first, so that a completion
        /// that comes during the call signals it again.
        pub fn completions(&self, out: &mut Vec<(u64, i64)>) -> io::Result<()> {
            let mut count = [0u8; 8];
            match rustix::io::read(&self.eventfd, &mut count) {
                Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
            loop {
                let mut events = [IoEvent::default(); BATCH];
                let zero = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: io_getevents(ctx, min_nr, nr, struct io_event *,
                // struct timespec *): `events` has room for `BATCH` events
                // and `zero` is a valid timespec (do not wait); both
                // outlive the call.
                let n = check(unsafe {
                    syscall(
                        nr::IO_GETEVENTS,
                        self.ctx,
                        0 as c_long,
                        BATCH as c_long,
                        events.as_mut_ptr(),
                        &zero as *const Timespec,
                    )
                })?;
                let n = usize::try_from(n).unwrap_or(0).min(BATCH);
                out.extend(events.iter().take(n).map(|e| (e.data, e.res)));
                if n < BATCH {
                    return Ok(());
                }
            }
        }
    }

    impl Drop for Aio {
        fn drop(&mut self) {
            // SAFETY: io_destroy(ctx) on the context this value owns, once;
            // it cancels the outstanding poll requests.
            if let Err(e) = check(unsafe { syscall(nr::IO_DESTROY, self.ctx) }) {
                log::debug!("io_destroy: {e}");
            }
        }
    }
}

/// Elsewhere: no AIO context can be made, and the watcher falls back.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
mod imp {
    use std::io;
    use std::os::fd::BorrowedFd;

    /// Never made here.
    #[derive(Debug)]
    pub enum Aio {}

    impl Aio {
        pub fn new() -> io::Result<Aio> {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }
        pub fn fd(&self) -> BorrowedFd<'_> {
            match *self {}
        }
        pub fn submit(&self, _: BorrowedFd<'_>, _: u64) -> io::Result<()> {
            match *self {}
        }
        pub fn completions(&self, _: &mut Vec<(u64, i64)>) -> io::Result<()> {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without any cgroup: a pipe's read end polled for POLLIN would need
    /// another mask, so poll a pipe for POLLPRI after closing the write end
    /// (POLLHUP, which the kernel always reports): the completion comes
    /// back through the eventfd with its token, once.
    #[test]
    fn a_completion_waits_for_collection() {
        use std::os::fd::AsFd;
        let aio = Aio::new().expect("an AIO context (CONFIG_AIO, fs.aio-max-nr)");
        let (r, w) = rustix::pipe::pipe().unwrap();
        aio.submit(r.as_fd(), 42).unwrap();
        let mut got = Vec::new();
        aio.completions(&mut got).unwrap();
        assert_eq!(got, [], "nothing happened yet");
        drop(w);
        let mut fds = [rustix::event::PollFd::from_borrowed_fd(
            aio.fd(),
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        assert_eq!(rustix::event::poll(&mut fds, Some(&ts)).unwrap(), 1);
        // Polling the eventfd again does not take the completion away.
        assert_eq!(rustix::event::poll(&mut fds, Some(&ts)).unwrap(), 1);
        aio.completions(&mut got).unwrap();
        assert_eq!(got.len(), 1);
        let (token, res) = got[0];
        assert_eq!(token, 42);
        assert!(res & 0x10 != 0, "POLLHUP in {res:#x}");
        got.clear();
        aio.completions(&mut got).unwrap();
        assert_eq!(got, [], "collected once");
    }
}
