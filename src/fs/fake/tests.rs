//! One test per kernel rule the fake models.

use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;

use super::{FakeFs, Op, ProcState, Psi};
use crate::fs::{Access, CgroupFs, read_string};

fn root(fake: &FakeFs) -> super::FakeDir {
    fake.open_dir(Path::new("/sys/fs/cgroup")).unwrap()
}

fn child(fake: &FakeFs, rel: &str) -> super::FakeDir {
    fake.open_dir(&Path::new("/sys/fs/cgroup").join(rel))
        .unwrap()
}

fn errno_of<T: std::fmt::Debug>(r: crate::Result<T>) -> Errno {
    let e = r.unwrap_err();
    Errno::from_raw_os_error(e.errno().unwrap_or_else(|| panic!("no errno in {e}")))
}

fn write(fake: &FakeFs, rel: &str, file: &str, value: &str) -> crate::Result<()> {
    fake.write_file(&child(fake, rel), file, value.as_bytes())
}

fn read(fake: &FakeFs, rel: &str, file: &str) -> String {
    read_string(fake, &child(fake, rel), file).unwrap()
}

#[test]
fn controller_files_appear_only_when_parent_enables_controller() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    let a = child(&fake, "a");
    assert!(!fake.has_file(&a, "memory.max").unwrap());
    assert_eq!(
        errno_of(fake.open_file(&a, "memory.max", Access::Read)),
        Errno::NOENT
    );
    assert_eq!(
        read(&fake, "a", "cgroup.controllers"),
        "",
        "an empty mask prints nothing"
    );
    write(&fake, "", "cgroup.subtree_control", "+memory +pids").unwrap();
    assert!(fake.has_file(&a, "memory.max").unwrap());
    assert!(fake.has_file(&a, "pids.max").unwrap());
    assert!(!fake.has_file(&a, "cpu.max").unwrap());
    assert_eq!(read(&fake, "a", "cgroup.controllers"), "memory pids\n");
    write(&fake, "", "cgroup.subtree_control", "-memory").unwrap();
    assert!(!fake.has_file(&a, "memory.max").unwrap());
}

#[test]
fn core_files_always_exist_and_cpu_stat_grows_with_cpu() {
    let fake = FakeFs::with_controllers(&["cpu"]);
    fake.mkdir_p("a").unwrap();
    for f in [
        "cgroup.procs",
        "cgroup.events",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.type",
        "cpu.stat",
    ] {
        assert!(fake.has_file(&child(&fake, "a"), f).unwrap(), "{f}");
    }
    assert!(!read(&fake, "a", "cpu.stat").contains("nr_throttled"));
    write(&fake, "", "cgroup.subtree_control", "+cpu").unwrap();
    assert!(read(&fake, "a", "cpu.stat").contains("nr_throttled 0"));
}

#[test]
fn root_lacks_type_kill_freeze_events_and_limits() {
    let fake = FakeFs::new();
    let r = root(&fake);
    for f in [
        "cgroup.type",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.events",
        "cpu.max",
        "memory.max",
    ] {
        assert!(!fake.has_file(&r, f).unwrap(), "{f}");
    }
    assert!(fake.has_file(&r, "cpu.stat").unwrap());
    assert!(fake.has_file(&r, "memory.stat").unwrap());
}

#[test]
fn subtree_control_is_all_or_nothing() {
    let fake = FakeFs::with_controllers(&["cpu", "pids"]);
    fake.mkdir_p("a").unwrap();
    assert_eq!(
        errno_of(write(
            &fake,
            "",
            "cgroup.subtree_control",
            "+cpu +memory +pids"
        )),
        Errno::NOENT
    );
    assert_eq!(
        read(&fake, "", "cgroup.subtree_control"),
        "",
        "nothing enabled"
    );
}

#[test]
fn subtree_control_errnos() {
    let fake = FakeFs::new();
    assert_eq!(
        errno_of(write(&fake, "", "cgroup.subtree_control", "memory")),
        Errno::INVAL
    );
    assert_eq!(
        errno_of(write(&fake, "", "cgroup.subtree_control", "+bogus")),
        Errno::INVAL
    );
    fake.mkdir_p("a/b").unwrap();
    // `a` has nothing in cgroup.controllers yet
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.subtree_control", "+memory")),
        Errno::NOENT
    );
}

