//! `data-prep`: see `data-prep --help`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use emofuse::data::synthetic::SyntheticOptions;
use std::path::PathBuf;

/// Prepares datasets for emofuse: audio files plus one manifest (CSV) per split.
#[derive(Debug, Parser)]
#[command(name = "data-prep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Export the built-in synthetic corpus as 16-bit WAV files and manifests.
    Synthetic(SyntheticArgs),
    /// Extract MELD's clips to 16 kHz mono WAV and write one manifest per split, listing every
    /// row without usable audio in problems.csv. Re-running skips finished clips.
    Meld(MeldArgs),
}

#[derive(Debug, clap::Args)]
struct MeldArgs {
    /// Folder with the raw media (MELD.Raw extracted; searched recursively). Without it, the
    /// manifests list every row with an empty audio path: enough for text-only models.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// Folder with train_sent_emo.csv, dev_sent_emo.csv and test_sent_emo.csv.
    #[arg(long)]
    csv: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = 16_000)]
    sample_rate: u32,
    /// Clips longer than this many seconds are kept but listed as suspicious.
    #[arg(long, default_value_t = 30.0)]
    long_clip_seconds: f64,
}

#[derive(Debug, clap::Args)]
struct SyntheticArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training utterances.
    #[arg(long, default_value_t = 2400)]
    train_size: usize,
    /// Validation utterances.
    #[arg(long, default_value_t = 400)]
    valid_size: usize,
    /// Test utterances.
    #[arg(long, default_value_t = 800)]
    test_size: usize,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = 16_000)]
    sample_rate: u32,
    /// Longest clip in seconds.
    #[arg(long, default_value_t = 1.5)]
    max_seconds: f32,
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Synthetic(args) => {
            let options = SyntheticOptions {
                seed: args.seed,
                train_size: args.train_size,
                valid_size: args.valid_size,
                test_size: args.test_size,
                sample_rate: args.sample_rate,
                max_seconds: args.max_seconds,
            };
            let summary = data_prep::synthetic::export(&options, &args.out)?;
            println!(
                "wrote {} clips, kept {} already present; manifests: {}/{{train,valid,test}}.csv",
                summary.written,
                summary.skipped,
                args.out.display()
            );
            Ok(())
        }
        Command::Meld(args) => {
            let options = data_prep::meld::MeldOptions {
                raw: args.raw,
                csv: args.csv,
                out: args.out,
                sample_rate: args.sample_rate,
                long_clip_seconds: args.long_clip_seconds,
            };
            let summary = data_prep::meld::prepare(&options)?;
            println!("{}", summary.render());
            println!(
                "manifests: {0}/{{train,dev,test}}.csv; problems: {0}/problems.csv; summary: \
                 {0}/summary.json",
                options.out.display()
            );
            Ok(())
        }
    }
}
