//! What a run tells: the summary line on stderr and the `--report` JSON,
//! written for every outcome, atomically.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use cgbox::Skipped;
use cgbox::Stats;
use serde::Serialize;

use super::program::{EXIT_FAILED, EXIT_TIMED_OUT};
use super::stop::Outcome;
use crate::signals;
use crate::staged::Staged;
use crate::stats::StatsJson;
use crate::units::{bytes, or_dash, usec};

/// The exit code the contract gives.
pub fn exit_code(o: &Outcome) -> i32 {
    let status = o.status.map(|s| (s.code(), s.signal()));
    if o.timed_out {
        return EXIT_TIMED_OUT;
    }
    if let Some(sig) = o.interrupted_by
        && (o.killed || status.is_none())
    {
        return 128 + sig;
    }
    match status {
        Some((Some(code), _)) => code,
        Some((None, Some(sig))) => 128 + sig,
        _ => EXIT_FAILED,
    }
}

/// The report file, checked before CMD runs: a temporary file beside it
/// is made at once (so that an unwritable place is a 125 before anything
/// ran), and renamed over it at the end (so that a reader never sees half
/// a report, and an old report never passes for this run's).
pub struct ReportFile(Staged);

impl ReportFile {
    pub fn prepare(target: &Path) -> Result<ReportFile, String> {
        Staged::prepare("--report", target).map(ReportFile)
    }

    /// Write the report and put it in place.
    pub fn commit(self, report: &Report<'_>) -> Result<(), String> {
        self.0
            .finish((crate::json::render(report) + "\n").as_bytes())
    }
}

/// Everything the report holds.
pub struct Facts<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    /// cgbox's own exit status.
    pub status: i32,
    pub outcome: Option<&'a Outcome>,
    /// Why CMD ended, as the kernel's counters tell (the library's outcome).
    pub judged: Option<&'a cgbox::Outcome>,
    /// The cgroup whose memory.max an OOM kill hit, as /proc/self/cgroup says it.
    pub oom_cgroup: Option<String>,
    pub wall: Duration,
    pub skipped: &'a [Skipped],
    pub error: Option<String>,
    pub stats: Option<&'a Stats>,
}

/// The `--report` JSON: `{"name", "path", "status", "exit_code", "signal",
/// "timed_out", "interrupted_by", "stop_signal", "killed", "wall_ms",
/// "skipped": [{"what", "error"}], "error", "cause", "stats"}`; what is not
/// known is `null`. `cause` is why CMD ended and what limited it on the way
/// (see [`CauseJson`]).
#[derive(Serialize)]
pub struct Report<'a> {
    name: &'a str,
    path: Option<&'a str>,
    status: i32,
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    interrupted_by: Option<i32>,
    stop_signal: Option<i32>,
    killed: bool,
    wall_ms: u64,
    skipped: Vec<SkippedJson<'a>>,
    error: Option<&'a str>,
    cause: Option<CauseJson<'a>>,
    stats: Option<StatsJson<'a>>,
}

/// `"cause": {"kind", "text", ...the kind's fields..., "counts": {...}}`:
/// `kind` is `exited`, `oom_killed`, `timed_out`, `interrupted`,
/// `killed_with_box` or `signaled`; `text` is the summary's first clause.
/// A field that does not apply, and a counter the kernel does not have
/// (5.10: no `memory_peak`, `pids_peak`, `oom_group_kills`), is left out,
/// never 0.
#[derive(Serialize)]
struct CauseJson<'a> {
    kind: &'static str,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    killed: Option<bool>,
    counts: CountsJson,
}

/// The outcome's counts over the run, each left out where not counted.
#[derive(Serialize)]
struct CountsJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nr_periods: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nr_throttled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    throttled_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_peak: Option<u64>,
    /// Whether the peak is the run's own (else the box's life); only with a peak.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_peak_is_the_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids_peak: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids_peak_is_the_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oom_kills: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oom_group_kills: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_max_hits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_high_hits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_stall_usec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forks_refused: Option<u64>,
}