#[test]
fn populated_cgroup_cannot_enable_controllers() {
    let fake = FakeFs::new();
    fake.mkdir_p("a/b").unwrap();
    write(&fake, "", "cgroup.subtree_control", "+memory").unwrap();
    fake.spawn("a").unwrap();
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.subtree_control", "+memory")),
        Errno::BUSY
    );
}

#[test]
fn cgroup_with_controllers_cannot_take_processes() {
    let fake = FakeFs::new();
    fake.mkdir_p("a/b").unwrap();
    write(&fake, "", "cgroup.subtree_control", "+pids").unwrap();
    write(&fake, "a", "cgroup.subtree_control", "+pids").unwrap();
    let pid = fake.spawn("a/b").unwrap();
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.procs", &pid.to_string())),
        Errno::BUSY
    );
    // the root is exempt
    write(&fake, "", "cgroup.procs", &pid.to_string()).unwrap();
    assert_eq!(fake.cgroup_of(pid).as_deref(), Some("/"));
}

#[test]
fn controller_in_use_by_child_cannot_be_disabled() {
    let fake = FakeFs::new();
    fake.mkdir_p("a/b").unwrap();
    write(&fake, "", "cgroup.subtree_control", "+memory").unwrap();
    write(&fake, "a", "cgroup.subtree_control", "+memory").unwrap();
    assert_eq!(
        errno_of(write(&fake, "", "cgroup.subtree_control", "-memory")),
        Errno::BUSY
    );
    write(&fake, "a", "cgroup.subtree_control", "-memory").unwrap();
    write(&fake, "", "cgroup.subtree_control", "-memory").unwrap();
}

#[test]
fn realtime_processes_block_cpu() {
    let fake = FakeFs::new();
    fake.set_realtime_outside_root(true);
    assert_eq!(
        errno_of(write(&fake, "", "cgroup.subtree_control", "+cpu")),
        Errno::INVAL
    );
    write(&fake, "", "cgroup.subtree_control", "+memory").unwrap();
}

#[test]
fn procs_moves_one_pid_and_zero_is_the_writer() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    write(&fake, "a", "cgroup.procs", "0").unwrap();
    assert_eq!(fake.cgroup_of(fake.self_pid()).as_deref(), Some("/a"));
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.procs", "9999")),
        Errno::SRCH
    );
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.procs", "1 2")),
        Errno::INVAL
    );
    assert_eq!(
        read(&fake, "a", "cgroup.procs"),
        format!("{}\n", fake.self_pid())
    );
}

#[test]
fn rmdir_busy_with_children_or_processes_and_zombies_do_not_count() {
    let fake = FakeFs::new();
    fake.mkdir_p("a/b").unwrap();
    let r = root(&fake);
    assert_eq!(errno_of(fake.remove_child(&r, "a")), Errno::BUSY);
    let a = child(&fake, "a");
    let pid = fake.spawn("a/b").unwrap();
    assert_eq!(errno_of(fake.remove_child(&a, "b")), Errno::BUSY);
    assert_eq!(read(&fake, "a", "cgroup.events"), "populated 1\nfrozen 0\n");
    fake.exit(pid).unwrap();
    assert_eq!(fake.state(pid), Some(ProcState::Zombie));
    assert_eq!(read(&fake, "a", "cgroup.events"), "populated 0\nfrozen 0\n");
    fake.remove_child(&a, "b").unwrap();
    fake.remove_child(&r, "a").unwrap();
    assert_eq!(errno_of(fake.remove_child(&r, "a")), Errno::NOENT);
}

#[test]
fn mkdir_existing_is_eexist() {
    let fake = FakeFs::new();
    let r = root(&fake);
    fake.make_child(&r, "a").unwrap();
    assert_eq!(errno_of(fake.make_child(&r, "a")), Errno::EXIST);
}

