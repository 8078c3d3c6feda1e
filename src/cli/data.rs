//! `looplab data`: a preset's dataset as safetensors plus its config, for python/looplab_torch (src/data.rs).

use std::path::PathBuf;

use super::{io_err, value, write_atomic};
use crate::config::LabConfig;
use crate::error::LabError;

#[derive(Debug, Default)]
pub struct DataArgs {
    preset: Option<String>,
    sets: Vec<String>,
    out: Option<PathBuf>,
}

impl DataArgs {
    pub fn parse(args: &[String]) -> Result<DataArgs, LabError> {
        let mut a = DataArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--preset" => a.preset = Some(value(flag, &mut it)?.clone()),
                "--set" => a.sets.push(value(flag, &mut it)?.clone()),
                "--out" => a.out = Some(PathBuf::from(value(flag, &mut it)?)),
                other => return Err(LabError::Usage(format!("unknown option `{other}` for `data`"))),
            }
        }
        if a.preset.is_none() || a.out.is_none() {
            return Err(LabError::Usage("`data` needs --preset NAME and --out DIR".into()));
        }
        Ok(a)
    }
}

pub async fn run(a: &DataArgs) -> Result<(), LabError> {
    let config = LabConfig::from_preset(a.preset.as_deref().expect("checked by parse"), &a.sets)?;
    let out = a.out.as_ref().expect("checked by parse");
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let (bytes, splits) = crate::data::to_safetensors(&config)?;
    write_atomic(&out.join("data.safetensors"), &bytes)?;
    write_atomic(&out.join("config.json"), crate::export::pretty_config(&config).as_bytes())?;
    for s in &splits {
        eprintln!("{:<12} {:>8} examples of {} tokens ({}x{})", s.name, s.examples, s.seq_len, s.grid[0], s.grid[1]);
    }
    eprintln!("wrote {}/data.safetensors ({} KiB) and config.json", out.display(), bytes.len() >> 10);
    Ok(())
}
