//! `train --jobs N`: the folds of a k-fold run, each trained by a process of this binary
//! (`train <folds.toml> --fold <name>`), N at a time, each with its share of the cores.

use crate::cli::TrainArgs;
use crate::core::events::Observer;
use crate::experiment::{Experiment, SplitKind};
use crate::pipeline::fold_jobs::{FoldLauncher, FoldTask};
use crate::terminal::Terminal;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often running folds are checked for having ended.
const POLL: Duration = Duration::from_millis(100);

/// Lines of a failed fold's log quoted in the error.
const TAIL_LINES: usize = 12;

/// The launcher `args` ask for: none for `--jobs 1`, inside a launched process, or for an
/// `experiment` that is not a speaker k-fold (said as a warning).
pub fn launcher(
    args: &TrainArgs,
    experiment: &Experiment,
) -> Result<Option<Arc<dyn FoldLauncher>>> {
    if args.fold.is_some() || args.jobs == 1 {
        return Ok(None);
    }
    let kfold = experiment.data.dataset.is_pooled()
        && experiment.data.split.kind == SplitKind::SpeakerKfold;
    if !kfold {
        Terminal::default().warn(format!(
            "--jobs {} is for speaker k-fold runs; `{}` trains one run, in this process",
            args.jobs,
            experiment.name()
        ));
        return Ok(None);
    }
    if args.dry_run {
        return Ok(None);
    }
    let cores = rayon::current_num_threads();
    let jobs = if args.jobs == 0 { cores } else { args.jobs };
    let binary = std::env::current_exe()
        .context("--jobs starts this program again for every fold, but its path is unknown")?;
    Ok(Some(Arc::new(Processes {
        binary,
        jobs,
        cores,
    })))
}

/// Starts `binary train` once per fold.
struct Processes {
    binary: std::path::PathBuf,
    /// Folds at a time.
    jobs: usize,
    /// Threads to share between them.
    cores: usize,
}

/// A fold being trained.
struct Running<'a> {
    task: &'a FoldTask,
    child: Child,
    started: Instant,
}

impl Processes {
    fn start<'a>(&self, task: &'a FoldTask, threads: usize) -> Result<Running<'a>> {
        let log = File::create(&task.log)
            .with_context(|| format!("cannot create the fold's log {}", task.log.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("train")
            .arg(&task.experiment)
            .args(["--fold", &task.fold])
            .env("RAYON_NUM_THREADS", threads.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if task.resume {
            command.arg("--resume");
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} for {}", self.binary.display(), task.fold))?;
        Ok(Running {
            task,
            child,
            started: Instant::now(),
        })
    }
}

impl FoldLauncher for Processes {
    fn launch(&self, tasks: &[FoldTask], observer: &dyn Observer) -> Result<()> {
        let jobs = self.jobs.clamp(1, tasks.len().max(1));
        let threads = (self.cores / jobs).max(1);
        observer.info(format!(
            "training {} folds, {jobs} at a time, each in its own process on {threads} thread{}",
            tasks.len(),
            if threads == 1 { "" } else { "s" }
        ));
        let mut waiting = tasks.iter();
        let mut running: Vec<Running> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        loop {
            // After a failure no fold starts; the running ones finish (their work is kept).
            while failed.is_empty() && running.len() < jobs {
                let Some(task) = waiting.next() else { break };
                let fold = self.start(task, threads)?;
                observer.info(format!(
                    "{}: started (process {}, log {})",
                    task.fold,
                    fold.child.id(),
                    task.log.display()
                ));
                running.push(fold);
            }
            if running.is_empty() {
                break;
            }
            std::thread::sleep(POLL);
            let mut i = 0;
            while i < running.len() {
                let Some(status) = running[i].child.try_wait()? else {
                    i += 1;
                    continue;
                };
                let fold = running.swap_remove(i);
                let log = std::fs::read_to_string(&fold.task.log).unwrap_or_default();
                if status.success() {
                    let test = log
                        .lines()
                        .rev()
                        .find(|l| l.starts_with("test ") && l.contains("accuracy"))
                        .unwrap_or("");
                    observer.info(format!(
                        "{}: finished in {:.1} s; {}",
                        fold.task.fold,
                        fold.started.elapsed().as_secs_f64(),
                        test.trim()
                    ));
                } else {
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n    ");
                    failed.push(format!(
                        "{} failed ({status}); the end of its log {}:\n    {tail}",
                        fold.task.fold,
                        fold.task.log.display()
                    ));
                }
            }
        }
        if !failed.is_empty() {
            bail!(
                "{}\nfinished folds are kept: fix the cause and rerun with --resume",
                failed.join("\n")
            );
        }
        Ok(())
    }
}
