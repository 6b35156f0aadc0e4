//! Kernel profiles: which interface files, controllers and keys each kernel
//! version shows, so that the fake can be a Linux 5.10, 6.1 or 6.12.
//!
//! Every fact here was read from Debian's cloud kernels booted by
//! `tests/vm/run.sh` (`linux-image-5.10.0-*-cloud-amd64`, `6.1.0-*`,
//! `6.12.*`), and the differential suite (`tests/differential.rs`) checks
//! each profile against its own kernel. A file or key is gated on the
//! upstream release that added it where that is certain; where it is not,
//! on the first profile that shows it (noted as "seen on").

use std::collections::BTreeSet;

use super::{CONTROLLERS, State};

/// A kernel the fake imitates. [`Kernel::V6_1`] is the default.
///
/// # Examples
///
/// ```
/// use cgbox::fs::fake::{FakeFs, Kernel};
///
/// let k = Kernel::from_release("5.10.0-32-cloud-amd64").unwrap();
/// assert_eq!(k, Kernel::V5_10);
/// assert_eq!(k.version(), (5, 10));
/// assert!(!k.at_least(5, 14)); // no cgroup.kill
/// assert!(!k.controllers().contains(&"misc"));
/// assert!(Kernel::V6_12.memory_stat_keys().contains(&"anon"));
/// assert_eq!(Kernel::ALL.len(), 3);
/// assert_eq!(FakeFs::with_kernel(k).kernel().release(), "5.10.0-32-cloud-amd64");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Kernel {
    /// Linux 5.10 (Debian 11, and the oldest kernel the suite proves):
    /// no `cgroup.kill`, `cgroup.pressure`, `cpu.idle`, `cpu.max.burst`,
    /// `memory.peak`, `memory.swap.peak`, `pids.peak` or `misc`
    /// controller; `cpu.stat` without the burst keys, `cpu.pressure`
    /// without its `full` line, `memory.events` without `oom_group_kill`.
    V5_10,
    /// Linux 6.1 (Debian 12): everything above but `memory.swap.peak`.
    #[default]
    V6_1,
    /// Linux 6.12 (Debian 13): `memory.swap.peak`, `cpu.stat`'s
    /// `nice_usec`, `cpu.stat.local`, `pids.events.local`, `misc.peak`,
    /// and `cgroup.stat` counting each controller's cgroups.
    V6_12,
}

