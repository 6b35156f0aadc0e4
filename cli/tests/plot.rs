//! `cgbox plot` on fixture traces (`fixtures/traces/`): the SVG is
//! well-formed XML (a tiny checker below, no dependency), has one series
//! per statistic the trace holds and none for the others, a limit line
//! for every limit set, and a marker for every kind of event; bad traces
//! and bad usage are refused with the line named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cgbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgbox"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/traces")
        .join(name)
}

/// Plot a fixture to stdout and check the XML.
fn plot(name: &str) -> Doc {
    let out = cgbox(&["plot", fixture(name).to_str().unwrap(), "-o", "-"]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    match Doc::parse(&text) {
        Ok(doc) => doc,
        Err(e) => panic!("{name}: not well-formed XML: {e}"),
    }
}

// ---- a tiny XML checker -------------------------------------------------

#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    parent: Option<usize>,
    text: String,
}

#[derive(Debug)]
struct Doc {
    elements: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_:.".contains(c)
}

/// Resolve the five predefined entities and character references; any
/// other `&` is an error.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("an & without ; in {raw:?}"))?;
        let entity = &rest[i + 1..i + end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Doc {
    /// Well-formed: one root element, every tag closed in order,
    /// attributes quoted, unique and escaped, text escaped, nothing
    /// but white space outside the root.
    fn parse(text: &str) -> Result<Doc, String> {
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut roots = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                if !rest.trim().is_empty() || !open.is_empty() {
                    return Err(format!("text after the root or unclosed tags: {rest:?}"));
                }
                break;
            };
            let chunk = &rest[..lt];
            if chunk.contains('>') {
                return Err(format!("a stray > in text: {chunk:?}"));
            }
            let chunk = unescape(chunk)?;
            match open.last() {
                Some(&i) => elements[i].text.push_str(&chunk),
                None if chunk.trim().is_empty() => {}
                None => return Err(format!("text outside the root: {chunk:?}")),
            }
            rest = &rest[lt..];
            if let Some(after) = rest.strip_prefix("<!--") {
                let end = after.find("-->").ok_or("an unclosed comment")?;
                rest = &after[end + 3..];
                continue;
            }
            if let Some(after) = rest.strip_prefix("<?") {
                if !elements.is_empty() {
                    return Err("a processing instruction after the root began".into());
                }
                let end = after.find("?>").ok_or("an unclosed <?")?;
                rest = &after[end + 2..];
                continue;
            }
            let gt = rest.find('>').ok_or("an unclosed tag")?;
            let tag = &rest[1..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let i = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if elements[i].name != name.trim_end() {
                    return Err(format!("</{name}> closes <{}>", elements[i].name));
                }
                continue;
            }
            let (body, empty) = match tag.strip_suffix('/') {
                Some(b) => (b, true),
                None => (tag, false),
            };
            let name_end = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("a bad tag name in <{tag}>"));
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            let mut a = &body[name_end..];
            loop {
                let trimmed = a.trim_start();
                if trimmed.is_empty() {
                    break;
                }
                if trimmed.len() == a.len() {
                    return Err(format!("attributes not separated by space in <{tag}>"));
                }
                let eq = trimmed
                    .find('=')
                    .ok_or(format!("an attribute without a value in <{tag}>"))?;
                let key = &trimmed[..eq];
                if key.is_empty() || !key.chars().all(is_name_char) {
                    return Err(format!("a bad attribute name {key:?} in <{tag}>"));
                }
                let after = &trimmed[eq + 1..];
                let quote = after
                    .chars()
                    .next()
                    .filter(|q| *q == '"' || *q == '\'')
                    .ok_or(format!("an unquoted value of {key} in <{tag}>"))?;
                let close = after[1..]
                    .find(quote)
                    .ok_or(format!("an unclosed value of {key}"))?;
                let raw = &after[1..1 + close];
                if raw.contains('<') {
                    return Err(format!("a < in the value of {key}"));
                }
                if attrs.iter().any(|(k, _)| k == key) {
                    return Err(format!("{key} given twice in <{name}>"));
                }
                attrs.push((key.to_owned(), unescape(raw)?));
                a = &after[close + 2..];
            }
            if open.is_empty() {
                roots += 1;
                if roots > 1 {
                    return Err("more than one root element".into());
                }
            }
            elements.push(Element {
                name: name.to_owned(),
                attrs,
                parent: open.last().copied(),
                text: String::new(),
            });
            if !empty {
                open.push(elements.len() - 1);
            }
        }
        if let Some(&i) = open.last() {
            return Err(format!("<{}> is never closed", elements[i].name));
        }
        if roots != 1 {
            return Err("no root element".into());
        }
        Ok(Doc { elements })
    }

    /// Values of `attr` on elements of `class`, in document order.
    fn all(&self, class: &str, attr: &str) -> Vec<String> {
        self.elements
            .iter()
            .filter(|e| e.attr("class") == Some(class))
            .filter_map(|e| e.attr(attr).map(str::to_owned))
            .collect()
    }

    /// The text of every element below element `i`.
    fn text_under(&self, i: usize) -> String {
        let mut out = self.elements[i].text.clone();
        for e in &self.elements {
            let mut p = e.parent;
            while let Some(k) = p {
                if k == i {
                    out.push_str(&e.text);
                    break;
                }
                p = self.elements[k].parent;
            }
        }
        out
    }

    fn all_text(&self) -> String {
        self.elements.iter().map(|e| e.text.as_str()).collect()
    }
}

