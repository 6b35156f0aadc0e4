//! Reading an `strace -f -o FILE` log: the system calls made between
//! each pair of markers (`access("/peers-mark-begin")` ...
//! `access("/peers-mark-end")`, made by `count-one` around each counted
//! iteration), by the benchmark process (any of its threads) and by the
//! processes it started, up to their `execve` (the library's side of a
//! spawn). What a started program does after its `execve` (the `sleep`
//! itself) is the same program for every contender, and is left out.

use std::collections::{BTreeMap, BTreeSet};

pub const BEGIN: &str = "/peers-mark-begin";
pub const END: &str = "/peers-mark-end";

/// One counted iteration.
#[derive(Default, Debug, Clone)]
pub struct Iteration {
    /// System calls of the benchmark process (all threads), by name.
    pub main: BTreeMap<String, usize>,
    /// System calls of started processes before their `execve`
    /// (the `execve` included), by name.
    pub child: BTreeMap<String, usize>,
    /// The calls in order, as strace printed them (`[child]`,
    /// `[thread]` marks who made them).
    pub lines: Vec<String>,
}

impl Iteration {
    pub fn main_total(&self) -> usize {
        self.main.values().sum()
    }

    pub fn child_total(&self) -> usize {
        self.child.values().sum()
    }

    pub fn total(&self) -> usize {
        self.main_total() + self.child_total()
    }
}

/// `pid` and the rest of a line of `strace -f -o FILE`.
fn split(line: &str) -> Option<(u32, &str)> {
    let line = line.trim_start();
    let end = line.find(|c: char| !c.is_ascii_digit())?;
    let pid = line.get(..end)?.parse().ok()?;
    Some((pid, line.get(end..)?.trim_start()))
}

/// The system call a line starts (None: a resumed call, a signal, an exit).
fn call_name(rest: &str) -> Option<&str> {
    let open = rest.find('(')?;
    let name = rest.get(..open)?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// A call that returned 0; for `execve`, also `= ?`: strace's word for a
/// call whose process was killed before strace saw it return (the exec
/// had happened: a vfork parent runs on only once it has).
fn succeeded(rest: &str) -> bool {
    let rest = rest.trim_end();
    rest.ends_with("= 0") || rest.ends_with("= ?")
}

/// The return value at the end of a line (`... = 123`, `... = 0x1f`).
fn returned(rest: &str) -> Option<i64> {
    // strace pads before the `=` of a resumed call: `<... clone resumed>)    = 12`.
    let tail = rest.rsplit_once(" = ")?.1;
    let word = tail.split_whitespace().next()?;
    word.parse().ok()
}

/// Who made each call: the benchmark process (the first pid and the
/// threads it made) and the processes it started (its clones without
/// `CLONE_THREAD`). Anything else (a process a started program forked) is
/// not ours.
fn family(lines: &[(u32, &str)], root: u32) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut ours = BTreeSet::from([root]);
    let mut started = BTreeSet::new();
    // A clone's flags are on the line where it starts, its result on the
    // line where it returns (the same line, or a resumed one).
    let mut flags: std::collections::BTreeMap<u32, bool> = Default::default();
    // strace can print a child's first calls before the parent's clone
    // returns: a fixed point over the log settles who is whose.
    let mut changed = true;
    while changed {
        changed = false;
        for (pid, rest) in lines {
            if !ours.contains(pid) {
                continue;
            }
            let starts = ["clone(", "clone3(", "fork(", "vfork("]
                .iter()
                .any(|c| rest.starts_with(c));
            let resumes = [
                "<... clone resumed>",
                "<... clone3 resumed>",
                "<... fork resumed>",
                "<... vfork resumed>",
            ]
            .iter()
            .any(|c| rest.starts_with(c));
            if starts {
                flags.insert(*pid, rest.contains("CLONE_THREAD"));
            }
            if (starts && !rest.contains("<unfinished")) || resumes {
                let thread = flags.remove(pid).unwrap_or(false);
                if let Some(new) = returned(rest).filter(|n| *n > 0) {
                    let new = new as u32;
                    let set = if thread { &mut ours } else { &mut started };
                    changed |= set.insert(new);
                }
            }
        }
    }
    (ours, started)
}

/// The counted iterations of a log, in order.
pub fn parse(log: &str) -> Vec<Iteration> {
    let lines: Vec<(u32, &str)> = log.lines().filter_map(split).collect();
    let root = lines.first().map(|(p, _)| *p).unwrap_or(0);
    let (ours, started) = family(&lines, root);
    let mut execd: BTreeSet<u32> = BTreeSet::new();
    let mut out = Vec::new();
    let mut current: Option<Iteration> = None;
    // Where each pid's unfinished call sits in `current.lines`.
    let mut unfinished: std::collections::BTreeMap<u32, usize> = Default::default();
    for (pid, rest) in lines {
        if pid == root && rest.contains(BEGIN) {
            current = Some(Iteration::default());
            unfinished.clear();
            continue;
        }
        if pid == root && rest.contains(END) {
            if let Some(it) = current.take() {
                out.push(it);
            }
            continue;
        }
        let is_child = started.contains(&pid);
        if !(ours.contains(&pid) || is_child) || execd.contains(&pid) {
            continue;
        }
        if let Some(after) = rest.strip_prefix("<... ") {
            // A call resumed: its result goes to the line where it started.
            if let (Some(it), Some(i)) = (current.as_mut(), unfinished.remove(&pid))
                && let Some(line) = it.lines.get_mut(i)
                && let Some((_, tail)) = after.split_once(" resumed>")
            {
                let head = line.trim_end_matches(" <unfinished ...>").to_owned();
                *line = cut(format!("{head}{tail}"));
            }
            if rest.starts_with("<... execve resumed>") && succeeded(rest) && is_child {
                execd.insert(pid);
            }
            continue;
        }
        let Some(name) = call_name(rest) else {
            continue;
        };
        if let Some(it) = current.as_mut() {
            let who = if is_child {
                "[child] "
            } else if pid != root {
                "[thread] "
            } else {
                ""
            };
            let map = if is_child {
                &mut it.child
            } else {
                &mut it.main
            };
            *map.entry(name.to_owned()).or_default() += 1;
            if rest.contains("<unfinished ...>") {
                unfinished.insert(pid, it.lines.len());
            }
            it.lines.push(format!("{who}{rest}"));
        }
        if is_child && name == "execve" && succeeded(rest) {
            execd.insert(pid);
        }
    }
    for it in &mut out {
        for l in &mut it.lines {
            *l = cut(std::mem::take(l));
        }
    }
    out
}