/// What a file needs: the release that added it and, for a file that the
/// file tables of `files.rs` do not list, where it lives.
struct Gate {
    file: &'static str,
    since: (u32, u32),
    place: Place,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Listed by `files.rs` already: only the version gate applies.
    Listed,
    /// A core file of every cgroup, the root included.
    Core,
    /// A file of non-root cgroups where the parent enables the controller.
    Controller(&'static str),
    /// A file of the root while the controller is available there.
    Root(&'static str),
    /// Both of the above.
    Anywhere(&'static str),
}

const NEVER: (u32, u32) = (u32::MAX, 0);

const GATES: [Gate; 17] = [
    gate("cgroup.kill", (5, 14), Place::Listed),
    gate("cgroup.pressure", (6, 1), Place::Listed),
    gate("cpu.max.burst", (5, 14), Place::Listed),
    gate("cpu.idle", (5, 15), Place::Listed),
    gate("memory.peak", (5, 19), Place::Listed),
    gate("memory.swap.peak", (6, 5), Place::Listed),
    gate("pids.peak", (6, 1), Place::Listed),
    // CONFIG_IRQ_TIME_ACCOUNTING is off in Debian's cloud kernels.
    gate("irq.pressure", NEVER, Place::Listed),
    gate("misc.current", (5, 13), Place::Controller("misc")),
    gate("misc.max", (5, 13), Place::Controller("misc")),
    gate("misc.events", (5, 13), Place::Controller("misc")),
    gate("misc.capacity", (5, 13), Place::Root("misc")),
    // seen on 6.12 (added after 6.1)
    gate("cpu.stat.local", (6, 12), Place::Core),
    gate("pids.events.local", (6, 12), Place::Controller("pids")),
    gate("misc.current", (6, 12), Place::Root("misc")),
    gate("misc.peak", (6, 12), Place::Anywhere("misc")),
    gate("misc.events.local", (6, 12), Place::Controller("misc")),
];

/// The `misc` controller (in `cgroup.controllers`).
const MISC: (u32, u32) = (5, 13);
/// A cpuset's list may leave out its children's: seen on 6.1, not on 5.10.
const CPUSET_CHILDREN_FREE: (u32, u32) = (6, 1);
/// `cpu.stat` `nice_usec`.
const NICE_USEC: (u32, u32) = (6, 12);
const fn gate(file: &'static str, since: (u32, u32), place: Place) -> Gate {
    Gate { file, since, place }
}

/// `cpu.stat` `nr_bursts` and `burst_usec` (with `cpu.max.burst`).
const CPU_STAT_BURST: (u32, u32) = (5, 14);
/// `cpu.pressure` has a `full` line since 5.13.
const CPU_FULL_PRESSURE: (u32, u32) = (5, 13);
/// `memory.events` `oom_group_kill`: seen on 6.1, not on 5.10.
const OOM_GROUP_KILL: (u32, u32) = (6, 1);
/// `cgroup.stat` `nr_subsys_*` / `nr_dying_subsys_*`: seen on 6.12.
const SUBSYS_COUNTS: (u32, u32) = (6, 12);

const MEMORY_STAT_5_10: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "percpu",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "slab",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgfault",
    "pgmajfault",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

const MEMORY_STAT_6_1: &[&str] = &[
    "anon",
    "file",
    "kernel",
    "kernel_stack",
    "pagetables",
    "sec_pagetables",
    "percpu",
    "sock",
    "vmalloc",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "swapcached",
    "anon_thp",
    "file_thp",
    "shmem_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "slab",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgscan",
    "pgsteal",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgfault",
    "pgmajfault",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

const MEMORY_STAT_6_12: &[&str] = &[
    "anon",
    "file",
    "kernel",
    "kernel_stack",
    "pagetables",
    "sec_pagetables",
    "percpu",
    "sock",
    "vmalloc",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "swapcached",
    "anon_thp",
    "file_thp",
    "shmem_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "slab",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgpromote_success",
    "pgscan",
    "pgsteal",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_khugepaged",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgfault",
    "pgmajfault",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "swpin_zero",
    "swpout_zero",
    "thp_fault_alloc",
    "thp_collapse_alloc",
    "thp_swpout",
    "thp_swpout_fallback",
    "numa_pages_migrated",
    "numa_pte_updates",
    "numa_hint_faults",
];

impl Kernel {
    /// Every profile, oldest first.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub const ALL: [Kernel; 3] = [Kernel::V5_10, Kernel::V6_1, Kernel::V6_12];

    /// `(major, minor)`.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn version(self) -> (u32, u32) {
        match self {
            Kernel::V5_10 => (5, 10),
            Kernel::V6_1 => (6, 1),
            Kernel::V6_12 => (6, 12),
        }
    }

    /// The release the fake's `/proc/sys/kernel/osrelease` reads, as
    /// Debian's cloud kernel of that series names itself.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn release(self) -> &'static str {
        match self {
            Kernel::V5_10 => "5.10.0-32-cloud-amd64",
            Kernel::V6_1 => "6.1.0-57-cloud-amd64",
            Kernel::V6_12 => "6.12.117+deb13-cloud-amd64",
        }
    }

    /// The profile of a release string such as `5.10.0-32-cloud-amd64`
    /// (the contents of `/proc/sys/kernel/osrelease`): the one of the same
    /// major.minor series, `None` when no profile matches.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn from_release(release: &str) -> Option<Kernel> {
        let mut parts = release.trim().split(['.', '-', '+']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        Kernel::ALL
            .into_iter()
            .find(|k| k.version() == (major, minor))
    }

    /// True when this kernel is `major.minor` or newer.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self.version() >= (major, minor)
    }

    /// The controllers its root offers with every one built in, in the
    /// kernel's order (`misc` since 5.13).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn controllers(self) -> Vec<&'static str> {
        CONTROLLERS
            .iter()
            .copied()
            .filter(|c| self.knows(c))
            .collect()
    }

