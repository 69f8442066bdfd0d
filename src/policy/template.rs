//! Checking record content against its template.
//!
//! Content is a JSON object of field name → value. Per field kind:
//! `text`/`long_text` a string; `date` a string `YYYY-MM-DD` naming a real calendar date;
//! `number` a JSON number within `min`..=`max`; `bool` `true`/`false`; `choice` one of the
//! choice codes; `table` an array of objects, each checked against the columns.
//! A `null` value counts as "not filled in". A required field must be present and filled in
//! (not null, not blank text, not an empty table). Unknown keys are refused, except `note`
//! (free text) which every template accepts.
//!
//! Text follows [`crate::domain::text`]: `text` is one line of at most `max_len` characters
//! (default 1,000), `long_text` and `note` may have line feeds and tabs, at most `max_len`
//! (default 20,000; `note` always 20,000); neither may hold other control characters.

use serde_json::Value;

use super::validate::{NOTE_FIELD, THIRD_PARTY_FIELD};
use super::{Field, FieldKind, Policy};
use crate::domain::text;
use crate::error::{Error, Result};
use crate::tr;

/// Whether `s` is a valid `YYYY-MM-DD` calendar date (years 0001-9999).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks `object` against `fields`; `prefix` names the table row for messages.
fn check_object(
    kind: &str,
    fields: &[Field],
    object: &serde_json::Map<String, Value>,
    prefix: &str,
    allow_note: bool,
) -> Result<()> {
    for f in fields {
        let missing = object.get(&f.name).is_none_or(is_blank);
        if f.required && missing {
            return Err(Error::Invalid(tr!(
                "policy.content.missing",
                kind = kind,
                field = format!("{prefix}{}", f.name),
                label = f.label()
            )));
        }
    }
    for (key, value) in object {
        let name = format!("{prefix}{key}");
        match fields.iter().find(|f| &f.name == key) {
            Some(f) => check_value(kind, f, value, &name)?,
            None if allow_note && key == NOTE_FIELD => match value {
                Value::String(s) => text::multi_line(&name, s, text::FREE_TEXT_MAX)?,
                Value::Null => {}
                _ => return Err(wrong_type(kind, &name, "long_text", value)),
            },
            None if allow_note && key == THIRD_PARTY_FIELD => {
                if !matches!(value, Value::Bool(_) | Value::Null) {
                    return Err(wrong_type(kind, &name, "bool", value));
                }
            }
            None => {
                return Err(Error::Invalid(tr!(
                    "policy.content.unknown_field",
                    kind = kind,
                    field = name
                )))
            }
        }
    }
    Ok(())
}

fn wrong_type(kind: &str, name: &str, expected: &str, value: &Value) -> Error {
    Error::Invalid(tr!(
        "policy.content.wrong_type",
        kind = kind,
        field = name,
        expected = expected,
        found = json_type(value)
    ))
}

fn check_value(kind: &str, f: &Field, value: &Value, name: &str) -> Result<()> {
    if value.is_null() {
        return Ok(()); // not filled in; `required` is checked by the caller
    }
    let wrong = || wrong_type(kind, name, f.kind.as_str(), value);
    match f.kind {
        FieldKind::Text => {
            let s = value.as_str().ok_or_else(wrong)?;
            text::single_line(name, s, f.text_limit())?;
        }
        FieldKind::LongText => {
            let s = value.as_str().ok_or_else(wrong)?;
            text::multi_line(name, s, f.text_limit())?;
        }
        FieldKind::Date => {
            let s = value.as_str().ok_or_else(wrong)?;
            if !is_date(s) {
                return Err(Error::Invalid(tr!(
                    "policy.content.bad_date",
                    kind = kind,
                    field = name
                )));
            }
        }
        FieldKind::Number => {
            let n = value.as_f64().ok_or_else(wrong)?;
            let low = f.min.is_some_and(|m| n < m);
            let high = f.max.is_some_and(|m| n > m);
            if low || high {
                let bound = |b: Option<f64>| b.map_or_else(|| "—".to_string(), |v| v.to_string());
                return Err(Error::Invalid(tr!(
                    "policy.content.out_of_range",
                    kind = kind,
                    field = name,
                    min = bound(f.min),
                    max = bound(f.max)
                )));
            }
        }
        FieldKind::Bool => {
            value.as_bool().ok_or_else(wrong)?;
        }
        FieldKind::Choice => {
            let s = value.as_str().ok_or_else(wrong)?;
            if !f.choices.iter().any(|c| c == s) {
                return Err(Error::Invalid(tr!(
                    "policy.content.bad_choice",
                    kind = kind,
                    field = name,
                    choices = f.choices.join(", ")
                )));
            }
        }
        FieldKind::Table => {
            let rows = value.as_array().ok_or_else(wrong)?;
            for (i, row) in rows.iter().enumerate() {
                let row_name = format!("{name}[{}]", i + 1);
                let Some(obj) = row.as_object() else {
                    return Err(Error::Invalid(tr!(
                        "policy.content.bad_row",
                        kind = kind,
                        field = row_name,
                        found = json_type(row)
                    )));
                };
                check_object(kind, &f.columns, obj, &format!("{row_name}."), false)?;
            }
        }
    }
    Ok(())
}

/// Checks one filled-in value of field `f` of template `kind`, as [`Policy::validate_content`]
/// would: lets a form ask again for just that field (`record add` on a terminal).
pub fn check_field(kind: &str, f: &Field, value: &Value) -> Result<()> {
    check_value(kind, f, value, &f.name)
}

impl Policy {
    /// The problems of `content` field by field, for a form that shows each message beside
    /// its field: every top-level field of `kind`'s template that is required and left out, or
    /// filled in wrongly, with the same message [`Policy::validate_content`] gives (which
    /// stays the check that decides). Empty for an unknown kind.
    pub fn field_problems(
        &self,
        kind: &str,
        content: &serde_json::Map<String, Value>,
    ) -> Vec<(String, Error)> {
        let Some(t) = self.template(kind) else {
            return Vec::new();
        };
        t.fields
            .iter()
            .filter_map(|f| {
                let mut one = serde_json::Map::new();
                if let Some(v) = content.get(&f.name) {
                    one.insert(f.name.clone(), v.clone());
                }
                check_object(kind, std::slice::from_ref(f), &one, "", false)
                    .err()
                    .map(|e| (f.name.clone(), e))
            })
            .collect()
    }

    /// Checks record content (a JSON object of field name → value) against the template of
    /// `kind`: unknown kind, missing required field, unknown field, wrong type (dates
    /// `YYYY-MM-DD`, numbers within bounds, bools, choices from the list, tables as arrays of
    /// objects checked by columns). A free-text field named `note` is accepted on every
    /// template. The error ([`Error::Invalid`]) names the field and the rule, never the value
    /// (it may be client content).
    pub fn validate_content(&self, kind: &str, content: &Value) -> Result<()> {
        let Some(t) = self.template(kind) else {
            return Err(Error::Invalid(tr!(
                "policy.content.unknown_kind",
                kind = kind,
                kinds = self.template_kinds().join(", ")
            )));
        };
        let Some(obj) = content.as_object() else {
            return Err(Error::Invalid(tr!(
                "policy.content.not_object",
                kind = kind,
                found = json_type(content)
            )));
        };
        check_object(kind, &t.fields, obj, "", true)
    }
}
