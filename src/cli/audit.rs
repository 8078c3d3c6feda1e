//! `looplab audit`: the computation-graph audit of a multiplication checkpoint (src/audit.rs).

use std::path::PathBuf;

use clap::Args;

use super::DeviceArg;
use crate::error::LabError;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// A multiplication model.safetensors written by `train` (preset multiplication or multiplication-ff)
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    #[command(flatten)]
    device: DeviceArg,
    /// Print JSON instead of the table
    #[arg(long)]
    json: bool,
}

pub async fn run(a: &AuditArgs) -> Result<(), LabError> {
    let snapshot = super::snapshot(&a.checkpoint, a.device.backend)?;
    let audit = crate::audit::run(&snapshot.weights(), &mut snapshot.backend().await?).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&audit).expect("audit serializes"));
    } else {
        print!("{}", audit.table());
    }
    Ok(())
}
