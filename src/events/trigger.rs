//! [`Trigger`]: a PSI threshold the kernel watches for a box, and the
//! [`Resource`] it watches.
//!
//! The kernel's rules (Documentation/accounting/psi.rst and
//! `psi_trigger_create`): a trigger is `some|full <stall us> <window us>`
//! written to an open `<resource>.pressure`; the window is 500 ms to 10 s;
//! the stall threshold is more than 0 and at most the window; a process
//! without `CAP_SYS_RESOURCE` may only use windows that are a multiple of
//! 2 s (Linux 6.5 and later; before 6.5 it may not make triggers at all).
//! They are checked here before anything is written, so that a bad trigger
//! is refused with the rule it breaks rather than the kernel's bare
//! `EINVAL`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// What a [`Trigger`] watches: the stall of the box's tasks on CPU, memory
/// or I/O (`cpu.pressure`, `memory.pressure`, `io.pressure`).
///
/// See the [example](crate::Trigger#examples).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `cpu.pressure`: runnable tasks waiting for a CPU.
    Cpu,
    /// `memory.pressure`: tasks waiting on reclaim, refaults, swap-in, or
    /// throttled at `memory.high`.
    Memory,
    /// `io.pressure`: tasks waiting for I/O.
    Io,
}

impl Resource {
    /// The resource's word, as the pressure file is named: `memory`.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Io => "io",
        }
    }

    /// The box's interface file the trigger is written to: `memory.pressure`.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn file(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu.pressure",
            Resource::Memory => "memory.pressure",
            Resource::Io => "io.pressure",
        }
    }

    fn parse(word: &str) -> Option<Resource> {
        let word = word.strip_suffix(".pressure").unwrap_or(word);
        [Resource::Cpu, Resource::Memory, Resource::Io]
            .into_iter()
            .find(|r| r.name() == word)
    }
}

/// A PSI trigger: wake when the box's tasks stalled on a [`Resource`] for
/// at least `stall` within any `window` ("some": at least one task
/// stalled; "full": all of them at once). Add it to a watcher with
/// [`Events::trigger`](crate::Events::trigger); each firing comes as
/// [`Event::Pressure`](crate::Event::Pressure) carrying the trigger, so a
/// watcher with several tells them apart. The kernel fires a trigger at
/// most once per window.
///
/// The rules, checked by [`Events::trigger`](crate::Events::trigger) (and
/// by parsing, all but the last): stall and window in whole microseconds;
/// the window from 500 ms to 10 s; the stall more than 0 and at most the
/// window; without `CAP_SYS_RESOURCE`, a window that is a multiple of 2 s.
///
/// `Display` and `FromStr` use the kernel's words after the resource:
/// `memory some 150000 2000000` (microseconds).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use cgbox::{ErrorKind, Resource, Trigger};
///
/// let t = Trigger::some(Resource::Memory, Duration::from_millis(150), Duration::from_secs(2));
/// assert_eq!(t.resource(), Resource::Memory);
/// assert_eq!(t.resource().file(), "memory.pressure");
/// assert_eq!(t.resource().name(), "memory");
/// assert!(!t.is_full());
/// assert_eq!((t.stall(), t.window()), (Duration::from_millis(150), Duration::from_secs(2)));
/// assert_eq!(t.to_string(), "memory some 150000 2000000");
/// assert_eq!("memory some 150000 2000000".parse::<Trigger>()?, t);
///
/// let io = Trigger::full(Resource::Io, Duration::from_millis(50), Duration::from_secs(4));
/// assert!(io.is_full());
/// assert_eq!(io.to_string(), "io full 50000 4000000");
///
/// // A bad trigger is refused with the rule it breaks.
/// let e = "cpu some 100000 20000000".parse::<Trigger>().unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// assert!(e.to_string().contains("500 ms to 10 s"), "{e}");
/// let e = "cpu some 3000000 2000000".parse::<Trigger>().unwrap_err();
/// assert!(e.to_string().contains("at most the window"), "{e}");
/// # Ok::<(), cgbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Trigger {
    resource: Resource,
    full: bool,
    stall: Duration,
    window: Duration,
}

/// The kernel's shortest window (`WINDOW_MIN_US`).
const MIN_WINDOW: Duration = Duration::from_millis(500);
/// The kernel's longest window (`WINDOW_MAX_US`).
const MAX_WINDOW: Duration = Duration::from_secs(10);
/// Without `CAP_SYS_RESOURCE` the window is a multiple of this.
const UNPRIVILEGED_STEP: Duration = Duration::from_secs(2);