#[test]
fn the_checker_refuses_what_is_not_xml() {
    for bad in [
        "<svg>",
        "<svg></g>",
        "<svg/><svg/>",
        "<svg a=1/>",
        "<svg a=\"1\" a=\"2\"/>",
        "<svg a=\"1\"b=\"2\"/>",
        "<svg>a & b</svg>",
        "<svg>&nbsp;</svg>",
        "<svg a=\"<\"/>",
        "text<svg/>",
        "<svg/>text",
        "<svg><!-- x</svg>",
        "<1a/>",
    ] {
        assert!(Doc::parse(bad).is_err(), "{bad:?}");
    }
    let doc = Doc::parse(
        "<?xml version=\"1.0\"?>\n<svg a='x &amp; y'><!-- c --><t>&lt;&#65;&#x42;</t><g/></svg>\n",
    )
    .unwrap();
    assert_eq!(doc.elements.len(), 3);
    assert_eq!(doc.elements[0].attr("a"), Some("x & y"));
    assert_eq!(doc.elements[1].text, "<AB");
    assert_eq!(doc.elements[2].parent, Some(0));
}

// ---- the plots --------------------------------------------------------------

#[test]
fn a_build_with_every_statistic_limit_and_event() {
    let doc = plot("synthetic-build.jsonl");
    assert_eq!(doc.elements[0].name, "svg");
    assert_eq!(
        doc.elements[0].attr("xmlns"),
        Some("http://www.w3.org/2000/svg")
    );
    assert_eq!(
        doc.all("panel", "data-panel"),
        [
            "Memory",
            "CPU",
            "Processes",
            "Pressure (share of time stalled)"
        ]
    );
    assert_eq!(
        doc.all("series", "data-series"),
        [
            "memory.current",
            "memory.peak",
            "cpu.stat usage_usec",
            "pids.current",
            "cpu.pressure some",
            "memory.pressure some",
            "io.pressure some"
        ],
        "one series per statistic"
    );
    assert_eq!(
        doc.all("limit", "data-limit"),
        ["memory.max", "memory.high", "cpu.max", "pids.max"],
        "a line for every limit set"
    );
    let events = doc.all("event", "data-event");
    assert_eq!(events.iter().filter(|e| *e == "oom_kill").count(), 1);
    assert!(events.iter().any(|e| e == "memory.high"));
    assert_eq!(events.iter().filter(|e| *e == "pids.max").count(), 1);
    assert_eq!(doc.all("band", "data-event"), ["throttled"]);
    let text = doc.all_text();
    assert!(
        text.contains("cgbox run: sh -c 'make -j4 && make test'"),
        "{text}"
    );
    assert!(text.contains("exit 2 after 20 s"), "{text}");
    assert!(text.contains(
        "limits: memory.max 256 MiB  ·  memory.high 192 MiB  ·  cpu.max 1.5 CPUs  ·  pids.max 32"
    ));
    // Axes in human units.
    assert!(text.contains("200 MiB"));
    assert!(text.contains("10 s"));
    assert!(text.contains("100%"), "a right axis in shares of cpu.max");
    // Every series is drawn with points that stay inside the picture.
    for (i, e) in doc.elements.iter().enumerate() {
        if e.name == "polyline" {
            let points = e.attr("points").unwrap();
            let mut n = 0;
            for pair in points.split(' ') {
                let (x, y) = pair.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!(
                    (0.0..=1000.0).contains(&x) && y >= 0.0,
                    "element {i}: {pair}"
                );
                n += 1;
            }
            assert!(n >= 2, "element {i}: {n} points");
        }
    }
    // The memory panel names the OOM kill and the peak.
    let memory = doc
        .elements
        .iter()
        .position(|e| e.attr("data-panel") == Some("Memory"))
        .unwrap();
    let m = doc.text_under(memory);
    assert!(
        m.contains("peak 250 MiB (98% of memory.max), 1 OOM kill"),
        "{m}"
    );
    assert!(m.contains("OOM kill at 14.2 s"), "a hover title: {m}");
}

