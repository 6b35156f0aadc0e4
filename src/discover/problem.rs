//! What discovery found wrong or missing, each with its fix.

use std::fmt;
use std::path::PathBuf;

use crate::home::some_pids;
use crate::{Error, fixes};

/// One thing that is wrong or missing where boxes would go, with what
/// would fix it. `Display` says both, in one line.
///
/// See the [example](crate::Discovery#examples) of [`Discovery`](crate::Discovery).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Problem {
    /// Boxes cannot be made here at all: the error says why, and its hint
    /// what to do.
    Unusable(Error),
    /// The cgroup2 mount is read-only (containers mount it so by default).
    ReadOnlyMount {
        /// The mount point.
        mount: PathBuf,
    },
    /// The home is in a thread-mode subtree: boxes below it cannot hold
    /// processes.
    ThreadMode {
        /// The home.
        home: PathBuf,
        /// Its `cgroup.type`.
        kind: String,
    },
    /// The home holds processes of its own: boxes without limits work, but
    /// it cannot give boxes controllers (the no-internal-process rule)
    /// until they move to a leaf (`cgbox prepare`).
    HomeProcesses {
        /// The home.
        home: PathBuf,
        /// Its processes other than this one.
        pids: Vec<u32>,
    },
    /// Controllers held by cgroup v1 on a hybrid host.
    HeldByV1 {
        /// The controllers cgroup2 lacks here.
        controllers: Vec<String>,
        /// Each held one, and where v1 mounts it.
        mounts: Vec<(String, PathBuf)>,
    },
    /// Controllers the cgroup2 root does not have: the kernel was built
    /// without them, or they are bound to cgroup v1.
    NotAtRoot {
        /// The controllers missing.
        controllers: Vec<String>,
    },
    /// Controllers not delegated to the home.
    NotDelegated {
        /// The controllers missing.
        controllers: Vec<String>,
        /// The home.
        home: PathBuf,
    },
    /// No write permission where boxes would be made.
    NotWritable {
        /// The directory.
        dir: PathBuf,
    },
    /// No `cgroup.kill` (Linux before 5.14): boxes are killed by freezing
    /// and signalling each process.
    NoKill,
}

impl Problem {
    /// What would fix it, when something would.
    ///
    /// See the [example](crate::Discovery#examples) of [`Discovery`](crate::Discovery).
    pub fn fix(&self) -> Option<String> {
        Some(match self {
            Problem::Unusable(e) => return e.hint().map(str::to_owned),
            Problem::ReadOnlyMount { .. } => fixes::READ_ONLY_MOUNT.to_owned(),
            Problem::ThreadMode { home, .. } => fixes::thread_mode(home),
            Problem::HomeProcesses { home, .. } => fixes::prepare(home),
            Problem::HeldByV1 { .. } => fixes::UNIFIED_BOOT.to_owned(),
            Problem::NotAtRoot { .. } => "boot with cgroup_no_v1=all".to_owned(),
            Problem::NotDelegated { controllers, home } => fixes::controller_not_delegated(
                &controllers.join(", "),
                crate::layout::in_user_manager(home),
            ),
            Problem::NotWritable { dir } => fixes::user_delegation(dir),
            Problem::NoKill => return None,
        })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fix = self.fix().unwrap_or_default();
        match self {
            Problem::Unusable(e) => write!(f, "{e}"),
            Problem::ReadOnlyMount { mount } => write!(
                f,
                "cgroup2 is mounted read-only at {}; fix: {fix}",
                mount.display()
            ),
            Problem::ThreadMode { home, kind } => write!(
                f,
                "{} has cgroup.type {kind:?}: boxes below it cannot hold processes; fix: {fix}",
                home.display()
            ),
            Problem::HomeProcesses { home, pids } => write!(
                f,
                "{} holds {} process(es) of its own ({}): boxes without limits work, but limits need controllers, which it cannot give its children while it holds processes (the no-internal-process rule); fix: {fix}",
                home.display(),
                pids.len(),
                some_pids(pids)
            ),
            Problem::HeldByV1 {
                controllers,
                mounts,
            } => {
                let list = controllers.join(", ");
                let held: Vec<String> = mounts
                    .iter()
                    .map(|(c, p)| format!("{c} at {}", p.display()))
                    .collect();
                write!(
                    f,
                    "{list} not available on cgroup2 here: this is a hybrid host and cgroup v1 holds them ({}); boxes get only the core interface (kill, freeze, cpu.stat), and limits on {list} cannot be applied; fix: {fix}",
                    held.join(", ")
                )
            }
            Problem::NotAtRoot { controllers } => write!(
                f,
                "{} not available at the cgroup2 root: the kernel was built without them, or they are bound to cgroup v1; fix: {fix}",
                controllers.join(", ")
            ),
            Problem::NotDelegated { controllers, home } => write!(
                f,
                "{} not delegated to {} (absent from its cgroup.controllers), so limits on them cannot be applied; fix: {fix}",
                controllers.join(", "),
                home.display()
            ),
            Problem::NotWritable { dir } => {
                write!(f, "no write permission on {}; fix: {fix}", dir.display())
            }
            Problem::NoKill => f.write_str(
                "cgroup.kill is not available (Linux < 5.14): boxes are killed by freezing and signalling each process",
            ),
        }
    }
}
