//! What a watcher last read from a box's event files, and the [`Event`]s
//! between two reads: pure, no I/O.

use std::collections::VecDeque;

use super::Event;
use crate::parse::ParseError;
use crate::parse::stat_file::{self, Layout};

/// The state and counters of a box, as last read. `None`: the file (or
/// the key) is not there, so no event is ever made from it: a counter
/// the kernel lacks is absent, never 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// `cgroup.events` populated.
    pub populated: Option<bool>,
    /// `cgroup.events` frozen (Linux 5.2+).
    pub frozen: Option<bool>,
    /// `memory.events` high.
    pub high: Option<u64>,
    /// `memory.events` max.
    pub max: Option<u64>,
    /// `memory.events` oom_kill.
    pub oom_kill: Option<u64>,
    /// `memory.events` oom_group_kill (not on 5.10).
    pub oom_group_kill: Option<u64>,
    /// `pids.events` max.
    pub forks_refused: Option<u64>,
}

impl State {
    /// Take in `cgroup.events`. A damaged file is an error, never "empty".
    pub fn cgroup_events(&mut self, text: &str) -> Result<(), ParseError> {
        let e = crate::parse::events::parse(text)?;
        self.populated = Some(e.populated);
        self.frozen = e.frozen;
        Ok(())
    }

    /// Take in `memory.events`; keys it lacks stay `None`.
    pub fn memory_events(&mut self, text: &str) -> Result<(), ParseError> {
        let f = stat_file::parse(Layout::FlatUnsigned, text)?;
        let get = |key| f.get(key).and_then(|n| n.as_u64());
        self.high = get("high");
        self.max = get("max");
        self.oom_kill = get("oom_kill");
        self.oom_group_kill = get("oom_group_kill");
        Ok(())
    }

    /// Take in `pids.events`.
    pub fn pids_events(&mut self, text: &str) -> Result<(), ParseError> {
        let f = stat_file::parse(Layout::FlatUnsigned, text)?;
        self.forks_refused = f.get("max").and_then(|n| n.as_u64());
        Ok(())
    }
}

