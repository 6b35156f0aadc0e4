//! [`Limits`]: what a box may use, validated before anything is written.
//!
//! A `Limits` value is plain data. [`Limits::files`] checks every field
//! (NaN, infinities, zero, out of range, overflow, a bad cpuset list, a bad
//! device) and renders the `(file, value)` writes in the kernel's format;
//! nothing touches the filesystem until that has succeeded.

use std::fmt;

use crate::{Error, ErrorKind, Result};

/// A memory size: bytes, or `max` for no limit.
///
/// # Examples
///
/// ```
/// use cgbox::Size;
///
/// assert_eq!(Size::parse("512M")?, Size::Bytes(512 << 20));
/// assert_eq!(Size::parse("1g")?, Size::Bytes(1 << 30));
/// assert_eq!(Size::parse("max")?, Size::Max);
/// assert!(Size::parse("1.5G").is_err()); // whole numbers only: 1536M
/// assert_eq!(Size::Bytes(4096).to_string(), "4096"); // as the kernel takes it
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// No limit.
    Max,
    /// This many bytes.
    Bytes(u64),
}

impl Size {
    /// Parse `max`, or bytes with an optional `K`, `M`, `G` or `T` suffix
    /// (powers of 1024), as the CLI takes them.
    ///
    /// See the [example](crate::limits::Size#examples).
    pub fn parse(text: &str) -> Result<Size> {
        let bad = |why: &str| {
            Error::new(ErrorKind::InvalidInput, "parse size")
                .with_detail(format!("{text:?}: {why}"))
                .with_hint(
                    "give bytes with an optional K, M, G or T suffix (powers of 1024), or max",
                )
        };
        let t = text.trim();
        if t == "max" {
            return Ok(Size::Max);
        }
        let (digits, shift) = match t.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let shift = match c.to_ascii_uppercase() {
                    'K' => 10,
                    'M' => 20,
                    'G' => 30,
                    'T' => 40,
                    _ => return Err(bad("unknown suffix")),
                };
                (t.get(..i).unwrap_or(""), shift)
            }
            _ => (t, 0),
        };
        let n = crate::parse::token::parse_u64(digits).ok_or_else(|| bad("not a whole number"))?;
        let bytes = n
            .checked_mul(1u64 << shift)
            .ok_or_else(|| bad("too large"))?;
        Ok(Size::Bytes(bytes))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Max => f.write_str("max"),
            Size::Bytes(b) => write!(f, "{b}"),
        }
    }
}

/// An `io.max` line for one block device.
///
/// # Examples
///
/// ```
/// use cgbox::IoMax;
///
/// let io = IoMax::parse("8:0 rbps=1048576 wiops=max")?;
/// assert_eq!((io.major, io.minor, io.rbps, io.wiops), (8, 0, Some(1048576), None));
/// assert!(IoMax::parse("8:0 wbps=0").is_err()); // would stop all I/O
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoMax {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Read bytes per second.
    pub rbps: Option<u64>,
    /// Write bytes per second.
    pub wbps: Option<u64>,
    /// Read operations per second.
    pub riops: Option<u64>,
    /// Write operations per second.
    pub wiops: Option<u64>,
}

