//! Thread mode (cgroup-v2.rst "Threads"), as `kernel/cgroup/cgroup.c`
//! decides it: `cgroup_is_thread_root`, `cgroup_is_valid_domain`,
//! `cgroup_can_be_thread_root`, `cgroup_vet_subtree_control_enable`,
//! `cgroup_migrate_vet_dst` and `cgroup_enable_threaded`. Fake processes
//! are single-threaded, so a "thread" here is a whole process.

use std::collections::BTreeSet;

use rustix::io::Errno;

use super::State;

/// The controllers that work in threaded mode (perf_event is implicit on
/// cgroup2 and not modelled).
pub(super) const THREADED_CONTROLLERS: [&str; 3] = ["cpuset", "cpu", "pids"];

fn is_threaded_controller(c: &str) -> bool {
    THREADED_CONTROLLERS.contains(&c)
}

impl State {
    pub(super) fn is_threaded(&self, id: u64) -> bool {
        self.node(id).is_ok_and(|n| n.threaded)
    }

    /// Only the root may mix domain and threaded children.
    fn is_mixable(&self, id: u64) -> bool {
        self.node(id).is_ok_and(|n| n.parent.is_none())
    }

    /// Live processes directly in `id`.
    pub(super) fn has_tasks(&self, id: u64) -> bool {
        !self.procs.live_in(id).is_empty()
    }

    /// A domain with threaded children, or with processes and threaded
    /// controllers enabled below it.
    pub(super) fn is_thread_root(&self, id: u64) -> bool {
        let Ok(node) = self.node(id) else {
            return false;
        };
        if node.threaded {
            return false;
        }
        let threaded_children = node.children.values().any(|&c| self.is_threaded(c));
        threaded_children
            || (self.has_tasks(id)
                && node
                    .subtree_control
                    .iter()
                    .any(|c| is_threaded_controller(c)))
    }

    /// A domain that can hold resources: not threaded, and no ancestor on
    /// the way up is threaded or a (non-root) thread root.
    pub(super) fn is_valid_domain(&self, id: u64) -> bool {
        if self.is_threaded(id) {
            return false;
        }
        let mut cur = self.node(id).ok().and_then(|n| n.parent);
        while let Some(c) = cur {
            if (!self.is_mixable(c) && self.is_thread_root(c)) || self.is_threaded(c) {
                return false;
            }
            cur = self.node(c).ok().and_then(|n| n.parent);
        }
        true
    }

    /// The resource domain of `id`: itself, or for a threaded cgroup the
    /// nearest ancestor that is not threaded (its thread root).
    pub(super) fn dom_cgroup(&self, id: u64) -> u64 {
        let mut cur = id;
        while self.is_threaded(cur) {
            match self.node(cur).ok().and_then(|n| n.parent) {
                Some(p) => cur = p,
                None => break,
            }
        }
        cur
    }

    fn can_be_thread_root(&self, id: u64) -> bool {
        if self.is_mixable(id) {
            return true;
        }
        let Ok(node) = self.node(id) else {
            return false;
        };
        if node.threaded {
            return false;
        }
        let populated_domain_child = node
            .children
            .values()
            .any(|&c| !self.is_threaded(c) && self.populated(c));
        !populated_domain_child
            && node
                .subtree_control
                .iter()
                .all(|c| is_threaded_controller(c))
    }

    /// What `cgroup.type` reads.
    pub(super) fn type_name(&self, id: u64) -> &'static str {
        if self.is_threaded(id) {
            "threaded"
        } else if !self.is_valid_domain(id) {
            "domain invalid"
        } else if self.is_thread_root(id) {
            "domain threaded"
        } else {
            "domain"
        }
    }

    /// A threaded cgroup is offered only the threaded controllers of its parent.
    pub(super) fn filter_threaded(
        &self,
        id: u64,
        mut set: BTreeSet<&'static str>,
    ) -> BTreeSet<&'static str> {
        if self.is_threaded(id) {
            set.retain(|c| is_threaded_controller(c));
        }
        set
    }

    /// May `id` newly enable `enabling` in its `cgroup.subtree_control`?
    pub(super) fn vet_enable(
        &self,
        id: u64,
        enabling: &BTreeSet<&'static str>,
    ) -> Result<(), Errno> {
        if enabling.is_empty() {
            return Ok(());
        }
        if !self.is_valid_domain(self.dom_cgroup(id)) {
            return Err(Errno::OPNOTSUPP);
        }
        if self.is_mixable(id) {
            return Ok(());
        }
        if enabling.iter().any(|c| !is_threaded_controller(c)) {
            // No domain controllers inside a thread subtree.
            if self.is_thread_root(id) || self.is_threaded(id) {
                return Err(Errno::OPNOTSUPP);
            }
        } else if self.can_be_thread_root(id) || self.is_threaded(id) {
            // Threaded controllers cope with internal processes.
            return Ok(());
        }
        if self.has_tasks(id) {
            return Err(Errno::BUSY);
        }
        Ok(())
    }

    /// May a process (or with `whole_process` false, a thread) move from
    /// `src` into `dst`?
    pub(super) fn vet_migration(
        &self,
        src: u64,
        dst: u64,
        whole_process: bool,
    ) -> Result<(), Errno> {
        if !whole_process && self.dom_cgroup(src) != self.dom_cgroup(dst) {
            return Err(Errno::OPNOTSUPP);
        }
        if !self.is_valid_domain(self.dom_cgroup(dst)) {
            return Err(Errno::OPNOTSUPP);
        }
        if self.can_be_thread_root(dst) || self.is_threaded(dst) {
            return Ok(());
        }
        let has_controllers = self.node(dst).is_ok_and(|n| !n.subtree_control.is_empty());
        if has_controllers {
            return Err(Errno::BUSY);
        }
        Ok(())
    }

    /// Write `threaded` to `cgroup.type` (the only value the kernel takes).
    pub(super) fn make_threaded(&mut self, id: u64) -> Result<(), Errno> {
        if self.is_threaded(id) {
            return Ok(());
        }
        let node = self.node(id).map_err(|_| Errno::NODEV)?;
        let parent = node.parent.ok_or(Errno::INVAL)?;
        if self.populated(id)
            || node
                .subtree_control
                .iter()
                .any(|c| !is_threaded_controller(c))
        {
            return Err(Errno::OPNOTSUPP);
        }
        let dom = self.dom_cgroup(parent);
        if !self.is_valid_domain(dom) || !self.can_be_thread_root(dom) {
            return Err(Errno::OPNOTSUPP);
        }
        self.node_mut(id).map_err(|_| Errno::NODEV)?.threaded = true;
        Ok(())
    }
}