#[test]
fn value_validation() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    write(
        &fake,
        "",
        "cgroup.subtree_control",
        "+cpu +memory +pids +io +cpuset",
    )
    .unwrap();
    for (file, bad, errno) in [
        ("cpu.max", "999 100000", Errno::INVAL),
        ("cpu.max", "1000 999", Errno::INVAL),
        ("cpu.max", "1000 1000001", Errno::INVAL),
        ("cpu.max", "x 100000", Errno::INVAL),
        ("cpu.weight", "0", Errno::RANGE),
        ("cpu.weight", "10001", Errno::RANGE),
        ("cpu.weight", "abc", Errno::INVAL),
        ("memory.max", "12Q", Errno::INVAL),
        ("memory.max", "-1", Errno::INVAL),
        ("pids.max", "-1", Errno::INVAL),
        ("pids.max", "4194305", Errno::INVAL),
        ("memory.oom.group", "2", Errno::INVAL),
        ("cpuset.cpus", "0-7", Errno::RANGE),
        ("cpuset.cpus", "1-0", Errno::INVAL),
        ("io.max", "8:0 wbps=1", Errno::NODEV),
        ("io.max", "259:0 bogus=1", Errno::INVAL),
        ("io.weight", "0", Errno::INVAL),
        ("cgroup.freeze", "2", Errno::RANGE),
        ("cgroup.kill", "2", Errno::RANGE),
        ("cgroup.kill", "x", Errno::INVAL),
    ] {
        assert_eq!(
            errno_of(write(&fake, "a", file, bad)),
            errno,
            "{file} <- {bad}"
        );
    }
    for (file, good, back) in [
        ("cpu.max", "50000 100000", "50000 100000\n"),
        ("cpu.max", "max", "max 100000\n"),
        ("cpu.max", "150000 1000000", "150000 1000000\n"),
        ("cpu.max", "20000", "20000 1000000\n"),
        ("memory.max", "32M", "33554432\n"),
        ("memory.max", "1000", "0\n"),
        ("memory.high", "max", "max\n"),
        ("pids.max", "5", "5\n"),
        ("cpuset.cpus", "1", "1\n"),
        (
            "io.max",
            "259:0 wbps=4194304",
            "259:0 rbps=max wbps=4194304 riops=max wiops=max\n",
        ),
        ("io.weight", "default 200", "default 200\n"),
    ] {
        write(&fake, "a", file, good).unwrap();
        assert_eq!(read(&fake, "a", file), back, "{file} <- {good}");
    }
}

#[test]
fn read_only_files_refuse_writes_with_einval_for_root() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    write(&fake, "", "cgroup.subtree_control", "+memory").unwrap();
    assert_eq!(
        errno_of(write(&fake, "a", "memory.current", "0")),
        Errno::INVAL
    );
    assert_eq!(
        errno_of(write(&fake, "a", "cgroup.events", "0")),
        Errno::INVAL
    );
}

#[test]
fn kill_kills_the_whole_subtree_including_racing_forks() {
    let fake = FakeFs::new();
    fake.mkdir_p("a/b").unwrap();
    let p1 = fake.spawn_forker("a", 5).unwrap();
    let p2 = fake.spawn("a/b").unwrap();
    let _ = read(&fake, "a", "cgroup.procs"); // p1 forks
    write(&fake, "a", "cgroup.kill", "1").unwrap();
    assert_eq!(fake.state(p1), Some(ProcState::Zombie));
    assert_eq!(fake.state(p2), Some(ProcState::Zombie));
    assert_eq!(read(&fake, "a", "cgroup.events"), "populated 0\nfrozen 0\n");
    assert_eq!(fake.live_pids(), vec![fake.self_pid()]);
}

#[test]
fn forker_forks_when_listed_unless_frozen() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    fake.spawn_forker("a", 3).unwrap();
    assert_eq!(read(&fake, "a", "cgroup.procs").lines().count(), 2);
    write(&fake, "a", "cgroup.freeze", "1").unwrap();
    assert_eq!(read(&fake, "a", "cgroup.events"), "populated 1\nfrozen 1\n");
    assert_eq!(
        read(&fake, "a", "cgroup.procs").lines().count(),
        2,
        "frozen: no fork"
    );
    write(&fake, "a", "cgroup.freeze", "0").unwrap();
    assert_eq!(
        read(&fake, "a", "cgroup.procs").lines().count(),
        3,
        "one more child: children do not fork"
    );
}