    /// True when this kernel has a controller of that name at all (a
    /// `+name` it does not know is `EINVAL`, not `ENOENT`).
    pub(super) fn knows(self, controller: &str) -> bool {
        controller != "misc" || self.since(MISC)
    }

    /// True when a cpuset's `cpuset.cpus` and `cpuset.mems` must hold
    /// every CPU and node its children's lists name (`validate_change` of
    /// kernel/cgroup/cpuset.c, on cgroup2 too before it was made a rule of
    /// cgroup v1 alone): a write that leaves one out is `EBUSY`.
    pub(super) fn cpuset_children_must_fit(self) -> bool {
        !self.since(CPUSET_CHILDREN_FREE)
    }

    fn since(self, since: (u32, u32)) -> bool {
        self.version() >= since
    }

    /// The keys of `memory.stat`, in the kernel's order.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn memory_stat_keys(self) -> &'static [&'static str] {
        match self {
            Kernel::V5_10 => MEMORY_STAT_5_10,
            Kernel::V6_1 => MEMORY_STAT_6_1,
            Kernel::V6_12 => MEMORY_STAT_6_12,
        }
    }
}

impl State {
    /// Whether this kernel shows `name` in cgroup `id`: `Some(false)` for a
    /// file it does not have yet, `Some(true)` for a file only the profile
    /// knows, `None` to leave the answer to the file tables.
    pub(super) fn profile_file(&self, id: u64, name: &str) -> Option<bool> {
        let k = self.kernel;
        let mut gates = GATES.iter().filter(|g| g.file == name).peekable();
        gates.peek()?;
        let is_root = self.node(id).ok()?.parent.is_none();
        let enabled = |c: &str| self.controllers(id).is_ok_and(|set| set.contains(c));
        let (mut listed, mut shown) = (false, false);
        for g in gates.filter(|g| k.since(g.since)) {
            match g.place {
                Place::Listed => listed = true,
                Place::Core => shown = true,
                Place::Controller(c) => shown |= !is_root && enabled(c),
                Place::Root(c) => shown |= is_root && self.available.contains(c),
                Place::Anywhere(c) => shown |= enabled(c),
            }
        }
        if listed { None } else { Some(shown) }
    }

    /// What a generated (never written or set) file reads as on this
    /// kernel, from what the 6.1 model in `files.rs` generated.
    pub(super) fn profile_content(&self, id: u64, name: &str, generated: String) -> String {
        let k = self.kernel;
        match name {
            "cpu.stat" => generated
                .lines()
                .filter(|l| {
                    k.since(CPU_STAT_BURST)
                        || !(l.starts_with("nr_bursts ") || l.starts_with("burst_usec "))
                })
                .flat_map(|l| {
                    let nice = (l.starts_with("system_usec ") && k.since(NICE_USEC))
                        .then_some("nice_usec 0");
                    [Some(l), nice]
                })
                .flatten()
                .map(|l| format!("{l}\n"))
                .collect(),
            "cpu.pressure" if !k.since(CPU_FULL_PRESSURE) => generated
                .lines()
                .filter(|l| !l.starts_with("full "))
                .map(|l| format!("{l}\n"))
                .collect(),
            "memory.events" | "memory.events.local" if !k.since(OOM_GROUP_KILL) => generated
                .lines()
                .filter(|l| !l.starts_with("oom_group_kill "))
                .map(|l| format!("{l}\n"))
                .collect(),
            "memory.stat" => k
                .memory_stat_keys()
                .iter()
                .map(|key| format!("{key} 0\n"))
                .collect(),
            "cgroup.stat" if k.since(SUBSYS_COUNTS) => self.cgroup_stat_with_subsys(id, &generated),
            "cpu.stat.local" => "throttled_usec 0\n".into(),
            "pids.events.local" => "max 0\n".into(),
            _ => generated,
        }
    }

