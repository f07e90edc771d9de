//! `emofuse forward`: run a pretrained encoder on inputs and save its outputs (safetensors), for
//! parity checks against transformers and for feature extraction.

use crate::cli::f32_values;
use crate::core::backend;
use crate::core::{BackendKind, Precision};
use crate::data::tokenizer::{DEFAULT_MAX_LEN, HfTokenizer};
use crate::io::safetensors::{NamedArray, SafetensorsFile, write};
use crate::models::roberta::{RobertaConfig, RobertaInput, RobertaModel};
use anyhow::{Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::path::{Path, PathBuf};

/// `emofuse forward` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ForwardCommand {
    /// A RoBERTa / BERT encoder from a HuggingFace folder (config.json, model.safetensors,
    /// tokenizer.json). Writes `last_hidden_state` [batch, tokens, hidden], `hidden_states`
    /// [layers + 1, batch, tokens, hidden] (embedding output first) and `pooled` [batch, hidden]
    /// (first-token vector) as f32; with --text also the `input_ids` and `attention_mask` used.
    Text(ForwardTextArgs),
    /// A Wav2Vec2 encoder from a HuggingFace folder (config.json, model.safetensors). Writes
    /// `extract_features` [batch, frames, conv_dim] (conv features after the feature
    /// projection's LayerNorm, as transformers returns them), `last_hidden_state` [batch, frames,
    /// hidden], `hidden_states` [layers + 1, batch, frames, hidden] (input of the first layer
    /// first), `pooled` [batch, hidden] (mean over the frames of real audio) as f32 and
    /// `frame_lengths` [batch] (int64); with --audio also the `input_values` (and
    /// `attention_mask`, when the model gets one) used.
    Audio(crate::cli::forward_audio::ForwardAudioArgs),
}

/// Arguments of `emofuse forward text`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["inputs", "text"])))]
pub struct ForwardTextArgs {
    /// Model folder in the HuggingFace layout.
    #[arg(long)]
    pub model: PathBuf,
    /// Safetensors file with int64 `input_ids` and `attention_mask` [batch, tokens] (and
    /// optionally `token_type_ids`).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Text to encode with the model's tokenizer (repeat for a batch).
    #[arg(long, num_args = 1..)]
    pub text: Vec<String>,
    /// Output file (safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Maximum tokens per text with --text, special tokens included.
    #[arg(long, default_value_t = DEFAULT_MAX_LEN)]
    pub max_len: usize,
    /// Rows run through the model at once.
    #[arg(long, default_value_t = 16)]
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

/// Model inputs, row-major `[batch, tokens]`.
struct Inputs {
    shape: [usize; 2],
    ids: Vec<i64>,
    mask: Vec<i64>,
    token_types: Option<Vec<i64>>,
}

/// Runs `emofuse forward`.
pub fn run(command: &ForwardCommand) -> Result<()> {
    match command {
        ForwardCommand::Text(args) => text(args),
        ForwardCommand::Audio(args) => crate::cli::forward_audio::run(args),
    }
}

fn text(args: &ForwardTextArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = backend::device_with(args.backend, args.precision)?;
    let (model, config, report) = RobertaModel::from_pretrained(&args.model, &device)?;
    eprintln!("{}", report.summary(args.verbose));
    let (inputs, source) = match &args.inputs {
        Some(path) => (read_inputs(path)?, path.display().to_string()),
        None => {
            let tokenizer = HfTokenizer::from_dir(&args.model)?;
            let batch = tokenizer.encode_batch(&args.text, args.max_len)?;
            let inputs = Inputs {
                shape: [batch.batch, batch.tokens],
                ids: batch.input_ids,
                mask: batch.attention_mask,
                token_types: None,
            };
            (inputs, "--text".to_string())
        }
    };
    config.check_inputs(
        &inputs.shape,
        &inputs.ids,
        &inputs.mask,
        inputs.token_types.as_deref(),
        &source,
    )?;
    let mut arrays = encode(&model, &config, &inputs, args.batch_size, &device);
    if args.inputs.is_none() {
        arrays.push(NamedArray::i64(
            "input_ids",
            inputs.shape.to_vec(),
            inputs.ids,
        ));
        arrays.push(NamedArray::i64(
            "attention_mask",
            inputs.shape.to_vec(),
            inputs.mask,
        ));
    }
    write(&args.out, &arrays)?;
    eprintln!(
        "wrote {} ({} x {} tokens, {} hidden states)",
        args.out.display(),
        inputs.shape[0],
        inputs.shape[1],
        config.num_layers + 1
    );
    Ok(())
}

fn read_inputs(path: &Path) -> Result<Inputs> {
    let file = SafetensorsFile::open(path)?;
    let (shape, ids) = file.i64("input_ids")?;
    let Ok(shape): Result<[usize; 2], _> = shape.clone().try_into() else {
        bail!(
            "{}: input_ids must be [batch, tokens], found shape {shape:?}",
            path.display()
        );
    };
    let mask = file.i64_shaped_like("attention_mask", "input_ids", &shape)?;
    let token_types = file
        .contains("token_type_ids")
        .then(|| file.i64_shaped_like("token_type_ids", "input_ids", &shape))
        .transpose()?;
    Ok(Inputs {
        shape,
        ids,
        mask,
        token_types,
    })
}

/// Runs the model over `inputs` in chunks of rows; returns the output arrays.
fn encode(
    model: &RobertaModel,
    config: &RobertaConfig,
    inputs: &Inputs,
    batch_size: usize,
    device: &Device,
) -> Vec<NamedArray> {
    let [batch, tokens] = inputs.shape;
    let hidden = config.hidden_size;
    let states = config.num_layers + 1;
    let mut per_state: Vec<Vec<f32>> = vec![Vec::with_capacity(batch * tokens * hidden); states];
    let mut pooled = Vec::with_capacity(batch * hidden);
    let int = |values: &[i64], rows: usize| {
        Tensor::<2, Int>::from_data(TensorData::new(values.to_vec(), [rows, tokens]), device)
    };
    for start in (0..batch).step_by(batch_size) {
        let rows = batch_size.min(batch - start);
        let range = start * tokens..(start + rows) * tokens;
        let mut input = RobertaInput::new(
            int(&inputs.ids[range.clone()], rows),
            int(&inputs.mask[range.clone()], rows),
        )
        .with_hidden_states(true);
        if let Some(types) = &inputs.token_types {
            input = input.with_token_type_ids(int(&types[range], rows));
        }
        let output = model.forward(input);
        for (all, state) in per_state.iter_mut().zip(output.hidden_states) {
            all.extend(f32_values(state.into_data()));
        }
        pooled.extend(f32_values(output.pooled.into_data()));
    }
    let last = per_state.last().cloned().unwrap_or_default();
    vec![
        NamedArray::f32("last_hidden_state", vec![batch, tokens, hidden], last),
        NamedArray::f32(
            "hidden_states",
            vec![states, batch, tokens, hidden],
            per_state.concat(),
        ),
        NamedArray::f32("pooled", vec![batch, hidden], pooled),
    ]
}
