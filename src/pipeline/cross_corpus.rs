//! Cross-corpus evaluation: a model trained on one corpus scored on every clip of another,
//! read by its own reader, its emotions carried onto the trained classes (clips of other
//! emotions dropped and counted), its features standardised with the training statistics, per
//! corpus or per speaker. `[data.test]` does it for every fold of a run; `emofuse eval <run>
//! --dataset <kind> --path <dir>` does it for a finished run without retraining
//! ([`score_pooled`] for a k-fold run, also on each fold's own test clips).

use crate::core::events::Observer;
use crate::core::{LabelMap, SplitName};
use crate::data::Utterance;
use crate::data::speech::labels::{ClipFilter, LabelTable, select};
use crate::data::speech::{SpeechClip, natural_cmp};
use crate::evaluation::{SplitMetrics, evaluate};
use crate::experiment::{CrossCorpusConfig, DatasetKind, Experiment, TargetNorm};
use crate::inference::predict::predict;
use crate::pipeline::corpus::{experiment_selection, read_corpus, report_selection};
use crate::pipeline::cv_record::{CrossValRecord, TargetSummary};
use crate::pipeline::trained::{load_run, run_experiment};
use crate::reports::predictions::read_predictions;
use crate::reports::run_dir::RunDir;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The target corpus, read and labelled with the trained classes.
#[derive(Debug, Clone)]
pub struct TargetCorpus {
    /// Its kind.
    pub dataset: DatasetKind,
    /// Its folder or CSV.
    pub path: PathBuf,
    /// The kept clips.
    pub clips: Vec<SpeechClip>,
    /// Their class indices (the trained label map's).
    pub labels: Vec<usize>,
    /// Clips left out, by reason.
    pub dropped: BTreeMap<String, usize>,
    /// How its features are standardised.
    pub feature_norm: TargetNorm,
}

impl TargetCorpus {
    /// Reads `config`'s corpus and labels it with `table` (the trained classes), reporting the
    /// counts and every drop. Errors when no clip is left.
    pub fn load(
        config: &CrossCorpusConfig,
        table: &LabelTable,
        observer: &dyn Observer,
    ) -> Result<Self> {
        let clips = read_corpus(config.dataset, &config.path, "data.test.path", observer)?;
        let mut emotions: Vec<&str> = clips.iter().map(|c| c.emotion.as_str()).collect();
        emotions.sort_unstable();
        emotions.dedup();
        let onto = table.onto_corpus(&emotions, &config.groups)?;
        let selection = select(clips, &onto, &ClipFilter::default());
        report_selection(
            &format!(
                "cross-corpus test set ({:?}, {})",
                config.dataset,
                config.path.display()
            ),
            &selection,
            &onto,
            observer,
        );
        if selection.clips.is_empty() {
            bail!(
                "cross-corpus: no clip of {} maps onto the trained classes ({}); map its emotions with [data.test.groups], e.g. {} = [\"...\"]",
                config.path.display(),
                table.classes.join(", "),
                table.classes[0]
            );
        }
        Ok(Self {
            dataset: config.dataset,
            path: config.path.clone(),
            clips: selection.clips,
            labels: selection.labels,
            dropped: selection.dropped,
            feature_norm: config.feature_norm,
        })
    }

    /// What a record keeps of it.
    pub fn summary(&self, classes: usize) -> TargetSummary {
        let mut class_counts = vec![0; classes];
        for &l in &self.labels {
            class_counts[l] += 1;
        }
        TargetSummary {
            dataset: self.dataset,
            path: self.path.display().to_string(),
            class_counts,
            dropped: self.dropped.clone(),
            feature_norm: self.feature_norm,
        }
    }

    /// The clips as utterances (speakers numbered in natural order), and each clip's
    /// normalisation group for `feature_norm`.
    fn utterances(&self) -> (Vec<Utterance>, Vec<usize>) {
        let mut speakers: Vec<&str> = self.clips.iter().map(|c| c.speaker.as_str()).collect();
        speakers.sort_by(|a, b| natural_cmp(a, b));
        speakers.dedup();
        let index = |s: &str| speakers.iter().position(|x| *x == s).unwrap_or(0);
        let utterances = self
            .clips
            .iter()
            .zip(&self.labels)
            .map(|(c, &label)| Utterance {
                id: c.id.clone(),
                text: c.text.clone(),
                audio: Vec::new(),
                audio_path: Some(c.path.clone()),
                label,
                speaker: index(&c.speaker) as u32,
                turn: None,
            })
            .collect();
        let groups = self
            .clips
            .iter()
            .map(|c| match self.feature_norm {
                TargetNorm::Speaker => index(&c.speaker),
                TargetNorm::Train | TargetNorm::Corpus => 0,
            })
            .collect();
        (utterances, groups)
    }
}

