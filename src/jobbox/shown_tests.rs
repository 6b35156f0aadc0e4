//! What a job sees: the limits above a box shown in its own files, on the
//! fake (see `shown.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;

use super::shown::{Bound, Record, View, at_creation};
use super::*;
use crate::fs::fake::{FakeFs, Kernel, Op};
use crate::fs::{CgroupFs, read_string};
use crate::layout::LIMITS_XATTR;
use crate::limits::{Limits, Size};

const OUTER: &str = "cgbox/agents/outer";
const INNER: &str = "cgbox/agents/outer/exec/agents/cmd";

fn file(fake: &FakeFs, rel: &str, name: &str) -> String {
    fake.file(rel, name).unwrap().trim().to_owned()
}

fn record(fake: &FakeFs, rel: &str) -> Option<String> {
    fake.xattr(rel, LIMITS_XATTR)
        .map(|v| String::from_utf8(v).unwrap())
}

/// A box `outer` with `limits`, and the app `exec` inside it.
fn outer(fake: &Arc<FakeFs>, limits: Limits) -> (JobBox<FakeFs>, App<FakeFs>) {
    let outer = Builder::new()
        .name("outer")
        .limits(limits)
        .create(fake.clone())
        .unwrap();
    let exec = outer.nested("exec").unwrap();
    (outer, exec)
}

fn limited() -> Limits {
    Limits::new()
        .memory_max(Size::parse("256M").unwrap())
        .cpus(1.5)
        .pids_max(64)
}

#[test]
fn a_box_inside_a_limited_box_shows_the_limits_above_it() {
    let fake = Arc::new(FakeFs::new());
    let (_outer, exec) = outer(&fake, limited());
    let _cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    assert_eq!(file(&fake, INNER, "memory.max"), "268435456");
    assert_eq!(file(&fake, INNER, "cpu.max"), "150000 100000");
    assert_eq!(file(&fake, INNER, "pids.max"), "64");
    // Not limited above: left as it is.
    assert_eq!(file(&fake, INNER, "memory.high"), "max");
    assert_eq!(file(&fake, INNER, "memory.swap.max"), "max");
    // Its own limits (none) are recorded where the files show others.
    assert_eq!(
        record(&fake, INNER).as_deref(),
        Some("memory.max max\ncpu.max max\npids.max max\n")
    );
    // The box above shows its own: nothing recorded there.
    assert_eq!(record(&fake, OUTER), None);
}

#[test]
fn a_boxs_own_tighter_limit_is_what_it_shows() {
    let fake = Arc::new(FakeFs::new());
    let (_outer, exec) = outer(&fake, limited());
    let _cmd = Builder::new()
        .name("cmd")
        .limits(
            Limits::new()
                .memory_max(Size::parse("128M").unwrap())
                .cpus(4.0),
        )
        .create_in(&exec)
        .unwrap();
    assert_eq!(file(&fake, INNER, "memory.max"), "134217728", "its own");
    assert_eq!(
        file(&fake, INNER, "cpu.max"),
        "150000 100000",
        "4 CPUs asked, 1.5 above"
    );
    assert_eq!(
        record(&fake, INNER).as_deref(),
        Some("cpu.max 400000 100000\npids.max max\n"),
        "memory.max shows its own: not recorded"
    );
}

#[test]
fn nothing_is_written_where_nothing_above_is_limited() {
    let fake = Arc::new(FakeFs::new());
    // Controllers, but no limit.
    let (_outer, exec) = outer(&fake, Limits::new().pids_unlimited().memory_max(Size::Max));
    let inner = Builder::new()
        .name("cmd")
        .limits(Limits::new().pids_max(5))
        .create_in(&exec)
        .unwrap();
    assert!(exec.dirs.above(&*fake).is_free());
    assert_eq!(record(&fake, INNER), None);
    assert_eq!(file(&fake, INNER, "memory.max"), "max");
    assert_eq!(file(&fake, INNER, "pids.max"), "5");
    // The plan under a free view is the box's own writes, nothing more.
    let writes = Limits::new().pids_max(5).writes().unwrap();
    let planned = at_creation(&writes, &View::default());
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0].write, writes[0]);
    drop(inner);
}

