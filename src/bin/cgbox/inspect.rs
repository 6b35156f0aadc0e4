//! `cgbox inspect`: where boxes would go here, and what they can be given.

use cgbox::discover::{Discovery, ParentKind};

use crate::args::{Arg, Lexer, Step};
use crate::json::Json;
use crate::{Global, usage_error};

const HELP: &str = "\
usage: cgbox [--root DIR] [--app NAME] inspect [--json]

Find the cgroup2 mount, this process's cgroup, and the directory that
would hold <app>/agents/<name>; list the controllers boxes can be given,
the kernel features, and every problem with what would fix it.

Exit code: 0 when boxes can be created here (at least the core interface), 1 when not.

  --json   one JSON object on stdout:
           {\"mode\", \"mount\", \"cgroup\", \"parent\", \"controllers\",
            \"writable\", \"features\": {\"kill\", \"freeze\", \"memory_peak\", \"psi\"},
            \"problems\"}
";

pub fn main(global: &Global, mut lex: Lexer) -> i32 {
    let mut json = false;
    loop {
        match lex.step("inspect", HELP) {
            Step::End => break,
            Step::Exit(code) => return code,
            Step::Arg(Arg::Long(l)) if l == "json" => json = true,
            Step::Arg(other) => return usage_error(&format!("inspect: unexpected {other:?}")),
        }
    }
    let discovery = match global.fs() {
        Ok(fs) => Discovery::probe(&fs, &global.app),
        Err(e) => {
            eprintln!("cgbox: {e}");
            return 1;
        }
    };
    if json {
        println!("{}", to_json(&discovery).render());
    } else {
        print_text(&discovery, &global.app);
    }
    if discovery.usable() { 0 } else { 1 }
}

pub fn to_json(d: &Discovery) -> Json {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Json::object()
        .with("mode", d.mode.as_str())
        .with("mount", path(&d.mount))
        .with("cgroup", d.cgroup.clone())
        .with("parent", path(&d.parent))
        .with("controllers", d.controllers.clone())
        .with("writable", d.writable)
        .with(
            "features",
            Json::object()
                .with("kill", d.features.kill)
                .with("freeze", d.features.freeze)
                .with("memory_peak", d.features.memory_peak)
                .with("psi", d.features.psi),
        )
        .with("problems", d.problems.clone())
}

fn print_text(d: &Discovery, app: &str) {
    let none = "-".to_owned();
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("mode         {}", d.mode.as_str());
    println!(
        "mount        {}",
        d.mount
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| none.clone())
    );
    println!("cgroup       {}", d.cgroup.as_deref().unwrap_or("-"));
    if let Some(parent) = &d.parent {
        let kind = match d.parent_kind {
            Some(ParentKind::RealRoot) => " (the real root)",
            Some(ParentKind::Sibling) => " (parent of our cgroup)",
            Some(ParentKind::VisibleRoot) => " (root of our view, not the real root)",
            None => "",
        };
        println!("parent       {}{kind}", parent.display());
        println!("boxes        {}/{app}/agents/<name>", parent.display());
    } else {
        println!("parent       -");
    }
    let controllers = if d.controllers.is_empty() {
        "(none)".to_owned()
    } else {
        d.controllers.join(" ")
    };
    println!("controllers  {controllers}");
    println!("writable     {}", yes(d.writable));
    println!(
        "features     kill {}, freeze {}, memory.peak {}, psi {}",
        yes(d.features.kill),
        yes(d.features.freeze),
        yes(d.features.memory_peak),
        yes(d.features.psi)
    );
    if d.problems.is_empty() {
        println!("problems     none");
    } else {
        println!("problems:");
        for p in &d.problems {
            println!("  - {p}");
        }
    }
}
