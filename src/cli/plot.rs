//! `looplab plot`.
use crate::error::LabError;
use clap::Args;
#[derive(Args, Debug)]
pub struct PlotArgs {}
pub fn run(_a: &PlotArgs) -> Result<(), LabError> {
    Ok(())
}