impl<'a> CauseJson<'a> {
    fn of(o: &cgbox::Outcome, oom_cgroup: Option<&'a str>) -> CauseJson<'a> {
        use cgbox::Cause;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut c = CauseJson {
            kind: "signaled",
            text: o.describe(),
            exit_code: None,
            signal: None,
            cgroup: None,
            limit: None,
            group: None,
            grace_ms: None,
            killed: None,
            counts: CountsJson::of(&o.counts),
        };
        match &o.cause {
            Cause::Exited(code) => {
                c.kind = "exited";
                c.exit_code = Some(*code);
            }
            Cause::OomKilled { limit, group, .. } => {
                c.kind = "oom_killed";
                c.cgroup = oom_cgroup;
                c.limit = *limit;
                c.group = Some(*group);
            }
            Cause::TimedOut {
                signal,
                grace,
                killed,
            } => {
                c.kind = "timed_out";
                c.signal = Some(*signal);
                c.grace_ms = Some(millis(*grace));
                c.killed = Some(*killed);
            }
            Cause::Interrupted { signal, killed } => {
                c.kind = "interrupted";
                c.signal = Some(*signal);
                c.killed = Some(*killed);
            }
            Cause::KilledWithBox => c.kind = "killed_with_box",
            Cause::Signaled(sig) => c.signal = Some(*sig),
            // A cause of a later cgbox: said in words, without fields.
            _ => c.kind = "other",
        }
        c
    }
}

impl CountsJson {
    fn of(c: &cgbox::Counts) -> CountsJson {
        CountsJson {
            cpu_usec: c.cpu_usec,
            user_usec: c.user_usec,
            system_usec: c.system_usec,
            nr_periods: c.nr_periods,
            nr_throttled: c.nr_throttled,
            throttled_usec: c.throttled_usec,
            memory_peak: c.memory_peak,
            memory_peak_is_the_run: c.memory_peak.map(|_| c.memory_peak_is_the_run),
            pids_peak: c.pids_peak,
            pids_peak_is_the_run: c.pids_peak.map(|_| c.pids_peak_is_the_run),
            oom_kills: c.oom_kills,
            oom_group_kills: c.oom_group_kills,
            memory_max_hits: c.memory_max_hits,
            memory_high_hits: c.memory_high_hits,
            memory_stall_usec: c.memory_stall_usec,
            forks_refused: c.forks_refused,
        }
    }
}

#[derive(Serialize)]
struct SkippedJson<'a> {
    what: &'a str,
    error: String,
}

impl<'a> Report<'a> {
    pub fn of(f: &'a Facts<'a>) -> Report<'a> {
        let o = f.outcome;
        let status = o.and_then(|o| o.status);
        Report {
            name: f.name,
            path: f.path,
            status: f.status,
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            timed_out: o.is_some_and(|o| o.timed_out),
            interrupted_by: o.and_then(|o| o.interrupted_by),
            stop_signal: o.and_then(|o| o.stop_signal),
            killed: o.is_some_and(|o| o.killed),
            wall_ms: u64::try_from(f.wall.as_millis()).unwrap_or(u64::MAX),
            skipped: f
                .skipped
                .iter()
                .map(|s| SkippedJson {
                    what: &s.what,
                    error: s.error.to_string(),
                })
                .collect(),
            error: f.error.as_deref(),
            cause: f.judged.map(|o| CauseJson::of(o, f.oom_cgroup.as_deref())),
            stats: match (f.stats, f.path) {
                (Some(stats), Some(path)) => Some(StatsJson { path, stats }),
                _ => None,
            },
        }
    }
}

/// How CMD ended, from its status and what cgbox did, where the box's
/// counters could not be read.
fn ended_by_status(o: &Outcome) -> String {
    let status = o.status.map(|st| (st.code(), st.signal()));
    let mut ended = match status {
        Some((Some(c), _)) => format!("exit {c}"),
        Some((None, Some(sig))) => format!("killed by {}", signals::name(sig)),
        _ => "ended".to_owned(),
    };
    if o.timed_out {
        ended = format!("timed out ({ended})");
    } else if let Some(sig) = o.interrupted_by {
        ended = format!("interrupted by {} ({ended})", signals::name(sig));
    }
    if o.stop_signal.is_some() && o.killed {
        ended.push_str(", still running after --kill-after: killed");
    }
    ended
}

