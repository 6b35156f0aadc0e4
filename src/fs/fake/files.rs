//! Which interface files exist where, what they read, and what writes do.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use rustix::io::Errno;

use super::{CONTROLLERS, FakeFile, Op, Psi, State, values};
use crate::fs::Access;
use crate::{Error, Result};

/// Core files of every non-root cgroup (`cgroup.kill` can be hidden as on
/// kernels before 5.14).
const CORE: [&str; 12] = [
    "cgroup.controllers",
    "cgroup.events",
    "cgroup.freeze",
    "cgroup.kill",
    "cgroup.max.depth",
    "cgroup.max.descendants",
    "cgroup.procs",
    "cgroup.stat",
    "cgroup.subtree_control",
    "cgroup.threads",
    "cgroup.type",
    "cpu.stat",
];

/// The root lacks `cgroup.events`, `cgroup.freeze`, `cgroup.kill`, `cgroup.type`.
const ROOT_CORE: [&str; 8] = [
    "cgroup.controllers",
    "cgroup.max.depth",
    "cgroup.max.descendants",
    "cgroup.procs",
    "cgroup.stat",
    "cgroup.subtree_control",
    "cgroup.threads",
    "cpu.stat",
];

const PSI: [&str; 5] = [
    "cgroup.pressure",
    "cpu.pressure",
    "io.pressure",
    "memory.pressure",
    "irq.pressure",
];

fn controller_files(controller: &str) -> &'static [&'static str] {
    match controller {
        "cpu" => &[
            "cpu.idle",
            "cpu.max",
            "cpu.max.burst",
            "cpu.weight",
            "cpu.weight.nice",
        ],
        "memory" => &[
            "memory.current",
            "memory.events",
            "memory.events.local",
            "memory.high",
            "memory.low",
            "memory.max",
            "memory.min",
            "memory.oom.group",
            "memory.peak",
            "memory.stat",
            "memory.swap.current",
            "memory.swap.events",
            "memory.swap.high",
            "memory.swap.max",
            "memory.swap.peak",
        ],
        "pids" => &["pids.current", "pids.events", "pids.max", "pids.peak"],
        "io" => &["io.max", "io.stat", "io.weight"],
        "cpuset" => &[
            "cpuset.cpus",
            "cpuset.cpus.effective",
            "cpuset.cpus.partition",
            "cpuset.mems",
            "cpuset.mems.effective",
        ],
        _ => &[],
    }
}

/// Controller files that the root has too.
const ROOT_CONTROLLER_FILES: [&str; 4] = [
    "memory.stat",
    "io.stat",
    "cpuset.cpus.effective",
    "cpuset.mems.effective",
];

impl State {
    pub(super) fn file_exists(&self, id: u64, name: &str) -> bool {
        if self.hidden.contains(name) {
            return false;
        }
        let Ok(node) = self.node(id) else {
            return false;
        };
        if node.values.contains_key(name) && !self.standard_file(id, name) {
            // set_file made an extra file exist
            return true;
        }
        self.standard_file(id, name)
    }

    fn standard_file(&self, id: u64, name: &str) -> bool {
        if let Some(shown) = self.profile_file(id, name) {
            return shown; // a file this kernel lacks, or one only the profile knows
        }
        let Ok(node) = self.node(id) else {
            return false;
        };
        let is_root = node.parent.is_none();
        if PSI.contains(&name) {
            return self.psi != Psi::Absent;
        }
        if is_root {
            if ROOT_CORE.contains(&name) {
                return true;
            }
            return ROOT_CONTROLLER_FILES.contains(&name)
                && self
                    .available
                    .iter()
                    .any(|c| controller_files(c).contains(&name));
        }
        if CORE.contains(&name) {
            return true;
        }
        let Ok(enabled) = self.controllers(id) else {
            return false;
        };
        enabled.iter().any(|c| controller_files(c).contains(&name))
    }

