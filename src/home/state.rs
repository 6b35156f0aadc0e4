//! One read of a home's state, for discovery, enabling and `prepare`.

use std::path::PathBuf;

use crate::fs::{CgroupFs, Handle, read_optional, read_string};
use crate::parse::{token, value};
use crate::{Error, ErrorKind, Result, fixes};

/// What a home holds and offers, as the kernel shows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HomeState {
    pub(crate) path: PathBuf,
    /// `cgroup.type`; `None` at the real root, which has none.
    pub(crate) kind: Option<String>,
    /// `cgroup.procs` (left empty at the real root, which is exempt from
    /// the no-internal-process rule and may list thousands).
    pub(crate) procs: Vec<u32>,
    /// `cgroup.controllers`: what the home is offered.
    pub(crate) controllers: Vec<String>,
    /// `cgroup.subtree_control`: what it passes on to its children.
    pub(crate) enabled: Vec<String>,
}

/// What keeps a home from giving its boxes controllers.
#[derive(Debug)]
pub(crate) enum Obstacle {
    None,
    /// Only this process is in the home: it can step into a leaf.
    OnlyUs,
    Refused(Error),
}

impl HomeState {
    /// Read the home's interface files once.
    pub(crate) fn read<F: CgroupFs + ?Sized>(
        fs: &F,
        home: &F::Dir,
        real_root: bool,
    ) -> Result<HomeState> {
        let words = |text: Option<String>| -> Vec<String> {
            value::words(&text.unwrap_or_default())
                .map(str::to_owned)
                .collect()
        };
        Ok(HomeState {
            path: home.path().to_path_buf(),
            kind: read_optional(fs, home, "cgroup.type")?.map(|t| t.trim().to_owned()),
            procs: if real_root {
                Vec::new()
            } else {
                procs(fs, home)?
            },
            controllers: words(read_optional(fs, home, "cgroup.controllers")?),
            enabled: words(read_optional(fs, home, "cgroup.subtree_control")?),
        })
    }

    /// Whether the home is in thread mode (`cgroup.type` other than
    /// `domain`): it cannot give boxes domain controllers.
    pub(crate) fn thread_mode(&self) -> bool {
        self.kind.as_deref().is_some_and(|t| t != "domain")
    }

    /// The home's processes other than `me`.
    pub(crate) fn others(&self, me: u32) -> Vec<u32> {
        self.procs.iter().copied().filter(|&p| p != me).collect()
    }

    /// What keeps the (non-root) home from enabling controllers now.
    pub(crate) fn obstacle(&self, me: u32) -> Obstacle {
        let Some(kind) = self.kind.as_deref() else {
            // Only the real root has no cgroup.type, and it is exempt from
            // the no-internal-process rule (a home named by the caller can be it).
            return Obstacle::None;
        };
        if kind != "domain" {
            return Obstacle::Refused(
                Error::new(ErrorKind::ThreadMode, "enable controllers")
                    .with_path(&self.path)
                    .with_detail(format!(
                        "{} has cgroup.type {kind:?}: it cannot give boxes domain controllers",
                        self.path.display(),
                    ))
                    .with_hint(fixes::thread_mode(&self.path)),
            );
        }
        let others = self.others(me);
        if others.is_empty() {
            return if self.procs.is_empty() {
                Obstacle::None
            } else {
                Obstacle::OnlyUs
            };
        }
        Obstacle::Refused(
            Error::new(ErrorKind::NoInternalProcesses, "enable controllers")
                .with_path(&self.path)
                .with_detail(format!(
                    "{} holds processes of its own ({}), so it cannot give boxes controllers (the no-internal-process rule); boxes without limits still work",
                    self.path.display(),
                    some_pids(&others)
                ))
                .with_hint(fixes::prepare(&self.path)),
        )
    }
}

/// The PIDs in `cgroup.procs` of `dir`.
pub(crate) fn procs<F: CgroupFs + ?Sized>(fs: &F, dir: &F::Dir) -> Result<Vec<u32>> {
    Ok(token::pids(&read_string(fs, dir, "cgroup.procs")?).collect())
}

/// The first five PIDs, and `...` when there are more.
pub(crate) fn some_pids(pids: &[u32]) -> String {
    let shown: Vec<String> = pids.iter().take(5).map(u32::to_string).collect();
    format!(
        "{}{}",
        shown.join(", "),
        if pids.len() > 5 { ", ..." } else { "" }
    )
}
