//! `emofuse export`: a trained run written back in the HuggingFace layout, and read again.
//!
//! Each pretrained encoder is put back together from its frozen trunk and its fine-tuned top
//! ([`RobertaModel::join`], [`Wav2Vec2Model::join`]) and written as a transformers model folder
//! (`config.json`, `model.safetensors` with transformers' key names, the tokenizer or
//! preprocessor files copied). The rest of the model, the head, goes to `head.safetensors`
//! ([`crate::models::fusion::head`]) with `head.json` describing how it computes, and the run's
//! experiment to `emofuse.toml`, so [`load_export`] rebuilds the whole classifier from the
//! folder alone. [`ExportDir`] owns the folder's file names.

use crate::core::Modality;
use crate::core::events::Observer;
use crate::experiment::Experiment;
use crate::io::atomic;
use crate::io::safetensors::{NamedArray, SafetensorsFile};
use crate::models::fusion::head::{head_tensors, load_head};
use crate::models::hub::HubFolder;
use crate::models::hub::export::HubTensors;
use crate::models::hub::safetensors::KeyMapping;
use crate::models::roberta::{RobertaConfig, RobertaModel};
use crate::models::wav2vec2::{Wav2Vec2Config, Wav2Vec2Model};
use crate::pipeline::trained::{TrainedRun, load_run, run_experiment};
use crate::reports::run_dir::RunDir;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// An export folder and the files it holds. Nothing else names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportDir {
    root: PathBuf,
}

impl ExportDir {
    /// The export folder at `root` (not created here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `text/` or `audio/`: that branch's encoder as a transformers model folder.
    pub fn encoder(&self, modality: Modality) -> PathBuf {
        self.root.join(modality.name())
    }

    /// `head.safetensors`: everything of the model outside the pretrained encoders.
    pub fn head(&self) -> PathBuf {
        self.root.join("head.safetensors")
    }

    /// `head.json`: what the head computes, its classes and its tensors.
    pub fn head_json(&self) -> PathBuf {
        self.root.join("head.json")
    }

    /// `emofuse.toml`: the run's experiment, with which [`load_export`] rebuilds the model.
    pub fn experiment(&self) -> PathBuf {
        self.root.join("emofuse.toml")
    }

    /// The run-folder view of the export, for the scratch front-end files (`vocab.json`,
    /// `front_end.json`), which keep their run-folder names.
    pub fn as_run(&self) -> RunDir {
        RunDir::new(&self.root)
    }
}

/// What [`export_run`] wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The export folder.
    pub out: PathBuf,
    /// Per exported encoder: its modality, folder, transformers class and tensor count.
    pub encoders: Vec<(Modality, PathBuf, String, usize)>,
    /// Tensors in `head.safetensors`.
    pub head_tensors: usize,
}

/// The tokenizer files transformers' `AutoTokenizer` reads, copied when present.
const TOKENIZER_FILES: [&str; 7] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
];

/// Writes the run in `run_dir` to the new folder `out` (see the module docs). The folder is
/// written under a temporary name and renamed when complete, so an interrupted export leaves
/// no half folder; an existing `out` is an error (nothing is overwritten).
pub fn export_run(run_dir: &Path, out: &Path, observer: &dyn Observer) -> Result<ExportSummary> {
    if out.exists() {
        bail!(
            "--out {} exists; export writes a new folder: pass another path or remove it",
            out.display()
        );
    }
    let experiment = run_experiment(run_dir)?;
    let run = RunDir::new(run_dir);
    if !run.model().is_file() {
        let folds: Vec<String> = std::fs::read_dir(run_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| RunDir::new(e.path()).model().is_file())
            .map(|e| e.path().display().to_string())
            .collect();
        if !folds.is_empty() {
            bail!(
                "{} holds several runs (folds or seeds) and no model.bpk of its own; export one \
                 of them: {}",
                run_dir.display(),
                folds.join(", ")
            );
        }
    }
    let mut experiment = experiment;
    // The run may have moved since it trained: its folder is where it is now.
    point_at(&mut experiment, run_dir);
    let trained = load_run(experiment, None)?;
    observer.info(format!(
        "exporting {} ({})",
        run_dir.display(),
        trained.checkpoint.display()
    ));

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let partial = out.with_file_name(format!(
        "{}.partial",
        out.file_name()
            .context("--out has no folder name")?
            .to_string_lossy()
    ));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let dir = ExportDir::new(&partial);
    let summary = write_export(&trained, &dir, run_dir)?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move {} to {}", partial.display(), out.display()))?;
    // The same files, now under `out`.
    let out_dir = ExportDir::new(out);
    Ok(ExportSummary {
        out: out.to_path_buf(),
        encoders: summary
            .encoders
            .into_iter()
            .map(|(m, _, class, n)| (m, out_dir.encoder(m), class, n))
            .collect(),
        head_tensors: summary.head_tensors,
    })
}

