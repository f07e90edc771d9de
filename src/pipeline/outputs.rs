//! Files a finished run leaves: `metrics.csv` and `metrics.json` in the run folder, figures and
//! `report.md` in the report folder.

use crate::experiment::Experiment;
use crate::io::atomic;
use crate::reports::markdown::ReportInput;
use crate::reports::run_dir::RunDir;
use crate::reports::{metrics_json, write_report_folder};
use anyhow::Result;
use std::path::Path;

/// Writes every output of a run described by `report`: `metrics.csv` and `metrics.json` into
/// the experiment's run folder, the report folder (see [`write_report_folder`]).
pub fn write_outputs(experiment: &Experiment, report: &ReportInput) -> Result<()> {
    let run = RunDir::new(experiment.run_dir());
    write_metrics_csv(&run.metrics_csv(), report)?;
    let metrics = metrics_json(report, experiment.run.seed)?;
    atomic::write(
        &run.metrics_json(),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    write_report_folder(&experiment.report_dir(), report)?;
    Ok(())
}

/// One line per epoch, for spreadsheets and plotting tools.
fn write_metrics_csv(path: &Path, report: &ReportInput) -> Result<()> {
    let mut csv = String::from(
        "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,valid_weighted_f1,\
         valid_macro_f1,learning_rate\n",
    );
    for r in report.history {
        csv += &format!(
            "{},{},{},{},{},{},{},{}\n",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.valid_loss,
            r.valid_accuracy,
            r.valid_weighted_f1,
            r.valid_macro_f1,
            r.learning_rate
        );
    }
    atomic::write(path, csv.as_bytes())
}
