//! Every cgroup v2 statistic of a box, typed, and honest about gaps.
//!
//! [`Stats::read`] reads every statistics file the kernel offers. A file
//! that does not exist (an older kernel, a controller not enabled, PSI off
//! or failing with `EOPNOTSUPP`) is simply absent, never a zero. A file
//! that cannot be parsed is named in [`Stats::errors`] with the line, and
//! the rest is still read. For repeated sampling without allocation, see
//! [`Sampler`].
//!
//! See the [example](crate::Stats#examples).

mod sampler;

use std::path::{Path, PathBuf};

pub use sampler::{CpuUsage, MemoryEvents, Pressure, Sampler, Snapshot, StallTotals};

use crate::fs::{CgroupFs, Handle};
use crate::parse::stat_file::Layout;
use crate::parse::stat_file::parse;
pub use crate::parse::stat_file::{FileStats, Number};

thread_local! {
    /// [`Stats::read`]'s buffer, between two reads on this thread.
    static READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Every statistics file, in the order `cgbox stats --json` prints them.
///
/// See the [example](crate::Stats#examples).
pub(crate) const FILES: [(&str, Layout); 22] = [
    ("cgroup.events", Layout::FlatUnsigned),
    ("cgroup.stat", Layout::FlatUnsigned),
    ("cpu.stat", Layout::FlatUnsigned),
    ("memory.current", Layout::Counter),
    ("memory.peak", Layout::Counter),
    ("memory.max", Layout::Limit),
    ("memory.high", Layout::Limit),
    ("memory.events", Layout::FlatUnsigned),
    ("memory.events.local", Layout::FlatUnsigned),
    ("memory.stat", Layout::FlatSigned),
    ("memory.swap.current", Layout::Counter),
    ("memory.swap.peak", Layout::Counter),
    ("memory.swap.max", Layout::Limit),
    ("pids.current", Layout::Counter),
    ("pids.peak", Layout::Counter),
    ("pids.max", Layout::Limit),
    ("pids.events", Layout::FlatUnsigned),
    ("io.stat", Layout::Devices),
    ("cpu.pressure", Layout::Pressure),
    ("memory.pressure", Layout::Pressure),
    ("io.pressure", Layout::Pressure),
    ("irq.pressure", Layout::Pressure),
];

/// The common fields of `memory.stat` (bytes, and fault counts); each
/// `None` when this kernel does not print it.
///
/// See the [example](crate::Stats#examples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    /// Anonymous memory.
    pub anon: Option<u64>,
    /// Page cache, tmpfs and shared memory included.
    pub file: Option<u64>,
    /// Kernel memory of all kinds.
    pub kernel: Option<u64>,
    /// Kernel stacks.
    pub kernel_stack: Option<u64>,
    /// Page tables.
    pub pagetables: Option<u64>,
    /// Network buffers.
    pub sock: Option<u64>,
    /// tmpfs and shared memory.
    pub shmem: Option<u64>,
    /// Mapped page cache.
    pub file_mapped: Option<u64>,
    /// Dirty page cache.
    pub file_dirty: Option<u64>,
    /// Page cache under writeback.
    pub file_writeback: Option<u64>,
    /// Slab allocations.
    pub slab: Option<u64>,
    /// Page faults.
    pub pgfault: Option<u64>,
    /// Major page faults.
    pub pgmajfault: Option<u64>,
}

