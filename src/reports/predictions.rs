//! `predictions.csv`: one row per evaluated utterance (split, id, true and predicted class,
//! class probabilities), so per-speaker and per-clip results can be computed after the run
//! without the model.

use crate::core::{LabelMap, SplitName};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// One evaluated utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    /// The split it belongs to.
    pub split: SplitName,
    /// The utterance id (a clip's id for pooled speech datasets).
    pub id: String,
    /// True class index.
    pub label: usize,
    /// Predicted class index.
    pub predicted: usize,
    /// Class probabilities, in label-map order.
    pub probabilities: Vec<f32>,
}

/// Writes `rows` as CSV (`split,id,label,predicted,p_<class>...`, class names as in `labels`),
/// atomically.
pub fn write_predictions(path: &Path, rows: &[PredictionRow], labels: &LabelMap) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "split".to_string(),
        "id".into(),
        "label".into(),
        "predicted".into(),
    ];
    header.extend(labels.names().iter().map(|n| format!("p_{n}")));
    writer.write_record(&header)?;
    for row in rows {
        let mut record = vec![
            row.split.as_str().to_string(),
            row.id.clone(),
            labels.names()[row.label].clone(),
            labels.names()[row.predicted].clone(),
        ];
        record.extend(row.probabilities.iter().map(|p| format!("{p:.6}")));
        writer.write_record(&record)?;
    }
    let bytes = writer
        .into_inner()
        .context("cannot write predictions CSV")?;
    crate::io::atomic::write(path, &bytes)
}

/// Reads a file written by [`write_predictions`] for the classes of `labels`; errors name the
/// file and row.
pub fn read_predictions(path: &Path, labels: &LabelMap) -> Result<Vec<PredictionRow>> {
    let shown = path.display();
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {shown}"))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{shown}: no header"))?
        .iter()
        .map(str::to_string)
        .collect();
    let expected = 4 + labels.len();
    if header.len() != expected || header[..4] != ["split", "id", "label", "predicted"] {
        bail!(
            "{shown}: header `{}` is not `split,id,label,predicted` and one probability column for each of the {} classes ({})",
            header.join(","),
            labels.len(),
            labels.names().join(", ")
        );
    }
    let class = |name: &str, line: usize| {
        labels
            .index(name)
            .with_context(|| format!("{shown} row {line}"))
    };
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{shown} row {line}"))?;
        let split = match &record[0] {
            "train" => SplitName::Train,
            "valid" => SplitName::Valid,
            "test" => SplitName::Test,
            other => bail!("{shown} row {line}: split `{other}` is not train, valid or test"),
        };
        let probabilities = (4..record.len())
            .map(|c| {
                record[c].parse::<f32>().with_context(|| {
                    format!("{shown} row {line}: `{}` is not a probability", &record[c])
                })
            })
            .collect::<Result<_>>()?;
        rows.push(PredictionRow {
            split,
            id: record[1].to_string(),
            label: class(&record[2], line)?,
            predicted: class(&record[3], line)?,
            probabilities,
        });
    }
    Ok(rows)
}
