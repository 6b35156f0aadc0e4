//! A short spin before a short sleep, where the kernel answers within
//! microseconds on another CPU.
//!
//! cgbox waits twice in a job's life for something that takes tens of
//! microseconds on another CPU: the started child's `execve` (see
//! `spawn::exec_wait`) and a killed job's exit. Sleeping through it lets
//! our CPU go idle. On a virtual machine whose idle vCPUs halt (a
//! Firecracker guest, for one), the wake-up then costs 50 us after a busy
//! spell and about 1 ms after 10 ms of quiet (measured in Dec 2026; see
//! `benches/peers/RESULTS.md`): more than the wait itself. The child of an
//! empty box mostly runs on the other vCPU there (the box's `populated`
//! notification makes a kworker runnable on ours inside `clone3`), so both
//! waits cross vCPUs. Spinning for a while keeps ours awake.
//!
//! The spin is bounded ([`BUDGET`]: a slow answer costs that much CPU, then
//! the caller sleeps) and offers the CPU to any other runnable task at each
//! look ([`LOOK`]), so that a child that shares our CPU runs at once.

use std::time::{Duration, Instant};

/// How long a caller spins before it sleeps: longer than an exec or the
/// exit of a killed small job takes on a busy machine (30 to 170 us from
/// `clone3` to the exec on this project's host, idle vCPU wake-up
/// included), short enough that a slow one costs little CPU.
pub(crate) const BUDGET: Duration = Duration::from_micros(200);

/// How often `ready` is asked (and the CPU offered to others): a look may
/// be a system call.
const LOOK: Duration = Duration::from_micros(5);

/// Spin until `ready` says true (returns true) or `budget` (at most
/// [`BUDGET`]: callers pass less when their own timeout is shorter) has
/// passed (returns false). `ready` is first asked after one [`LOOK`].
pub(crate) fn until(budget: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let budget = budget.min(BUDGET);
    let began = Instant::now();
    let mut looked = began;
    loop {
        std::hint::spin_loop();
        let now = Instant::now();
        if now.duration_since(looked) < LOOK {
            continue;
        }
        if ready() {
            return true;
        }
        if now.duration_since(began) >= budget {
            return false;
        }
        rustix::thread::sched_yield();
        looked = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_every_look_and_gives_up_after_the_budget() {
        let t = Instant::now();
        let mut asked = 0u32;
        assert!(!until(BUDGET, || {
            asked += 1;
            false
        }));
        let spun = t.elapsed();
        assert!(spun >= BUDGET, "gave up after {spun:?}");
        // At most one look per LOOK (a loaded machine makes fewer).
        let most = (spun.as_micros() / LOOK.as_micros()) as u32 + 1;
        assert!(
            asked >= 1 && asked <= most,
            "asked {asked} times in {spun:?}"
        );
    }

    #[test]
    fn stops_at_the_first_yes() {
        let mut asked = 0u32;
        assert!(until(BUDGET, || {
            asked += 1;
            asked == 3
        }));
        assert_eq!(asked, 3);
    }

    #[test]
    fn a_shorter_budget_is_kept_and_a_longer_one_capped() {
        let mut asked = 0u32;
        assert!(!until(Duration::ZERO, || {
            asked += 1;
            false
        }));
        assert_eq!(asked, 1, "a zero budget looks once");
        let t = Instant::now();
        assert!(!until(Duration::from_secs(10), || false));
        let capped = t.elapsed();
        assert!(capped >= BUDGET, "gave up after {capped:?}");
        assert!(
            capped < Duration::from_secs(5),
            "spun {capped:?}: not capped"
        );
    }
}
