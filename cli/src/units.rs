//! Numbers for people: MiB, ms, %.

/// `12.4 MiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `850 ms`, `12.35 s`.
pub fn usec(us: u64) -> String {
    if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// An optional value, `-` when unknown.
pub fn or_dash<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12_984_320), "12.4 MiB");
        assert_eq!(bytes(1 << 30), "1.0 GiB");
        assert_eq!(usec(850_000), "850 ms");
        assert_eq!(usec(12_345_678), "12.35 s");
        assert_eq!(or_dash(None::<u64>, bytes), "-");
    }
}
