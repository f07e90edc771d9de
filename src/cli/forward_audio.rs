//! `emofuse forward audio`: run a pretrained Wav2Vec2 encoder on waveforms (a safetensors file or
//! audio files) and save its outputs (safetensors).

use crate::audio::{AudioOptions, NormalizeOver, fix_length, load_clip, normalize};
use crate::cli::f32_values;
use crate::core::backend;
use crate::core::{BackendKind, Precision};
use crate::io::safetensors::{NamedArray, SafetensorsFile, write};
use crate::models::hub::config::read_json;
use crate::models::nn::masked_mean_channels_last;
use crate::models::wav2vec2::{FeatExtractNorm, Wav2Vec2Config, Wav2Vec2Input, Wav2Vec2Model};
use anyhow::{Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Arguments of `emofuse forward audio`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["inputs", "audio"])))]
pub struct ForwardAudioArgs {
    /// Model folder in the HuggingFace layout (config.json, model.safetensors, optionally
    /// preprocessor_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Safetensors file with f32 `input_values` [batch, samples] (16 kHz, normalised) and
    /// optionally int64 `attention_mask` [batch, samples] (passed to the model when present).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Audio files (any format emofuse decodes; repeat for a batch): resampled to 16 kHz mono,
    /// padded with zeros to the longest and normalised as the model's feature extractor does.
    #[arg(long, num_args = 1..)]
    pub audio: Vec<PathBuf>,
    /// With --audio: cut (or pad) every clip to this many seconds.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Output file (safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Rows run through the model at once (results do not depend on it).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Backend to run on.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub backend: BackendKind,
    /// Float type to compute in (f16 and bf16 on GPU backends); the outputs are written as f32.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Also print the checkpoint keys the model did not use.
    #[arg(long)]
    pub verbose: bool,
}

/// Model inputs, row-major `[batch, samples]`.
struct Inputs {
    shape: [usize; 2],
    values: Vec<f32>,
    /// Passed to the model when present.
    mask: Option<Vec<i64>>,
    /// Real (unpadded) samples per row: what `pooled` and `frame_lengths` count.
    valid: Vec<usize>,
}