    /// An I/O on a kept file: an injected fault, a removed cgroup
    /// (`ENODEV`, as the kernel answers) or the wrong access mode
    /// (`EBADF`) fail it before anything is looked at.
    fn check_io(&mut self, op: Op, file: &FakeFile) -> std::result::Result<(), Errno> {
        if let Some(errno) = self.take_fault(op, &file.path) {
            return Err(errno);
        }
        if self.node(file.node).is_err() {
            return Err(Errno::NODEV);
        }
        let wrong = match op {
            Op::Read => Access::Write,
            _ => Access::Read,
        };
        if file.access == wrong && file.access != Access::ReadWrite {
            return Err(Errno::BADF);
        }
        Ok(())
    }

    pub(super) fn read(&mut self, file: &FakeFile) -> Result<String> {
        let err = |e: Errno| Error::from_rustix("read", &file.path, e);
        self.check_io(Op::Read, file).map_err(err)?;
        let id = file.node;
        let name = file.name.as_str();
        if PSI.contains(&name) && self.psi == Psi::Unsupported {
            return Err(err(Errno::OPNOTSUPP));
        }
        if name == "cgroup.events" {
            file.seen_gen.store(self.events_gen, Ordering::SeqCst);
        }
        if name == "cgroup.procs" && self.is_threaded(id) {
            // A threaded cgroup's processes are listed by its thread root.
            return Err(err(Errno::OPNOTSUPP));
        }
        if name == "cgroup.procs" {
            let frozen = self.frozen(id);
            if self.procs.fork_racers(id, frozen) {
                self.events_gen += 1;
            }
        }
        if let Some(v) = self.node(id)?.values.get(name) {
            return Ok(v.clone());
        }
        Ok(self.profile_content(id, name, self.generate(id, name)))
    }

