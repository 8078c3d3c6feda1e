//! `looplab compare`.
use crate::error::LabError;
use clap::Args;
#[derive(Args, Debug)]
pub struct CompareArgs {}
pub fn run(_a: &CompareArgs) -> Result<(), LabError> {
    Ok(())
}
