//! Forms a social worker can find (issue 12 item 3): the fields of a template as a table and as
//! JSON, a fill-in example for a kind, and asking the fields one by one on a terminal.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::context::table;
use super::Context;
use crate::error::{Error, Result};
use crate::policy::{check_field, Field, FieldKind, Policy, Template};
use crate::tr;

/// `record template` / `policy template` arguments.
#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// Template kind (e.g. intake, process, consent); `policy show` lists them.
    pub kind: String,
    /// Policy directory (default: the shipped policy).
    pub dir: Option<PathBuf>,
}

/// The field's type in words, in the current language.
fn type_name(k: FieldKind) -> String {
    match k {
        FieldKind::Text => tr!("forms.type_text"),
        FieldKind::LongText => tr!("forms.type_long_text"),
        FieldKind::Date => tr!("forms.type_date"),
        FieldKind::Number => tr!("forms.type_number"),
        FieldKind::Bool => tr!("forms.type_bool"),
        FieldKind::Choice => tr!("forms.type_choice"),
        FieldKind::Table => tr!("forms.type_table"),
    }
}

/// A field as `policy show --json` and `record template` describe it.
pub(super) fn field_json(f: &Field) -> Value {
    let mut v = json!({
        "name": f.name,
        "label_zh": f.label_zh,
        "label_en": f.label_en,
        "type": f.kind.as_str(),
        "required": f.required,
    });
    if !f.help_zh.is_empty() || !f.help_en.is_empty() {
        v["help_zh"] = f.help_zh.clone().into();
        v["help_en"] = f.help_en.clone().into();
    }
    if f.kind == FieldKind::Choice {
        v["choices"] = f
            .choices
            .iter()
            .zip(&f.choice_labels)
            .map(|(c, (zh, en))| json!({"value": c, "label_zh": zh, "label_en": en}))
            .collect::<Vec<_>>()
            .into();
    }
    if let Some(m) = f.min {
        v["min"] = m.into();
    }
    if let Some(m) = f.max {
        v["max"] = m.into();
    }
    if f.kind == FieldKind::Table {
        v["columns"] = f.columns.iter().map(field_json).collect::<Vec<_>>().into();
    }
    v
}

/// A value that fills `f` in and passes the template's checks: the label for text, today for
/// a date, the lowest allowed number, `false`, the first choice, one example row for a table.
fn example_value(f: &Field) -> Value {
    match f.kind {
        FieldKind::Text | FieldKind::LongText => f.label().into(),
        FieldKind::Date => crate::domain::time::today().to_string().into(),
        FieldKind::Number => {
            let n = f.min.unwrap_or(0.0).max(0.0);
            let n = f.max.map_or(n, |m| n.min(m));
            if n.fract() == 0.0 {
                json!(n as i64)
            } else {
                json!(n)
            }
        }
        FieldKind::Bool => false.into(),
        FieldKind::Choice => f.choices.first().cloned().unwrap_or_default().into(),
        FieldKind::Table => {
            let row: Map<String, Value> = f
                .columns
                .iter()
                .map(|c| (c.name.clone(), example_value(c)))
                .collect();
            json!([row])
        }
    }
}

/// A fill-in example of a record of template `t`: every field.
#[cfg(test)]
pub(super) fn example(t: &Template) -> Value {
    let mut m = Map::new();
    for f in &t.fields {
        m.insert(f.name.clone(), example_value(f));
    }
    Value::Object(m)
}

/// One row per field (table columns indented under their table).
fn field_rows(fields: &[Field], indent: &str, rows: &mut Vec<Vec<String>>) {
    for f in fields {
        let mut kind = type_name(f.kind);
        if f.kind == FieldKind::Choice {
            let choices: Vec<String> = f
                .choices
                .iter()
                .map(|c| format!("{c}={}", f.choice_label(c)))
                .collect();
            kind = format!("{kind}: {}", choices.join(", "));
        }
        if f.kind == FieldKind::Number && (f.min.is_some() || f.max.is_some()) {
            let b = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
            kind = format!("{kind} {}..{}", b(f.min), b(f.max));
        }
        rows.push(vec![
            format!("{indent}{}", f.name),
            if f.required {
                tr!("forms.required_mark")
            } else {
                String::new()
            },
            format!("{} / {}", f.label_zh, f.label_en),
            kind,
        ]);
        if f.kind == FieldKind::Table {
            field_rows(&f.columns, &format!("{indent}  "), rows);
        }
    }
}

/// The fields of `t` as a table: name, required mark, label (zh / en), type (widest, last).
pub(super) fn fields_table(t: &Template) -> String {
    let mut rows = Vec::new();
    field_rows(&t.fields, "", &mut rows);
    table(
        &[
            tr!("forms.h_field"),
            tr!("forms.h_required"),
            tr!("forms.h_label"),
            tr!("forms.h_type"),
        ],
        &rows,
    )
}

