//! Overdue requests (access, correction, partner data requests): still open after their due
//! date (read through the store layer; "today" honours the test clock).

use super::{Ctx, Finding, Outcome, Severity};
use crate::domain::time::Date;
use crate::error::Result;
use crate::store;
use crate::tr;

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    if !ctx.has_table("requests")? {
        return Ok(Outcome::Skipped(tr!(
            "audit.skip.table",
            table = "requests"
        )));
    }
    let today = Date::from_unix(ctx.now);
    let mut out = Vec::new();
    for r in store::requests::list(ctx.conn, None, true)? {
        if !r.is_overdue(today) {
            continue;
        }
        let days = today.to_days() - r.due.to_days();
        let id = r.id.to_string();
        out.push(Finding::new(
            "requests.overdue",
            Severity::High,
            tr!(
                "audit.req.overdue",
                id = id,
                kind = r.kind.code(),
                due = r.due,
                days = days,
                received = r.received
            ),
            vec![tr!("audit.loc.request", id = id)],
            tr!("audit.req.fix"),
        ));
    }
    Ok(Outcome::Ran(out))
}