    /// 6.12's `cgroup.stat`: after `nr_descendants`, for each controller
    /// bound to cgroup2 (and `perf_event`, which every cgroup has), how
    /// many cgroups of this subtree have it; after `nr_dying_descendants`,
    /// how many dying ones (none in the fake).
    fn cgroup_stat_with_subsys(&self, id: u64, generated: &str) -> String {
        let mut subsys: Vec<&str> = Vec::new();
        for c in CONTROLLERS {
            if self.available.contains(c) {
                subsys.push(c);
            }
            if c == "memory" {
                subsys.push("perf_event");
            }
        }
        let mut out = String::new();
        for line in generated.lines() {
            out.push_str(line);
            out.push('\n');
            if line.starts_with("nr_descendants ") {
                for c in &subsys {
                    out.push_str(&format!("nr_subsys_{c} {}\n", self.csses(id, c)));
                }
            } else if line.starts_with("nr_dying_descendants ") {
                for c in &subsys {
                    out.push_str(&format!("nr_dying_subsys_{c} 0\n"));
                }
            }
        }
        out
    }

    /// Cgroups of the subtree of `id` (itself included) that have a css of
    /// `controller`: 0 when `id` has none.
    fn csses(&self, id: u64, controller: &str) -> usize {
        let has = |n: u64| {
            controller == "perf_event"
                || self
                    .controllers(n)
                    .is_ok_and(|set| set.contains(controller))
        };
        if !has(id) {
            return 0;
        }
        let mut count = 0;
        let mut stack = vec![id];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) || !has(n) {
                continue;
            }
            count += 1;
            if let Ok(node) = self.node(n) {
                stack.extend(node.children.values().copied());
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::fake::FakeFs;
    use crate::fs::{CgroupFs, read_string};

    /// A child `a` of the root with every controller the kernel has.
    fn fake_with_child(k: Kernel) -> (FakeFs, super::super::FakeDir, super::super::FakeDir) {
        let fake = FakeFs::with_kernel(k);
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        let all: Vec<String> = k.controllers().iter().map(|c| format!("+{c}")).collect();
        fake.write_file(&root, "cgroup.subtree_control", all.join(" ").as_bytes())
            .unwrap();
        fake.make_child(&root, "a").unwrap();
        let a = fake.open_child(&root, "a").unwrap();
        (fake, root, a)
    }

    fn keys(text: &str) -> Vec<&str> {
        text.lines().filter_map(|l| l.split(' ').next()).collect()
    }

    #[test]
    fn versions_and_releases() {
        assert_eq!(Kernel::default(), Kernel::V6_1);
        for k in Kernel::ALL {
            assert_eq!(Kernel::from_release(k.release()), Some(k));
        }
        assert_eq!(
            Kernel::from_release("6.12.57+deb12-cloud-amd64\n"),
            Some(Kernel::V6_12)
        );
        assert_eq!(Kernel::from_release("6.18.44-fc"), None);
        assert_eq!(Kernel::from_release("garbage"), None);
        assert!(Kernel::V6_1.at_least(5, 14) && !Kernel::V5_10.at_least(5, 14));
        assert_eq!(
            FakeFs::new()
                .read_host_file(Path::new("/proc/sys/kernel/osrelease"))
                .unwrap(),
            b"6.1.0-57-cloud-amd64\n"
        );
    }

    #[test]
    fn files_each_kernel_has() {
        for (k, has, lacks) in [
            (
                Kernel::V5_10,
                &["cgroup.freeze", "memory.swap.max", "cpu.weight.nice"][..],
                &[
                    "cgroup.kill",
                    "cgroup.pressure",
                    "cpu.idle",
                    "cpu.max.burst",
                    "memory.peak",
                    "memory.swap.peak",
                    "pids.peak",
                    "misc.current",
                    "irq.pressure",
                    "cpu.stat.local",
                ][..],
            ),
            (
                Kernel::V6_1,
                &[
                    "cgroup.kill",
                    "cgroup.pressure",
                    "cpu.idle",
                    "cpu.max.burst",
                    "memory.peak",
                    "pids.peak",
                    "misc.current",
                    "misc.max",
                    "misc.events",
                ][..],
                &[
                    "memory.swap.peak",
                    "misc.peak",
                    "pids.events.local",
                    "cpu.stat.local",
                    "irq.pressure",
                ][..],
            ),
            (
                Kernel::V6_12,
                &[
                    "memory.swap.peak",
                    "misc.peak",
                    "misc.events.local",
                    "pids.events.local",
                    "cpu.stat.local",
                ][..],
                &["irq.pressure", "misc.capacity"][..],
            ),
        ] {
            let (fake, _, a) = fake_with_child(k);
            for f in has {
                assert!(fake.has_file(&a, f).unwrap(), "{k:?} has {f}");
            }
            for f in lacks {
                assert!(!fake.has_file(&a, f).unwrap(), "{k:?} lacks {f}");
            }
        }
    }

    #[test]
    fn root_files_and_controllers() {
        let (fake, root, _) = fake_with_child(Kernel::V5_10);
        assert_eq!(
            read_string(&fake, &root, "cgroup.subtree_control").unwrap(),
            "cpuset cpu io memory hugetlb pids rdma\n"
        );
        let e = fake
            .write_file(&root, "cgroup.subtree_control", b"+misc")
            .unwrap_err();
        assert!(e.is_errno(rustix::io::Errno::INVAL), "unknown to 5.10: {e}");
        let fake = FakeFs::with_kernel_controllers(Kernel::V6_1, &["pids"]);
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        let e = fake
            .write_file(&root, "cgroup.subtree_control", b"+misc")
            .unwrap_err();
        assert!(
            e.is_errno(rustix::io::Errno::NOENT),
            "known, not available: {e}"
        );
        assert!(!fake.has_file(&root, "misc.capacity").unwrap());
        let (fake, root, _) = fake_with_child(Kernel::V6_1);
        assert!(fake.has_file(&root, "misc.capacity").unwrap());
        assert!(!fake.has_file(&root, "misc.current").unwrap());
        let (fake, root, _) = fake_with_child(Kernel::V6_12);
        for f in [
            "misc.capacity",
            "misc.current",
            "misc.peak",
            "cpu.stat.local",
        ] {
            assert!(fake.has_file(&root, f).unwrap(), "{f}");
        }
    }

    #[test]
    fn keys_each_kernel_prints() {
        let (fake, _, a) = fake_with_child(Kernel::V5_10);
        let read = |f| read_string(&fake, &a, f).unwrap();
        assert_eq!(
            keys(&read("cpu.stat")),
            [
                "usage_usec",
                "user_usec",
                "system_usec",
                "nr_periods",
                "nr_throttled",
                "throttled_usec"
            ]
        );
        assert_eq!(read("cpu.pressure").lines().count(), 1, "no full line");
        assert_eq!(
            keys(&read("memory.events")),
            ["low", "high", "max", "oom", "oom_kill"]
        );
        assert_eq!(keys(&read("memory.stat")), MEMORY_STAT_5_10);

        let (fake, _, a) = fake_with_child(Kernel::V6_12);
        let read = |f| read_string(&fake, &a, f).unwrap();
        assert_eq!(
            keys(&read("cpu.stat")),
            [
                "usage_usec",
                "user_usec",
                "system_usec",
                "nice_usec",
                "nr_periods",
                "nr_throttled",
                "throttled_usec",
                "nr_bursts",
                "burst_usec"
            ]
        );
        assert_eq!(read("cpu.stat.local"), "throttled_usec 0\n");
        assert_eq!(read("pids.events.local"), "max 0\n");
        assert_eq!(read("misc.current"), "");
        assert_eq!(keys(&read("memory.stat")).len(), 60);

        let (fake, _, a) = fake_with_child(Kernel::V6_1);
        assert_eq!(
            keys(&read_string(&fake, &a, "memory.stat").unwrap()).len(),
            47
        );
        assert_eq!(
            keys(&read_string(&fake, &a, "cgroup.stat").unwrap()),
            ["nr_descendants", "nr_dying_descendants"]
        );
    }

    #[test]
    fn cgroup_stat_counts_each_controllers_cgroups_on_6_12() {
        let (fake, root, a) = fake_with_child(Kernel::V6_12);
        fake.make_child(&a, "u").unwrap();
        let u = fake.open_child(&a, "u").unwrap();
        let stat = read_string(&fake, &a, "cgroup.stat").unwrap();
        assert_eq!(
            stat,
            "nr_descendants 1\nnr_subsys_cpuset 1\nnr_subsys_cpu 1\nnr_subsys_io 1\nnr_subsys_memory 1\nnr_subsys_perf_event 2\nnr_subsys_hugetlb 1\nnr_subsys_pids 1\nnr_subsys_rdma 1\nnr_subsys_misc 1\nnr_dying_descendants 0\nnr_dying_subsys_cpuset 0\nnr_dying_subsys_cpu 0\nnr_dying_subsys_io 0\nnr_dying_subsys_memory 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\nnr_dying_subsys_pids 0\nnr_dying_subsys_rdma 0\nnr_dying_subsys_misc 0\n"
        );
        let stat = read_string(&fake, &u, "cgroup.stat").unwrap();
        assert!(
            stat.contains("nr_subsys_memory 0\nnr_subsys_perf_event 1\n"),
            "{stat}"
        );
        let stat = read_string(&fake, &root, "cgroup.stat").unwrap();
        assert!(
            stat.contains("nr_subsys_cpu 2\n") && stat.contains("nr_subsys_perf_event 3\n"),
            "{stat}"
        );
    }

    /// The fake of each kernel against that kernel's captured samples
    /// (`fixtures/samples/kernel-*`): the same keys in the same order, and
    /// every captured file exists in the fake.
    #[test]
    fn each_profile_matches_its_kernels_samples() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/samples");
        for (k, dir) in [
            (Kernel::V5_10, "kernel-5.10"),
            (Kernel::V6_1, "kernel-6.1"),
            (Kernel::V6_12, "kernel-6.12"),
        ] {
            let samples = base.join(dir);
            let (fake, root, a) = fake_with_child(k);
            for (scenario, file) in [
                ("throttled", "cpu.stat"),
                ("live", "memory.stat"),
                ("oom", "memory.events"),
                ("oom", "memory.events.local"),
                ("throttled", "cpu.pressure"),
                ("oom", "memory.pressure"),
                ("io", "io.pressure"),
                ("limits", "cgroup.stat"),
                ("pids-max", "pids.events"),
            ] {
                let Ok(real) = std::fs::read_to_string(samples.join(scenario).join(file)) else {
                    continue;
                };
                let fake_text = read_string(&fake, &a, file).unwrap();
                assert_eq!(keys(&fake_text), keys(&real), "{k:?} {file}");
            }
            let real = std::fs::read_to_string(samples.join("root/cpu.stat")).unwrap();
            assert_eq!(
                keys(&read_string(&fake, &root, "cpu.stat").unwrap()),
                keys(&real),
                "{k:?} root cpu.stat"
            );
            for scenario in [
                "limits",
                "oom",
                "pids-max",
                "throttled",
                "io",
                "live",
                "frozen",
            ] {
                for f in std::fs::read_dir(samples.join(scenario)).unwrap() {
                    let name = f.unwrap().file_name().into_string().unwrap();
                    assert!(
                        fake.has_file(&a, &name).unwrap(),
                        "{k:?}: {scenario}/{name}"
                    );
                }
            }
            for (file, since) in [("memory.peak", (5, 19)), ("pids.peak", (6, 1))] {
                assert_eq!(
                    fake.has_file(&a, file).unwrap(),
                    k.at_least(since.0, since.1)
                );
            }
        }
    }
}

#[cfg(test)]
mod five_ten {
    use std::path::Path;

    use super::Kernel;
    use crate::fs::CgroupFs;
    use crate::fs::fake::FakeFs;

    #[test]
    fn a_fake_linux_5_10_lacks_what_came_later() {
        let fake = FakeFs::with_kernel(Kernel::V5_10);
        let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
        fake.make_child(&root, "job").unwrap();
        let job = fake.open_child(&root, "job").unwrap();
        assert!(!fake.has_file(&job, "cgroup.kill").unwrap()); // Linux 5.14
        assert_eq!(
            fake.file("", "cgroup.controllers").unwrap(),
            "cpuset cpu io memory hugetlb pids rdma\n"
        ); // no misc before 5.13
    }
}
