//! `emofuse fuzz`: mutation campaigns on stable Rust over the inputs users hand to emofuse
//! (audio files, experiment TOML, HTTP requests to `emofuse serve`).
//!
//! A campaign draws cases from a [`Target`]'s seed inputs (committed fixtures) through the
//! [`mutate::Mutator`], runs each, and sorts the outcome: accepted, refused with a clean error,
//! refused after a caught third-party panic (an upstream bug emofuse survived), or a
//! **finding**: a panic that reached the runner, a wrong answer the target detected, a case
//! over its time budget, or memory over the campaign's budget. Findings are saved as
//! reproducers; `--replay FILE` runs one file again.
//!
//! An abort (an allocation failure, a stack overflow) cannot be caught in-process: every case
//! is written to `<out>/current.<ext>` before it runs, so the input that killed the process is
//! on disk, and the CI test (`tests/integration/fuzz.rs`) runs campaigns as child processes and
//! names that file when one dies. A watchdog thread ends the process (exit code 3) when a
//! case hangs or the resident memory passes the budget, after saving the case.
//!
//! Adding a target: a module with a type implementing [`Target`], one arm in [`target`], and
//! its name in [`TARGETS`].

pub mod audio;
pub mod experiment;
pub mod mutate;
pub mod server;

use crate::core::events::{Event, Observer};
use crate::core::panic::panic_message;
use anyhow::{Context, Result, bail};
use mutate::{Mutation, Mutator};
use rand::RngExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The targets `emofuse fuzz` knows, as named on its command line.
pub const TARGETS: &[&str] = &["audio", "experiment", "server"];

/// Exit code of a process ended by the watchdog (a hang or memory over budget).
pub const WATCHDOG_EXIT: i32 = 3;

/// A valid input that cases are mutated from.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where it came from (a fixture's file name), for reports.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The input was valid enough to be used, and was handled correctly.
    Accepted,
    /// Refused with an error a user can act on (the error's text).
    Refused(String),
    /// Refused after a panic inside third-party code was caught by emofuse's own boundary and
    /// turned into this error: not a crash for the user, but an upstream bug to report.
    CaughtPanic(String),
    /// Wrong behaviour the target detected (e.g. a 500 for bad input, a non-finite output
    /// accepted, a server that stopped answering): a finding.
    Wrong(String),
}

/// Something the fuzzer feeds: its seeds and how one input is run.
pub trait Target {
    /// The target's name (as on the command line).
    fn name(&self) -> &'static str;

    /// Extension of reproducer files (e.g. `toml`, `bin`).
    fn extension(&self) -> &'static str {
        "bin"
    }

    /// The valid inputs mutations start from; at least one.
    fn seeds(&self) -> &[Seed];

    /// One case from `seed`: by default the generic byte mutations; text formats may mutate
    /// smarter (tokens, lines).
    fn mutate(&self, mutator: &mut Mutator, seed: &Seed) -> (Vec<u8>, Vec<String>) {
        let (bytes, mutations) = mutator.mutate(&seed.bytes);
        (bytes, mutations.iter().map(Mutation::to_string).collect())
    }

    /// Runs one input. A panic escaping this call is a finding (the runner catches it).
    fn run(&mut self, input: &[u8]) -> Verdict;
}

/// The target called `name`, with its seeds read under `root` (the repository root, where the
/// committed fixtures are).
pub fn target(name: &str, root: &Path) -> Result<Box<dyn Target>> {
    match name {
        "audio" => Ok(Box::new(audio::AudioTarget::new(root)?)),
        "experiment" => Ok(Box::new(experiment::ExperimentTarget::new(root)?)),
        "server" => Ok(Box::new(server::ServerTarget::new(root)?)),
        other => bail!(
            "unknown fuzz target `{other}`: choose one of {}",
            TARGETS.join(", ")
        ),
    }
}