#[test]
fn the_limits_of_every_cgroup_above_the_home_count() {
    // A unit with Delegate=yes and MemoryMax=, under a slice with TasksMax=.
    let fake = Arc::new(FakeFs::new());
    fake.mkdir_p("system.slice/agent.service").unwrap();
    let root = fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap();
    fake.write_file(&root, "cgroup.subtree_control", b"+memory +pids +cpu")
        .unwrap();
    let slice = fake
        .open_dir(Path::new("/sys/fs/cgroup/system.slice"))
        .unwrap();
    fake.write_file(&slice, "cgroup.subtree_control", b"+memory +pids +cpu")
        .unwrap();
    fake.write_file(&slice, "pids.max", b"100").unwrap();
    let unit = fake
        .open_dir(Path::new("/sys/fs/cgroup/system.slice/agent.service"))
        .unwrap();
    fake.write_file(&unit, "memory.max", b"1G").unwrap();
    fake.enter("system.slice/agent.service").unwrap();
    fake.set_xattr("system.slice/agent.service", "user.delegate", b"1")
        .unwrap();
    // Moving into a leaf lets the unit enable controllers for its boxes.
    let b = Builder::new()
        .name("job")
        .limits(
            Limits::new()
                .pids_max(500)
                .memory_high(Size::parse("512M").unwrap()),
        )
        .create(fake.clone())
        .unwrap();
    let rel = "system.slice/agent.service/cgbox/agents/job";
    assert_eq!(file(&fake, rel, "memory.max"), "1073741824");
    assert_eq!(file(&fake, rel, "memory.high"), "536870912");
    assert_eq!(file(&fake, rel, "pids.max"), "100", "500 asked, 100 above");
    assert_eq!(
        record(&fake, rel).as_deref(),
        Some("memory.max max\npids.max 500\n")
    );
    b.destroy().unwrap();
}

#[test]
fn set_on_a_box_keeps_the_boxes_inside_in_step_looser_and_tighter() {
    let fake = Arc::new(FakeFs::new());
    let (outer, exec) = outer(&fake, limited());
    let _cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    let _own = Builder::new()
        .name("own")
        .limits(Limits::new().memory_max(Size::parse("128M").unwrap()))
        .create_in(&exec)
        .unwrap();
    let own = "cgbox/agents/outer/exec/agents/own";
    let set = |limits: Limits| outer.set_limits(&limits).unwrap();

    let changed = set(Limits::new().memory_max(Size::parse("512M").unwrap()));
    assert_eq!(file(&fake, INNER, "memory.max"), "536870912", "looser");
    assert_eq!(file(&fake, own, "memory.max"), "134217728", "its own");
    let nested: Vec<(&str, &str, &str)> = changed
        .nested
        .iter()
        .map(|c| (c.file.as_str(), c.before.as_str(), c.after.as_str()))
        .collect();
    assert_eq!(
        nested,
        [("exec/agents/cmd/memory.max", "268435456", "536870912")]
    );

    set(Limits::new().memory_max(Size::parse("64M").unwrap()));
    assert_eq!(file(&fake, INNER, "memory.max"), "67108864", "tighter");
    assert_eq!(
        file(&fake, own, "memory.max"),
        "67108864",
        "held by the box"
    );
    assert_eq!(
        record(&fake, own).as_deref(),
        Some("memory.max 134217728\ncpu.max max\npids.max max\n"),
        "its own is kept"
    );

    set(Limits::new().memory_max(Size::Max).pids_unlimited());
    assert_eq!(file(&fake, INNER, "memory.max"), "max");
    assert_eq!(file(&fake, INNER, "pids.max"), "max");
    assert_eq!(file(&fake, own, "memory.max"), "134217728", "its own again");
    assert_eq!(
        file(&fake, INNER, "cpu.max"),
        "150000 100000",
        "not set: unchanged"
    );
    assert_eq!(
        record(&fake, INNER).as_deref(),
        Some("cpu.max max\n"),
        "only what still differs is recorded"
    );
    assert_eq!(record(&fake, own).as_deref(), Some("cpu.max max\n"));
    // Nothing of the box's own is touched by what is set inside it.
    assert_eq!(record(&fake, OUTER), None);
}

#[test]
fn a_set_inside_is_held_by_the_box_above_and_says_so() {
    let fake = Arc::new(FakeFs::new());
    let (outer, exec) = outer(&fake, limited());
    let cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    let changed = cmd
        .set_limits(&Limits::new().memory_max(Size::parse("1G").unwrap()))
        .unwrap();
    assert_eq!(file(&fake, INNER, "memory.max"), "268435456");
    assert_eq!(changed.written[0].after, "268435456");
    assert!(
        changed.warnings[0].starts_with("memory.max is 268435456, not 1073741824"),
        "{changed:?}"
    );
    assert!(
        record(&fake, INNER)
            .unwrap()
            .contains("memory.max 1073741824\n")
    );
    // The limit above is lifted: the box's own applies.
    outer
        .set_limits(&Limits::new().memory_max(Size::parse("2G").unwrap()))
        .unwrap();
    assert_eq!(file(&fake, INNER, "memory.max"), "1073741824");
}

