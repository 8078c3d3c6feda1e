//! `looplab audit`: the computation-graph audit of a multiplication checkpoint (src/audit.rs).

use std::path::PathBuf;

use super::value;
use crate::backend::BackendKind;
use crate::error::LabError;

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
    let snapshot = super::snapshot(a.checkpoint.as_ref().expect("checked by parse"), a.backend)?;
    let audit = crate::audit::run(&snapshot.weights(), &mut snapshot.backend().await?).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&audit).expect("audit serializes"));
    } else {
        print!("{}", audit.table());
    }
    Ok(())
}