/// How long a campaign runs and what it may spend.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Cases to run (the campaign also stops at `seconds`).
    pub cases: u64,
    /// Wall-time limit for the whole campaign, if any.
    pub seconds: Option<f64>,
    /// Seed of case `i`'s mutations is derived from this and `i`, so a case is reproducible
    /// from (seed, index) as well as from its saved bytes.
    pub seed: u64,
    /// A case slower than this is a finding (saved; the campaign goes on).
    pub case_budget: Duration,
    /// A case running longer than this is a hang: the watchdog saves it and ends the process.
    pub hang_after: Duration,
    /// Resident memory above this ends the process through the watchdog (after saving the
    /// case); `None`: no limit.
    pub max_rss_bytes: Option<u64>,
    /// Folder for `current.<ext>`, reproducers and `findings.txt`.
    pub out: PathBuf,
}

/// A finding: what went wrong, on which input.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Index of the case.
    pub case: u64,
    /// `panic`, `wrong` or `slow`.
    pub kind: &'static str,
    /// The seed the case came from.
    pub seed: String,
    /// The mutations applied.
    pub mutations: Vec<String>,
    /// The panic message, the wrong answer or the time taken.
    pub detail: String,
    /// The reproducer.
    pub file: PathBuf,
}

/// What a campaign found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Cases run.
    pub cases: u64,
    /// Accepted inputs.
    pub accepted: u64,
    /// Inputs refused with a clean error.
    pub refused: u64,
    /// Inputs refused after a caught third-party panic.
    pub caught_panics: u64,
    /// The distinct messages of caught panics (upstream bugs), with a count each.
    pub upstream_bugs: Vec<(String, u64)>,
    /// Panics, wrong answers and slow cases.
    pub findings: Vec<Finding>,
    /// The slowest case, in milliseconds.
    pub slowest_ms: f64,
    /// Wall time of the campaign, in seconds.
    pub seconds: f64,
}

/// Runs `campaign` against `target`, reporting progress to `observer`.
pub fn run(
    target: &mut dyn Target,
    campaign: &Campaign,
    observer: &dyn Observer,
) -> Result<Summary> {
    if target.seeds().is_empty() {
        bail!("fuzz target `{}` has no seed inputs", target.name());
    }
    std::fs::create_dir_all(&campaign.out)
        .with_context(|| format!("cannot create {}", campaign.out.display()))?;
    let current = campaign.out.join(format!("current.{}", target.extension()));
    let watchdog = Watchdog::start(campaign, &current);
    let started = Instant::now();
    let mut summary = Summary::default();
    observer.event(Event::TaskStarted {
        name: format!("fuzz {}", target.name()),
        total: campaign.cases,
        unit: "cases",
    });
    for case in 0..campaign.cases {
        if campaign
            .seconds
            .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            break;
        }
        let mut mutator = Mutator::new(case_seed(campaign.seed, case));
        let seeds = target.seeds();
        let seed = seeds[mutator.rng().random_range(0..seeds.len())].clone();
        let (input, mutations) = target.mutate(&mut mutator, &seed);
        std::fs::write(&current, &input)
            .with_context(|| format!("cannot write {}", current.display()))?;
        watchdog.begin();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let elapsed = start.elapsed();
        watchdog.end();
        summary.cases += 1;
        summary.slowest_ms = summary.slowest_ms.max(elapsed.as_secs_f64() * 1e3);
        let mut finding = |kind: &'static str, detail: String| -> Result<()> {
            let file = campaign.out.join(format!(
                "{}-{kind}-{case}.{}",
                target.name(),
                target.extension()
            ));
            crate::io::atomic::write(&file, &input)?;
            summary.findings.push(Finding {
                case,
                kind,
                seed: seed.name.clone(),
                mutations: mutations.clone(),
                detail,
                file,
            });
            Ok(())
        };
        match outcome {
            Ok(Verdict::Accepted) => summary.accepted += 1,
            Ok(Verdict::Refused(_)) => summary.refused += 1,
            Ok(Verdict::CaughtPanic(message)) => {
                summary.caught_panics += 1;
                match summary
                    .upstream_bugs
                    .iter_mut()
                    .find(|(m, _)| *m == message)
                {
                    Some((_, n)) => *n += 1,
                    None => summary.upstream_bugs.push((message, 1)),
                }
            }
            Ok(Verdict::Wrong(detail)) => finding("wrong", detail)?,
            Err(panic) => finding("panic", panic_message(panic.as_ref()))?,
        }
        if elapsed > campaign.case_budget {
            finding(
                "slow",
                format!(
                    "{:.0} ms (budget {:.0} ms)",
                    elapsed.as_secs_f64() * 1e3,
                    campaign.case_budget.as_secs_f64() * 1e3
                ),
            )?;
        }
        observer.event(Event::TaskProgress {
            done: summary.cases,
            status: format!(
                "{} refused, {} caught panics, {} findings",
                summary.refused,
                summary.caught_panics,
                summary.findings.len()
            ),
        });
    }
    observer.event(Event::TaskFinished);
    summary.seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&current);
    write_findings(&campaign.out, target.name(), &summary)?;
    Ok(summary)
}

