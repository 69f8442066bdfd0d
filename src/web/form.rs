//! Forms from the policy's templates (issue 13): the inputs of a template's fields, the typed
//! values read back from a posted form, and a record's fields shown with their labels.
//!
//! The checks stay the library's (`Policy::validate_content` through `record_add`): this
//! module only turns text inputs into JSON values (a number, a yes/no) as `record add` on a
//! terminal does, and places the library's messages beside their fields.
//!
//! Input names: `f.NAME` for a field, `f.TABLE.ROW.COLUMN` for a cell of a table field (rows
//! from 0; a row left empty is not saved). Every template also gets the free-text `note` and
//! the `third_party` flag every template accepts, unless it defines them itself.

use std::collections::HashMap;

use maud::{html, Markup};
use serde_json::{json, Map, Value};

use super::http::Request;
use crate::i18n::{text_in, Lang};
use crate::policy::validate::{NOTE_FIELD, THIRD_PARTY_FIELD};
use crate::policy::{Field, FieldKind, Template};

/// Blank rows offered under a table's filled-in rows.
const BLANK_ROWS: usize = 2;
/// Most rows read back from one table (a form never offers more than it was given plus two).
const MAX_ROWS: usize = 200;

/// The text of `zh`/`en` in `lang`.
pub fn pick<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    if lang == Lang::En && !en.is_empty() {
        en
    } else {
        zh
    }
}

/// What a form holds as typed: field name → text, and table name → rows of column → text.
#[derive(Debug, Default)]
pub struct Values {
    pub scalars: HashMap<String, String>,
    pub tables: HashMap<String, Vec<HashMap<String, String>>>,
}

/// A message beside field `name` (a template field's name).
pub type Problems = Vec<(String, String)>;

/// The template's fields, then `note` and `third_party` when the template lacks them.
pub fn all_fields(t: &Template) -> Vec<Field> {
    let mut v = t.fields.clone();
    let extra = |name: &str, key: &str, kind: FieldKind, max_len: Option<usize>| Field {
        name: name.into(),
        label_zh: text_in(Lang::Zh, key, &[]),
        label_en: text_in(Lang::En, key, &[]),
        kind,
        required: false,
        choices: Vec::new(),
        choice_labels: Vec::new(),
        columns: Vec::new(),
        min: None,
        max: None,
        max_len,
        help_zh: text_in(Lang::Zh, &format!("{key}_help"), &[]),
        help_en: text_in(Lang::En, &format!("{key}_help"), &[]),
    };
    if t.field(NOTE_FIELD).is_none() {
        v.push(extra(
            NOTE_FIELD,
            "web.rec_note",
            FieldKind::LongText,
            Some(crate::domain::text::FREE_TEXT_MAX),
        ));
    }
    if t.field(THIRD_PARTY_FIELD).is_none() {
        v.push(extra(
            THIRD_PARTY_FIELD,
            "web.rec_third_party",
            FieldKind::Bool,
            None,
        ));
    }
    v
}

/// Browsers send line breaks as CR LF; the library's text rules allow LF only.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// The values a posted form holds for template `t`'s fields.
pub fn from_request(req: &Request, t: &Template) -> Values {
    let mut v = Values::default();
    for f in all_fields(t) {
        if f.kind == FieldKind::Table {
            let mut rows = Vec::new();
            for r in 0..MAX_ROWS {
                let cells: HashMap<String, String> = f
                    .columns
                    .iter()
                    .filter_map(|c| {
                        req.form(&format!("f.{}.{r}.{}", f.name, c.name))
                            .map(|x| (c.name.clone(), clean(&x)))
                    })
                    .collect();
                if cells.is_empty() {
                    break;
                }
                if cells.values().any(|x| !x.trim().is_empty()) {
                    rows.push(cells);
                }
            }
            v.tables.insert(f.name.clone(), rows);
        } else if let Some(x) = req.form(&format!("f.{}", f.name)) {
            v.scalars.insert(f.name.clone(), clean(&x));
        }
    }
    v
}

/// A stored value as the text its input shows.
fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The values of a record's fields, to prefill a form (an amendment).
pub fn from_fields(t: &Template, fields: &Map<String, Value>) -> Values {
    let mut v = Values::default();
    for f in all_fields(t) {
        let Some(x) = fields.get(&f.name) else {
            continue;
        };
        if f.kind == FieldKind::Table {
            let rows = x
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .filter_map(Value::as_object)
                        .map(|o| o.iter().map(|(k, c)| (k.clone(), as_text(c))).collect())
                        .collect()
                })
                .unwrap_or_default();
            v.tables.insert(f.name.clone(), rows);
        } else {
            v.scalars.insert(f.name.clone(), as_text(x));
        }
    }
    v
}

