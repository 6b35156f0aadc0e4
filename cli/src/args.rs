//! Command-line lexing with std only: `--flag`, `--flag value`,
//! `--flag=value`, `-h`, positionals, and `--` before a command.

use std::ffi::OsString;

/// One lexed argument.
#[derive(Debug, PartialEq)]
pub enum Arg {
    /// `--name` (a value given as `--name=value` is kept for [`Lexer::value`]).
    Long(String),
    /// `-x`.
    Short(char),
    /// A word that is not an option.
    Word(OsString),
    /// `--`: everything after it is returned by [`Lexer::rest`].
    DashDash,
}

impl Arg {
    /// How the user typed it, for messages (never Rust's debug text).
    pub fn describe(&self) -> String {
        match self {
            Arg::Long(l) => format!("option --{l}"),
            Arg::Short(c) => format!("option -{c}"),
            Arg::Word(w) => format!("argument {:?}", w.to_string_lossy()),
            Arg::DashDash => "--".to_owned(),
        }
    }
}

/// One step of a command's option loop.
pub enum Step {
    /// An argument for the command to handle.
    Arg(Arg),
    /// No arguments left.
    End,
    /// The command is over before it started: help printed (0) or a usage
    /// error reported (its exit code).
    Exit(i32),
}

pub struct Lexer {
    args: Vec<OsString>,
    pos: usize,
    pending_value: Option<String>,
}

impl Lexer {
    pub fn new(args: Vec<OsString>) -> Lexer {
        Lexer {
            args,
            pos: 0,
            pending_value: None,
        }
    }

    pub fn next_arg(&mut self) -> Result<Option<Arg>, String> {
        if let Some(v) = self.pending_value.take() {
            return Err(format!("unexpected value {v:?}"));
        }
        let Some(arg) = self.args.get(self.pos).cloned() else {
            return Ok(None);
        };
        self.pos += 1;
        let Some(text) = arg.to_str() else {
            return Ok(Some(Arg::Word(arg)));
        };
        if text == "--" {
            return Ok(Some(Arg::DashDash));
        }
        if let Some(long) = text.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                self.pending_value = Some(value.to_owned());
                return Ok(Some(Arg::Long(name.to_owned())));
            }
            return Ok(Some(Arg::Long(long.to_owned())));
        }
        let mut chars = text.chars();
        if let (Some('-'), Some(c), None) = (chars.next(), chars.next(), chars.next()) {
            return Ok(Some(Arg::Short(c)));
        }
        Ok(Some(Arg::Word(arg)))
    }

    /// The next argument, with `--help`/`-h` and lexing errors handled the
    /// same way for every command.
    pub fn step(&mut self, command: &str, help: &str) -> Step {
        match self.next_arg() {
            Ok(None) => Step::End,
            Ok(Some(Arg::Long(l))) if l == "help" => {
                out!("{help}");
                Step::Exit(0)
            }
            Ok(Some(Arg::Short('h'))) => {
                out!("{help}");
                Step::Exit(0)
            }
            Ok(Some(arg)) => Step::Arg(arg),
            Err(e) => Step::Exit(crate::usage_error(&format!("{command}: {e}"))),
        }
    }

    /// The value of the option just read.
    pub fn value(&mut self, option: &str) -> Result<String, String> {
        if let Some(v) = self.pending_value.take() {
            return Ok(v);
        }
        let Some(arg) = self.args.get(self.pos) else {
            return Err(format!("{option} needs a value"));
        };
        self.pos += 1;
        arg.to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{option}: value is not UTF-8"))
    }

    /// Everything not yet read.
    pub fn rest(self) -> Vec<OsString> {
        self.args.into_iter().skip(self.pos).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(words: &[&str]) -> Lexer {
        Lexer::new(words.iter().map(OsString::from).collect())
    }

    #[test]
    fn options_values_and_rest() {
        let mut l = lex(&[
            "--root", "/x", "--app=a", "-h", "run", "--", "sh", "-c", "x",
        ]);
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Long("root".into())));
        assert_eq!(l.value("--root").unwrap(), "/x");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Long("app".into())));
        assert_eq!(l.value("--app").unwrap(), "a");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Short('h')));
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Word("run".into())));
        assert_eq!(l.next_arg().unwrap(), Some(Arg::DashDash));
        assert_eq!(
            l.rest(),
            vec![OsString::from("sh"), "-c".into(), "x".into()]
        );
    }

    #[test]
    fn value_errors() {
        let mut l = lex(&["--json=1"]);
        l.next_arg().unwrap();
        assert!(l.next_arg().is_err(), "a flag given a value");
        let mut l = lex(&["--root"]);
        l.next_arg().unwrap();
        assert!(l.value("--root").is_err());
    }
}