/// All statistics of one cgroup at one moment.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use cgbox::fs::FakeFs;
/// use cgbox::{Number, Stats};
/// use cgbox::{Builder, Limits, Size};
///
/// let fake = Arc::new(FakeFs::new());
/// let job = Builder::new()
///     .name("s")
///     .limits(Limits::new().memory_max(Size::parse("64M")?).cpus(1.0).pids_max(8))
///     .create(fake.clone())?;
/// fake.spawn("cgbox/agents/s")?;
/// fake.set_file("cgbox/agents/s", "memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")?;
/// let stats = job.stats()?; // or Stats::read(&*fs, &dir)
/// assert_eq!(stats.populated(), Some(true));
/// assert_eq!(stats.pids_current(), Some(1));
/// assert_eq!(stats.cpu_usage_usec(), Some(0));
/// assert_eq!(stats.nr_throttled(), Some(0));
/// assert_eq!(stats.throttled_usec(), Some(0));
/// assert_eq!(stats.memory_current(), Some(0));
/// assert_eq!(stats.oom_kills(), Some(1));
/// assert_eq!(stats.value("memory.max"), Some(64 << 20));
/// assert_eq!(stats.key("memory.events", "max"), Some(2));
/// assert_eq!(stats.file("pids.max").and_then(|f| f.single()), Some(Number::Uint(8)));
/// assert!(stats.errors.is_empty());
///
/// // Parsed from contents (a sample captured elsewhere): what is not given
/// // is absent, never 0; what does not parse is named.
/// let s = Stats::from_contents(
///     std::path::Path::new("/x"),
///     [
///         ("memory.peak", "33554432\n"),
///         ("pids.peak", "4\n"),
///         ("pids.events", "max 3\n"),
///         ("memory.stat", "anon 8192\nfile 4096\npgfault 12\n"),
///         ("cpu.stat", "usage_usec x\n"),
///     ],
/// );
/// assert_eq!(s.memory_peak(), Some(33554432));
/// assert_eq!(s.pids_peak(), Some(4));
/// assert_eq!(s.pids_max_events(), Some(3));
/// assert_eq!(s.memory_stat("anon"), Some(Number::Uint(8192)));
/// assert_eq!(s.memory().and_then(|m| m.file), Some(4096));
/// assert_eq!(s.memory().and_then(|m| m.slab), None); // not printed: None
/// assert_eq!(s.memory_current(), None);
/// assert_eq!(s.errors[0].0, "cpu.stat");
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// The cgroup directory they were read from.
    pub path: PathBuf,
    /// Each file that exists and parsed, in the order `cgbox stats --json` prints them.
    pub files: Vec<(&'static str, FileStats)>,
    /// Each file that exists but could not be read or parsed, and why.
    pub errors: Vec<(&'static str, String)>,
}

impl Stats {
    /// Read every statistics file of `dir`. Fails only when the cgroup
    /// itself is gone; a bad file is recorded in `errors`.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn read<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir) -> crate::Result<Stats> {
        let mut stats = Stats {
            path: dir.path().to_path_buf(),
            files: Vec::with_capacity(FILES.len()),
            errors: Vec::new(),
        };
        // One buffer for every file, kept by the thread from one read to
        // the next: a read is the syscalls and the parse, nothing else
        // (musl's allocator, for one, gives a freed page back to the kernel
        // and faults it in again at the next read).
        let mut buf = READ_BUFFER.with(std::cell::Cell::take);
        buf.reserve(4096);
        // Only the files that can be there are opened: a controller's files
        // exist where it is enabled (a failing open costs as much as a read,
        // and a box without controllers would have a dozen).
        let controllers = match fs.read_file(dir, "cgroup.controllers", &mut buf) {
            Ok(()) => std::str::from_utf8(&buf).ok(),
            Err(e) if e.is_errno(rustix::io::Errno::NODEV) => return Err(e),
            Err(_) => None,
        };
        let has = |controller: &str| {
            controllers.is_none_or(|c| crate::parse::value::words(c).any(|w| w == controller))
        };
        let [memory, pids, io] = ["memory", "pids", "io"].map(has);
        for (name, layout) in FILES {
            let needed = match layout {
                Layout::Pressure => true,
                _ if name.starts_with("memory.") => memory,
                _ if name.starts_with("pids.") => pids,
                _ if name.starts_with("io.") => io,
                _ => true,
            };
            if !needed {
                continue;
            }
            // One buffer for every file: a read is the syscalls and the
            // parse, nothing else.
            match fs.read_file(dir, name, &mut buf) {
                Ok(()) => match std::str::from_utf8(&buf) {
                    Ok(content) => match parse(layout, content) {
                        Ok(parsed) => stats.files.push((name, parsed)),
                        Err(e) => stats.errors.push((name, e.to_string())),
                    },
                    Err(_) => stats.errors.push((name, "content is not UTF-8".to_owned())),
                },
                Err(e) if e.is_absent() => {}
                Err(e) if e.is_errno(rustix::io::Errno::NODEV) => return Err(e),
                Err(e) => stats.errors.push((name, error_text(&e))),
            }
        }
        READ_BUFFER.with(|kept| kept.set(buf));
        Ok(stats)
    }

    /// Parse a set of `(file name, content)` pairs, as [`Stats::read`]
    /// would have read them (files not given are absent).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn from_contents<'a>(
        path: &Path,
        contents: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Stats {
        let given: Vec<(&str, &str)> = contents.into_iter().collect();
        let mut stats = Stats {
            path: path.to_path_buf(),
            files: Vec::new(),
            errors: Vec::new(),
        };
        for (name, layout) in FILES {
            if let Some((_, content)) = given.iter().find(|(n, _)| *n == name) {
                match parse(layout, content) {
                    Ok(parsed) => stats.files.push((name, parsed)),
                    Err(e) => stats.errors.push((name, e.to_string())),
                }
            }
        }
        stats
    }

    /// The parsed content of `file`, `None` when absent or broken.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn file(&self, file: &str) -> Option<&FileStats> {
        self.files.iter().find(|(n, _)| *n == file).map(|(_, f)| f)
    }

    /// A key of a flat file as an unsigned number.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn key(&self, file: &str, key: &str) -> Option<u64> {
        self.file(file)?.get(key)?.as_u64()
    }

    /// A single-value file as an unsigned number (`None` also for `max`).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn value(&self, file: &str) -> Option<u64> {
        self.file(file)?.single()?.as_u64()
    }

    /// `cgroup.events` populated.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn populated(&self) -> Option<bool> {
        self.key("cgroup.events", "populated").map(|v| v == 1)
    }

    /// `cpu.stat` usage_usec.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn cpu_usage_usec(&self) -> Option<u64> {
        self.key("cpu.stat", "usage_usec")
    }

    /// `cpu.stat` nr_throttled (needs the cpu controller).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn nr_throttled(&self) -> Option<u64> {
        self.key("cpu.stat", "nr_throttled")
    }

    /// `cpu.stat` throttled_usec (needs the cpu controller).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn throttled_usec(&self) -> Option<u64> {
        self.key("cpu.stat", "throttled_usec")
    }

    /// `memory.current`.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn memory_current(&self) -> Option<u64> {
        self.value("memory.current")
    }

    /// `memory.peak` (Linux 5.19+).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn memory_peak(&self) -> Option<u64> {
        self.value("memory.peak")
    }

    /// `memory.events` oom_kill.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn oom_kills(&self) -> Option<u64> {
        self.key("memory.events", "oom_kill")
    }

    /// `pids.current`.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn pids_current(&self) -> Option<u64> {
        self.value("pids.current")
    }

    /// `pids.peak` (Linux 6.1+).
    ///
    /// See the [example](crate::Stats#examples).
    pub fn pids_peak(&self) -> Option<u64> {
        self.value("pids.peak")
    }

    /// `pids.events` max: forks refused by `pids.max`.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn pids_max_events(&self) -> Option<u64> {
        self.key("pids.events", "max")
    }

    /// A key of `memory.stat` (`anon`, `file`, `shmem`, ...): every key the
    /// kernel prints is reachable here.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn memory_stat(&self, key: &str) -> Option<Number> {
        self.file("memory.stat")?.get(key)
    }

    /// The common `memory.stat` fields, typed; `None` when the file is
    /// absent or damaged.
    ///
    /// See the [example](crate::Stats#examples).
    pub fn memory(&self) -> Option<MemoryStat> {
        let f = self.file("memory.stat")?;
        let get = |k: &str| f.get(k).and_then(Number::as_u64);
        Some(MemoryStat {
            anon: get("anon"),
            file: get("file"),
            kernel: get("kernel"),
            kernel_stack: get("kernel_stack"),
            pagetables: get("pagetables"),
            sock: get("sock"),
            shmem: get("shmem"),
            file_mapped: get("file_mapped"),
            file_dirty: get("file_dirty"),
            file_writeback: get("file_writeback"),
            slab: get("slab"),
            pgfault: get("pgfault"),
            pgmajfault: get("pgmajfault"),
        })
    }
}

fn error_text(e: &crate::Error) -> String {
    match e.io_error() {
        Some(io) => io.to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