/// The summary line: why CMD ended first (the library's outcome, where
/// the box's counters could be read), then what it used.
pub fn summary(
    name: &str,
    o: &Outcome,
    judged: Option<&cgbox::Outcome>,
    wall: Duration,
    s: Option<&Stats>,
) -> String {
    let ended = match judged {
        Some(j) => j.describe(),
        None => ended_by_status(o),
    };
    let Some(s) = s else {
        return format!(
            "cgbox: {name}: {ended}, wall {}; no statistics (the box was removed from outside)",
            usec(micros(wall))
        );
    };
    let throttled = match (s.nr_throttled(), s.key("cpu.stat", "nr_periods")) {
        (Some(n), Some(p)) => format!(
            ", throttled {n} of {p} periods ({})",
            or_dash(s.throttled_usec(), usec)
        ),
        _ => String::new(),
    };
    let mut line = format!(
        "cgbox: {name}: {ended}, wall {}, cpu {}",
        usec(micros(wall)),
        or_dash(s.cpu_usage_usec(), usec)
    );
    if let (Some(u), Some(sy)) = (
        s.key("cpu.stat", "user_usec"),
        s.key("cpu.stat", "system_usec"),
    ) {
        line.push_str(&format!(" (user {}, system {})", usec(u), usec(sy)));
    }
    line.push_str(&format!(
        ", peak memory {}, peak pids {}, oom kills {}{throttled}",
        or_dash(s.memory_peak(), bytes),
        or_dash(s.pids_peak(), |v| v.to_string()),
        or_dash(s.oom_kills(), |v| v.to_string()),
    ));
    line
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One suggestion for the next run's limits, where the statistics support
/// one: the most pressing of OOM kills, refused forks, heavy throttling,
/// then a memory limit the job would have fitted in.
pub fn suggestion(limits: &cgbox::Limits, s: &Stats, wall: Duration) -> Option<String> {
    let peak = s.memory_peak();
    let memory_max = s.value("memory.max");
    if let Some(kills) = s.oom_kills().filter(|&k| k > 0) {
        let what = if kills == 1 { "OOM kill" } else { "OOM kills" };
        return Some(match memory_max {
            Some(max) => format!(
                "{kills} {what} at --memory {}: the job needs more (try --memory {})",
                size_flag(max),
                size_flag(fitting(max.saturating_mul(2)))
            ),
            None => format!(
                "{kills} {what}: memory ran out above the box (the machine, or an enclosing limit)"
            ),
        });
    }
    if let (Some(refused), Some(max)) =
        (s.pids_max_events().filter(|&n| n > 0), s.value("pids.max"))
    {
        let what = if refused == 1 { "fork" } else { "forks" };
        return Some(format!(
            "{refused} {what} refused at --pids {max} (try --pids {})",
            max.saturating_mul(2)
        ));
    }
    if let (Some(cpus), Some(throttled), Some(periods)) = (
        limits.cpus,
        s.nr_throttled(),
        s.key("cpu.stat", "nr_periods"),
    ) && periods >= 10
        && throttled * 2 > periods
    {
        let used = s.cpu_usage_usec().unwrap_or(0) as f64 / micros(wall).max(1) as f64;
        return Some(format!(
            "throttled in {}% of periods at --cpus {cpus}, using {used:.2} CPUs on average: more CPUs would have run it faster",
            throttled * 100 / periods
        ));
    }
    let peak = peak.filter(|&p| p > 0)?;
    let fits = fitting(peak + peak / 5);
    match memory_max {
        Some(max) if fits * 2 > max => None,
        _ => Some(format!(
            "peak memory {}: --memory {} would have fit",
            bytes(peak),
            size_flag(fits)
        )),
    }
}

/// The smallest of 16M, 24M, 32M, 48M, 64M, 96M ... (a power of two, or
/// one and a half) that holds `n` bytes.
fn fitting(n: u64) -> u64 {
    let mut size: u64 = 16 << 20;
    loop {
        if size >= n {
            return size;
        }
        let between = size + size / 2;
        if between >= n {
            return between;
        }
        match size.checked_mul(2) {
            Some(next) => size = next,
            None => return u64::MAX,
        }
    }
}

/// Bytes as `--memory` takes them: `512M`, `2G`, `1536M`.
fn size_flag(n: u64) -> String {
    if n.is_multiple_of(1 << 30) {
        format!("{}G", n >> 30)
    } else if n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgbox::Limits;
    use std::path::Path;

    fn stats(files: &[(&str, &str)]) -> Stats {
        Stats::from_contents(Path::new("/x"), files.iter().copied())
    }

    #[test]
    fn one_suggestion_where_the_data_supports_it() {
        let wall = Duration::from_secs(10);
        let none = Limits::new();
        // A peak with no memory limit: the limit that would have fit.
        let s = stats(&[("memory.peak", "432013312\n"), ("memory.max", "max\n")]);
        assert_eq!(
            suggestion(&none, &s, wall).as_deref(),
            Some("peak memory 412.0 MiB: --memory 512M would have fit")
        );
        // A generous limit: a smaller one would have fit.
        let s = stats(&[
            ("memory.peak", "10485760\n"),
            ("memory.max", "1073741824\n"),
        ]);
        assert_eq!(
            suggestion(&none, &s, wall).as_deref(),
            Some("peak memory 10.0 MiB: --memory 16M would have fit")
        );
        // A limit that is about right: nothing to say.
        let s = stats(&[
            ("memory.peak", "400000000\n"),
            ("memory.max", "536870912\n"),
        ]);
        assert_eq!(suggestion(&none, &s, wall), None);
        // No statistics to go on (a host without the memory controller).
        assert_eq!(suggestion(&none, &stats(&[]), wall), None);
        assert_eq!(
            suggestion(&none, &stats(&[("memory.peak", "0\n")]), wall),
            None
        );
        // OOM kills come first.
        let s = stats(&[
            ("memory.peak", "268435456\n"),
            ("memory.max", "268435456\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 40\noom 2\noom_kill 2\n",
            ),
        ]);
        assert_eq!(
            suggestion(&none, &s, wall).as_deref(),
            Some("2 OOM kills at --memory 256M: the job needs more (try --memory 512M)")
        );
        // Refused forks.
        let s = stats(&[("pids.max", "32\n"), ("pids.events", "max 7\n")]);
        assert_eq!(
            suggestion(&none, &s, wall).as_deref(),
            Some("7 forks refused at --pids 32 (try --pids 64)")
        );
        // Heavy throttling under --cpus.
        let s = stats(&[
            (
                "cpu.stat",
                "usage_usec 5000000\nuser_usec 5000000\nsystem_usec 0\nnr_periods 100\nnr_throttled 80\nthrottled_usec 4000000\n",
            ),
            ("memory.peak", "1048576\n"),
        ]);
        let half = Limits::new().cpus(0.5);
        assert_eq!(
            suggestion(&half, &s, wall).as_deref(),
            Some(
                "throttled in 80% of periods at --cpus 0.5, using 0.50 CPUs on average: more CPUs would have run it faster"
            )
        );
        // Throttled now and then only: the memory hint instead.
        assert_eq!(
            suggestion(&none, &s, wall).as_deref(),
            Some("peak memory 1.0 MiB: --memory 16M would have fit")
        );
    }

    #[test]
    fn sizes_people_type() {
        assert_eq!(fitting(1), 16 << 20);
        assert_eq!(fitting(17 << 20), 24 << 20);
        assert_eq!(fitting(400 << 20), 512 << 20);
        assert_eq!(fitting(513 << 20), 768 << 20);
        assert_eq!(fitting(u64::MAX), u64::MAX);
        assert_eq!(size_flag(512 << 20), "512M");
        assert_eq!(size_flag(2 << 30), "2G");
        assert_eq!(size_flag(1536 << 20), "1536M");
        assert_eq!(size_flag(1000), "1000");
    }
}
