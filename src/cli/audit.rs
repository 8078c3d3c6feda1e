//! `looplab audit`: the computation-graph audit of a multiplication checkpoint (src/audit.rs).

use std::path::PathBuf;

use super::{io_err, value};
use crate::backend::{Backend, BackendKind};
use crate::error::LabError;
use crate::train::checkpoint::Weights;

#[derive(Debug, Default)]
pub struct AuditArgs {
    checkpoint: Option<PathBuf>,
    backend: Option<BackendKind>,
    json: bool,
}

impl AuditArgs {
    pub fn parse(args: &[String]) -> Result<AuditArgs, LabError> {
        let mut a = AuditArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--checkpoint" => a.checkpoint = Some(PathBuf::from(value(flag, &mut it)?)),
                "--backend" => a.backend = Some(value(flag, &mut it)?.parse()?),
                "--json" => a.json = true,
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `audit`"))),
            }
        }
        if a.checkpoint.is_none() {
            return Err(LabError::Usage(
                "`audit` needs --checkpoint FILE (a multiplication model.safetensors written by `train`)".into(),
            ));
        }
        Ok(a)
    }
}

pub async fn run(a: &AuditArgs) -> Result<(), LabError> {
    let path = a.checkpoint.as_ref().expect("checked by parse");
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let weights = Weights::read(&bytes, &path.display().to_string())?;
    let mut backend = Backend::open(a.backend.unwrap_or(BackendKind::Gpu)).await?;
    let audit = crate::audit::run(&weights, &mut backend).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&audit).expect("audit serializes"));
    } else {
        print!("{}", audit.table());
    }
    Ok(())
}