fn write_export(trained: &TrainedRun, dir: &ExportDir, run_dir: &Path) -> Result<ExportSummary> {
    let experiment = &trained.experiment;
    let m = &experiment.model;
    let trunks = &trained.setup.batcher.trunks;
    let mut encoders = Vec::new();
    let mut branches = Vec::new();

    for modality in m.modalities.clone() {
        let checkpoint = match modality {
            Modality::Text => m.text.checkpoint.clone(),
            Modality::Audio => m.audio.checkpoint.clone(),
        };
        let Some(source) = checkpoint else {
            branches.push(json!({
                "modality": modality.name(),
                "encoder": "emofuse built-in (trained from scratch; its tensors are in head.safetensors under the branch's `encoder.` names)",
            }));
            continue;
        };
        let folder = dir.encoder(modality);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let hub = HubFolder::new(&source)?;
        let (class, mapping, mut tensors) = match modality {
            Modality::Text => {
                let config = RobertaConfig::from_hf_file(&hub.config()?)?;
                let model =
                    RobertaModel::join(trunks.text.clone(), trained.model.text_stage().cloned())?;
                (
                    config.model_name(),
                    config.key_mapping(),
                    model.hub_tensors(),
                )
            }
            Modality::Audio => {
                let config = Wav2Vec2Config::from_hf_file(&hub.config()?)?;
                let model = Wav2Vec2Model::join(
                    trunks.audio.clone(),
                    trained.model.audio_stage().cloned(),
                )?;
                (
                    "Wav2Vec2Model".to_string(),
                    config.key_mapping(),
                    model.hub_tensors(),
                )
            }
        };
        keep_unmodelled(&hub, &mapping, &mut tensors)?;
        tensors.write(&folder.join("model.safetensors"))?;
        write_config(&hub, &folder, &class)?;
        let tokenizer = match modality {
            Modality::Text => experiment.data.tokenizer.clone().unwrap_or(source.clone()),
            Modality::Audio => source.clone(),
        };
        copy_support_files(modality, &tokenizer, &source, &folder)?;
        branches.push(json!({
            "modality": modality.name(),
            "encoder": modality.name(),
            "architecture": class,
            "source": source.display().to_string(),
            "pooling": match (modality, m.pooling(modality)) {
                (Modality::Text, crate::models::nn::SequencePooling::Cls) => "first token of last_hidden_state",
                (_, crate::models::nn::SequencePooling::Mean) | (Modality::Audio, _) => "mean of last_hidden_state over valid positions",
            },
            "layer_weighted": matches!(modality, Modality::Text) && trunks.text_layers.is_some()
                || matches!(modality, Modality::Audio) && trunks.audio_layers,
        }));
        encoders.push((modality, folder, class, tensors.arrays().len()));
    }

    let head = head_tensors(&trained.model);
    head.write(&dir.head())?;
    let tensors: serde_json::Map<String, Value> = head
        .arrays()
        .iter()
        .map(|a| (a.name.clone(), json!(a.shape)))
        .collect();
    let description = json!({
        "format": "emofuse late-fusion head",
        "emofuse_version": env!("CARGO_PKG_VERSION"),
        "run": run_dir.display().to_string(),
        "classes": trained.labels.names(),
        "branches": branches,
        "computation": [
            "per branch, in the order of `branches`: the encoder's utterance vector (`pooling`)",
            "with `<branch>.projection.*`: linear, LayerNorm (eps 1e-5), exact (erf) GELU",
            "the branch vectors concatenated in that order",
            "with `hidden.*`: linear, exact GELU",
            "`output.*`: linear to one logit per class; softmax gives the probabilities",
        ],
        "layout": "PyTorch: linear weights [out, in]; norms' scale and shift named weight and bias",
        "tensors": tensors,
    });
    atomic::write(
        &dir.head_json(),
        serde_json::to_string_pretty(&description)?.as_bytes(),
    )?;
    atomic::write(&dir.experiment(), trained.experiment.to_toml().as_bytes())?;
    let run = RunDir::new(run_dir);
    for (from, to) in [
        (run.vocab(), dir.as_run().vocab()),
        (run.front_end(), dir.as_run().front_end()),
    ] {
        if from.is_file() {
            copy(&from, &to)?;
        }
    }
    Ok(ExportSummary {
        out: dir.path().to_path_buf(),
        encoders,
        head_tensors: head.arrays().len(),
    })
}

