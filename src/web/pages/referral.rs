//! (issue 13: to be built)

use crate::web::layout::{Ctx, Page};

pub fn route(_ctx: &Ctx, _method: &str, _segs: &[&str]) -> Option<Page> {
    None
}