/// Scores the finished run of `experiment` (its folder is `experiment.run_dir()`) on every clip
/// of `target`: metrics with the run's label map, and the predicted class of each clip.
pub fn score_run(
    experiment: &Experiment,
    target: &TargetCorpus,
) -> Result<(SplitMetrics, Vec<usize>)> {
    let trained = load_run(experiment.clone(), None)?;
    check_classes(&trained.labels, target)?;
    let (utterances, groups) = target.utterances();
    let examples = match (target.feature_norm, &trained.setup.scratch) {
        (TargetNorm::Train, _) => None,
        (_, Some(front)) => Some(front.examples_normalised_by_group(&utterances, &groups)?),
        (norm, None) => bail!(
            "data.test.feature_norm = {norm:?} standardises the built-in encoders' features; this run's audio goes through a pretrained encoder, which normalises each waveform itself: use \"train\""
        ),
    };
    let inputs = trained.setup.split_inputs(
        &trained.experiment,
        SplitName::Test,
        &utterances,
        examples,
        &trained.device,
    )?;
    let batch = 2 * trained.experiment.training.batch_size;
    let predictions = predict(
        &trained.model,
        &trained.setup.batcher,
        &inputs,
        batch,
        &trained.device,
        None,
    );
    let metrics = evaluate(&inputs.labels, &predictions.classes, &trained.labels);
    Ok((metrics, predictions.classes))
}

/// The target's labels index the run's classes: a run trained on other classes than the
/// table the target was labelled with cannot be scored on it.
fn check_classes(labels: &LabelMap, target: &TargetCorpus) -> Result<()> {
    if let Some(&bad) = target.labels.iter().find(|&&l| l >= labels.len()) {
        bail!(
            "cross-corpus: a target clip has class {bad} but the run has {} classes ({})",
            labels.len(),
            labels.names().join(", ")
        );
    }
    Ok(())
}

/// One fold of a finished pooled run, scored again.
#[derive(Debug, Clone)]
pub struct ScoredFold {
    /// Gender group (`all` without `data.per_gender`).
    pub group: String,
    /// Fold number, from 1.
    pub fold: usize,
    /// The fold's run folder.
    pub run: PathBuf,
    /// Its metrics on the clips scored.
    pub metrics: SplitMetrics,
}

/// Scores every fold of the finished pooled run of `experiment` (its top folder's
/// `metrics.json` lists them) on `target`, or, without one, on the fold's own test clips (the
/// test rows of its `predictions.csv`), which gives back the recorded test metrics.
pub fn score_pooled(
    experiment: &Experiment,
    target: Option<&TargetCorpus>,
    observer: &dyn Observer,
) -> Result<Vec<ScoredFold>> {
    let top = RunDir::new(experiment.run_dir());
    let path = top.metrics_json();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} has no metrics.json: train the experiment first (`emofuse train <experiment>`; `--resume` finishes an interrupted one)",
            top.path().display()
        )
    })?;
    let record: CrossValRecord = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not the record of a k-fold or hold-out run (a run repeated over seeds keeps one per seed-<s>/ folder: pass that folder)",
            path.display()
        )
    })?;
    // Without a target, each fold's own test clips, by id, from the corpus as trained.
    let own = match target {
        Some(_) => None,
        None => Some(experiment_selection(experiment, observer)?.1),
    };
    let mut scored = Vec::new();
    for fold in &record.folds {
        let run = PathBuf::from(&fold.run);
        let fold_experiment = run_experiment(&run)?;
        let (metrics, _) = match (target, &own) {
            (Some(t), _) => score_run(&fold_experiment, t)?,
            (None, Some(selection)) => {
                let labels = fold_experiment.label_map()?;
                let ids: BTreeMap<String, ()> =
                    read_predictions(&RunDir::new(&run).predictions(), &labels)?
                        .into_iter()
                        .filter(|r| r.split == SplitName::Test)
                        .map(|r| (r.id, ()))
                        .collect();
                let keep: Vec<usize> = (0..selection.clips.len())
                    .filter(|&i| ids.contains_key(&selection.clips[i].id))
                    .collect();
                if keep.len() != ids.len() {
                    bail!(
                        "{}: {} of its {} test clips are not in {} any more; score it on the data it was trained on",
                        run.display(),
                        ids.len() - keep.len(),
                        ids.len(),
                        experiment.dataset_path()?.display()
                    );
                }
                let own_test = TargetCorpus {
                    dataset: experiment.data.dataset,
                    path: experiment.dataset_path()?,
                    clips: keep.iter().map(|&i| selection.clips[i].clone()).collect(),
                    labels: keep.iter().map(|&i| selection.labels[i]).collect(),
                    dropped: BTreeMap::new(),
                    feature_norm: TargetNorm::Train,
                };
                score_run(&fold_experiment, &own_test)?
            }
            (None, None) => unreachable!("own clips are read when there is no target"),
        };
        scored.push(ScoredFold {
            group: fold.group.clone(),
            fold: fold.fold,
            run,
            metrics,
        });
    }
    Ok(scored)
}
