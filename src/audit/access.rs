//! Reads of unassigned cases: `record_reads` rows with `assigned = 0` by anyone who is not a
//! supervisor (supervisors work on every case). Honours `--since`.

use std::collections::BTreeMap;

use super::{capped, Ctx, Finding, Outcome, Severity};
use crate::error::Result;
use crate::policy::Role;
use crate::store;
use crate::tr;

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let roles: BTreeMap<String, Role> = store::staff::list(ctx.conn)?
        .into_iter()
        .map(|s| (s.name, s.role))
        .collect();
    let mut st = ctx.conn.prepare(
        "SELECT id, staff, record_id, case_id FROM record_reads
         WHERE assigned = 0 AND at >= ?1 ORDER BY staff, case_id, id",
    )?;
    // (staff, case) -> [(read id, record id)]
    let mut groups: BTreeMap<(String, i64), Vec<(i64, i64)>> = BTreeMap::new();
    let rows = st.query_map([ctx.since], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (id, staff, record, case) = row?;
        if roles.get(&staff) == Some(&Role::Supervisor) {
            continue;
        }
        groups.entry((staff, case)).or_default().push((id, record));
    }
    let out = groups
        .into_iter()
        .map(|((staff, case), reads)| {
            let mut loc = vec![
                tr!("audit.loc.staff", name = staff),
                tr!("audit.loc.case", id = case),
            ];
            loc.extend(capped(
                reads
                    .iter()
                    .map(|(_, r)| tr!("audit.loc.record", id = r))
                    .collect(),
                50,
            ));
            Finding::new(
                "access.unassigned_read",
                Severity::High,
                tr!(
                    "audit.access.unassigned",
                    name = staff,
                    case = case,
                    count = reads.len()
                ),
                loc,
                tr!("audit.access.fix"),
            )
        })
        .collect();
    Ok(Outcome::Ran(out))
}
