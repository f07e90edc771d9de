//! `emofuse features`: waveforms, log-mel spectrograms or MFCCs of audio files, written to
//! `.npy` (one input) or `.safetensors` (one tensor per input).

use crate::audio::augment::{Augmentation, Transform};
use crate::audio::{AudioOptions, NormalizeOver};
use crate::features::LogMelConfig;
use crate::features::extract::{ArrayKind, FeatureArray, FeatureSpec, collect_inputs, extract};
use crate::io::safetensors::NamedArray;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `emofuse features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// What to compute.
    #[arg(value_enum)]
    pub kind: ArrayKind,
    /// Audio files or folders (searched recursively). A file that cannot be read (corrupt,
    /// NaN samples, a decoder crash) does not stop the others: they are written, then each
    /// failed file is listed with its reason, and the command exits with status 1 and the
    /// count of failed files.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Output file: `.npy` (one input) or `.safetensors` (one tensor per input name).
    #[arg(long)]
    pub out: PathBuf,
    /// Resample to this rate in Hz; 0 keeps each file's own rate.
    #[arg(long, default_value_t = 16_000)]
    pub sample_rate: u32,
    /// Cut or zero-pad every clip to this many seconds (default: keep whole clips).
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Zero-mean unit-variance normalisation of the waveform (as the Wav2Vec2 feature
    /// extractor): over the `padded` clip (wav2vec2-base-960h) or the `valid` samples only.
    #[arg(long, value_enum)]
    pub normalize: Option<NormalizeArg>,
    /// MFCC coefficients.
    #[arg(long, default_value_t = 20)]
    pub n_mfcc: usize,
    /// FFT size (and window length) in samples.
    #[arg(long, default_value_t = 2048)]
    pub n_fft: usize,
    /// Hop between frames in samples.
    #[arg(long, default_value_t = 512)]
    pub hop_length: usize,
    /// Mel bands.
    #[arg(long, default_value_t = 128)]
    pub n_mels: usize,
    /// Lowest mel filter edge in Hz.
    #[arg(long, default_value_t = 0.0)]
    pub fmin: f32,
    /// Highest mel filter edge in Hz (default: half the sample rate).
    #[arg(long)]
    pub fmax: Option<f32>,
    /// Dynamic range below the clip's maximum, in dB; 0 turns the clamp off.
    #[arg(long, default_value_t = 80.0)]
    pub top_db: f32,
    /// Average over time: one vector per clip (the RAVDESS study's input).
    #[arg(long)]
    pub mean: bool,
    /// Preview an augmentation, applied in the order given, e.g.
    /// `noise=20,pitch=-2,speed=1.1,shift=0.1,gain=1.5` (SNR dB, semitones, factor, seconds,
    /// factor).
    #[arg(long, value_name = "SPEC")]
    pub augment: Option<String>,
    /// Seed of the augmentation noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `--normalize` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NormalizeArg {
    /// Statistics over the padded clip.
    Padded,
    /// Statistics over the valid samples.
    Valid,
}

/// Runs `emofuse features`.
pub fn run(args: &FeaturesArgs) -> Result<()> {
    let format = OutputFormat::of(&args.out)?;
    let inputs = collect_inputs(&args.input)?;
    if format == OutputFormat::Npy && inputs.len() > 1 {
        bail!(
            "{} inputs but {} is a .npy file, which holds one array: write a .safetensors file \
             (one tensor per input) instead",
            inputs.len(),
            args.out.display()
        );
    }
    let spec = spec_of(args)?;

    let bar = if std::io::stderr().is_terminal() && inputs.len() > 1 {
        ProgressBar::new(inputs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("features [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template"),
    );
    let results: Vec<(String, PathBuf, Result<FeatureArray>)> = inputs
        .into_par_iter()
        .map(|(name, path)| {
            let result = extract(&path, &spec);
            bar.inc(1);
            (name, path, result)
        })
        .collect();
    bar.finish_and_clear();

    let mut arrays = BTreeMap::new();
    let mut failures = Vec::new();
    for (name, path, result) in results {
        match result {
            Ok(array) => {
                for warning in &array.warnings {
                    eprintln!("warning: {}: {warning}", path.display());
                }
                arrays.insert(name, array);
            }
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    let written = arrays.len();
    if written > 0 {
        write(&args.out, format, arrays, args)?;
        eprintln!("wrote {written} array(s) to {}", args.out.display());
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} input(s) could not be read (listed above); the others were written",
            failures.len(),
            failures.len() + written
        );
    }
    Ok(())
}

fn spec_of(args: &FeaturesArgs) -> Result<FeatureSpec> {
    if args.n_fft == 0 || args.hop_length == 0 || args.n_mels == 0 {
        bail!("--n-fft, --hop-length and --n-mels must be positive");
    }
    if args.n_mfcc == 0 || args.n_mfcc > args.n_mels {
        bail!(
            "--n-mfcc {} must be between 1 and --n-mels ({})",
            args.n_mfcc,
            args.n_mels
        );
    }
    if let Some(seconds) = args.max_seconds
        && (seconds.is_nan() || seconds <= 0.0)
    {
        bail!("--max-seconds must be positive");
    }
    if args.mean && args.kind == ArrayKind::Waveform {
        bail!("--mean applies to mfcc and logmel, not to waveform");
    }
    Ok(FeatureSpec {
        kind: args.kind,
        audio: AudioOptions {
            sample_rate: args.sample_rate,
            max_seconds: args.max_seconds,
            normalize: args.normalize.map(|n| match n {
                NormalizeArg::Padded => NormalizeOver::Padded,
                NormalizeArg::Valid => NormalizeOver::Valid,
            }),
        },
        logmel: LogMelConfig {
            n_fft: args.n_fft,
            hop_length: args.hop_length,
            n_mels: args.n_mels,
            fmin: args.fmin,
            fmax: args.fmax,
            top_db: (args.top_db > 0.0).then_some(args.top_db),
            ..LogMelConfig::librosa(args.sample_rate)
        },
        n_mfcc: args.n_mfcc,
        mean: args.mean,
        augment: args.augment.as_deref().map(parse_augment).transpose()?,
        seed: args.seed,
    })
}

/// Parses `noise=20,pitch=-2,...` into transforms applied in the order given.
pub fn parse_augment(spec: &str) -> Result<Augmentation> {
    let transforms = spec
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .with_context(|| format!("--augment: `{part}` is not KEY=VALUE (e.g. noise=20)"))?;
            let value: f64 = value
                .trim()
                .parse()
                .with_context(|| format!("--augment: `{value}` in `{part}` is not a number"))?;
            Ok(match key.trim() {
                "noise" => Transform::Noise(value),
                "pitch" => Transform::Pitch(value),
                "speed" if value > 0.0 => Transform::Speed(value),
                "shift" => Transform::Shift(value),
                "gain" => Transform::Gain(value),
                "speed" => bail!("--augment: speed must be positive"),
                other => bail!(
                    "--augment: unknown transform `{other}` (expected noise, pitch, speed, shift \
                     or gain)"
                ),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if transforms.is_empty() {
        bail!("--augment is empty: give e.g. noise=20,pitch=2");
    }
    Ok(Augmentation { transforms })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputFormat {
    Npy,
    Safetensors,
}

impl OutputFormat {
    fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => Ok(Self::Npy),
            Some("safetensors") => Ok(Self::Safetensors),
            _ => bail!(
                "--out {}: expected a .npy or .safetensors file name",
                path.display()
            ),
        }
    }
}

fn write(
    out: &Path,
    format: OutputFormat,
    arrays: BTreeMap<String, FeatureArray>,
    args: &FeaturesArgs,
) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match format {
        OutputFormat::Npy => {
            let array = arrays.values().next().expect("one array");
            crate::io::npy::write_f32(out, &array.shape, &array.data)
        }
        OutputFormat::Safetensors => {
            let mut metadata = BTreeMap::new();
            metadata.insert(
                "kind".to_string(),
                format!("{:?}", args.kind).to_lowercase(),
            );
            metadata.insert(
                "layout".to_string(),
                match (args.kind, args.mean) {
                    (ArrayKind::Waveform, _) => "[samples]",
                    (_, true) => "[coefficients]",
                    (_, false) => "[coefficients, frames]",
                }
                .to_string(),
            );
            let rates: std::collections::BTreeSet<u32> =
                arrays.values().map(|a| a.sample_rate).collect();
            if rates.len() == 1 {
                metadata.insert("sample_rate".into(), rates.first().unwrap().to_string());
            }
            let valid: BTreeMap<&str, usize> = arrays
                .iter()
                .filter_map(|(name, a)| a.valid.map(|v| (name.as_str(), v)))
                .collect();
            if !valid.is_empty() {
                metadata.insert("valid_samples".into(), serde_json::to_string(&valid)?);
            }
            // Moved, not copied: the arrays can be the size of a whole corpus.
            let tensors: Vec<NamedArray> = arrays
                .into_iter()
                .map(|(name, a)| NamedArray::f32(name, a.shape, a.data))
                .collect();
            crate::io::safetensors::write_with_metadata(out, &tensors, metadata)
        }
    }
}