/// [`example`] as pretty JSON with the keys in template order (a JSON object of
/// `serde_json` sorts them), so the example reads like the paper form.
pub(super) fn example_text(t: &Template) -> String {
    let lines: Vec<String> = t
        .fields
        .iter()
        .map(|f| {
            let v = serde_json::to_string(&example_value(f)).unwrap_or_default();
            format!("  {}: {v}", Value::from(f.name.as_str()))
        })
        .collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}

/// The template of `kind`, or an error listing the kinds there are.
pub(super) fn template<'a>(p: &'a Policy, kind: &str) -> Result<&'a Template> {
    p.template(kind).ok_or_else(|| {
        Error::Invalid(tr!(
            "policy.content.unknown_kind",
            kind = kind,
            kinds = p.template_kinds().join(", ")
        ))
    })
}

/// `record template KIND` and `policy template KIND`: the bare example under `--json`; else
/// the field table with labels, then the example to copy into a `--fields` file.
pub(super) fn run_template(ctx: &mut Context, a: TemplateArgs) -> Result<()> {
    let sources = match &a.dir {
        Some(d) => Policy::read_sources(d)?,
        None => Policy::embedded_sources(),
    };
    let p = Policy::from_sources(&sources)?;
    let t = template(&p, &a.kind)?;
    let ex = example_text(t);
    if ctx.json {
        super::out::line(&ex);
        return Ok(());
    }
    ctx.emit(&(), || {
        format!(
            "{}\n{}\n{}\n{}",
            tr!(
                "forms.template_heading",
                kind = t.kind,
                label = t.label(),
                tier = t.default_tier
            ),
            fields_table(t),
            tr!("forms.example_heading", kind = t.kind),
            ex
        )
    });
    Ok(())
}

/// Reads one answer line; the end of input cancels the form.
fn read_answer<R: BufRead>(input: &mut R) -> Result<String> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .map_err(|_| Error::Invalid(tr!("forms.input_ended")))?;
    if n == 0 {
        return Err(Error::Invalid(tr!("forms.input_ended")));
    }
    Ok(line.trim().to_string())
}

/// The typed value of `answer` for `f`, or why it is not one (translated).
fn parse_answer(f: &Field, answer: &str) -> std::result::Result<Value, String> {
    match f.kind {
        FieldKind::Text | FieldKind::LongText | FieldKind::Date => Ok(answer.into()),
        FieldKind::Number => answer
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|n| {
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    json!(n as i64)
                } else {
                    json!(n)
                }
            })
            .ok_or_else(|| tr!("forms.not_number")),
        FieldKind::Bool => match answer.to_lowercase().as_str() {
            "是" | "y" | "yes" | "true" | "1" => Ok(true.into()),
            "否" | "n" | "no" | "false" | "0" => Ok(false.into()),
            _ => Err(tr!("forms.not_bool")),
        },
        FieldKind::Choice => {
            if let Ok(i) = answer.parse::<usize>() {
                if (1..=f.choices.len()).contains(&i) {
                    return Ok(f.choices[i - 1].clone().into());
                }
            }
            f.choices
                .iter()
                .zip(&f.choice_labels)
                .find(|(c, (zh, en))| *c == answer || zh == answer || en == answer)
                .map(|(c, _)| c.clone().into())
                .ok_or_else(|| tr!("forms.not_choice", count = f.choices.len()))
        }
        FieldKind::Table => Err(tr!("forms.not_choice", count = 0)),
    }
}

/// Asks for one (non-table) field until the answer is valid. `None`: left empty (allowed for
/// an optional field, or when `may_end` says an empty answer ends a table).
fn ask_one<R: BufRead, W: Write>(
    kind: &str,
    f: &Field,
    may_end: bool,
    input: &mut R,
    out: &mut W,
) -> Result<Option<Value>> {
    let required = if f.required {
        tr!("forms.required_mark")
    } else {
        tr!("forms.optional_mark")
    };
    let _ = writeln!(
        out,
        "{}",
        tr!(
            "forms.ask_field",
            label = f.label(),
            name = f.name,
            kind = type_name(f.kind),
            required = required
        )
    );
    let help = f.help();
    if !help.is_empty() {
        let _ = writeln!(out, "  {help}");
    }
    if f.kind == FieldKind::Choice {
        for (i, c) in f.choices.iter().enumerate() {
            let _ = writeln!(out, "  {}) {} {}", i + 1, f.choice_label(c), c);
        }
    }
    loop {
        let _ = write!(out, "> ");
        let _ = out.flush();
        let answer = read_answer(input)?;
        if answer.is_empty() {
            if !f.required || may_end {
                return Ok(None);
            }
            let _ = writeln!(out, "{}", tr!("forms.is_required"));
            continue;
        }
        let checked = parse_answer(f, &answer).and_then(|v| {
            check_field(kind, f, &v)
                .map(|()| v)
                .map_err(|e| e.to_string())
        });
        match checked {
            Ok(v) => return Ok(Some(v)),
            Err(why) => {
                let _ = writeln!(out, "{}", tr!("forms.ask_again", reason = why));
            }
        }
    }
}