#[test]
fn killed_tasks_linger_until_the_clock_moves() {
    let fake = FakeFs::new();
    fake.set_kill_linger(Duration::from_millis(3));
    fake.mkdir_p("a").unwrap();
    let pid = fake.spawn("a").unwrap();
    write(&fake, "a", "cgroup.kill", "1").unwrap();
    assert_eq!(fake.state(pid), Some(ProcState::Dying));
    assert_eq!(errno_of(fake.remove_child(&root(&fake), "a")), Errno::BUSY);
    let events = fake
        .open_file(&child(&fake, "a"), "cgroup.events", Access::Read)
        .unwrap();
    let mut buf = [0u8; 64];
    fake.read_kept(&events, &mut buf).unwrap();
    assert!(
        fake.wait_for_change(&events, &mut Vec::new(), Duration::from_millis(10))
            .unwrap()
    );
    assert_eq!(fake.clock(), Duration::from_millis(3));
    fake.remove_child(&root(&fake), "a").unwrap();
}

#[test]
fn pidfd_never_hits_another_process() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    let pid = fake.spawn("a").unwrap();
    let fd = fake.pidfd_open(pid).unwrap();
    fake.exit(pid).unwrap();
    fake.reap(pid).unwrap();
    assert_eq!(errno_of(fake.pidfd_kill(&fd)), Errno::SRCH);
    assert_eq!(errno_of(fake.pidfd_open(pid)), Errno::SRCH);
}

#[test]
fn faults_fire_the_given_number_of_times() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    let r = root(&fake);
    fake.fail(Op::Rmdir, "/a", Errno::BUSY, Some(2));
    assert_eq!(errno_of(fake.remove_child(&r, "a")), Errno::BUSY);
    assert_eq!(errno_of(fake.remove_child(&r, "a")), Errno::BUSY);
    fake.remove_child(&r, "a").unwrap();
    fake.fail(Op::Mkdir, "", Errno::ACCESS, None);
    assert_eq!(errno_of(fake.make_child(&r, "b")), Errno::ACCESS);
    assert_eq!(errno_of(fake.make_child(&r, "c")), Errno::ACCESS);
}

#[test]
fn hidden_files_and_psi_modes() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    write(&fake, "", "cgroup.subtree_control", "+memory").unwrap();
    fake.hide_file("memory.peak");
    let a = child(&fake, "a");
    assert!(!fake.has_file(&a, "memory.peak").unwrap());
    assert!(read(&fake, "a", "cpu.pressure").starts_with("some "));
    fake.set_psi(Psi::Unsupported);
    assert_eq!(
        errno_of(read_string(&fake, &a, "cpu.pressure")),
        Errno::OPNOTSUPP
    );
    fake.set_psi(Psi::Absent);
    assert!(!fake.has_file(&a, "cpu.pressure").unwrap());
}

#[test]
fn removed_cgroup_files_give_enodev() {
    let fake = FakeFs::new();
    fake.mkdir_p("a").unwrap();
    let a = child(&fake, "a");
    let kept = fake.open_file(&a, "cgroup.events", Access::Read).unwrap();
    fake.remove_child(&root(&fake), "a").unwrap();
    assert_eq!(
        errno_of(fake.read_kept(&kept, &mut [0u8; 16])),
        Errno::NODEV
    );
}

#[test]
fn paths_outside_the_mount_are_not_cgroup2() {
    let fake = FakeFs::new();
    let e = fake.open_dir(Path::new("/tmp")).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::NotCgroup2);
}

#[test]
fn descriptors_are_counted() {
    let fake = FakeFs::new();
    {
        let _r = root(&fake);
        assert_eq!(fake.open_fds(), 1);
    }
    assert_eq!(fake.open_fds(), 0);
}