#[test]
fn a_host_without_controllers_draws_cpu_and_pressure_only() {
    let doc = plot("host-no-controllers.jsonl");
    assert_eq!(
        doc.all("panel", "data-panel"),
        ["CPU", "Pressure (share of time stalled)"]
    );
    assert_eq!(
        doc.all("series", "data-series"),
        [
            "cpu.stat usage_usec",
            "cpu.pressure some",
            "memory.pressure some",
            "io.pressure some"
        ]
    );
    assert!(
        doc.all("limit", "data-limit").is_empty(),
        "no limits were set"
    );
    assert!(doc.all("event", "data-event").is_empty());
    assert!(doc.all("band", "data-event").is_empty());
    assert!(doc.all_text().contains("limits: none"));
}

#[test]
fn a_trace_cut_short_still_draws_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("synthetic-build.jsonl")).unwrap();
    // Cut in the middle of a line, as a killed cgbox leaves it.
    let cut = &text[..text.len() / 2];
    let input = tmp.path().join("cut.jsonl");
    std::fs::write(&input, cut).unwrap();
    let svg = tmp.path().join("cut.svg");
    let out = cgbox(&["plot", input.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is cut short") && err.contains("left out"),
        "{err}"
    );
    let doc = Doc::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    assert!(doc.all_text().contains("no end recorded"));
    assert!(
        doc.all("event", "data-event").is_empty(),
        "the events came later"
    );
}

#[test]
fn bad_traces_and_bad_usage_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let head = r#"{"cgbox_trace": 1, "limits": {}}"#;
    let cases = [
        (write("empty", ""), "the trace is empty"),
        (
            write("report", "{\"name\": \"x\", \"status\": 0}\n"),
            "line 1: not a cgbox trace",
        ),
        (write("only-head", &format!("{head}\n")), "no samples"),
        (
            write(
                "bad-line",
                &format!(
                    "{head}\n{{\"t\": 0, \"cpu.stat\": {{\"usage_usec\": 0}}}}\n{{oops}}\n{{\"t\": 1}}\n"
                ),
            ),
            "line 3: column 2: expected a key",
        ),
    ];
    for (path, want) in &cases {
        let out = cgbox(&["plot", path, "-o", "-"]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{path}: {err}");
        assert!(out.stdout.is_empty());
    }
    let missing = tmp.path().join("missing.jsonl");
    let out = cgbox(&["plot", missing.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let trace = fixture("synthetic-build.jsonl");
    let trace = trace.to_str().unwrap();
    for (args, want) in [
        (vec!["plot"], "give the TRACE file"),
        (vec!["plot", trace], "give the output"),
        (vec!["plot", trace, "-o"], "-o needs a value"),
        (vec!["plot", trace, "x", "-o", "-"], "unexpected argument"),
        (
            vec!["plot", trace, "--bogus", "-o", "-"],
            "unexpected option --bogus",
        ),
    ] {
        let out = cgbox(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = cgbox(&["plot", "--help"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("usage: cgbox plot TRACE -o FILE.svg")
    );
    let out = cgbox(&["plot", trace, "-o", "/nonexistent/dir/x.svg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write /nonexistent/dir/x.svg"));
}

#[test]
fn a_real_build_traced_in_the_vm() {
    // fixtures/traces/vm-build.jsonl: tests/vm/trace-demo.sh on Linux 6.1
    // with every controller (the picture in docs/run.svg).
    let doc = plot("vm-build.jsonl");
    assert_eq!(
        doc.all("series", "data-series"),
        [
            "memory.current",
            "memory.peak",
            "cpu.stat usage_usec",
            "pids.current",
            "cpu.pressure some",
            "memory.pressure some",
            "io.pressure some"
        ]
    );
    assert_eq!(
        doc.all("limit", "data-limit"),
        ["memory.max", "memory.high", "cpu.max", "pids.max"]
    );
    let events = doc.all("event", "data-event");
    assert_eq!(events.iter().filter(|e| *e == "oom_kill").count(), 1);
    assert!(events.iter().filter(|e| *e == "memory.high").count() > 10);
    assert!(
        !doc.all("band", "data-event").is_empty(),
        "the compile was throttled"
    );
    let text = doc.all_text();
    assert!(text.contains("cgbox run: sh build.sh"), "{text}");
    assert!(text.contains("exit 2 after 1 min 48 s"), "{text}");
    assert!(text.contains(
        "limits: memory.max 192 MiB  ·  memory.high 176 MiB  ·  cpu.max 1.5 CPUs  ·  pids.max 64"
    ));
}
