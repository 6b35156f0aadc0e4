//! Axes a person reads at a glance: round ticks, human units.

/// Round ticks (1, 2 or 5 times a power of ten) from 0 up to at least
/// `max`, at most `want + 1` intervals of them: the step, and the top of
/// the axis.
pub fn ticks(max: f64, want: usize) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let most = (want + 1) as f64;
    let power = 10f64.powf((max / most).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| max / s <= most)
        .unwrap_or(10.0 * power);
    let top = (max / step).ceil() * step;
    (step, top)
}

/// The tick values from 0 to `top` by `step`.
pub fn values(step: f64, top: f64) -> impl Iterator<Item = f64> {
    let n = (top / step).round() as usize;
    (0..=n).map(move |i| i as f64 * step)
}

/// A byte unit for an axis whose top is `max` bytes: its size and name.
pub fn byte_unit(max: f64) -> (f64, &'static str) {
    const UNITS: [(f64, &str); 4] = [
        (1.0, "B"),
        (1024.0, "KiB"),
        (1048576.0, "MiB"),
        (1073741824.0, "GiB"),
    ];
    UNITS
        .into_iter()
        .rev()
        .find(|(size, _)| max >= 2.0 * size)
        .unwrap_or(UNITS[0])
}

/// A number without needless digits: `0.5`, `12`, `1.25`.
pub fn number(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `412 MiB`, `1.5 GiB`, `512 KiB`.
pub fn bytes(v: f64) -> String {
    // The largest unit the value is at least one of.
    let (size, unit) = byte_unit(v.max(1.0) * 2.0);
    let x = v / size;
    if x >= 100.0 {
        format!("{x:.0} {unit}")
    } else {
        format!("{} {unit}", number((x * 10.0).round() / 10.0))
    }
}

/// How time ticks read for a run of `total` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    Seconds,
    Minutes,
    Hours,
}

impl Clock {
    pub fn for_run(total: f64) -> Clock {
        if total < 120.0 {
            Clock::Seconds
        } else if total < 7200.0 {
            Clock::Minutes
        } else {
            Clock::Hours
        }
    }

    /// Round time steps: seconds as 1-2-5, minutes and hours by clock
    /// divisions.
    pub fn ticks(self, total: f64, want: usize) -> (f64, f64) {
        let candidates: &[f64] = match self {
            Clock::Seconds => return ticks(total, want),
            Clock::Minutes => &[60.0, 120.0, 300.0, 600.0, 900.0, 1800.0],
            Clock::Hours => &[1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0],
        };
        let rough = total / want.max(1) as f64;
        let step = candidates
            .iter()
            .copied()
            .find(|s| *s >= rough)
            .unwrap_or(86400.0);
        (step, (total / step).ceil() * step)
    }

    /// A tick's label: `15 s`, `2:30`, `1:05 h`.
    pub fn label(self, t: f64) -> String {
        let s = t.round() as u64;
        match self {
            Clock::Seconds => format!("{} s", number(t)),
            Clock::Minutes => format!("{}:{:02}", s / 60, s % 60),
            Clock::Hours => format!("{}:{:02} h", s / 3600, s / 60 % 60),
        }
    }
}

/// A wall time for people: `850 ms`, `12.3 s`, `4 min 05 s`, `1 h 02 min`.
pub fn duration(t: f64) -> String {
    if t < 1.0 {
        format!("{:.0} ms", t * 1000.0)
    } else if t < 60.0 {
        format!("{} s", number((t * 10.0).round() / 10.0))
    } else if t < 3600.0 {
        let s = t.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (t / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// `2026-01-31 14:05 UTC` from milliseconds since the epoch.
pub fn utc(unix_ms: f64) -> String {
    let secs = (unix_ms / 1000.0).floor() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        assert_eq!(ticks(9.3, 5), (2.0, 10.0));
        assert_eq!(ticks(0.37, 4), (0.1, 0.4));
        assert_eq!(ticks(412.0, 5), (100.0, 500.0));
        assert_eq!(ticks(0.0, 5), (0.2, 1.0));
        assert_eq!(values(0.5, 1.5).collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5]);
        assert_eq!(Clock::for_run(30.0).ticks(30.0, 6), (5.0, 30.0));
        assert_eq!(Clock::Minutes.ticks(1000.0, 6), (300.0, 1200.0));
    }

    #[test]
    fn units() {
        assert_eq!(byte_unit(600.0 * 1048576.0), (1048576.0, "MiB"));
        assert_eq!(byte_unit(1000.0), (1.0, "B"));
        assert_eq!(bytes(432013312.0), "412 MiB");
        assert_eq!(bytes(1.5 * 1073741824.0), "1.5 GiB");
        assert_eq!(bytes(64.0 * 1048576.0), "64 MiB");
        assert_eq!(bytes(2048.0), "2 KiB");
        assert_eq!(number(1.25), "1.25");
        assert_eq!(number(12.0), "12");
        assert_eq!(Clock::Seconds.label(2.5), "2.5 s");
        assert_eq!(Clock::Minutes.label(150.0), "2:30");
        assert_eq!(Clock::Hours.label(3900.0), "1:05 h");
        assert_eq!(duration(0.85), "850 ms");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(utc(0.0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_709_251_200_000.0), "2024-03-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000.0 + 3_723_000.0), "2000-02-29 01:02 UTC");
    }
}
