//! Rules for text people type: which characters a field may hold and how long it may be.
//! One place for every limit, so the command line, imports and the library agree.
//!
//! - Single-line fields (names, numbers, phone, address, purposes, …) refuse every control
//!   character (C0, DEL, C1: this includes the ESC that starts ANSI sequences), line breaks,
//!   and the bidirectional override and isolate characters (U+202A–U+202E, U+2066–U+2069),
//!   which can make text display as something other than what is stored.
//! - Multi-line fields (narratives, notes, reasons) allow line feed and tab, nothing else of
//!   the above (a carriage return is refused too: store `\n` line ends).
//! - Lengths are counted in characters (Chinese text is as long as it looks).
//!
//! Messages name the field and the limit, never the value.

use std::borrow::Cow;
use std::fmt;

use super::time::Date;
use crate::tr;

/// Names of people and agencies (client, guardian, signer, requester, partner agency).
pub const NAME_MAX: usize = 200;
/// Identifiers: client number, identity document number.
pub const NUMBER_MAX: usize = 64;
/// Phone numbers.
pub const PHONE_MAX: usize = 64;
/// A guardian's relation to the client ("mother", "legal guardian").
pub const RELATION_MAX: usize = 100;
/// A postal address or a contact line.
pub const ADDRESS_MAX: usize = 500;
/// One short phrase: a purpose, a signer's authority, how a revocation came.
pub const PHRASE_MAX: usize = 500;
/// A single-line statement: how identity was checked, how to revoke, a status reason.
pub const LINE_MAX: usize = 2_000;
/// Free text (narratives, notes, reasons, consent wording), unless a template says otherwise.
pub const FREE_TEXT_MAX: usize = 20_000;
/// A template `text` field without its own `max_len`.
pub const TEMPLATE_TEXT_MAX: usize = 1_000;
/// The largest `max_len` a template may set.
pub const TEMPLATE_MAX_LEN_LIMIT: usize = 100_000;
/// Most entries in a list field (guardians, purposes).
pub const LIST_MAX: usize = 50;
/// Largest JSON document read from `--fields`, `client add --from` or one import line, in
/// bytes, checked before parsing.
pub const JSON_INPUT_MAX_BYTES: usize = 4 << 20;

/// The input without a leading UTF-8 byte order mark (some editors on Windows write one).
pub fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)
}

/// Why a field's value is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// A control character, escape sequence or bidirectional override.
    Control,
    /// A line break in a single-line field.
    LineBreak,
    /// Longer than `max` characters.
    TooLong { max: usize },
    /// More than `max` entries.
    TooMany { max: usize },
    /// A date outside `from..=to`.
    DateRange { from: Date, to: Date },
}

/// A refused field: its name (as in JSON or the flag) and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: FieldProblem,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: FieldProblem) -> Self {
        FieldError {
            field: field.into(),
            problem,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        let s = match self.problem {
            FieldProblem::Control => tr!("err.field_control", field = field),
            FieldProblem::LineBreak => tr!("err.field_line_break", field = field),
            FieldProblem::TooLong { max } => tr!("err.field_too_long", field = field, max = max),
            FieldProblem::TooMany { max } => tr!("err.field_too_many", field = field, max = max),
            FieldProblem::DateRange { from, to } => {
                tr!("err.field_date_range", field = field, from = from, to = to)
            }
        };
        f.write_str(&s)
    }
}

impl std::error::Error for FieldError {}

/// Bidirectional embedding, override and isolate controls, and the left-to-right and
/// right-to-left marks (each can reorder how a name is displayed).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'
    )
}

/// Characters no field may hold (line feed and tab excepted, see the callers).
fn is_forbidden(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn check(field: &str, value: &str, max: usize, multi: bool) -> Result<(), FieldError> {
    let mut n = 0usize;
    for c in value.chars() {
        n += 1;
        if n > max {
            return Err(FieldError::new(field, FieldProblem::TooLong { max }));
        }
        if c == '\n' || c == '\r' || c == '\u{2028}' || c == '\u{2029}' {
            if !multi || c != '\n' {
                let p = if multi {
                    FieldProblem::Control
                } else {
                    FieldProblem::LineBreak
                };
                return Err(FieldError::new(field, p));
            }
        } else if c == '\t' {
            if !multi {
                return Err(FieldError::new(field, FieldProblem::Control));
            }
        } else if is_forbidden(c) {
            return Err(FieldError::new(field, FieldProblem::Control));
        }
    }
    Ok(())
}

/// Checks a single-line field: no control, line-break or bidi-override characters, at most
/// `max` characters.
pub fn single_line(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    check(field, value, max, false)
}

/// Checks a multi-line field: line feeds and tabs allowed, no other control or bidi-override
/// characters, at most `max` characters.
pub fn multi_line(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    check(field, value, max, true)
}

/// Checks a list field: at most `max_items` entries, each a single line of at most `max`.
/// Entries are named `field[1]`, `field[2]`, … in messages.
pub fn single_lines(
    field: &str,
    values: &[String],
    max: usize,
    max_items: usize,
) -> Result<(), FieldError> {
    if values.len() > max_items {
        return Err(FieldError::new(
            field,
            FieldProblem::TooMany { max: max_items },
        ));
    }
    for (i, v) in values.iter().enumerate() {
        single_line(&format!("{field}[{}]", i + 1), v, max)?;
    }
    Ok(())
}

/// Makes text safe to print to a terminal: every control or bidi-override character except
/// line feed and tab is shown as `\u{…}`, so stored data (from older versions, or a partner)
/// cannot move the cursor, recolour the screen or reorder what is displayed. Text without
/// such characters is returned as is.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c != '\n' && c != '\t' && is_forbidden(c);
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        assert!(single_line("name", "张小雨 Li-Wei O'Neil", NAME_MAX).is_ok());
        for bad in [
            "a\u{1b}[31m",
            "a\nb",
            "a\tb",
            "a\u{7f}",
            "a\u{9b}",
            "a\u{202e}b",
            "\u{2066}",
        ] {
            assert!(single_line("name", bad, NAME_MAX).is_err(), "{bad:?}");
        }
        assert!(multi_line("note", "line 1\n\tline 2", 100).is_ok());
        for bad in ["a\r\nb", "\u{1b}[2J", "x\u{0}", "\u{2069}"] {
            assert!(multi_line("note", bad, 100).is_err(), "{bad:?}");
        }
        assert_eq!(
            single_line("name", &"字".repeat(201), NAME_MAX),
            Err(FieldError::new("name", FieldProblem::TooLong { max: 200 }))
        );
        assert!(single_line("name", &"字".repeat(200), NAME_MAX).is_ok());
    }

    #[test]
    fn escaping() {
        assert!(matches!(escape_controls("plain\n\ttext"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\u{1b}[31mb\u{202e}"),
            "a\\u{1b}[31mb\\u{202e}"
        );
    }
}