impl IoMax {
    /// Parse `MAJ:MIN rbps=N wbps=N riops=N wiops=N` (any subset of keys;
    /// a value may be `max`).
    ///
    /// See the [example](crate::limits::IoMax#examples).
    pub fn parse(text: &str) -> Result<IoMax> {
        let bad = |why: String| {
            Error::new(ErrorKind::InvalidInput, "parse io.max")
                .with_detail(format!("{text:?}: {why}"))
                .with_hint("give 'MAJ:MIN rbps=N wbps=N riops=N wiops=N' (see lsblk for MAJ:MIN)")
        };
        let mut words = text.split_ascii_whitespace();
        let dev = words.next().ok_or_else(|| bad("empty".into()))?;
        let (major, minor) = dev
            .split_once(':')
            .ok_or_else(|| bad(format!("bad device {dev:?}")))?;
        let num = |s: &str| crate::parse::token::parse_u64(s).and_then(|v| u32::try_from(v).ok());
        let (Some(major), Some(minor)) = (num(major), num(minor)) else {
            return Err(bad(format!("bad device {dev:?}")));
        };
        let mut io = IoMax {
            major,
            minor,
            rbps: None,
            wbps: None,
            riops: None,
            wiops: None,
        };
        let mut any = false;
        let mut seen: Vec<&str> = Vec::new();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| bad(format!("expected key=value, got {w:?}")))?;
            let value = if v == "max" {
                None
            } else {
                let n = crate::parse::token::parse_u64(v)
                    .ok_or_else(|| bad(format!("{k}: not a number: {v:?}")))?;
                if n == 0 {
                    return Err(bad(format!("{k}=0 would stop all I/O")));
                }
                Some(n)
            };
            if seen.contains(&k) {
                return Err(bad(format!("{k} is given twice")));
            }
            seen.push(k);
            let slot = match k {
                "rbps" => &mut io.rbps,
                "wbps" => &mut io.wbps,
                "riops" => &mut io.riops,
                "wiops" => &mut io.wiops,
                _ => return Err(bad(format!("unknown key {k:?}"))),
            };
            *slot = value;
            any = true;
        }
        if !any {
            return Err(bad("no limit given".into()));
        }
        Ok(io)
    }

    fn render(&self) -> String {
        let v = |o: Option<u64>| o.map(|n| n.to_string()).unwrap_or_else(|| "max".into());
        format!(
            "{}:{} rbps={} wbps={} riops={} wiops={}",
            self.major,
            self.minor,
            v(self.rbps),
            v(self.wbps),
            v(self.riops),
            v(self.wiops)
        )
    }
}

/// One interface-file write that a limit turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitWrite {
    /// The controller that must be enabled for the file to exist.
    pub controller: &'static str,
    /// The interface file.
    pub file: &'static str,
    /// What is written, in the kernel's format.
    pub value: String,
}

/// Resource limits for a box. Every field is optional; `None` leaves the
/// kernel's default.
///
/// # Examples
///
/// ```
/// use cgbox::{IoMax, Limits, Size};
///
/// let limits = Limits::new()
///     .memory_max(Size::parse("512M")?)
///     .memory_high(Size::parse("448M")?)
///     .memory_swap_max(Size::Bytes(0))
///     .oom_group(true)
///     .cpus(1.5)
///     .cpu_period_us(50_000)
///     .cpu_weight(200)
///     .pids_max(256)
///     .cpuset_cpus("0-1")
///     .cpuset_mems("0")
///     .io_max(IoMax::parse("259:0 wbps=4194304")?)
///     .io_weight(50);
/// let files = limits.files()?; // every field checked, nothing touched yet
/// let rendered: Vec<(&str, &str)> = files.iter().map(|(f, v)| (*f, v.as_str())).collect();
/// assert_eq!(rendered[0], ("cpu.max", "75000 50000"));
/// assert!(rendered.contains(&("memory.max", "536870912")));
/// assert!(rendered.contains(&("io.max", "259:0 rbps=max wbps=4194304 riops=max wiops=max")));
/// assert_eq!(limits.controllers(), ["cpu", "memory", "pids", "cpuset", "io"]);
///
/// // Lifting a limit: `max`.
/// let lifted = Limits::new().memory_max(Size::Max).pids_unlimited().files()?;
/// assert_eq!(lifted[1], ("pids.max", "max".to_owned()));
///
/// // A limit that could only fail is refused with the field named.
/// let err = Limits::new().cpus(0.001).files().unwrap_err();
/// assert!(err.to_string().contains("cpus"));
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// `memory.max`: the hard limit; beyond it the OOM killer acts.
    pub memory_max: Option<Size>,
    /// `memory.high`: the throttling limit.
    pub memory_high: Option<Size>,
    /// `memory.swap.max`.
    pub memory_swap_max: Option<Size>,
    /// `memory.oom.group`: kill the whole box on OOM, not one process.
    pub memory_oom_group: Option<bool>,
    /// `cpu.max` as a number of CPUs (1.5 = one and a half), over `cpu_period_us`.
    pub cpus: Option<f64>,
    /// The `cpu.max` period in microseconds (default 100 000; 1 000 to 1 000 000).
    pub cpu_period_us: Option<u64>,
    /// `cpu.weight`, 1 to 10 000.
    pub cpu_weight: Option<u64>,
    /// `pids.max`: `None` inside means `max`.
    pub pids_max: Option<Option<u64>>,
    /// `cpuset.cpus`, such as `0-3,6`.
    pub cpuset_cpus: Option<String>,
    /// `cpuset.mems`.
    pub cpuset_mems: Option<String>,
    /// `io.max`, one per device.
    pub io_max: Vec<IoMax>,
    /// `io.weight` (default weight), 1 to 10 000.
    pub io_weight: Option<u64>,
}