/// The fields of `preprocessor_config.json` (transformers' `Wav2Vec2FeatureExtractor`) that
/// decide how --audio clips are prepared.
#[derive(Debug, Deserialize)]
struct Preprocessor {
    #[serde(default = "yes")]
    do_normalize: bool,
    #[serde(default)]
    return_attention_mask: Option<bool>,
    #[serde(default)]
    sampling_rate: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Runs `emofuse forward audio`.
pub fn run(args: &ForwardAudioArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = backend::device_with(args.backend, args.precision)?;
    let (model, config, report) = Wav2Vec2Model::from_pretrained(&args.model, &device)?;
    eprintln!("{}", report.summary(args.verbose));
    let (inputs, source) = match &args.inputs {
        Some(path) => (read_inputs(path)?, path.display().to_string()),
        None => (load_audio(args, &config)?, "--audio".to_string()),
    };
    config.check_inputs(
        &inputs.shape,
        &inputs.values,
        inputs.mask.as_deref(),
        &source,
    )?;
    if let Some(row) = inputs.valid.iter().position(|&v| config.frames(v) == 0) {
        bail!(
            "{source}: clip {row} has {} samples of audio; the model needs at least {} for one \
             frame",
            inputs.valid[row],
            config.min_samples()
        );
    }
    let mut arrays = encode(&model, &config, &inputs, args.batch_size, &device);
    if args.inputs.is_none() {
        arrays.push(NamedArray::f32(
            "input_values",
            inputs.shape.to_vec(),
            inputs.values.clone(),
        ));
        if let Some(mask) = &inputs.mask {
            arrays.push(NamedArray::i64(
                "attention_mask",
                inputs.shape.to_vec(),
                mask.clone(),
            ));
        }
    }
    write(&args.out, &arrays)?;
    eprintln!(
        "wrote {} ({} clips x {} samples -> {} frames, {} hidden states{})",
        args.out.display(),
        inputs.shape[0],
        inputs.shape[1],
        config.frames(inputs.shape[1]),
        config.num_layers + 1,
        if inputs.mask.is_some() {
            ", attention mask passed to the model"
        } else {
            ", no attention mask"
        }
    );
    Ok(())
}

fn read_inputs(path: &Path) -> Result<Inputs> {
    let file = SafetensorsFile::open(path)?;
    let (shape, values) = file.f32("input_values")?;
    let Ok(shape): Result<[usize; 2], _> = shape.clone().try_into() else {
        bail!(
            "{}: input_values must be [batch, samples], found shape {shape:?}",
            path.display()
        );
    };
    let mask = file
        .contains("attention_mask")
        .then(|| file.i64_shaped_like("attention_mask", "input_values", &shape))
        .transpose()?;
    let valid = match &mask {
        Some(mask) => mask
            .chunks(shape[1].max(1))
            .map(|row| row.iter().filter(|&&m| m == 1).count())
            .collect(),
        None => vec![shape[1]; shape[0]],
    };
    Ok(Inputs {
        shape,
        values,
        mask,
        valid,
    })
}

/// Decodes, resamples, pads and normalises the --audio files as transformers'
/// `Wav2Vec2FeatureExtractor` does for this model: with `return_attention_mask` (from
/// `preprocessor_config.json`, else true exactly when `feat_extract_norm` is `layer`, as on the
/// hub) the clips are normalised over their own samples and the mask is passed to the model;
/// without it (wav2vec2-base) they are padded first and normalised over the padded length, and
/// the model sees no mask.
fn load_audio(args: &ForwardAudioArgs, config: &Wav2Vec2Config) -> Result<Inputs> {
    let preprocessor_path = args.model.join("preprocessor_config.json");
    let preprocessor: Option<Preprocessor> = if preprocessor_path.is_file() {
        Some(read_json(&preprocessor_path)?)
    } else {
        None
    };
    if let Some(rate) = preprocessor.as_ref().and_then(|p| p.sampling_rate)
        && rate != 16_000
    {
        bail!(
            "{}: sampling_rate {rate} is not supported (emofuse feeds Wav2Vec2 16 kHz audio)",
            preprocessor_path.display()
        );
    }
    let with_mask = preprocessor
        .as_ref()
        .and_then(|p| p.return_attention_mask)
        .unwrap_or(config.feat_extract_norm == FeatExtractNorm::Layer);
    let do_normalize = preprocessor.as_ref().is_none_or(|p| p.do_normalize);
    let options = AudioOptions {
        sample_rate: 16_000,
        max_seconds: args.max_seconds,
        normalize: None,
    };
    let mut clips = Vec::with_capacity(args.audio.len());
    for path in &args.audio {
        let loaded = load_clip(path, &options)?;
        for warning in &loaded.warnings {
            eprintln!("{}: {warning}", path.display());
        }
        clips.push(loaded.clip);
    }
    let samples = clips.iter().map(|c| c.samples.len()).max().unwrap_or(0);
    let mut values = Vec::with_capacity(clips.len() * samples);
    let mut mask = Vec::with_capacity(clips.len() * samples);
    let mut valid = Vec::with_capacity(clips.len());
    for clip in clips {
        let real = clip.valid;
        let mut padded = fix_length(clip.samples, samples);
        padded.valid = real;
        if do_normalize {
            let over = if with_mask {
                NormalizeOver::Valid
            } else {
                NormalizeOver::Padded
            };
            normalize(&mut padded, over);
        }
        values.extend(padded.samples);
        mask.extend((0..samples).map(|i| i64::from(i < real)));
        valid.push(real);
    }
    Ok(Inputs {
        shape: [valid.len(), samples],
        values,
        mask: with_mask.then_some(mask),
        valid,
    })
}

/// Runs the model over `inputs` in chunks of rows; returns the output arrays.
fn encode(
    model: &Wav2Vec2Model,
    config: &Wav2Vec2Config,
    inputs: &Inputs,
    batch_size: usize,
    device: &Device,
) -> Vec<NamedArray> {
    let [batch, samples] = inputs.shape;
    let frames = config.frames(samples);
    let hidden = config.hidden_size;
    let conv_out = config.conv_dim.last().copied().unwrap_or(0);
    let states = config.num_layers + 1;
    let mut per_state: Vec<Vec<f32>> = vec![Vec::with_capacity(batch * frames * hidden); states];
    let mut extract = Vec::with_capacity(batch * frames * conv_out);
    let mut last = Vec::with_capacity(batch * frames * hidden);
    let mut pooled = Vec::with_capacity(batch * hidden);
    for start in (0..batch).step_by(batch_size) {
        let rows = batch_size.min(batch - start);
        let range = start * samples..(start + rows) * samples;
        let values = Tensor::<2>::from_data(
            TensorData::new(inputs.values[range.clone()].to_vec(), [rows, samples]),
            device,
        );
        let mut input = Wav2Vec2Input::new(values).with_hidden_states(true);
        if let Some(mask) = &inputs.mask {
            input = input.with_attention_mask(Tensor::<2, Int>::from_data(
                TensorData::new(mask[range].to_vec(), [rows, samples]),
                device,
            ));
        }
        let output = model.forward(input);
        let rows_pooled = if inputs.mask.is_none()
            && inputs.valid[start..start + rows]
                .iter()
                .any(|&v| v < samples)
        {
            // Padded audio without a model mask (wav2vec2-base): the model saw the padding, but
            // the utterance vector averages only the frames of real audio.
            let sample_mask: Vec<i64> = inputs.valid[start..start + rows]
                .iter()
                .flat_map(|&v| (0..samples).map(move |i| i64::from(i < v)))
                .collect();
            let sample_mask =
                Tensor::<2, Int>::from_data(TensorData::new(sample_mask, [rows, samples]), device);
            masked_mean_channels_last(
                output.last_hidden_state.clone(),
                Some(config.frame_mask(sample_mask, frames)),
            )
        } else {
            output.pooled
        };
        for (all, state) in per_state.iter_mut().zip(output.hidden_states) {
            all.extend(f32_values(state.into_data()));
        }
        extract.extend(f32_values(output.extract_features.into_data()));
        last.extend(f32_values(output.last_hidden_state.into_data()));
        pooled.extend(f32_values(rows_pooled.into_data()));
    }
    let frame_lengths = inputs
        .valid
        .iter()
        .map(|&v| config.frames(v) as i64)
        .collect();
    vec![
        NamedArray::f32("extract_features", vec![batch, frames, conv_out], extract),
        NamedArray::f32("last_hidden_state", vec![batch, frames, hidden], last),
        NamedArray::f32(
            "hidden_states",
            vec![states, batch, frames, hidden],
            per_state.concat(),
        ),
        NamedArray::f32("pooled", vec![batch, hidden], pooled),
        NamedArray::i64("frame_lengths", vec![batch], frame_lengths),
    ]
}
