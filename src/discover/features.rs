//! What the kernel offers boxes: `cgroup.kill`, `cgroup.freeze`,
//! `memory.peak`, pressure files.

use crate::Result;
use crate::fs::{CgroupFs, read_optional};
use crate::home::{HomeKind, read_host_text};
use crate::layout::AGENTS;

/// What the kernel offers the boxes.
///
/// See the [example](crate::Discovery#examples) of [`Discovery`](crate::Discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// `cgroup.kill` (Linux 5.14).
    pub kill: bool,
    /// `cgroup.freeze` (Linux 5.2).
    pub freeze: bool,
    /// `memory.peak` (Linux 5.19, and the memory controller).
    pub memory_peak: bool,
    /// Pressure stall information files.
    pub psi: bool,
}

pub(crate) fn kernel_version<F: CgroupFs + ?Sized>(fs: &F) -> Option<(u32, u32)> {
    let text = read_host_text(fs, "/proc/sys/kernel/osrelease").ok()?;
    let mut parts = text.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Features of boxes: looked up in non-root cgroups when there are any
/// (the root lacks `cgroup.kill` and friends), else from the kernel version.
pub(crate) fn probe_features<F: CgroupFs>(
    fs: &F,
    parent: &F::Dir,
    kind: &HomeKind,
    app_dir: Option<&F::Dir>,
    controllers: &[String],
) -> Result<Features> {
    let mut probes: Vec<F::Dir> = Vec::new();
    if let Some(app) = app_dir {
        probes.extend(fs.open_child(app, AGENTS).ok());
    }
    for name in fs.child_names(parent).unwrap_or_default().iter().take(8) {
        probes.extend(fs.open_child(parent, name).ok());
    }
    let mut non_root: Vec<&F::Dir> = Vec::new();
    if !kind.is_real_root() && fs.has_file(parent, "cgroup.type")? {
        non_root.push(parent);
    }
    if let Some(app) = app_dir {
        non_root.push(app);
    }
    for p in &probes {
        if fs.has_file(p, "cgroup.type").unwrap_or(false) {
            non_root.push(p);
        }
    }
    let version = kernel_version(fs);
    let at_least = |major: u32, minor: u32| version.is_some_and(|v| v >= (major, minor));
    let has = |file: &str| {
        non_root
            .iter()
            .any(|d| fs.has_file(d, file).unwrap_or(false))
    };
    let (kill, freeze) = if non_root.is_empty() {
        (at_least(5, 14), at_least(5, 2))
    } else {
        (has("cgroup.kill"), has("cgroup.freeze"))
    };
    let memory_on = controllers.iter().any(|c| c == "memory");
    let with_memory: Vec<&&F::Dir> = non_root
        .iter()
        .filter(|d| fs.has_file(d, "memory.current").unwrap_or(false))
        .collect();
    let memory_peak = memory_on
        && if with_memory.is_empty() {
            at_least(5, 19)
        } else {
            with_memory
                .iter()
                .any(|d| fs.has_file(d, "memory.peak").unwrap_or(false))
        };
    let psi = match read_optional(fs, parent, "cpu.pressure") {
        Ok(Some(_)) => read_optional(fs, parent, "cgroup.pressure")
            .ok()
            .flatten()
            .is_none_or(|v| v.trim() != "0"),
        _ => false,
    };
    Ok(Features {
        kill,
        freeze,
        memory_peak,
        psi,
    })
}