impl Trigger {
    /// Wake when at least one task of the box stalled on `resource` for
    /// `stall` within any `window`.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn some(resource: Resource, stall: Duration, window: Duration) -> Trigger {
        Trigger {
            resource,
            full: false,
            stall,
            window,
        }
    }

    /// Wake when all non-idle tasks of the box stalled on `resource` at
    /// once for `stall` within any `window` (`cpu` "full" needs Linux
    /// 5.13 in a cgroup).
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn full(resource: Resource, stall: Duration, window: Duration) -> Trigger {
        Trigger {
            full: true,
            ..Trigger::some(resource, stall, window)
        }
    }

    /// What the trigger watches.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn resource(&self) -> Resource {
        self.resource
    }

    /// True for "full" (all tasks stalled at once), false for "some".
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The stall threshold.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn stall(&self) -> Duration {
        self.stall
    }

    /// The window the stall is measured in.
    ///
    /// See the [example](crate::Trigger#examples).
    pub fn window(&self) -> Duration {
        self.window
    }

    fn kind(&self) -> &'static str {
        if self.full { "full" } else { "some" }
    }

    /// The bytes written to the pressure file: the kernel's words and a
    /// NUL, which the kernel takes as the terminator (it replaces the
    /// write's last byte with one).
    pub(crate) fn kernel_text(&self) -> String {
        format!(
            "{} {} {}\0",
            self.kind(),
            self.stall.as_micros(),
            self.window.as_micros()
        )
    }

    /// Check the kernel's rules. `privileged`: whether this process has
    /// `CAP_SYS_RESOURCE` (`None`: not known yet, the 2 s rule is left
    /// for later).
    pub(crate) fn check(&self, privileged: Option<bool>) -> Result<()> {
        let refuse = |detail: String| {
            Err(Error::new(ErrorKind::InvalidInput, "add PSI trigger")
                .with_detail(format!("{self}: {detail}")))
        };
        if !self.stall.subsec_nanos().is_multiple_of(1000)
            || !self.window.subsec_nanos().is_multiple_of(1000)
        {
            return refuse("the stall and the window are whole microseconds".to_owned());
        }
        if self.window < MIN_WINDOW || self.window > MAX_WINDOW {
            return refuse(format!(
                "the window must be 500 ms to 10 s (the kernel's range), not {}",
                human(self.window)
            ));
        }
        if self.stall.is_zero() || self.stall > self.window {
            return refuse(format!(
                "the stall threshold must be more than 0 and at most the window ({}), not {}",
                human(self.window),
                human(self.stall)
            ));
        }
        if privileged == Some(false)
            && !self
                .window
                .as_micros()
                .is_multiple_of(UNPRIVILEGED_STEP.as_micros())
        {
            return Err(Error::new(ErrorKind::InvalidInput, "add PSI trigger")
                .with_detail(format!(
                    "{self}: without CAP_SYS_RESOURCE the window must be a multiple of 2 s, not {}",
                    human(self.window)
                ))
                .with_hint(
                    "use a window of 2, 4, 6, 8 or 10 s, or run with CAP_SYS_RESOURCE (Linux 6.5 and later; before 6.5 triggers need CAP_SYS_RESOURCE)",
                ));
        }
        Ok(())
    }
}

/// `150 ms`, `2 s`, `2.5 s`, `120 us`.
fn human(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 1_000_000 && us.is_multiple_of(1_000_000) {
        format!("{} s", us / 1_000_000)
    } else if us >= 1_000_000 {
        format!("{} s", d.as_secs_f64())
    } else if us >= 1000 && us.is_multiple_of(1000) {
        format!("{} ms", us / 1000)
    } else {
        format!("{us} us")
    }
}

impl Trigger {
    /// `150 ms of memory some stall within 2 s`, for people.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} of {} {} stall within {}",
            human(self.stall),
            self.resource.name(),
            self.kind(),
            human(self.window)
        )
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.resource.name(),
            self.kind(),
            self.stall.as_micros(),
            self.window.as_micros()
        )
    }
}

impl FromStr for Trigger {
    type Err = Error;

