//! demo
use super::Context;
use crate::error::Result;
use clap::Args;
#[derive(Args, Debug)]
pub struct DemoArgs {}
pub fn run(_ctx: &mut Context, _a: DemoArgs) -> Result<()> {
    Ok(())
}