/// Runs one saved input through `target` (a reproducer), catching a panic as the campaign does.
pub fn replay(target: &mut dyn Target, file: &Path) -> Result<Verdict> {
    let input = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(
        match std::panic::catch_unwind(AssertUnwindSafe(|| target.run(&input))) {
            Ok(verdict) => verdict,
            Err(panic) => Verdict::Wrong(format!("panic: {}", panic_message(panic.as_ref()))),
        },
    )
}

/// The seed of case `case`'s mutator (splitmix-style, so neighbouring cases differ).
fn case_seed(seed: u64, case: u64) -> u64 {
    let mut z = seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `<out>/findings.txt`: one block per finding, then the upstream panics.
fn write_findings(out: &Path, target: &str, summary: &Summary) -> Result<()> {
    let mut text = format!(
        "fuzz {target}: {} cases, {} accepted, {} refused, {} caught panics, {} findings\n",
        summary.cases,
        summary.accepted,
        summary.refused,
        summary.caught_panics,
        summary.findings.len()
    );
    for f in &summary.findings {
        text.push_str(&format!(
            "\ncase {} {}: {}\n  seed: {}\n  mutations: {}\n  reproducer: {}\n",
            f.case,
            f.kind,
            f.detail,
            f.seed,
            f.mutations.join("; "),
            f.file.display()
        ));
    }
    for (message, count) in &summary.upstream_bugs {
        text.push_str(&format!("\ncaught upstream panic ({count}x): {message}\n"));
    }
    crate::io::atomic::write(&out.join("findings.txt"), text.as_bytes())
}

/// Resident memory of this process in bytes (Linux `VmRSS`), if known.
pub fn rss_bytes() -> Option<u64> {
    Some(crate::bench::memory_kib("VmRSS")? * 1024)
}

/// The thread that ends a hung or memory-hungry campaign after saving its case.
struct Watchdog {
    /// Start of the running case in ms since `epoch`, 0 between cases.
    case_started_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl Watchdog {
    fn start(campaign: &Campaign, current: &Path) -> Self {
        let case_started_ms = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let started = Arc::clone(&case_started_ms);
        let hang_after = campaign.hang_after;
        let max_rss = campaign.max_rss_bytes;
        let current = current.to_path_buf();
        let out = campaign.out.clone();
        std::thread::Builder::new()
            .name("fuzz-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(20));
                    let since = started.load(Ordering::Acquire);
                    if since == 0 {
                        continue;
                    }
                    let running = (epoch.elapsed().as_millis() as u64 + 1).saturating_sub(since);
                    let rss = rss_bytes().unwrap_or(0);
                    let why = if Duration::from_millis(running) > hang_after {
                        format!("a case has run for {running} ms (hang limit)")
                    } else if max_rss.is_some_and(|max| rss > max) {
                        format!("resident memory {} MiB is over the budget", rss >> 20)
                    } else {
                        continue;
                    };
                    let keep = out.join(format!(
                        "watchdog.{}",
                        current
                            .extension()
                            .and_then(|e| e.to_str())
                            .unwrap_or("bin")
                    ));
                    let _ = std::fs::copy(&current, &keep);
                    // The process is about to end: stderr is the only way left to say why.
                    eprintln!(
                        "fuzz watchdog: {why}; the input is saved as {}",
                        keep.display()
                    );
                    std::process::exit(WATCHDOG_EXIT);
                }
            })
            .expect("cannot start the fuzz watchdog thread");
        Self {
            case_started_ms,
            epoch,
        }
    }

    fn begin(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.case_started_ms.store(now, Ordering::Release);
    }

    fn end(&self) {
        self.case_started_ms.store(0, Ordering::Release);
    }
}
