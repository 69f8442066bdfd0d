//! Overdue requests (access, correction, partner data requests): still open after their due
//! date. Needs the `requests` table of the requests migration; columns assumed (align after
//! merging; see `docs/audit.md`): `requests(id, kind, received_on, due_on, status)`, dates
//! as `YYYY-MM-DD` text or Unix seconds, and a request is closed when `status` is one of
//! `done`, `closed`, `answered`, `responded`, `rejected`, `withdrawn`.

use rusqlite::types::Value;

use super::{time_value, Ctx, Finding, Outcome, Severity};
use crate::domain::time::Date;
use crate::error::Result;
use crate::tr;

pub const CLOSED: [&str; 6] = [
    "done",
    "closed",
    "answered",
    "responded",
    "rejected",
    "withdrawn",
];

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    if !ctx.has_table("requests")? {
        return Ok(Outcome::Skipped(tr!(
            "audit.skip.table",
            table = "requests"
        )));
    }
    let mut st = ctx
        .conn
        .prepare("SELECT id, kind, received_on, due_on, status FROM requests ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, Value>(0)?,
            r.get::<_, Value>(1)?,
            r.get::<_, Value>(2)?,
            r.get::<_, Value>(3)?,
            r.get::<_, Value>(4)?,
        ))
    })?;
    let text = |v: &Value| match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, received, due, status) = row?;
        let status = text(&status).to_ascii_lowercase();
        if CLOSED.contains(&status.as_str()) {
            continue;
        }
        let Some(due) = time_value(&due) else {
            continue;
        };
        // Due through the end of the due date.
        let deadline = if due % 86_400 == 0 { due + 86_400 } else { due };
        if ctx.now < deadline {
            continue;
        }
        let days = (ctx.now - deadline) / 86_400 + 1;
        let id = text(&id);
        out.push(Finding::new(
            "requests.overdue",
            Severity::High,
            tr!(
                "audit.req.overdue",
                id = id,
                kind = text(&kind),
                due = Date::from_unix(due),
                days = days,
                received = time_value(&received)
                    .map(|t| Date::from_unix(t).to_string())
                    .unwrap_or_default()
            ),
            vec![tr!("audit.loc.request", id = id)],
            tr!("audit.req.fix"),
        ));
    }
    Ok(Outcome::Ran(out))
}
