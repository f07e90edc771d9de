//! `emofuse export`: a trained run as HuggingFace model folders plus the fusion head.

use crate::pipeline::export::export_run;
use crate::terminal::Terminal;
use anyhow::Result;
use std::path::PathBuf;

/// Arguments of `emofuse export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The trained run's folder (`runs/<name>`; one fold or seed of a k-fold or multi-seed run).
    #[arg(long)]
    pub run: PathBuf,
    /// The folder to write; it must not exist.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `emofuse export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    let summary = export_run(&args.run, &args.out, &Terminal::default())?;
    for (modality, folder, class, tensors) in &summary.encoders {
        println!(
            "{} encoder: {} ({class}, {tensors} tensors; loads with transformers' \
             AutoModel.from_pretrained and as model.{}.checkpoint)",
            modality.name(),
            folder.display(),
            modality.name()
        );
    }
    if summary.encoders.is_empty() {
        println!("no pretrained encoder: the model is the emofuse head alone");
    }
    println!(
        "head: {} ({} tensors, described in head.json)",
        summary.out.join("head.safetensors").display(),
        summary.head_tensors
    );
    Ok(())
}
