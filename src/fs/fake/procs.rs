//! Fake processes: spawn, fork, exit, zombies, dying after `SIGKILL`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;

use super::FakeFs;
use crate::{Error, Result};

/// The life of a fake process.
///
/// See the [example](crate::fs::FakeFs#examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Running (or frozen): counts for `populated`, listed in `cgroup.procs`.
    Running,
    /// Killed but not yet gone: still listed and still keeps the cgroup busy.
    Dying,
    /// Exited and not reaped: no longer in any cgroup's `cgroup.procs`.
    Zombie,
}

#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) cgroup: u64,
    state: ProcState,
    serial: u64,
    dies_at: Duration,
    forks_left: u32,
}

#[derive(Debug)]
pub(crate) struct Procs {
    table: BTreeMap<u32, Proc>,
    next_pid: u32,
    next_serial: u64,
    pub(crate) kill_linger: Duration,
    pub(crate) self_pid: u32,
}

impl Procs {
    pub(crate) fn new(root: u64) -> Procs {
        let mut procs = Procs {
            table: BTreeMap::new(),
            next_pid: 1,
            next_serial: 1,
            kill_linger: Duration::ZERO,
            self_pid: 1,
        };
        procs.self_pid = procs.spawn(root, 0);
        procs
    }

    pub(crate) fn spawn(&mut self, cgroup: u64, forks: u32) -> u32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.table.insert(
            pid,
            Proc {
                cgroup,
                state: ProcState::Running,
                serial,
                dies_at: Duration::ZERO,
                forks_left: forks,
            },
        );
        pid
    }

    /// Running and dying processes: the ones that keep a cgroup populated.
    pub(crate) fn live(&self) -> impl Iterator<Item = (u32, &Proc)> {
        self.table
            .iter()
            .filter(|(_, p)| p.state != ProcState::Zombie)
            .map(|(&pid, p)| (pid, p))
    }

    /// Every process not yet reaped, zombies included.
    pub(crate) fn all(&self) -> impl Iterator<Item = (u32, &Proc)> {
        self.table.iter().map(|(&pid, p)| (pid, p))
    }

    pub(crate) fn live_in(&self, cgroup: u64) -> Vec<u32> {
        self.live()
            .filter(|(_, p)| p.cgroup == cgroup)
            .map(|(pid, _)| pid)
            .collect()
    }

    pub(crate) fn get(&self, pid: u32) -> Option<&Proc> {
        self.table.get(&pid)
    }

    pub(crate) fn serial(&self, pid: u32) -> Option<u64> {
        self.table.get(&pid).map(|p| p.serial)
    }

    pub(crate) fn state(&self, pid: u32) -> Option<ProcState> {
        self.table.get(&pid).map(|p| p.state)
    }

    pub(crate) fn move_to(&mut self, pid: u32, cgroup: u64) -> bool {
        match self.table.get_mut(&pid) {
            Some(p) if p.state != ProcState::Zombie => {
                p.cgroup = cgroup;
                true
            }
            _ => false,
        }
    }

    /// SIGKILL. True when the process's state changed.
    pub(crate) fn kill(&mut self, pid: u32, dies_at: Duration) -> bool {
        let linger = self.kill_linger;
        match self.table.get_mut(&pid) {
            Some(p) if p.state == ProcState::Running => {
                p.forks_left = 0;
                if linger.is_zero() {
                    p.state = ProcState::Zombie;
                } else {
                    p.state = ProcState::Dying;
                    p.dies_at = dies_at;
                }
                true
            }
            _ => false,
        }
    }

    pub(crate) fn exit(&mut self, pid: u32) -> bool {
        match self.table.get_mut(&pid) {
            Some(p) if p.state != ProcState::Zombie => {
                p.state = ProcState::Zombie;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn reap(&mut self, pid: u32) -> bool {
        match self.table.get(&pid) {
            Some(p) if p.state == ProcState::Zombie => {
                self.table.remove(&pid);
                true
            }
            _ => false,
        }
    }

    /// Move dying processes whose time has come to zombies.
    pub(crate) fn finish_dying(&mut self, now: Duration) -> bool {
        let mut changed = false;
        for p in self.table.values_mut() {
            if p.state == ProcState::Dying && p.dies_at <= now {
                p.state = ProcState::Zombie;
                changed = true;
            }
        }
        changed
    }

    pub(crate) fn next_death(&self) -> Option<Duration> {
        self.table
            .values()
            .filter(|p| p.state == ProcState::Dying)
            .map(|p| p.dies_at)
            .min()
    }

    /// Processes that fork when their cgroup is listed: each running,
    /// unfrozen one with forks left forks once. Returns whether any did.
    pub(crate) fn fork_racers(&mut self, cgroup: u64, frozen: bool) -> bool {
        if frozen {
            return false;
        }
        let racers: Vec<u32> = self
            .table
            .iter()
            .filter(|(_, p)| {
                p.cgroup == cgroup && p.state == ProcState::Running && p.forks_left > 0
            })
            .map(|(&pid, _)| pid)
            .collect();
        for pid in &racers {
            if let Some(p) = self.table.get_mut(pid) {
                p.forks_left -= 1;
                self.spawn(cgroup, 0);
            }
        }
        !racers.is_empty()
    }
}

fn no_such_process(pid: u32) -> Error {
    Error::from_rustix(
        "find process",
        Path::new(&format!("/proc/{pid}")),
        Errno::SRCH,
    )
}

impl FakeFs {
    /// Start a fake process in the cgroup at `path` (relative to the mount).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn spawn(&self, path: &str) -> Result<u32> {
        self.spawn_forker(path, 0)
    }

    /// Start a fake process that forks once each time its cgroup's
    /// `cgroup.procs` is read while it runs unfrozen, `forks` times in all
    /// (its children do not fork): a job forking while it is being killed.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn spawn_forker(&self, path: &str, forks: u32) -> Result<u32> {
        let mut st = self.lock();
        let id = st.lookup(path)?;
        // Born in the parent's cgroup, then moved: the migration rules apply.
        if let Err(e) = st.vet_migration(id, id, true) {
            return Err(Error::from_rustix("spawn", Path::new(path), e));
        }
        let pid = st.procs.spawn(id, forks);
        st.events_gen += 1;
        Ok(pid)
    }

    /// Fork `pid`: the child starts in the parent's cgroup.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn fork(&self, pid: u32) -> Result<u32> {
        let mut st = self.lock();
        let cgroup = match st.procs.get(pid) {
            Some(p) if st.procs.state(pid) == Some(ProcState::Running) => p.cgroup,
            _ => return Err(no_such_process(pid)),
        };
        let child = st.procs.spawn(cgroup, 0);
        st.events_gen += 1;
        Ok(child)
    }

    /// The process exits by itself and becomes a zombie.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn exit(&self, pid: u32) -> Result<()> {
        let mut st = self.lock();
        if !st.procs.exit(pid) {
            return Err(no_such_process(pid));
        }
        st.events_gen += 1;
        Ok(())
    }

    /// Reap a zombie (its parent's `waitpid`).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn reap(&self, pid: u32) -> Result<()> {
        if self.lock().procs.reap(pid) {
            Ok(())
        } else {
            Err(no_such_process(pid))
        }
    }

    /// The state of `pid`, `None` once reaped or never seen.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn state(&self, pid: u32) -> Option<ProcState> {
        self.lock().procs.state(pid)
    }

    /// The cgroup (relative to the mount) of a live process.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn cgroup_of(&self, pid: u32) -> Option<String> {
        let st = self.lock();
        let p = st.procs.get(pid)?;
        if st.procs.state(pid) == Some(ProcState::Zombie) {
            return None;
        }
        st.rel_path(p.cgroup).ok()
    }

    /// Live processes anywhere.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn live_pids(&self) -> Vec<u32> {
        self.lock().procs.live().map(|(pid, _)| pid).collect()
    }

    /// The PID that writing `0` to `cgroup.procs` moves: the caller.
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn self_pid(&self) -> u32 {
        self.lock().procs.self_pid
    }

    /// How long a killed process keeps its cgroup busy (virtual time).
    ///
    /// See the [example](crate::fs::FakeFs#examples).
    pub fn set_kill_linger(&self, linger: Duration) {
        self.lock().procs.kill_linger = linger;
    }
}