#[test]
fn a_failed_write_inside_puts_back_everything_set_changed() {
    let fake = Arc::new(FakeFs::new());
    let (outer, exec) = outer(&fake, limited());
    let _a = Builder::new().name("a").create_in(&exec).unwrap();
    let _cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    let a = "cgbox/agents/outer/exec/agents/a";
    let (a_before, cmd_before) = (record(&fake, a), record(&fake, INNER));
    fake.fail(Op::Write, "/cmd/pids.max", Errno::IO, Some(1));
    let e = outer
        .set_limits(
            &Limits::new()
                .memory_max(Size::parse("512M").unwrap())
                .pids_max(10),
        )
        .unwrap_err();
    assert!(e.to_string().contains("exec/agents/cmd"), "{e}");
    for (rel, memory, pids) in [
        (OUTER, "268435456", "64"),
        (a, "268435456", "64"),
        (INNER, "268435456", "64"),
    ] {
        assert_eq!(file(&fake, rel, "memory.max"), memory, "{rel}");
        assert_eq!(file(&fake, rel, "pids.max"), pids, "{rel}");
    }
    assert_eq!(record(&fake, a), a_before);
    assert_eq!(record(&fake, INNER), cmd_before);
    // And once the kernel takes it, all of it.
    outer
        .set_limits(
            &Limits::new()
                .memory_max(Size::parse("512M").unwrap())
                .pids_max(10),
        )
        .unwrap();
    assert_eq!(file(&fake, INNER, "pids.max"), "10");
    assert_eq!(file(&fake, a, "memory.max"), "536870912");
}

#[test]
fn without_xattrs_a_shown_limit_is_taken_for_the_boxs_own() {
    let fake = Arc::new(FakeFs::new());
    fake.fail(Op::Write, LIMITS_XATTR, Errno::OPNOTSUPP, None);
    let (outer, exec) = outer(&fake, limited());
    let _cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    assert_eq!(
        file(&fake, INNER, "memory.max"),
        "268435456",
        "shown all the same"
    );
    assert_eq!(record(&fake, INNER), None);
    outer
        .set_limits(&Limits::new().memory_max(Size::parse("64M").unwrap()))
        .unwrap();
    assert_eq!(file(&fake, INNER, "memory.max"), "67108864", "tightened");
    outer
        .set_limits(&Limits::new().memory_max(Size::parse("1G").unwrap()))
        .unwrap();
    assert_eq!(
        file(&fake, INNER, "memory.max"),
        "67108864",
        "not loosened again: 64M is all it knows of its own"
    );
}

#[test]
fn cpuset_cpus_shows_the_cpus_the_box_may_use() {
    for kernel in Kernel::ALL {
        let fake = Arc::new(FakeFs::with_kernel(kernel));
        let (outer, exec) = outer(&fake, Limits::new().cpuset_cpus("1"));
        let _cmd = Builder::new()
            .name("cmd")
            .limits(Limits::new().cpuset_cpus("0-1"))
            .create_in(&exec)
            .unwrap();
        assert_eq!(file(&fake, INNER, "cpuset.cpus"), "1", "{kernel:?}");
        assert_eq!(record(&fake, INNER).as_deref(), Some("cpuset.cpus 0-1\n"));
        // Another CPU for the box: the inner list follows, first.
        outer.set_limits(&Limits::new().cpuset_cpus("0")).unwrap();
        assert_eq!(file(&fake, INNER, "cpuset.cpus"), "0", "{kernel:?}");
        assert_eq!(file(&fake, INNER, "cpuset.cpus.effective"), "0");
        outer.set_limits(&Limits::new().cpuset_cpus("0-1")).unwrap();
        assert_eq!(file(&fake, INNER, "cpuset.cpus"), "0-1", "its own again");
        assert_eq!(record(&fake, INNER).as_deref(), Some(""));
    }
}