/// Copies the tensors of the source checkpoint that belong to the base model but that emofuse
/// does not compute with (BERT's / RoBERTa's `pooler.*`, Wav2Vec2's `masked_spec_embed`), so
/// transformers loads the export without newly initialised weights. Keys are named as the
/// loader names them (`mapping`: the head prefix stripped).
fn keep_unmodelled(
    source: &HubFolder,
    mapping: &KeyMapping,
    tensors: &mut HubTensors,
) -> Result<()> {
    let path = source.weights()?;
    let file = SafetensorsFile::open(&path)?;
    let (names, _) = mapping.map(&file.names().collect::<Vec<_>>(), &path)?;
    for (name, key) in names {
        if (name.starts_with("pooler.") || name == "masked_spec_embed") && !tensors.contains(&name)
        {
            let (shape, values) = file.f32(&key)?;
            tensors.array(NamedArray::f32(name, shape, values));
        }
    }
    Ok(())
}

/// The source `config.json` with `architectures` naming the base class written.
fn write_config(source: &HubFolder, folder: &Path, class: &str) -> Result<()> {
    let path = source.config()?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let object = config
        .as_object_mut()
        .with_context(|| format!("{} is not a JSON object", path.display()))?;
    object.insert("architectures".into(), json!([class]));
    atomic::write(
        &folder.join("config.json"),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )
}

/// The tokenizer files (text; from `tokenizer`, a folder or a `tokenizer.json`) or
/// `preprocessor_config.json` (audio) that exist, copied into `folder`.
fn copy_support_files(
    modality: Modality,
    tokenizer: &Path,
    source: &Path,
    folder: &Path,
) -> Result<()> {
    match modality {
        Modality::Text if tokenizer.is_file() => copy(tokenizer, &folder.join("tokenizer.json")),
        Modality::Text => {
            for name in TOKENIZER_FILES {
                let from = tokenizer.join(name);
                if from.is_file() {
                    copy(&from, &folder.join(name))?;
                }
            }
            Ok(())
        }
        Modality::Audio => {
            let from = source.join("preprocessor_config.json");
            if from.is_file() {
                copy(&from, &folder.join("preprocessor_config.json"))?;
            }
            Ok(())
        }
    }
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    atomic::write(to, &bytes)
}

/// The classifier of an export folder, rebuilt from it alone: `emofuse.toml` with the
/// encoders' checkpoints pointed at the export's `text/` and `audio/`, the encoders split as
/// in training (so the trainable tops hold the fine-tuned weights), and `head.safetensors`
/// loaded into the rest.
pub fn load_export(dir: &Path) -> Result<TrainedRun> {
    let export = ExportDir::new(dir);
    let path = export.experiment();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is not an export folder (no emofuse.toml); make one with `emofuse export --run \
             <run> --out <folder>`",
            dir.display()
        )
    })?;
    let mut experiment: Experiment =
        Experiment::from_toml_str(&text, &[], &path.display().to_string())?;
    for modality in experiment.model.modalities.clone() {
        let branch = match modality {
            Modality::Text => &mut experiment.model.text,
            Modality::Audio => &mut experiment.model.audio,
        };
        if branch.checkpoint.is_some() {
            branch.checkpoint = Some(export.encoder(modality));
        }
    }
    if experiment.model.text.checkpoint.is_some() && experiment.data.tokenizer.is_some() {
        experiment.data.tokenizer = Some(export.encoder(Modality::Text));
    }
    point_at(&mut experiment, dir);
    let mut run = crate::pipeline::trained::build_run(experiment)?;
    run.model = load_head(run.model, &export.head())?;
    run.checkpoint = export.head();
    Ok(run)
}

/// Makes `experiment.run_dir()` be `folder`.
fn point_at(experiment: &mut Experiment, folder: &Path) {
    let parent = folder.parent().unwrap_or(Path::new("."));
    experiment.output.runs_dir = parent.to_path_buf();
    experiment.output.name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
}
