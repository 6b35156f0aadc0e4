//! Soak: 10,000 create, spawn, kill, destroy cycles on the fake kernel with
//! random (seeded, reproducible) fault injection. After every cycle: no box
//! directory, no open descriptor, no live process is left, and no call
//! panicked. A failing seed is printed so that it can be replayed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cgbox::KillMethod;
use cgbox::Size;
use cgbox::fs::fake::{FakeFs, Op};
use cgbox::{Builder, Limits, Policy};
use common::Rng;
use rustix::io::Errno;

const CYCLES: usize = 10_000;

/// One fault a real kernel could give: an errno each operation can return.
fn random_fault(fake: &FakeFs, rng: &mut Rng) -> String {
    use Errno as E;
    let table: [(Op, &str, &[Errno]); 11] = [
        (
            Op::Mkdir,
            "/agents/job",
            &[E::ACCESS, E::IO, E::NOSPC, E::EXIST],
        ),
        (Op::Mkdir, "/cgbox", &[E::ACCESS, E::IO, E::NOSPC]),
        (Op::Rmdir, "/agents/job", &[E::BUSY, E::ACCESS, E::IO]),
        (Op::Rmdir, "/job/inner", &[E::BUSY, E::IO]),
        (
            Op::Write,
            "cgroup.subtree_control",
            &[E::BUSY, E::NOENT, E::INVAL, E::ACCESS],
        ),
        (Op::Write, "/job/memory.max", &[E::INVAL, E::ACCESS, E::IO]),
        (Op::Write, "/job/cgroup.kill", &[E::ACCESS, E::IO, E::NOENT]),
        (Op::Read, "/job/cgroup.procs", &[E::IO, E::ACCESS]),
        (
            Op::Open,
            "/job/cgroup.events",
            &[E::ACCESS, E::NOENT, E::MFILE],
        ),
        (Op::PidfdOpen, "", &[E::SRCH, E::MFILE]),
        (Op::OpenDir, "/job", &[E::ACCESS, E::MFILE]),
    ];
    let pick = rng.below(table.len() + 1);
    let Some((op, path, errnos)) = table.get(pick) else {
        let linger = rng.below(30) as u64;
        fake.set_kill_linger(Duration::from_millis(linger));
        return format!("tasks linger {linger} ms after SIGKILL");
    };
    let errno = errnos[rng.below(errnos.len())];
    let times = 1 + rng.below(4) as u32;
    fake.fail(*op, path, errno, Some(times));
    format!("{op:?} {path} -> {errno:?} x{times}")
}

#[test]
fn ten_thousand_cycles_leak_nothing() {
    let seed = std::env::var("CGBOX_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x50a4);
    let mut rng = Rng::new(seed);
    let fake = Arc::new(FakeFs::new());
    let (mut created, mut destroyed_clean, mut refused) = (0, 0, 0);
    for cycle in 0..CYCLES {
        let ctx = format!("seed {seed} cycle {cycle}");
        let fault = random_fault(&fake, &mut rng);
        let method = [KillMethod::Auto, KillMethod::CgroupKill, KillMethod::Signal][rng.below(3)];
        let limits = Limits::new().memory_max(Size::Bytes(1 << 26)).pids_max(64);
        let policy = if rng.below(2) == 0 {
            Policy::Strict
        } else {
            Policy::BestEffort
        };
        let result = Builder::new()
            .name("job")
            .limits(limits)
            .policy(policy)
            .kill_method(method)
            .timeout(Duration::from_millis(200))
            .create(fake.clone());
        match result {
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
                fake.clear_faults();
            }
            Ok(b) => {
                created += 1;
                // the job: processes at the top, a nested cgroup, a forker
                let _ = fake.spawn("cgbox/agents/job");
                if rng.below(2) == 0 && fake.mkdir_p("cgbox/agents/job/inner").is_ok() {
                    let _ = fake.spawn("cgbox/agents/job/inner");
                }
                if rng.below(3) == 0 {
                    let _ = fake.spawn_forker("cgbox/agents/job", 1 + rng.below(20) as u32);
                }
                match b.destroy() {
                    Ok(()) => destroyed_clean += 1,
                    Err(e) => {
                        if std::env::var("CGBOX_SOAK_VERBOSE").is_ok() {
                            eprintln!("{ctx}: {fault}: destroy: {e}");
                        }
                        // A fault outlived the deadline: the error must say so,
                        // and a second try without faults must clean up.
                        assert!(!e.to_string().is_empty(), "{ctx}: {fault}");
                        fake.clear_faults();
                        cgbox::BoxRef::open(fake.clone(), "cgbox", "job")
                            .and_then(|b| b.destroy())
                            .or_else(|e| {
                                if e.kind() == cgbox::ErrorKind::NotFound {
                                    Ok(())
                                } else {
                                    Err(e)
                                }
                            })
                            .unwrap_or_else(|e| panic!("{ctx}: {fault}: retry failed: {e}"));
                    }
                }
            }
        }
        fake.clear_faults();
        fake.set_kill_linger(Duration::ZERO);
        // let lingering tasks finish dying, then check the cycle left nothing
        fake.advance(Duration::from_secs(1));
        // <app> and agents outlive the boxes by design; a failed first
        // creation takes back the ones it made.
        let left = fake.cgroups();
        assert!(
            left == ["/"] || left == ["/", "/cgbox", "/cgbox/agents"],
            "{ctx}: {fault}: leaked a cgroup: {left:?}"
        );
        assert_eq!(fake.open_fds(), 0, "{ctx}: {fault}: leaked a descriptor");
        assert_eq!(
            fake.live_pids(),
            vec![fake.self_pid()],
            "{ctx}: {fault}: a process survived"
        );
    }
    eprintln!(
        "{created} created ({destroyed_clean} destroyed at once), {refused} refused by a fault"
    );
    assert!(
        created > CYCLES / 2 && refused > 0,
        "faults should both hit and miss"
    );
}
