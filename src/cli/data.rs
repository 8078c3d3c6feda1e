//! `looplab data`: a preset's dataset as safetensors plus its config, for python/looplab_torch (src/data.rs).

use std::path::PathBuf;

use clap::Args;

use super::{io_err, write_atomic, PresetArgs};
use crate::error::LabError;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(flatten)]
    preset: PresetArgs,
    /// The folder to write data.safetensors and config.json into
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub async fn run(a: &DataArgs) -> Result<(), LabError> {
    let config = a.preset.config()?;
    let out = &a.out;
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