/// The events between `old` and `new`, in the order a reader wants them:
/// a box that fills comes first and one that empties last, with what
/// happened inside in between; `pressure` (the triggers that fired in
/// the same wake) after the box filled or thawed.
pub(crate) fn changes(
    old: &State,
    new: &State,
    pressure: impl IntoIterator<Item = Event>,
    out: &mut VecDeque<Event>,
) {
    let flip = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (Some(a), Some(b)) if a != b => Some(b),
        _ => None,
    };
    let grew = |a: Option<u64>, b: Option<u64>| match (a, b) {
        // A counter that went down (it never does) is a new baseline.
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    let populated = flip(old.populated, new.populated);
    let frozen = flip(old.frozen, new.frozen);
    if populated == Some(true) {
        out.push_back(Event::Populated);
    }
    if frozen == Some(false) {
        out.push_back(Event::Thawed);
    }
    out.extend(pressure);
    let counters = [
        grew(old.high, new.high).map(|count| Event::MemoryHigh { count }),
        grew(old.max, new.max).map(|count| Event::MemoryMax { count }),
        grew(old.oom_kill, new.oom_kill).map(|count| Event::OomKill { count }),
        grew(old.oom_group_kill, new.oom_group_kill).map(|count| Event::OomGroupKill { count }),
        grew(old.forks_refused, new.forks_refused).map(|count| Event::ForksRefused { count }),
    ];
    out.extend(counters.into_iter().flatten());
    if frozen == Some(true) {
        out.push_back(Event::Frozen);
    }
    if populated == Some(false) {
        out.push_back(Event::Empty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Resource, Trigger};
    use std::time::Duration;

    fn diff(old: &State, new: &State) -> Vec<Event> {
        let mut out = VecDeque::new();
        changes(old, new, [], &mut out);
        out.into()
    }

    const EVENTS_510: &str = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n";
    const EVENTS_61: &str = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";

    #[test]
    fn counters_read_as_the_kernel_prints_them() {
        let mut s = State::default();
        s.cgroup_events("populated 1\nfrozen 0\n").unwrap();
        s.memory_events(EVENTS_61).unwrap();
        s.pids_events("max 0\n").unwrap();
        assert_eq!(
            s,
            State {
                populated: Some(true),
                frozen: Some(false),
                high: Some(0),
                max: Some(0),
                oom_kill: Some(0),
                oom_group_kill: Some(0),
                forks_refused: Some(0),
            }
        );
        // 5.10: no oom_group_kill, so never an event from it: absent, not 0.
        s.memory_events(EVENTS_510).unwrap();
        assert_eq!(s.oom_group_kill, None);
        // newer keys are skipped
        s.memory_events("low 0\nhigh 3\nmax 0\noom 0\noom_kill 0\nsock_throttled 9\n")
            .unwrap();
        assert_eq!(s.high, Some(3));
        // damage is an error, never a silent zero
        assert!(s.cgroup_events("populated 2\n").is_err());
        assert!(s.cgroup_events("frozen 0\n").is_err());
        assert!(s.memory_events("high x\n").is_err());
        assert!(s.pids_events("max 1\nmax 2\n").is_err());
    }

    #[test]
    fn one_event_per_change_with_the_counts() {
        let mut old = State::default();
        old.cgroup_events("populated 0\nfrozen 0\n").unwrap();
        old.memory_events(EVENTS_61).unwrap();
        old.pids_events("max 0\n").unwrap();
        assert_eq!(diff(&old, &old), []);

        let mut new = old;
        new.cgroup_events("populated 1\nfrozen 0\n").unwrap();
        assert_eq!(diff(&old, &new), [Event::Populated]);

        let mut oom = new;
        oom.memory_events("low 0\nhigh 7\nmax 40\noom 1\noom_kill 2\noom_group_kill 1\n")
            .unwrap();
        oom.pids_events("max 3\n").unwrap();
        oom.cgroup_events("populated 0\nfrozen 0\n").unwrap();
        assert_eq!(
            diff(&new, &oom),
            [
                Event::MemoryHigh { count: 7 },
                Event::MemoryMax { count: 40 },
                Event::OomKill { count: 2 },
                Event::OomGroupKill { count: 1 },
                Event::ForksRefused { count: 3 },
                Event::Empty,
            ]
        );
        // all at once from the start: the box fills first, empties last
        assert_eq!(diff(&old, &oom).len(), 5);
        let mut both = oom;
        both.cgroup_events("populated 1\nfrozen 1\n").unwrap();
        assert_eq!(diff(&old, &both).first(), Some(&Event::Populated));
        assert_eq!(diff(&oom, &both), [Event::Populated, Event::Frozen]);
        assert_eq!(diff(&both, &new), [Event::Thawed]);
    }

    #[test]
    fn absent_counters_and_counters_that_go_back_make_no_event() {
        let mut a = State::default();
        a.memory_events(EVENTS_510).unwrap();
        let mut b = a;
        b.memory_events(EVENTS_61).unwrap(); // the key appears: a baseline
        assert_eq!(diff(&a, &b), []);
        let mut c = b;
        c.memory_events("low 0\nhigh 5\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
            .unwrap();
        assert_eq!(diff(&b, &c), [Event::MemoryHigh { count: 5 }]);
        assert_eq!(
            diff(&c, &b),
            [],
            "a counter never goes down; if it did, no event"
        );
        // a box without the memory or pids controller: nothing to compare
        assert_eq!(diff(&State::default(), &c), []);
    }

    #[test]
    fn pressure_comes_after_the_box_fills() {
        let mut old = State::default();
        old.cgroup_events("populated 0\nfrozen 0\n").unwrap();
        let mut new = old;
        new.cgroup_events("populated 1\nfrozen 0\n").unwrap();
        let t = Trigger::some(
            Resource::Memory,
            Duration::from_millis(100),
            Duration::from_secs(2),
        );
        let mut out = VecDeque::new();
        changes(
            &old,
            &new,
            [Event::Pressure(t), Event::Pressure(t)],
            &mut out,
        );
        assert_eq!(
            Vec::from(out),
            [Event::Populated, Event::Pressure(t), Event::Pressure(t)]
        );
    }
}