/// One typed value from its text, as `record add` on a terminal reads an answer; `Ok(None)`
/// for an empty input (not filled in), `Err` with the translated reason.
fn typed(lang: Lang, f: &Field, s: &str) -> Result<Option<Value>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match f.kind {
        FieldKind::Text | FieldKind::LongText | FieldKind::Date | FieldKind::Choice => {
            Ok(Some(s.into()))
        }
        FieldKind::Number => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|n| {
                Some(if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    json!(n as i64)
                } else {
                    json!(n)
                })
            })
            .ok_or_else(|| text_in(lang, "forms.not_number", &[])),
        FieldKind::Bool => match s {
            "true" => Ok(Some(true.into())),
            "false" => Ok(Some(false.into())),
            _ => Err(text_in(lang, "forms.not_bool", &[])),
        },
        FieldKind::Table => Ok(None),
    }
}

/// The record content the values make, and the inputs that are no value of their type (a
/// number that is not one): those are left out, so the caller shows the form again.
pub fn to_fields(lang: Lang, t: &Template, v: &Values) -> (Map<String, Value>, Problems) {
    let mut m = Map::new();
    let mut problems = Problems::new();
    for f in all_fields(t) {
        if f.kind == FieldKind::Table {
            let mut rows = Vec::new();
            for cells in v.tables.get(&f.name).into_iter().flatten() {
                let mut row = Map::new();
                for c in &f.columns {
                    match typed(lang, c, cells.get(&c.name).map_or("", String::as_str)) {
                        Ok(Some(x)) => {
                            row.insert(c.name.clone(), x);
                        }
                        Ok(None) => {}
                        Err(why) => problems.push((
                            f.name.clone(),
                            format!("{}: {why}", pick(lang, &c.label_zh, &c.label_en)),
                        )),
                    }
                }
                rows.push(Value::Object(row));
            }
            if !rows.is_empty() {
                m.insert(f.name.clone(), Value::Array(rows));
            }
            continue;
        }
        match typed(lang, &f, v.scalars.get(&f.name).map_or("", String::as_str)) {
            Ok(Some(x)) => {
                m.insert(f.name.clone(), x);
            }
            Ok(None) => {}
            Err(why) => problems.push((f.name.clone(), why)),
        }
    }
    (m, problems)
}

/// The inputs of template `t`'s fields, filled with `v`, each with the messages `problems`
/// give for it.
pub fn inputs(lang: Lang, t: &Template, v: &Values, problems: &Problems) -> Markup {
    let required_mark = text_in(lang, "web.rec_required", &[]);
    html! {
        @for f in all_fields(t) {
            @let id = format!("f-{}", f.name);
            @let mine: Vec<&str> = problems.iter().filter(|(n, _)| *n == f.name).map(|(_, m)| m.as_str()).collect();
            @let help = pick(lang, &f.help_zh, &f.help_en);
            div.field.bad[!mine.is_empty()] {
                @if f.kind == FieldKind::Table {
                    fieldset {
                        legend { (pick(lang, &f.label_zh, &f.label_en)) @if f.required { " " abbr.req title=(required_mark) { "*" } } }
                        @if !help.is_empty() { p.help { (help) } }
                        (table_inputs(lang, &f, v.tables.get(&f.name).map_or(&[][..], Vec::as_slice)))
                        p.help { (text_in(lang, "web.rec_rows_help", &[])) }
                    }
                } @else {
                    label for=(id) {
                        (pick(lang, &f.label_zh, &f.label_en))
                        @if f.required { " " abbr.req title=(required_mark) { "*" } }
                    }
                    @if !help.is_empty() { p.help { (help) } }
                    (input(lang, &f, &format!("f.{}", f.name), &id, v.scalars.get(&f.name).map_or("", String::as_str)))
                }
                @for m in &mine {
                    p.error role="alert" { (m) }
                }
            }
        }
    }
}