/// The controllers that `writes` need, each once, in order.
pub(crate) fn controllers_of(writes: &[LimitWrite]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for w in writes {
        if !out.contains(&w.controller) {
            out.push(w.controller);
        }
    }
    out
}

/// The smallest `memory.max` or `memory.high` a job can start under.
const MIN_MEMORY: u64 = 1 << 20;

/// The largest `cpu.max` quota the kernel takes (`max_cfs_runtime`), in us.
const MAX_QUOTA_US: u64 = (1 << 44) - 1;

fn invalid(field: &str, value: impl fmt::Display, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, "check limits")
        .with_detail(format!("{field} = {value}: {why}"))
}

impl Limits {
    /// No limits.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn new() -> Limits {
        Limits::default()
    }

    /// Set `memory.max`.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn memory_max(mut self, size: Size) -> Limits {
        self.memory_max = Some(size);
        self
    }

    /// Set `cpu.max` as a number of CPUs.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn cpus(mut self, cpus: f64) -> Limits {
        self.cpus = Some(cpus);
        self
    }

    /// Set `pids.max`.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn pids_max(mut self, pids: u64) -> Limits {
        self.pids_max = Some(Some(pids));
        self
    }

    /// Set `pids.max` to `max`: no limit on the number of processes.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn pids_unlimited(mut self) -> Limits {
        self.pids_max = Some(None);
        self
    }

    /// Set `memory.high`, the throttling limit.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn memory_high(mut self, size: Size) -> Limits {
        self.memory_high = Some(size);
        self
    }

    /// Set `memory.swap.max`.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn memory_swap_max(mut self, size: Size) -> Limits {
        self.memory_swap_max = Some(size);
        self
    }

    /// Set `memory.oom.group`: an OOM kill takes the whole box, so that a
    /// job's helpers do not go on without the process the OOM killer chose
    /// (the outcome then says [`Cause::OomKilled`](crate::Cause::OomKilled)
    /// with `group`). `false` is the kernel's default: one process.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn oom_group(mut self, whole_box: bool) -> Limits {
        self.memory_oom_group = Some(whole_box);
        self
    }

    /// Set the `cpu.max` period in microseconds (with [`Limits::cpus`]).
    ///
    /// See the [example](crate::Limits#examples).
    pub fn cpu_period_us(mut self, period: u64) -> Limits {
        self.cpu_period_us = Some(period);
        self
    }

    /// Set `cpu.weight`, 1 to 10 000.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn cpu_weight(mut self, weight: u64) -> Limits {
        self.cpu_weight = Some(weight);
        self
    }

    /// Set `cpuset.cpus`, such as `0-3,6`.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn cpuset_cpus(mut self, list: impl Into<String>) -> Limits {
        self.cpuset_cpus = Some(list.into());
        self
    }

    /// Set `cpuset.mems`.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn cpuset_mems(mut self, list: impl Into<String>) -> Limits {
        self.cpuset_mems = Some(list.into());
        self
    }

    /// Add an `io.max` line for one device.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn io_max(mut self, io: IoMax) -> Limits {
        self.io_max.push(io);
        self
    }

    /// Set `io.weight` (the default weight), 1 to 10 000.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn io_weight(mut self, weight: u64) -> Limits {
        self.io_weight = Some(weight);
        self
    }

    /// The controllers these limits need.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn controllers(&self) -> Vec<&'static str> {
        self.writes()
            .map(|w| controllers_of(&w))
            .unwrap_or_default()
    }

    /// Validate every field and give the interface files these limits
    /// write, with their values in the kernel's format, in the order they
    /// are written. Bad input is the error; nothing is touched.
    ///
    /// See the [example](crate::Limits#examples).
    pub fn files(&self) -> Result<Vec<(&'static str, String)>> {
        Ok(self
            .writes()?
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect())
    }

    /// Validate every field and render the writes, in a safe order.
    pub(crate) fn writes(&self) -> Result<Vec<LimitWrite>> {
        let mut out = Vec::new();
        let mut push = |controller, file, value: String| {
            out.push(LimitWrite {
                controller,
                file,
                value,
            })
        };

        if let Some(cpus) = self.cpus {
            push("cpu", "cpu.max", self.cpu_max(cpus)?);
        } else if let Some(p) = self.cpu_period_us {
            return Err(
                invalid("cpu period", p, "a period needs a CPU limit").with_hint("also give cpus")
            );
        }
        if let Some(w) = self.cpu_weight {
            if !(1..=10_000).contains(&w) {
                return Err(invalid("cpu.weight", w, "must be 1 to 10000"));
            }
            push("cpu", "cpu.weight", w.to_string());
        }
        for (file, size) in [
            ("memory.max", self.memory_max),
            ("memory.high", self.memory_high),
            ("memory.swap.max", self.memory_swap_max),
        ] {
            if let Some(size) = size {
                if let Size::Bytes(b) = size
                    && b < MIN_MEMORY
                    && file != "memory.swap.max"
                {
                    return Err(invalid(
                        file,
                        b,
                        "below 1M no process can even start: the limit could only fail at once",
                    )
                    .with_hint("give a size such as 64M, or max"));
                }
                push("memory", file, size.to_string());
            }
        }
        if let Some(g) = self.memory_oom_group {
            push("memory", "memory.oom.group", u8::from(g).to_string());
        }
        if let Some(p) = self.pids_max {
            match p {
                Some(0) => {
                    return Err(invalid("pids.max", 0, "the job could not even start")
                        .with_hint("give at least 1, or max"));
                }
                Some(n) if n > 4 * 1024 * 1024 => {
                    return Err(invalid(
                        "pids.max",
                        n,
                        "above the kernel's PID limit (4194304)",
                    ));
                }
                Some(n) => push("pids", "pids.max", n.to_string()),
                None => push("pids", "pids.max", "max".into()),
            }
        }
        if let Some(cpus) = &self.cpuset_cpus {
            push("cpuset", "cpuset.cpus", cpuset_list("cpuset.cpus", cpus)?);
        }
        if let Some(mems) = &self.cpuset_mems {
            push("cpuset", "cpuset.mems", cpuset_list("cpuset.mems", mems)?);
        }
        for io in &self.io_max {
            push("io", "io.max", io.render());
        }
        if let Some(w) = self.io_weight {
            if !(1..=10_000).contains(&w) {
                return Err(invalid("io.weight", w, "must be 1 to 10000"));
            }
            push("io", "io.weight", format!("default {w}"));
        }
        Ok(out)
    }

    fn cpu_max(&self, cpus: f64) -> Result<String> {
        let period = self.cpu_period_us.unwrap_or(100_000);
        if !(1_000..=1_000_000).contains(&period) {
            return Err(invalid(
                "cpu period",
                format!("{period} us"),
                "must be 1 ms to 1 s (1000 to 1000000 us)",
            ));
        }
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(invalid("cpus", cpus, "must be a positive number")
                .with_hint("give a fraction of CPUs such as 0.5 or 2"));
        }
        let quota = cpus * period as f64;
        if quota > MAX_QUOTA_US as f64 {
            return Err(invalid("cpus", cpus, "too large for cpu.max"));
        }
        let quota = quota.round() as u64;
        if quota < 1_000 {
            return Err(invalid(
                "cpus",
                cpus,
                &format!("gives a quota of {quota} us per {period} us period; the kernel needs at least 1000 us"),
            )
            .with_hint("give more CPUs or a longer period"));
        }
        Ok(format!("{quota} {period}"))
    }
}

