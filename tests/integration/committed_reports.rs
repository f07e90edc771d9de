//! The committed reports of the quickstart family (`reports/quickstart*/report.md`, and the
//! README's table of their test results) against what the committed code produces for them.
//!
//! How: a full quickstart run takes minutes per experiment on CI's two cores, too long for the
//! suite, so each experiment is trained here for its first [`EPOCHS`] epochs only. Every epoch
//! draws its shuffling and dropout from (seed, epoch) alone and the schedule is constant, so
//! those epochs are the first rows of the full run's training table, bit for bit: a report
//! left from an older loop, model or data generator differs there. The rest of a committed
//! report is checked against the code without training: its data table (counts and class
//! weights) against the fresh run's, its experiment section against the committed experiment
//! file resolved today, its checkpoint rule against the fresh run's, and the checkpoint it names
//! against its own table. Comparing with a committed expected file made by the same shortened
//! run was the other choice; it would check the code against itself, not the reports people
//! read.

use crate::{ONE_RUN_AT_A_TIME, repo_path, scratch_dir};
use emofuse::experiment::Experiment;
use emofuse::pipeline::TrainOptions;

/// The experiments whose reports are committed, with their row in the README's table.
const FAMILY: [&str; 3] = [
    "quickstart",
    "quickstart_text_only",
    "quickstart_audio_only",
];

/// Epochs trained by the check (of the experiments' 20).
const EPOCHS: usize = 2;

/// The lines of `md` under the heading `## <name>`, up to the next `## ` heading.
fn section<'a>(md: &'a str, name: &str) -> Vec<&'a str> {
    let heading = format!("## {name}");
    md.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// The rows of the training table (one per epoch), as text.
fn epoch_rows(md: &str) -> Vec<String> {
    section(md, "Training")
        .into_iter()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// The cells of a table row.
fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

/// "Checkpoint evaluated: epoch N (rule)." of a report: (N, rule).
fn checkpoint(md: &str) -> (usize, String) {
    let line = md
        .lines()
        .find_map(|l| l.split("Checkpoint evaluated: epoch ").nth(1))
        .expect("report names its checkpoint");
    let (epoch, rest) = line.split_once(" (").unwrap();
    let rule = rest.split_once(')').unwrap().0;
    (epoch.parse().unwrap(), rule.to_string())
}

/// The TOML block of the "Experiment" section.
fn experiment_toml(md: &str) -> String {
    let lines = section(md, "Experiment");
    let start = lines.iter().position(|l| *l == "```toml").unwrap() + 1;
    let end = start + lines[start..].iter().position(|l| *l == "```").unwrap();
    lines[start..end].iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn committed_quickstart_reports_match_what_the_code_produces() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let dir = scratch_dir("committed-reports");
    for name in FAMILY {
        let committed =
            std::fs::read_to_string(repo_path(&format!("reports/{name}/report.md"))).unwrap();
        let file = repo_path(&format!("experiments/{name}.toml"));

        // The experiment the report shows is the committed file as the code resolves it now.
        let experiment = Experiment::load(&file, &[]).unwrap();
        assert_eq!(
            experiment_toml(&committed),
            experiment.to_toml(),
            "reports/{name}/report.md was made with another experiment than {}: regenerate it \
             (`emofuse train experiments/{name}.toml`)",
            file.display()
        );

        // The README's row is the committed test result.
        let results = section(&committed, "Results");
        let test = results
            .iter()
            .find(|l| l.starts_with("| test |"))
            .expect("a test row");
        let test = cells(test);
        // By column name: reports written before UAR was added lack that column.
        let header = cells(
            results
                .iter()
                .find(|l| l.starts_with("| split |"))
                .expect("a header row"),
        );
        let column = |name: &str| {
            let i = header.iter().position(|h| *h == name).unwrap();
            test[i]
        };
        let test = [
            column("accuracy"),
            column("weighted F1"),
            column("macro F1"),
        ];
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("README has no row for {name}"));
        let row: Vec<String> = cells(row)
            .iter()
            .map(|c| c.trim_matches('*').to_string())
            .collect();
        assert_eq!(
            row[2..5],
            test,
            "README's {name} row against reports/{name}/report.md"
        );

        // The committed table has every epoch, and names the checkpoint its own rule picks.
        let rows = epoch_rows(&committed);
        assert_eq!(rows.len(), experiment.training.epochs, "{name}");
        let (epoch, rule) = checkpoint(&committed);
        let weighted_f1 = |row: &String| -> f64 {
            cells(row)
                .get(5)
                .unwrap_or_else(|| panic!("{name}: no valid weighted F1 column: regenerate"))
                .parse()
                .unwrap()
        };
        let best = rows
            .iter()
            .map(weighted_f1)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            weighted_f1(&rows[epoch - 1]),
            best,
            "{name}: epoch {epoch} is not the best validation weighted F1 of its table"
        );

        // A fresh run of the first epochs, with the committed code.
        let shortened = Experiment::load(
            &file,
            &[
                format!("training.epochs={EPOCHS}"),
                "evaluation.splits=[\"valid\"]".to_string(),
                "evaluation.ablation=false".to_string(),
                format!("output.runs_dir=\"{}\"", dir.join("runs").display()),
                format!("output.reports_dir=\"{}\"", dir.join("reports").display()),
                format!("output.cache_dir=\"{}\"", dir.join("cache").display()),
            ],
        )
        .unwrap();
        let summary = {
            let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            emofuse::pipeline::train(&shortened, TrainOptions::default())
                .unwrap()
                .unwrap()
        };
        let fresh = std::fs::read_to_string(summary.report_dir.join("report.md")).unwrap();
        let stale = format!(
            "reports/{name}/report.md no longer matches what the code produces: regenerate it \
             with `emofuse train experiments/{name}.toml` (and README's table)"
        );
        assert_eq!(
            section(&committed, "Data"),
            section(&fresh, "Data"),
            "{stale}"
        );
        assert_eq!(rows[..EPOCHS], epoch_rows(&fresh)[..], "{stale}");
        assert_eq!(rule, checkpoint(&fresh).1, "{stale}");
    }
}
