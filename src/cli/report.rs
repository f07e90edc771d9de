//! `emofuse report`: regenerate a run's report, or compare runs, from what the runs recorded
//! (`metrics.json`, `config.toml`), without training or evaluating again.

use crate::experiment::Experiment;
use crate::reports::run_dir::RunDir;
use crate::reports::{RunRecord, compare_dir_name, write_comparison, write_report_folder};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Arguments of `emofuse report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Finished run folders (`runs/<name>`; a bare name is also looked up under `runs/`). One
    /// run: its report folder is written again. Several: they are compared.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Output folder. Default: `<reports_dir>/<name>` from the run's config.toml for one run,
    /// `<reports_dir>/compare/<name1>_vs_<name2>...` (the first run's `reports_dir`) for several.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `name` alone, when it is not a folder but `runs/<name>` is, means that run.
fn resolve_run(path: &Path) -> PathBuf {
    let under_runs = Path::new("runs").join(path);
    if !path.exists() && path.components().count() == 1 && under_runs.is_dir() {
        under_runs
    } else {
        path.to_path_buf()
    }
}

/// Runs `emofuse report`: writes the report (one run) or the comparison (several) and prints
/// the paths written.
pub fn run(args: &ReportArgs) -> Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|path| RunRecord::load(&resolve_run(path)))
        .collect::<Result<Vec<_>>>()?;
    // Where reports go is the runs' own `output.reports_dir` (their config.toml).
    let reports_dir = |record: &RunRecord| -> Result<PathBuf> {
        let origin = RunDir::new(&record.run_dir).config();
        let experiment =
            Experiment::from_toml_str(&record.config_toml, &[], &origin.display().to_string())?;
        Ok(experiment.output.reports_dir)
    };
    let written = match runs.as_slice() {
        [single] => {
            let dir = match &args.out {
                Some(dir) => dir.clone(),
                None => reports_dir(single)?.join(&single.name),
            };
            println!(
                "report of {} ({}) -> {}",
                single.name,
                single.run_dir.display(),
                dir.display()
            );
            write_report_folder(&dir, &single.report_input())?
        }
        _ => {
            let dir = match &args.out {
                Some(dir) => dir.clone(),
                None => {
                    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
                    reports_dir(&runs[0])?
                        .join("compare")
                        .join(compare_dir_name(&names))
                }
            };
            println!("comparing {} runs -> {}", runs.len(), dir.display());
            write_comparison(&dir, &runs)?
        }
    };
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
