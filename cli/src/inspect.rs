//! `cgbox inspect`: where boxes would go here, and what they can be given.

use cgbox::Discovery;
use cgbox::HomeKind;
use serde::Serialize;

use crate::args::{Arg, Lexer, Step};
use crate::{Global, usage_error};

const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] [--parent DIR] inspect [--json]

Find the cgroup2 mount, this process's cgroup, and where boxes would go and
why: the cgroup delegated to this process (a systemd unit with Delegate=yes,
a cgroup chowned to this user, a box), the root of a cgroup namespace, the
root of a host without a cgroup manager, or --parent. In a cgroup systemd
did not delegate, boxes are refused, and the fix is named. Lists the
controllers boxes can be given now, the kernel features, and every problem
with what would fix it.

Exit code: 0 when boxes can be created here and every controller listed can
be given to them; 1 when not.

  --json   one JSON object on stdout:
           {\"mode\", \"mount\", \"cgroup\", \"parent\", \"placement\", \"unit\",
            \"type\", \"home_processes\", \"controllers\", \"writable\",
            \"features\": {\"kill\", \"freeze\", \"memory_peak\", \"psi\"}, \"problems\"}
";

pub fn main(global: &Global, mut lex: Lexer) -> i32 {
    let mut json = false;
    loop {
        match lex.step("inspect", HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Long(l)) if l == "json" => json = true,
            Step::Arg(other) => {
                return usage_error(&format!("inspect: unexpected {}", other.describe()));
            }
        }
    }
    let discovery = match crate::context::Context::new(global) {
        Ok(ctx) => ctx.discovery,
        Err(e) => {
            errln!("cgbox: {e}");
            return 1;
        }
    };
    if json {
        outln!("{}", crate::json::render(&InspectJson::of(&discovery)));
    } else {
        print_text(&discovery, &global.app);
    }
    if discovery.usable() { 0 } else { 1 }
}

/// `inspect --json`.
#[derive(Serialize)]
struct InspectJson<'a> {
    mode: &'static str,
    mount: Option<String>,
    cgroup: Option<&'a str>,
    parent: Option<String>,
    placement: &'static str,
    unit: Option<String>,
    #[serde(rename = "type")]
    home_type: Option<&'a str>,
    home_processes: &'a [u32],
    controllers: &'a [String],
    writable: bool,
    features: FeaturesJson,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct FeaturesJson {
    kill: bool,
    freeze: bool,
    memory_peak: bool,
    psi: bool,
}

impl<'a> InspectJson<'a> {
    fn of(d: &'a Discovery) -> InspectJson<'a> {
        let f = &d.features;
        InspectJson {
            mode: d.mode.as_str(),
            mount: d.mount.as_ref().map(|p| p.display().to_string()),
            cgroup: d.cgroup.as_deref(),
            parent: d.home().map(|p| p.display().to_string()),
            placement: d.home_kind().map(HomeKind::as_str).unwrap_or("refused"),
            unit: unit(d),
            home_type: d.home_type.as_deref(),
            home_processes: &d.home_processes,
            controllers: &d.controllers,
            writable: d.writable,
            features: FeaturesJson {
                kill: f.kill,
                freeze: f.freeze,
                memory_peak: f.memory_peak,
                psi: f.psi,
            },
            problems: d.problems.iter().map(ToString::to_string).collect(),
        }
    }
}

fn unit(d: &Discovery) -> Option<String> {
    match d.home_kind() {
        Some(HomeKind::Delegated(u) | HomeKind::Box(u)) => Some(u.clone()),
        _ => None,
    }
}

/// Why the boxes go where they go, in words.
fn why(kind: &HomeKind) -> String {
    match kind {
        HomeKind::RealRoot => "the root of a host without a cgroup manager".into(),
        HomeKind::NamespaceRoot => "the root of this cgroup namespace (a container)".into(),
        HomeKind::Delegated(u) => format!("{u}, delegated to this process"),
        HomeKind::Box(b) => format!("inside the box {b} this process runs in"),
        HomeKind::Explicit => "given by --parent".into(),
    }
}

fn print_text(d: &Discovery, app: &str) {
    let none = "-".to_owned();
    let yes = |b: bool| if b { "yes" } else { "no" };
    outln!("mode         {}", d.mode.as_str());
    outln!(
        "mount        {}",
        d.mount
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| none.clone())
    );
    outln!("cgroup       {}", d.cgroup.as_deref().unwrap_or("-"));
    match (d.home(), d.home_kind()) {
        (Some(home), Some(kind)) => {
            outln!("home         {} ({})", home.display(), why(kind));
            outln!("boxes        {}/{app}/agents/<name>", home.display());
            if let Some(t) = &d.home_type {
                outln!("type         {t}");
            }
            if !d.home_processes.is_empty() {
                let pids: Vec<String> = d.home_processes.iter().map(u32::to_string).collect();
                outln!(
                    "processes    {} in the home besides this one ({})",
                    pids.len(),
                    pids.join(" ")
                );
            }
        }
        _ => outln!("home         - (refused: see problems)"),
    }
    let controllers = if d.controllers.is_empty() {
        "(none)".to_owned()
    } else {
        d.controllers.join(" ")
    };
    outln!("controllers  {controllers}");
    outln!("writable     {}", yes(d.writable));
    outln!(
        "features     kill {}, freeze {}, memory.peak {}, psi {}",
        yes(d.features.kill),
        yes(d.features.freeze),
        yes(d.features.memory_peak),
        yes(d.features.psi)
    );
    if d.problems.is_empty() {
        outln!("problems     none");
    } else {
        outln!("problems:");
        for p in &d.problems {
            outln!("  - {p}");
        }
    }
}
