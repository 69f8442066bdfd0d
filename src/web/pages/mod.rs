//! The screens, one module each. Each module's `route` answers the paths it owns (`None`
//! for the others); [`dispatch`] asks them in turn. Paths carry only numeric ids, never
//! client data.

pub mod access;
pub mod audit;
pub mod case;
pub mod cases;
pub mod consent;
pub mod intake;
pub mod log;
pub mod login;
pub mod queue;
pub mod record;
pub mod referral;

use super::layout::{Ctx, Page};

type Route = fn(&Ctx, &str, &[&str]) -> Option<Page>;

/// Every screen's router, asked in this order.
const ROUTES: &[Route] = &[
    cases::route,
    intake::route,
    case::route,
    record::route,
    queue::route,
    consent::route,
    referral::route,
    access::route,
    audit::route,
    log::route,
];

/// The answer of the screen that owns `segs` (the path split at `/`), if any.
pub fn dispatch(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    ROUTES.iter().find_map(|r| r(ctx, method, segs))
}