#[test]
fn the_leaf_and_the_boxes_inside_follow_but_the_jobs_own_cgroups_do_not() {
    let fake = Arc::new(FakeFs::new());
    let (outer, exec) = outer(&fake, limited());
    let _cmd = Builder::new().name("cmd").create_in(&exec).unwrap();
    // The job made a cgroup of its own, and a leaf holds the box's own
    // processes (a nested cgbox stepped into it).
    fake.mkdir_p(&format!("{OUTER}/mine")).unwrap();
    fake.mkdir_p(&format!("{OUTER}/init")).unwrap();
    outer.set_limits(&Limits::new().pids_max(8)).unwrap();
    assert_eq!(file(&fake, &format!("{OUTER}/init"), "pids.max"), "8");
    assert_eq!(file(&fake, &format!("{OUTER}/mine"), "pids.max"), "max");
    assert_eq!(file(&fake, INNER, "pids.max"), "8");
}

#[test]
fn prepare_shows_the_homes_limits_in_the_leaf() {
    // A container with a memory limit: its namespace root is the home.
    let fake = Arc::new(FakeFs::new());
    fake.mkdir_p("containers/c1").unwrap();
    for level in ["/sys/fs/cgroup", "/sys/fs/cgroup/containers"] {
        let dir = fake.open_dir(Path::new(level)).unwrap();
        fake.write_file(&dir, "cgroup.subtree_control", b"+cpu +memory +pids")
            .unwrap();
    }
    let c1 = fake
        .open_dir(Path::new("/sys/fs/cgroup/containers/c1"))
        .unwrap();
    fake.write_file(&c1, "memory.max", b"512M").unwrap();
    fake.enter_namespace("containers/c1").unwrap();
    let placement = App::options("cgbox").placement(&*fake).unwrap();
    let done = crate::prepare(&*fake, &placement, crate::LEAF, Duration::from_secs(5)).unwrap();
    assert_eq!(done.shown, ["memory.max"]);
    // Paths of the fake's helpers are as this process sees them: from the
    // namespace root.
    assert_eq!(file(&fake, "init", "memory.max"), "536870912");
    let again = crate::prepare(&*fake, &placement, crate::LEAF, Duration::from_secs(5)).unwrap();
    assert!(again.changed_nothing(), "{again:?}");
}

#[test]
fn bounds_compare_as_the_kernel_enforces_them() {
    let p = |f: &str, t: &str| Bound::parse(f, t).unwrap();
    assert_eq!(p("memory.max", "max\n"), Bound::Free);
    assert_eq!(p("cpu.max", "max 100000\n"), Bound::Free);
    assert_eq!(p("cpuset.cpus", "\n"), Bound::Free);
    assert_eq!(p("cpuset.cpus", "0-2,4\n"), Bound::Cpus(vec![0, 1, 2, 4]));
    assert_eq!(p("cpuset.cpus", "0-2,4\n").render("cpuset.cpus"), "0-2,4");
    assert_eq!(Bound::parse("pids.max", "lots"), None);
    assert_eq!(Bound::parse("cpu.max", "5 0"), None);
    // cpu.max compares quota per period: 50 ms of 100 is less than 75 of 50.
    let mut view = View::default();
    view = view.below("cpu.max", Some(&p("cpu.max", "75000 50000")));
    assert_eq!(
        view.shown("cpu.max", &p("cpu.max", "50000 100000")),
        p("cpu.max", "50000 100000")
    );
    assert_eq!(
        view.shown("cpu.max", &p("cpu.max", "200000 100000")),
        p("cpu.max", "75000 50000")
    );
    assert_eq!(
        view.shown("cpu.max", &Bound::Free),
        p("cpu.max", "75000 50000")
    );
    // A record survives its own encoding, and ignores what it does not know.
    let mut r = Record::default();
    r.note("pids.max", &Bound::Free, &Bound::Amount(3));
    r.note("cpuset.cpus", &Bound::Free, &Bound::Cpus(vec![1]));
    r.note("memory.max", &Bound::Amount(1), &Bound::Amount(1));
    assert_eq!(r.encode(), "pids.max max\ncpuset.cpus \n");
    let fake = FakeFs::new();
    fake.mkdir_p("x").unwrap();
    let x = fake.open_dir(Path::new("/sys/fs/cgroup/x")).unwrap();
    r.write(&fake, &x).unwrap();
    assert_eq!(Record::read(&fake, &x), r);
    fake.set_xattr("x", LIMITS_XATTR, b"bogus 1\npids.max 7\n\xff")
        .unwrap();
    assert_eq!(
        Record::read(&fake, &x).own("pids.max", None),
        Some(Bound::Amount(7))
    );
    assert_eq!(read_string(&fake, &x, "cgroup.type").unwrap(), "domain\n");
}