    /// `RESOURCE some|full STALL_US WINDOW_US`, checked against every rule
    /// but the one that depends on the process's capabilities.
    fn from_str(text: &str) -> Result<Trigger> {
        let bad = |why: &str| {
            Error::new(ErrorKind::InvalidInput, "parse PSI trigger").with_detail(format!(
                "{text:?}: {why}; expected \"RESOURCE some|full STALL_US WINDOW_US\" such as \"memory some 150000 2000000\""
            ))
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let [resource, kind, stall, window] = words.as_slice() else {
            return Err(bad("four words are needed"));
        };
        let resource =
            Resource::parse(resource).ok_or_else(|| bad("RESOURCE is cpu, memory or io"))?;
        let micros = |w: &str| {
            crate::parse::token::parse_u64(w)
                .map(Duration::from_micros)
                .ok_or_else(|| bad("STALL_US and WINDOW_US are whole microseconds"))
        };
        let (stall, window) = (micros(stall)?, micros(window)?);
        let trigger = match *kind {
            "some" => Trigger::some(resource, stall, window),
            "full" => Trigger::full(resource, stall, window),
            _ => return Err(bad("the second word is some or full")),
        };
        trigger.check(None)?;
        Ok(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn kernel_text_ends_with_the_terminator() {
        let t = Trigger::some(Resource::Memory, ms(150), ms(1000));
        assert_eq!(t.kernel_text(), "some 150000 1000000\0");
        let t = Trigger::full(Resource::Io, ms(50), ms(10_000));
        assert_eq!(t.kernel_text(), "full 50000 10000000\0");
        // The kernel copies at most 32 bytes of a trigger (psi_write's
        // buffer): the longest one fits.
        let longest = Trigger::full(Resource::Memory, ms(10_000), ms(10_000));
        assert!(longest.kernel_text().len() <= 32);
    }

    #[test]
    fn the_rules_and_their_words() {
        let ok = [
            Trigger::some(Resource::Cpu, Duration::from_micros(1), ms(500)),
            Trigger::some(Resource::Cpu, ms(500), ms(500)),
            Trigger::full(Resource::Memory, ms(10_000), ms(10_000)),
        ];
        for t in ok {
            t.check(Some(true)).unwrap();
        }
        let cases = [
            (
                Trigger::some(Resource::Cpu, ms(100), ms(499)),
                "500 ms to 10 s",
                "499 ms",
            ),
            (
                Trigger::some(Resource::Cpu, ms(100), ms(10_001)),
                "500 ms to 10 s",
                "10.001 s",
            ),
            (
                Trigger::some(Resource::Cpu, ms(0), ms(1000)),
                "more than 0",
                "0 us",
            ),
            (
                Trigger::some(Resource::Io, ms(1001), ms(1000)),
                "at most the window",
                "1.001 s",
            ),
            (
                Trigger::some(Resource::Io, Duration::from_nanos(1500), ms(1000)),
                "whole microseconds",
                "io some 1 1000000",
            ),
        ];
        for (t, rule, said) in cases {
            for privileged in [None, Some(true), Some(false)] {
                let e = t.check(privileged).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput);
                let text = e.to_string();
                assert!(text.contains(rule) && text.contains(said), "{text}");
            }
        }
    }

    #[test]
    fn unprivileged_windows_are_multiples_of_two_seconds() {
        for secs in [2, 4, 6, 8, 10] {
            let t = Trigger::some(Resource::Memory, ms(100), ms(secs * 1000));
            t.check(Some(false)).unwrap();
        }
        for window in [500, 1000, 3000, 2500, 9999] {
            let t = Trigger::some(Resource::Memory, ms(100), ms(window));
            t.check(Some(true)).unwrap();
            t.check(None).unwrap();
            let e = t.check(Some(false)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.to_string().contains("multiple of 2 s"), "{e}");
            assert!(e.hint().unwrap().contains("CAP_SYS_RESOURCE"));
        }
    }

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "memory some 150000 2000000",
            "cpu full 1 500000",
            "io some 10000000 10000000",
        ] {
            let t: Trigger = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        let t: Trigger = "  memory.pressure   full 1000 1000000 ".parse().unwrap();
        assert_eq!(t, Trigger::full(Resource::Memory, ms(1), ms(1000)));
        for bad in [
            "",
            "memory some 1000",
            "memory some 1000 1000000 extra",
            "swap some 1000 1000000",
            "memory most 1000 1000000",
            "memory some 1ms 1s",
            "memory some -1 1000000",
            "memory some 01 1000000",
            "memory some 0 1000000",
            "memory some 1000 100000",
        ] {
            let e = bad.parse::<Trigger>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn people_read_units() {
        let t = Trigger::some(Resource::Memory, ms(150), ms(2000));
        assert_eq!(t.describe(), "150 ms of memory some stall within 2 s");
        let t = Trigger::full(Resource::Cpu, Duration::from_micros(1500), ms(2500));
        assert_eq!(t.describe(), "1500 us of cpu full stall within 2.5 s");
    }
}