/// The rows of a table field: the filled-in ones and [`BLANK_ROWS`] blank ones.
fn table_inputs(lang: Lang, f: &Field, rows: &[HashMap<String, String>]) -> Markup {
    let empty = HashMap::new();
    html! {
        table.rows {
            thead { tr {
                th { }
                @for c in &f.columns {
                    th { (pick(lang, &c.label_zh, &c.label_en)) }
                }
            } }
            tbody {
                @for r in 0..rows.len() + BLANK_ROWS {
                    @let cells = rows.get(r).unwrap_or(&empty);
                    tr {
                        td { (text_in(lang, "web.rec_row", &[("n", (r + 1).to_string())])) }
                        @for c in &f.columns {
                            @let id = format!("f-{}-{r}-{}", f.name, c.name);
                            td {
                                // Blank rows are allowed: the library checks a
                                // required column in the rows that are filled in.
                                (input(lang, &Field { required: false, ..c.clone() }, &format!("f.{}.{r}.{}", f.name, c.name), &id, cells.get(&c.name).map_or("", String::as_str)))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One input for a non-table field.
fn input(lang: Lang, f: &Field, name: &str, id: &str, value: &str) -> Markup {
    let choose = text_in(lang, "web.rec_choose", &[]);
    match f.kind {
        FieldKind::LongText => html! {
            textarea id=(id) name=(name) rows="5" maxlength=(f.text_limit()) required[f.required] { (value) }
        },
        FieldKind::Text => html! {
            input type="text" id=(id) name=(name) value=(value) maxlength=(f.text_limit()) required[f.required];
        },
        FieldKind::Date => html! {
            input type="date" id=(id) name=(name) value=(value) required[f.required];
        },
        FieldKind::Number => html! {
            input type="number" id=(id) name=(name) value=(value) step="any"
                min=[f.min] max=[f.max] required[f.required];
        },
        FieldKind::Bool => html! {
            select id=(id) name=(name) required[f.required] {
                option value="" { (choose) }
                option value="true" selected[value == "true"] { (text_in(lang, "web.rec_yes", &[])) }
                option value="false" selected[value == "false"] { (text_in(lang, "web.rec_no", &[])) }
            }
        },
        FieldKind::Choice => html! {
            select id=(id) name=(name) required[f.required] {
                option value="" { (choose) }
                @for (c, (zh, en)) in f.choices.iter().zip(&f.choice_labels) {
                    option value=(c) selected[value == c] { (pick(lang, zh, en)) }
                }
                // A value the policy no longer lists (an older record) stays as it was.
                @if !value.is_empty() && !f.choices.iter().any(|c| c == value) {
                    option value=(value) selected { (value) }
                }
            }
        },
        FieldKind::Table => html! {},
    }
}

/// One stored value as text for reading: a choice by its label, yes/no, numbers and text.
fn shown(lang: Lang, f: &Field, v: &Value) -> String {
    match (f.kind, v) {
        (FieldKind::Choice, Value::String(s)) => f
            .choices
            .iter()
            .zip(&f.choice_labels)
            .find(|(c, _)| *c == s)
            .map_or_else(|| s.clone(), |(_, (zh, en))| pick(lang, zh, en).to_string()),
        (_, Value::Bool(true)) => text_in(lang, "web.rec_yes", &[]),
        (_, Value::Bool(false)) => text_in(lang, "web.rec_no", &[]),
        _ => as_text(v),
    }
}

/// A record's fields with their labels, in template order (fields the template no longer
/// has come last under their own names).
pub fn show(lang: Lang, t: Option<&Template>, fields: &Map<String, Value>) -> Markup {
    let known: Vec<Field> = t.map(all_fields).unwrap_or_default();
    let others: Vec<(&String, &Value)> = fields
        .iter()
        .filter(|(k, _)| !known.iter().any(|f| &f.name == *k))
        .collect();
    html! {
        dl.record-fields {
            @for f in &known {
                @if let Some(v) = fields.get(&f.name).filter(|v| !v.is_null()) {
                    dt { (pick(lang, &f.label_zh, &f.label_en)) }
                    dd.long[f.kind == FieldKind::LongText] {
                        @if let (FieldKind::Table, Value::Array(rows)) = (f.kind, v) {
                            table {
                                thead { tr { @for c in &f.columns { th { (pick(lang, &c.label_zh, &c.label_en)) } } } }
                                tbody {
                                    @for row in rows {
                                        tr { @for c in &f.columns {
                                            td { (row.get(&c.name).map(|x| shown(lang, c, x)).unwrap_or_default()) }
                                        } }
                                    }
                                }
                            }
                        } @else {
                            (shown(lang, f, v))
                        }
                    }
                }
            }
            @for (k, v) in others {
                dt { code { (k) } }
                dd.long { (as_text(v)) }
            }
        }
    }
}
