//! `emofuse fuzz`: runs a mutation campaign (see `crate::fuzz`) and prints what it found.

use crate::fuzz::{self, Campaign, Verdict};
use crate::terminal::Terminal;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `emofuse fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// What to fuzz: `experiment` (TOML through validation), and the others listed by
    /// `emofuse fuzz --help`'s error for an unknown name.
    pub target: String,
    /// Cases to run.
    #[arg(long, default_value_t = 1000)]
    pub cases: u64,
    /// Stop after this many seconds even if cases remain (e.g. 600 for a ten-minute run).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seed of the mutations (case i of a seed is always the same input).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A case slower than this (ms) is a finding.
    #[arg(long, default_value_t = 5000)]
    pub case_budget_ms: u64,
    /// A case running longer than this (s) ends the campaign as a hang (exit code 3).
    #[arg(long, default_value_t = 60)]
    pub hang_after_s: u64,
    /// Resident memory above this (MiB) ends the campaign (exit code 3); 0: no limit.
    #[arg(long, default_value_t = 2048)]
    pub max_memory_mb: u64,
    /// Folder for the reproducers, `findings.txt` and the case being run (`current.*`).
    #[arg(long, default_value = "fuzz-out")]
    pub out: PathBuf,
    /// Repository root, where the seed fixtures are read.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Run this one file (a reproducer) instead of a campaign, and print its verdict.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// Runs `emofuse fuzz`; fails when the campaign has findings.
pub fn run(args: &FuzzArgs) -> Result<()> {
    let mut target = fuzz::target(&args.target, &args.root)?;
    if let Some(file) = &args.replay {
        let verdict = fuzz::replay(target.as_mut(), file)?;
        println!("{}: {verdict:?}", file.display());
        if let Verdict::Wrong(detail) = verdict {
            bail!("{}: {detail}", file.display());
        }
        return Ok(());
    }
    let campaign = Campaign {
        cases: args.cases,
        seconds: args.seconds,
        seed: args.seed,
        case_budget: Duration::from_millis(args.case_budget_ms),
        hang_after: Duration::from_secs(args.hang_after_s),
        max_rss_bytes: (args.max_memory_mb > 0).then_some(args.max_memory_mb << 20),
        out: args.out.clone(),
    };
    let summary = fuzz::run(target.as_mut(), &campaign, &Terminal::default())?;
    println!(
        "fuzz {}: {} cases in {:.1} s: {} accepted, {} refused with an error, {} refused after a caught upstream panic, {} findings; slowest case {:.0} ms; peak memory {}",
        args.target,
        summary.cases,
        summary.seconds,
        summary.accepted,
        summary.refused,
        summary.caught_panics,
        summary.findings.len(),
        summary.slowest_ms,
        crate::bench::peak_rss_mib().map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    for (message, count) in &summary.upstream_bugs {
        println!("  caught upstream panic ({count}x): {message}");
    }
    for f in &summary.findings {
        println!(
            "  case {} {}: {} (seed {}; {}; reproducer {})",
            f.case,
            f.kind,
            f.detail,
            f.seed,
            f.mutations.join("; "),
            f.file.display()
        );
    }
    if !summary.findings.is_empty() {
        bail!(
            "{} findings; see {}",
            summary.findings.len(),
            args.out.join("findings.txt").display()
        );
    }
    Ok(())
}
