//! Command-line lexing on lexopt (`--flag`, `--flag value`, `--flag=value`,
//! `-h`, words), plus what lexopt leaves to its user: `--` as a token
//! (before CMD it ends `run`'s options; anywhere else it is a mistake the
//! commands name), and the messages every command shares.

use std::ffi::OsString;

/// One lexed argument, owned (a command reads an option's value before it
/// is done with the option's name).
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

pub struct Lexer(lexopt::Parser);

impl Lexer {
    pub fn new(args: Vec<OsString>) -> Lexer {
        Lexer(lexopt::Parser::from_args(args))
    }

    /// Take the next argument if it is a whole `--` (not the rest of
    /// `-ab` or of `--flag=value`).
    fn dash_dash(&mut self) -> bool {
        self.0
            .try_raw_args()
            .is_some_and(|mut raw| raw.next_if(|a| a == "--").is_some())
    }

    pub fn next_arg(&mut self) -> Result<Option<Arg>, String> {
        // lexopt would take `--` silently and return what follows as words.
        if self.dash_dash() {
            return Ok(Some(Arg::DashDash));
        }
        match self.0.next() {
            Ok(None) => Ok(None),
            Ok(Some(lexopt::Arg::Long(l))) => Ok(Some(Arg::Long(l.to_owned()))),
            Ok(Some(lexopt::Arg::Short(c))) => Ok(Some(Arg::Short(c))),
            Ok(Some(lexopt::Arg::Value(w))) => Ok(Some(Arg::Word(w))),
            // `--flag=value` for a flag that takes none.
            Err(lexopt::Error::UnexpectedValue { value, .. }) => {
                Err(format!("unexpected value {:?}", value.to_string_lossy()))
            }
            Err(e) => Err(e.to_string()),
        }
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

    /// The value of the option just read. A `--` right after the option
    /// is refused: it ends the options, and taking it as the value would
    /// make `run --trace -- CMD` trace to a file named `--` (`--trace=--`
    /// still names one, explicitly).
    pub fn value(&mut self, option: &str) -> Result<String, String> {
        self.value_of(option, "a value")
    }

    /// [`Lexer::value`] for an option whose value is a file (`--report`,
    /// `--trace`, `-o`): the message says what is missing.
    pub fn file(&mut self, option: &str) -> Result<String, String> {
        self.value_of(option, "a file name")
    }

    fn value_of(&mut self, option: &str, what: &str) -> Result<String, String> {
        if self.dash_dash() {
            return Err(format!("{option} needs {what}, found --"));
        }
        let value = self
            .0
            .value()
            .map_err(|_| format!("{option} needs a value"))?;
        value
            .into_string()
            .map_err(|_| format!("{option}: value is not UTF-8"))
    }

    /// Everything not yet read.
    pub fn rest(mut self) -> Vec<OsString> {
        self.0
            .try_raw_args()
            .map(|raw| raw.collect())
            .unwrap_or_default()
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
            "--root", "/x", "--app=a", "-h", "run", "-q", "--", "sh", "-c", "--",
        ]);
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Long("root".into())));
        assert_eq!(l.value("--root").unwrap(), "/x");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Long("app".into())));
        assert_eq!(l.value("--app").unwrap(), "a");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Short('h')));
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Word("run".into())));
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Short('q')));
        assert_eq!(l.next_arg().unwrap(), Some(Arg::DashDash));
        assert_eq!(
            l.rest(),
            vec![OsString::from("sh"), "-c".into(), "--".into()]
        );
        // A value may look like an option; `-` is a word.
        let mut l = lex(&["--name", "--help", "-o", "-", "-"]);
        l.next_arg().unwrap();
        assert_eq!(l.value("--name").unwrap(), "--help");
        l.next_arg().unwrap();
        assert_eq!(l.file("-o").unwrap(), "-");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::Word("-".into())));
        assert_eq!(l.next_arg().unwrap(), None);
    }

    #[test]
    fn value_errors() {
        let mut l = lex(&["--json=1"]);
        l.next_arg().unwrap();
        assert_eq!(
            l.next_arg().unwrap_err(),
            "unexpected value \"1\"",
            "a flag given a value"
        );
        let mut l = lex(&["--root"]);
        l.next_arg().unwrap();
        assert_eq!(l.value("--root").unwrap_err(), "--root needs a value");
        // `--` ends the options: it is nobody's value, unless given with =.
        let mut l = lex(&["--trace", "--", "make"]);
        l.next_arg().unwrap();
        assert_eq!(
            l.file("--trace").unwrap_err(),
            "--trace needs a file name, found --"
        );
        let mut l = lex(&["--name", "--"]);
        l.next_arg().unwrap();
        assert_eq!(
            l.value("--name").unwrap_err(),
            "--name needs a value, found --"
        );
        let mut l = lex(&["--trace=--", "--", "make"]);
        l.next_arg().unwrap();
        assert_eq!(l.file("--trace").unwrap(), "--");
        assert_eq!(l.next_arg().unwrap(), Some(Arg::DashDash));
        let mut l = Lexer::new(vec![
            "--report".into(),
            std::os::unix::ffi::OsStringExt::from_vec(vec![0xff]),
        ]);
        l.next_arg().unwrap();
        assert_eq!(
            l.file("--report").unwrap_err(),
            "--report: value is not UTF-8"
        );
    }
}
