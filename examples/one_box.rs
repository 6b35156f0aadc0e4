//! Create one box, run `true` in it, destroy it: `strace -f` material.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fs = std::sync::Arc::new(cgbox::fs::SysFs::new()?);
    let parent = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/sys/fs/cgroup/unified".into());
    let anchor = cgbox::Builder::new()
        .app("cgbox-strace")
        .parent(&parent)
        .name("anchor")
        .create(fs.clone())?;
    eprintln!("--- create");
    let b = cgbox::Builder::new()
        .app("cgbox-strace")
        .parent(&parent)
        .name("one")
        .create(fs.clone())?;
    eprintln!("--- spawn");
    let mut child = b.spawn(std::process::Command::new("/bin/sleep").arg("100"))?;
    eprintln!("--- destroy");
    b.destroy()?;
    eprintln!("--- reap");
    child.wait()?;
    anchor.destroy()?;
    Ok(())
}
