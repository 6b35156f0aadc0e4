//! `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path` a line.

use super::ParseError;
use super::token::lines;

/// One line of `/proc/<pid>/cgroup`.
///
/// See the [example](crate::parse::proc_cgroup#examples).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The hierarchy ID: `0` for cgroup v2.
    pub hierarchy_id: u32,
    /// The controllers of a v1 hierarchy (`memory`, `name=systemd` ...); empty for v2.
    pub controllers: Vec<String>,
    /// The cgroup path, relative to the cgroup-namespace root, with any
    /// ` (deleted)` suffix removed.
    pub path: String,
    /// Whether the kernel marked the cgroup as deleted.
    pub deleted: bool,
}

impl Membership {
    /// True for the cgroup v2 line (`0::/...`).
    ///
    /// See the [example](crate::parse::proc_cgroup#examples).
    pub fn is_unified(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }
}

/// Parse the whole file. Any malformed line fails it: discovery must not
/// guess where the process lives.
///
/// See the [example](crate::parse::proc_cgroup#examples).
pub fn parse(content: &str) -> Result<Vec<Membership>, ParseError> {
    super::token::complete(content)?;
    let mut out = Vec::new();
    for (n, line) in lines(content) {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::new(
                n,
                format!("expected \"id:controllers:path\", got {line:?}"),
            ));
        };
        let hierarchy_id = super::token::parse_u64(id)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| ParseError::new(n, format!("bad hierarchy id {id:?}")))?;
        let (path, deleted) = match path.strip_suffix(" (deleted)") {
            Some(p) => (p, true),
            None => (path, false),
        };
        if !path.starts_with('/') {
            return Err(ParseError::new(
                n,
                format!("cgroup path is not absolute: {path:?}"),
            ));
        }
        let controllers = controllers
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(Membership {
            hierarchy_id,
            controllers,
            path: path.to_owned(),
            deleted,
        });
    }
    if out.is_empty() {
        return Err(ParseError::new(0, "no cgroup memberships listed"));
    }
    Ok(out)
}

/// The cgroup v2 membership, if the process has one.
///
/// See the [example](crate::parse::proc_cgroup#examples).
pub fn unified(memberships: &[Membership]) -> Option<&Membership> {
    memberships.iter().find(|m| m.is_unified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host() {
        let m = parse("9:name=systemd:/\n4:memory:/process_api/56a1\n0::/\n").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].controllers, vec!["name=systemd"]);
        assert_eq!(m[1].path, "/process_api/56a1");
        assert_eq!(unified(&m).map(|u| u.path.as_str()), Some("/"));
    }

    #[test]
    fn deleted_and_odd_paths() {
        let m = parse("0::/user.slice/x.scope (deleted)\n").unwrap();
        assert_eq!(m[0].path, "/user.slice/x.scope");
        assert!(m[0].deleted);
        // a colon inside the path belongs to the path
        assert!(parse("0::/a").is_err(), "cut short");
        let m = parse("0::/a:b\n").unwrap();
        assert_eq!(m[0].path, "/a:b");
        let m = parse("0::/../../x\n").unwrap();
        assert_eq!(m[0].path, "/../../x");
    }

    #[test]
    fn malformed() {
        assert!(parse("").is_err());
        assert!(parse("0:/\n").is_err());
        assert!(parse("x::/\n").is_err());
        assert!(parse("0::relative\n").is_err());
        assert!(parse("99999999999::/\n").is_err());
        assert!(unified(&parse("4:memory:/\n").unwrap()).is_none());
    }
}

/// The examples that documented this private module, kept as tests.
#[cfg(test)]
mod doc_examples {
    #[test]
    fn example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::parse::proc_cgroup::{parse, unified};

        let all = parse("4:memory:/ci\n0::/user.slice/app.scope (deleted)\n")?;
        assert_eq!(all[0].controllers, ["memory"]);
        let v2 = unified(&all).unwrap();
        assert!(v2.is_unified() && v2.deleted);
        assert_eq!(v2.path, "/user.slice/app.scope");
        Ok(())
    }
}
