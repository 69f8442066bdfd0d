//! Records past retention: the case closed, and `closed_at + retention_years` of the record's
//! template has passed. A record whose kind has no template uses the longest period.

use std::collections::BTreeMap;

use super::{capped, Ctx, Finding, Outcome, Severity};
use crate::domain::time::Date;
use crate::error::Result;
use crate::tr;

/// The same calendar day `years` later (29 February becomes 28 February).
pub fn add_years(d: Date, years: u32) -> Date {
    d.add_years(i32::try_from(years).unwrap_or(i32::MAX))
}

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let longest = ctx
        .policy
        .templates
        .values()
        .map(|t| t.retention_years)
        .max()
        .unwrap_or(0);
    let years = |kind: &str| {
        ctx.policy
            .template(kind)
            .map(|t| t.retention_years)
            .unwrap_or(longest)
    };
    let mut st = ctx.conn.prepare(
        "SELECT r.id, r.case_id, r.kind, c.closed_at, c.client_id, cl.number
         FROM records r JOIN cases c ON c.id = r.case_id JOIN clients cl ON cl.id = c.client_id
         WHERE c.closed_at IS NOT NULL AND c.closed_at <= ?1
         ORDER BY r.case_id, r.id",
    )?;
    // case -> (client id, client number, closed date, [(record, due date)])
    type Due = (i64, String, Date, Vec<(i64, Date)>);
    let mut by_case: BTreeMap<i64, Due> = BTreeMap::new();
    let today = Date::from_unix(ctx.now);
    let rows = st.query_map([ctx.now], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    for row in rows {
        let (rec, case, kind, closed_at, client, number) = row?;
        let closed = Date::from_unix(closed_at);
        let due = add_years(closed, years(&kind));
        if today > due {
            by_case
                .entry(case)
                .or_insert_with(|| (client, number, closed, Vec::new()))
                .3
                .push((rec, due));
        }
    }
    let out = by_case
        .into_iter()
        .map(|(case, (client, number, closed, recs))| {
            let oldest = recs.iter().map(|r| r.1).min().unwrap_or(closed);
            let mut loc = vec![
                tr!("audit.loc.case", id = case),
                ctx.client_ref(client, &number),
            ];
            loc.extend(capped(
                recs.iter()
                    .map(|(r, _)| tr!("audit.loc.record", id = r))
                    .collect(),
                50,
            ));
            Finding::new(
                "retention.expired",
                Severity::Medium,
                tr!(
                    "audit.retention.expired",
                    case = case,
                    count = recs.len(),
                    closed = closed,
                    due = oldest
                ),
                loc,
                tr!("audit.retention.fix"),
            )
        })
        .collect();
    Ok(Outcome::Ran(out))
}