/// Asks the fields of template `t` one by one on `out`, reading answers from `input`: an
/// empty answer skips an optional field; a bad value is explained and asked again; a table
/// is asked row by row until its first column is left empty. Ends with the free-text note.
pub fn ask_fields<R: BufRead, W: Write>(
    t: &Template,
    input: &mut R,
    out: &mut W,
) -> Result<Map<String, Value>> {
    let kind = t.kind.as_str();
    let _ = writeln!(
        out,
        "{}",
        tr!("forms.ask_intro", label = t.label(), kind = kind)
    );
    let mut map = Map::new();
    for f in &t.fields {
        if f.kind != FieldKind::Table {
            if let Some(v) = ask_one(kind, f, false, input, out)? {
                map.insert(f.name.clone(), v);
            }
            continue;
        }
        let mut rows: Vec<Value> = Vec::new();
        loop {
            let _ = writeln!(
                out,
                "{}",
                tr!("forms.ask_row", label = f.label(), row = rows.len() + 1)
            );
            let mut row = Map::new();
            let mut ended = false;
            for (i, c) in f.columns.iter().enumerate() {
                match ask_one(kind, c, i == 0, input, out)? {
                    Some(v) => {
                        row.insert(c.name.clone(), v);
                    }
                    None if i == 0 => {
                        ended = true;
                        break;
                    }
                    None => {}
                }
            }
            if ended {
                if f.required && rows.is_empty() {
                    let _ = writeln!(out, "{}", tr!("forms.is_required"));
                    continue;
                }
                break;
            }
            rows.push(Value::Object(row));
        }
        if !rows.is_empty() {
            map.insert(f.name.clone(), Value::Array(rows));
        }
    }
    let note = Field {
        name: crate::policy::validate::NOTE_FIELD.into(),
        label_zh: "备注".into(),
        label_en: "Note".into(),
        kind: FieldKind::LongText,
        required: false,
        choices: Vec::new(),
        choice_labels: Vec::new(),
        columns: Vec::new(),
        min: None,
        max: None,
        max_len: Some(crate::domain::text::FREE_TEXT_MAX),
        help_zh: String::new(),
        help_en: String::new(),
    };
    if let Some(v) = ask_one(kind, &note, false, input, out)? {
        map.insert(note.name.clone(), v);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(kind: &str, answers: &str) -> (Result<Map<String, Value>>, String) {
        let p = Policy::embedded();
        let t = p.template(kind).unwrap();
        let mut out = Vec::new();
        let r = ask_fields(t, &mut answers.as_bytes(), &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn ask_fields_re_asks_bad_values_and_skips_empty_optional_ones() {
        // intake: client_number, intake_worker, client_name, intake_date (bad, then good),
        // gender (by number), age (out of range, then fine), then empties up to source
        // (required: empty re-asked, then by code), household with one row.
        let mut answers = vec![
            "C-1",
            "",
            "",
            "2026-02-30",
            "2026-02-03",
            "2",
            "200",
            "12",
            "",
            "",
            "",
            "",
            "",
            // household row 1: name, relation, age, phone, lives_with_client
            "张三",
            "父亲",
            "40",
            "",
            "是",
            // row 2: ends the table
            "",
            // source: required, empty re-asked
            "",
            "referral",
        ];
        // source_detail .. worker_signed_date: 9 optional fields, then the note.
        answers.extend(std::iter::repeat_n("", 9));
        answers.push("初次来访");
        let input = answers.join("\n") + "\n";
        let (r, out) = ask("intake", &input);
        let m = r.unwrap();
        assert_eq!(m["client_number"], "C-1");
        assert_eq!(m["intake_date"], "2026-02-03");
        assert_eq!(m["gender"], "female");
        assert_eq!(m["age"], 12);
        assert_eq!(m["source"], "referral");
        assert_eq!(m["household"][0]["name"], "张三");
        assert_eq!(m["household"][0]["lives_with_client"], true);
        assert_eq!(m["household"].as_array().unwrap().len(), 1);
        assert_eq!(m["note"], "初次来访");
        assert!(!m.contains_key("intake_worker"));
        // Asked again twice for bad values, once for an empty required one.
        assert_eq!(out.matches(&tr!("forms.is_required")).count(), 1, "{out}");
        let again = tr!("forms.ask_again", reason = "");
        assert_eq!(out.matches(again.trim()).count(), 2, "{out}");
        Policy::embedded()
            .validate_content("intake", &Value::Object(m))
            .unwrap();
    }

    #[test]
    fn ask_fields_ends_on_end_of_input() {
        let (r, _) = ask("intake", "C-1\n");
        assert!(matches!(r, Err(Error::Invalid(_))));
    }

    #[test]
    fn examples_pass_their_templates() {
        let p = Policy::embedded();
        for t in p.templates.values() {
            p.validate_content(&t.kind, &example(t)).unwrap();
            let parsed: Value = serde_json::from_str(&example_text(t)).unwrap();
            assert_eq!(parsed, example(t));
        }
    }
}
