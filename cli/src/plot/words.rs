//! serde_json's complaints about a line of a trace, in the words `cgbox
//! plot` has always used: `column N: what`.

/// serde_json's words for a syntax error, and cgbox's. serde_json keeps
/// its error codes private, so its texts are matched; the tests below pin
/// every one, so that an upgrade that rewords them is seen.
const WORDS: [(&str, &str); 17] = [
    ("key must be a string", "expected a key"),
    ("trailing comma", "expected a key"),
    ("expected `:`", "expected ':'"),
    ("expected `,` or `}`", "expected ',' or '}'"),
    ("expected `,` or `]`", "expected ',' or ']'"),
    ("expected value", "not a JSON value"),
    ("expected ident", "not a JSON value"),
    ("invalid number", "a bad number"),
    ("number out of range", "a bad number"),
    ("trailing characters", "unexpected text after the value"),
    (
        "EOF while parsing a string",
        "the line ends inside a string",
    ),
    ("EOF while parsing", "the line ends before its value"),
    ("control character", "a control character in a string"),
    ("invalid escape", "a bad escape"),
    ("unexpected end of hex escape", "a lone surrogate"),
    ("lone leading surrogate", "a lone surrogate"),
    ("recursion limit exceeded", "nested too deep"),
];

/// What serde_json found wrong with a line: `column N: what`.
pub fn said(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let code = text
        .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
        .unwrap_or(&text);
    let said = WORDS
        .iter()
        .find(|(theirs, _)| code.starts_with(theirs))
        .map_or(code, |(_, ours)| ours);
    format!("column {}: {said}", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<serde_json::Value, String> {
        serde_json::from_str(line).map_err(|e| said(&e))
    }

    #[test]
    fn refusals_in_our_words() {
        for (bad, want) in [
            ("", "column 0: the line ends before its value"),
            ("{", "the line ends before its value"),
            ("{oops}", "column 2: expected a key"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\": 1,}", "expected a key"),
            ("{\"a\": 1 2", "expected ',' or '}'"),
            ("[1 2]", "expected ',' or ']'"),
            ("01", "a bad number"),
            ("1.x", "a bad number"),
            ("-x", "a bad number"),
            ("1e999", "a bad number"),
            ("nux", "not a JSON value"),
            ("x", "not a JSON value"),
            ("\"a", "the line ends inside a string"),
            ("\"\u{1}\"", "a control character in a string"),
            ("{} x", "unexpected text after the value"),
            (&"[".repeat(200), "nested too deep"),
            ("\"\\x\"", "a bad escape"),
            ("\"\\u12zz\"", "a bad escape"),
            ("\"\\udc00\"", "a lone surrogate"),
            ("\"\\ud800\"", "a lone surrogate"),
            ("\"\\ud800\\u0041\"", "a lone surrogate"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }
}