/// A line cut to 200 characters.
fn cut(line: String) -> String {
    if line.chars().count() > 200 {
        line.chars().take(197).collect::<String>() + "..."
    } else {
        line
    }
}

/// Per-iteration counts summed up.
#[derive(Default, Debug, Clone)]
pub struct Counted {
    pub iterations: Vec<Iteration>,
}

impl Counted {
    pub fn k(&self) -> usize {
        self.iterations.len()
    }

    /// Mean calls of `name` per iteration (main, child).
    pub fn mean_of(&self, name: &str, child: bool) -> f64 {
        let sum: usize = self
            .iterations
            .iter()
            .map(|it| {
                let m = if child { &it.child } else { &it.main };
                m.get(name).copied().unwrap_or(0)
            })
            .sum();
        sum as f64 / self.k().max(1) as f64
    }

    pub fn mean_total(&self) -> f64 {
        let sum: usize = self.iterations.iter().map(Iteration::total).sum();
        sum as f64 / self.k().max(1) as f64
    }

    pub fn mean_child(&self) -> f64 {
        let sum: usize = self.iterations.iter().map(Iteration::child_total).sum();
        sum as f64 / self.k().max(1) as f64
    }

    pub fn min_max(&self) -> (usize, usize) {
        let t = self.iterations.iter().map(Iteration::total);
        (t.clone().min().unwrap_or(0), t.max().unwrap_or(0))
    }

    /// The names seen, main and child.
    pub fn names(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut main = BTreeSet::new();
        let mut child = BTreeSet::new();
        for it in &self.iterations {
            main.extend(it.main.keys().cloned());
            child.extend(it.child.keys().cloned());
        }
        (main, child)
    }

    /// An iteration with the median total (the first such).
    pub fn typical(&self) -> Option<&Iteration> {
        let mut totals: Vec<usize> = self.iterations.iter().map(Iteration::total).collect();
        totals.sort_unstable();
        let median = *totals.get(totals.len() / 2)?;
        self.iterations.iter().find(|it| it.total() == median)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"100   execve("/peers", ["peers"], 0x7ffd /* 3 vars */) = 0
100   faccessat2(AT_FDCWD, "/peers-mark-begin", F_OK, 0) = -1 ENOENT (No such file or directory)
100   mkdirat(3</sys/fs/cgroup/cgbox/agents>, "b", 0755) = 0
100   clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x1, stack_size=0x8000, cgroup=4}, 88 <unfinished ...>
103   execve("/bin/sleep", ["sleep"], 0x1 /* 3 vars */) = 0
101   rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0
101   execve("/bin/sleep", ["/bin/sleep", "1000"], 0x7ffd /* 3 vars */ <unfinished ...>
100   <... clone3 resumed> => {parent_tid=[0]}, 88)         = 101
101   <... execve resumed>) = 0
101   clone(child_stack=NULL, flags=SIGCHLD) = 103
101   brk(NULL)                   = 0x5555
102   futex(0x1, FUTEX_WAKE_PRIVATE, 1) = 0
100   poll([{fd=5, events=POLLPRI}], 1, 0) = 0 (Timeout)
100   --- SIGCHLD {si_signo=SIGCHLD} ---
100   faccessat2(AT_FDCWD, "/peers-mark-end", F_OK, 0) = -1 ENOENT (No such file or directory)
100   close(3)                    = 0
100   clone(child_stack=0x1, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM) = 102
100   faccessat2(AT_FDCWD, "/peers-mark-begin", F_OK, 0) = -1 ENOENT (No such file or directory)
100   faccessat2(AT_FDCWD, "/peers-mark-end", F_OK, 0) = -1 ENOENT (No such file or directory)
"#;

    #[test]
    fn counts_between_markers_and_stops_at_exec() {
        let its = parse(LOG);
        assert_eq!(its.len(), 2);
        let it = &its[0];
        assert_eq!(it.main.get("mkdirat"), Some(&1));
        assert_eq!(it.main.get("clone3"), Some(&1));
        assert_eq!(it.main.get("poll"), Some(&1));
        assert_eq!(it.main.get("futex"), Some(&1), "a thread counts as main");
        assert_eq!(it.child.get("rt_sigprocmask"), Some(&1));
        assert_eq!(it.child.get("execve"), Some(&1));
        assert_eq!(
            it.child.get("brk"),
            None,
            "the program's own calls are left out"
        );
        assert_eq!(it.total(), 6);
        assert_eq!(its[1].total(), 0, "nothing between two markers");
        assert!(it.lines[2].starts_with("[child] rt_sigprocmask"));
        assert!(it.lines[1].ends_with(" = 101"), "{}", it.lines[1]);
        assert!(it.lines[4].starts_with("[thread] futex"));
    }
}