    fn generate(&self, id: u64, name: &str) -> String {
        // cgroup_print_ss_mask: names in the kernel's order, and no newline
        // at all for an empty mask.
        let join = |set: &BTreeSet<&'static str>| {
            let words: Vec<&str> = CONTROLLERS
                .iter()
                .copied()
                .filter(|c| set.contains(c))
                .collect();
            if words.is_empty() {
                String::new()
            } else {
                format!("{}\n", words.join(" "))
            }
        };
        let cpu_on = self
            .controllers(id)
            .map(|c| c.contains("cpu"))
            .unwrap_or(false);
        match name {
            "cgroup.controllers" => join(&self.controllers(id).unwrap_or_default()),
            "cgroup.subtree_control" => self.node(id).map(|n| join(&n.subtree_control)).unwrap_or_default(),
            // A domain lists the processes of its whole resource domain
            // (threaded descendants included); threads are listed where they are.
            "cgroup.procs" => self
                .procs
                .live()
                .filter(|(_, p)| self.dom_cgroup(p.cgroup) == id)
                .map(|(pid, _)| format!("{pid}\n"))
                .collect(),
            "cgroup.threads" => {
                self.procs.live_in(id).iter().map(|p| format!("{p}\n")).collect()
            }
            "cgroup.events" => format!(
                "populated {}\nfrozen {}\n",
                u8::from(self.populated(id)),
                u8::from(self.frozen(id))
            ),
            "cgroup.freeze" => {
                format!("{}\n", u8::from(self.node(id).map(|n| n.freeze).unwrap_or(false)))
            }
            "cgroup.type" => format!("{}\n", self.type_name(id)),
            "cgroup.stat" => format!("nr_descendants {}\nnr_dying_descendants 0\n", self.descendants(id)),
            "cgroup.max.depth" | "cgroup.max.descendants" => "max\n".into(),
            "cgroup.pressure" => "1\n".into(),
            "cpu.stat" if cpu_on => "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n".into(),
            "cpu.stat" => "usage_usec 0\nuser_usec 0\nsystem_usec 0\n".into(),
            "cpu.max" => "max 100000\n".into(),
            "cpu.weight" => "100\n".into(),
            "cpu.max.burst" | "cpu.weight.nice" | "cpu.idle" => "0\n".into(),
            "memory.max" | "memory.high" | "memory.swap.max" | "memory.swap.high" | "pids.max" => "max\n".into(),
            "memory.min" | "memory.low" | "memory.oom.group" | "memory.current" | "memory.peak"
            | "memory.swap.current" | "memory.swap.peak" => "0\n".into(),
            // Unreaped zombies stay charged to pids until released.
            "pids.current" | "pids.peak" => format!("{}\n", self.charged_in_subtree(id)),
            "memory.events" | "memory.events.local" => {
                "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n".into()
            }
            "memory.swap.events" => "high 0\nmax 0\nfail 0\n".into(),
            "pids.events" => "max 0\n".into(),
            "memory.stat" => "anon 0\nfile 0\nkernel 0\nshmem 0\n".into(),
            "io.stat" | "io.max" => String::new(),
            "io.weight" => "default 100\n".into(),
            "cpuset.cpus" | "cpuset.mems" => "\n".into(),
            "cpuset.cpus.effective" => format!("{}\n", self.effective(id, "cpuset.cpus", self.cpus)),
            "cpuset.mems.effective" => format!("{}\n", self.effective(id, "cpuset.mems", self.mems)),
            "cpuset.cpus.partition" => "member\n".into(),
            n if PSI.contains(&n) => {
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n".into()
            }
            _ => String::new(),
        }
    }

    /// A cpuset's effective list: its own within its parent's effective
    /// list, else (no list of its own, or none of the parent's in it) the
    /// parent's (`compute_effective_cpumask` and `update_cpumasks_hier`
    /// in kernel/cgroup/cpuset.c).
    fn effective(&self, id: u64, file: &str, all: u32) -> String {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let Ok(node) = self.node(c) else { break };
            chain.push(c);
            cur = node.parent;
        }
        let mut effective: Vec<u32> = (0..all).collect();
        for &c in chain.iter().rev() {
            let enabled = self.controllers(c).is_ok_and(|set| set.contains("cpuset"));
            let own = self
                .node(c)
                .ok()
                .and_then(|n| n.values.get(file))
                .and_then(|v| values::parse_list(v.trim()));
            if let (true, Some(own)) = (enabled, own) {
                let both: Vec<u32> = own.into_iter().filter(|i| effective.contains(i)).collect();
                if !both.is_empty() {
                    effective = both;
                }
            }
        }
        values::render_list(&effective)
    }

    fn descendants(&self, id: u64) -> usize {
        self.node(id)
            .map(|n| n.children.values().map(|&c| 1 + self.descendants(c)).sum())
            .unwrap_or(0)
    }

    fn charged_in_subtree(&self, id: u64) -> usize {
        self.procs
            .all()
            .filter(|(_, p)| self.is_ancestor_or_self(id, p.cgroup))
            .count()
    }

    pub(super) fn write(&mut self, file: &FakeFile, data: &[u8]) -> Result<()> {
        let err = |e: Errno| Error::from_rustix("write", &file.path, e);
        self.check_io(Op::Write, file).map_err(err)?;
        let text = std::str::from_utf8(data).map_err(|_| err(Errno::INVAL))?;
        let id = file.node;
        match file.name.as_str() {
            "cgroup.subtree_control" => self.write_subtree_control(id, text).map_err(err),
            "cgroup.procs" => self.write_procs(id, text, true).map_err(err),
            "cgroup.threads" => self.write_procs(id, text, false).map_err(err),
            "cgroup.type" => {
                if text.trim() != "threaded" {
                    return Err(err(Errno::INVAL));
                }
                self.make_threaded(id).map_err(err)
            }
            "cgroup.kill" => {
                let v = values::kstrtoint(text).ok_or_else(|| err(Errno::INVAL))?;
                if v != 1 {
                    return Err(err(Errno::RANGE));
                }
                self.kill_subtree(id);
                Ok(())
            }
            "cgroup.freeze" => {
                let v = values::kstrtoint(text).ok_or_else(|| err(Errno::INVAL))?;
                if !(0..=1).contains(&v) {
                    return Err(err(Errno::RANGE));
                }
                self.node_mut(id)?.freeze = v == 1;
                self.events_gen += 1;
                Ok(())
            }
            name => {
                let current = self.node(id)?.values.get(name).map(String::as_str);
                let stored = values::validate(self, name, text, current).map_err(err)?;
                if let Some(v) = &stored {
                    self.vet_cpuset(id, name, v).map_err(err)?;
                }
                if let Some(v) = stored {
                    self.node_mut(id)?.values.insert(name.to_owned(), v);
                }
                Ok(())
            }
        }
    }

    /// All or nothing, with the kernel's errno for each failure
    /// (`cgroup_subtree_control_write` in kernel/cgroup/cgroup.c).
    fn write_subtree_control(&mut self, id: u64, text: &str) -> std::result::Result<(), Errno> {
        let mut enable = BTreeSet::new();
        let mut disable = BTreeSet::new();
        for token in text.split_ascii_whitespace() {
            let (on, name) = match token.split_at_checked(1) {
                Some(("+", n)) => (true, n),
                Some(("-", n)) => (false, n),
                _ => return Err(Errno::INVAL),
            };
            let Some(&c) = CONTROLLERS
                .iter()
                .find(|c| **c == name && self.kernel.knows(c))
            else {
                return Err(Errno::INVAL);
            };
            if on {
                disable.remove(c);
                enable.insert(c);
            } else {
                enable.remove(c);
                disable.insert(c);
            }
        }
        // Only what is enabled must be available; disabling what is not
        // enabled is a no-op, as in the kernel.
        let available = self.controllers(id).map_err(|_| Errno::NODEV)?;
        if enable.iter().any(|c| !available.contains(c)) {
            return Err(Errno::NOENT);
        }
        let node = self.node(id).map_err(|_| Errno::NODEV)?;
        // A controller still enabled by a child cannot be taken away.
        for child in node.children.values() {
            if let Ok(ch) = self.node(*child)
                && disable.iter().any(|c| ch.subtree_control.contains(c))
            {
                return Err(Errno::BUSY);
            }
        }
        let enabling: BTreeSet<&'static str> = enable
            .iter()
            .copied()
            .filter(|c| !node.subtree_control.contains(c))
            .collect();
        // No internal processes, and the thread-mode rules.
        self.vet_enable(id, &enabling)?;
        if enabling.contains("cpu") && self.realtime_outside_root {
            return Err(Errno::INVAL);
        }
        let node = self.node_mut(id).map_err(|_| Errno::NODEV)?;
        node.subtree_control.extend(enable.iter().copied());
        for c in &disable {
            node.subtree_control.remove(c);
        }
        Ok(())
    }

    /// Where the kernel wants a cpuset's list to hold its children's
    /// (see `Kernel::cpuset_children_must_fit`), a new `cpuset.cpus` or
    /// `cpuset.mems` of `id` that leaves out a child's is `EBUSY`.
    fn vet_cpuset(&self, id: u64, name: &str, new: &str) -> std::result::Result<(), Errno> {
        if !matches!(name, "cpuset.cpus" | "cpuset.mems") || !self.kernel.cpuset_children_must_fit()
        {
            return Ok(());
        }
        let new = values::parse_list(new.trim()).unwrap_or_default();
        let node = self.node(id).map_err(|_| Errno::NODEV)?;
        for child in node.children.values() {
            let theirs = self
                .node(*child)
                .ok()
                .and_then(|c| c.values.get(name))
                .and_then(|v| values::parse_list(v.trim()))
                .unwrap_or_default();
            if theirs.iter().any(|i| !new.contains(i)) {
                return Err(Errno::BUSY);
            }
        }
        Ok(())
    }

    fn write_procs(
        &mut self,
        id: u64,
        text: &str,
        whole_process: bool,
    ) -> std::result::Result<(), Errno> {
        let pid = values::kstrtoint(text).ok_or(Errno::INVAL)?;
        let pid = if pid == 0 {
            self.procs.self_pid
        } else {
            u32::try_from(pid).map_err(|_| Errno::INVAL)?
        };
        self.node(id).map_err(|_| Errno::NODEV)?;
        let src = match self.procs.get(pid) {
            Some(p) if self.procs.state(pid) != Some(super::ProcState::Zombie) => p.cgroup,
            _ => return Err(Errno::SRCH),
        };
        self.vet_migration(src, id, whole_process)?;
        self.procs.move_to(pid, id);
        self.events_gen += 1;
        Ok(())
    }

    fn kill_subtree(&mut self, id: u64) {
        let victims: Vec<u32> = self
            .procs
            .live()
            .filter(|(_, p)| self.is_ancestor_or_self(id, p.cgroup))
            .map(|(pid, _)| pid)
            .collect();
        let until = self.clock + self.procs.kill_linger;
        for pid in victims {
            self.procs.kill(pid, until);
        }
        self.events_gen += 1;
    }
}