/// Validate a cpuset list (`0-3,6`): ascending ranges of small numbers.
fn cpuset_list(field: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(field, "\"\"", "empty list").with_hint("give CPUs such as 0-3,6"));
    }
    for part in t.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| crate::parse::token::parse_u64(s).filter(|&n| n < 65_536);
        match (num(a), num(b)) {
            (Some(a), Some(b)) if a <= b => {}
            _ => {
                return Err(invalid(field, t, &format!("bad range {part:?}"))
                    .with_hint("give a list such as 0-3,6"));
            }
        }
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(Size::parse("max").unwrap(), Size::Max);
        assert_eq!(Size::parse("64M").unwrap(), Size::Bytes(64 << 20));
        assert_eq!(Size::parse("1g").unwrap(), Size::Bytes(1 << 30));
        assert_eq!(Size::parse("4096").unwrap(), Size::Bytes(4096));
        for bad in ["", "M", "-1", "1.5G", "12Q", "99999999999T", " ", "1 M"] {
            assert_eq!(
                Size::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rendering_every_field() {
        let limits = Limits {
            memory_max: Some(Size::Bytes(64 << 20)),
            memory_high: Some(Size::Max),
            memory_swap_max: Some(Size::Bytes(0)),
            memory_oom_group: Some(true),
            cpus: Some(1.5),
            cpu_period_us: None,
            cpu_weight: Some(200),
            pids_max: Some(Some(64)),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            io_max: vec![IoMax::parse("259:0 wbps=4194304").unwrap()],
            io_weight: Some(50),
        };
        let w: Vec<(&str, &str, String)> = limits
            .writes()
            .unwrap()
            .into_iter()
            .map(|w| (w.controller, w.file, w.value))
            .collect();
        assert_eq!(
            w,
            vec![
                ("cpu", "cpu.max", "150000 100000".into()),
                ("cpu", "cpu.weight", "200".into()),
                ("memory", "memory.max", "67108864".into()),
                ("memory", "memory.high", "max".into()),
                ("memory", "memory.swap.max", "0".into()),
                ("memory", "memory.oom.group", "1".into()),
                ("pids", "pids.max", "64".into()),
                ("cpuset", "cpuset.cpus", "0-1".into()),
                ("cpuset", "cpuset.mems", "0".into()),
                (
                    "io",
                    "io.max",
                    "259:0 rbps=max wbps=4194304 riops=max wiops=max".into()
                ),
                ("io", "io.weight", "default 50".into()),
            ]
        );
        assert_eq!(
            limits.controllers(),
            vec!["cpu", "memory", "pids", "cpuset", "io"]
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases: Vec<(Limits, &str)> = vec![
            (Limits::new().cpus(f64::NAN), "cpus"),
            (Limits::new().cpus(f64::INFINITY), "cpus"),
            (Limits::new().cpus(0.0), "cpus"),
            (Limits::new().cpus(-1.0), "cpus"),
            (Limits::new().cpus(0.001), "cpus"),
            (Limits::new().cpus(1e30), "cpus"),
            (
                Limits {
                    cpus: Some(1.0),
                    cpu_period_us: Some(999),
                    ..Limits::default()
                },
                "cpu period",
            ),
            (
                Limits {
                    cpus: Some(1.0),
                    cpu_period_us: Some(1_000_001),
                    ..Limits::default()
                },
                "cpu period",
            ),
            (
                Limits {
                    cpu_period_us: Some(1000),
                    ..Limits::default()
                },
                "cpu period",
            ),
            (
                Limits {
                    cpu_weight: Some(0),
                    ..Limits::default()
                },
                "cpu.weight",
            ),
            (
                Limits {
                    cpu_weight: Some(10_001),
                    ..Limits::default()
                },
                "cpu.weight",
            ),
            (Limits::new().memory_max(Size::Bytes(0)), "memory.max"),
            (Limits::new().pids_max(0), "pids.max"),
            (Limits::new().pids_max(5_000_000), "pids.max"),
            (
                Limits {
                    cpuset_cpus: Some("3-1".into()),
                    ..Limits::default()
                },
                "cpuset.cpus",
            ),
            (
                Limits {
                    cpuset_cpus: Some("a".into()),
                    ..Limits::default()
                },
                "cpuset.cpus",
            ),
            (
                Limits {
                    cpuset_mems: Some("".into()),
                    ..Limits::default()
                },
                "cpuset.mems",
            ),
            (
                Limits {
                    io_weight: Some(0),
                    ..Limits::default()
                },
                "io.weight",
            ),
        ];
        for (limits, field) in cases {
            let e = limits.writes().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn io_max_parsing() {
        let io = IoMax::parse("8:0 rbps=1048576 wiops=max").unwrap();
        assert_eq!(
            (io.major, io.minor, io.rbps, io.wiops),
            (8, 0, Some(1048576), None)
        );
        for bad in [
            "",
            "8:0",
            "8 rbps=1",
            "8:x rbps=1",
            "8:0 rbps",
            "8:0 speed=1",
            "8:0 rbps=-1",
            "8:0 wbps=0",
            "8:0 rbps=1 rbps=2",
        ] {
            assert!(IoMax::parse(bad).is_err(), "{bad:?}");
        }
    }
}
