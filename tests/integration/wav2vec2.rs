//! The Wav2Vec2 encoder against transformers (fixtures from
//! tests/fixtures/wav2vec2/make_fixtures.py): both architectures, both weight-norm namings,
//! prefixed (CTC) and unprefixed checkpoints, padded batches with and without attention mask,
//! the group-norm padding caveat, frame lengths, load errors and `emofuse forward audio`.

use crate::{max_abs_diff, repo_path, run_emofuse, scratch_dir};
use burn::tensor::{Device, Int, Tensor, TensorData};
use emofuse::io::safetensors::{NamedArray, SafetensorsFile, write};
use emofuse::models::finetune::TrainLayers;
use emofuse::models::wav2vec2::{
    AudioState, Wav2Vec2Config, Wav2Vec2Input, Wav2Vec2Model, Wav2Vec2Output,
};
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-4;

pub(crate) fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures/wav2vec2").join(name)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().unwrap()
}

fn load(model: &str) -> (Wav2Vec2Model, Wav2Vec2Config) {
    let (model, config, _) = Wav2Vec2Model::from_pretrained(&fixture(model), &Device::flex())
        .unwrap_or_else(|e| panic!("{model}: {e:#}"));
    (model, config)
}

/// Runs `model` on the reference batch, with the attention mask when `masked`.
fn run(model: &Wav2Vec2Model, reference: &SafetensorsFile, masked: bool) -> Wav2Vec2Output {
    model.forward(reference_input(reference, masked, &Device::flex()))
}

/// The reference batch on `device`, with the attention mask when `masked`.
pub(crate) fn reference_input(
    reference: &SafetensorsFile,
    masked: bool,
    device: &Device,
) -> Wav2Vec2Input {
    let (shape, input) = reference.f32("input_values").unwrap();
    let mut batch = Wav2Vec2Input::new(Tensor::from_data(TensorData::new(input, shape), device))
        .with_hidden_states(true);
    if masked {
        let (shape, mask) = reference.i64("attention_mask").unwrap();
        batch = batch.with_attention_mask(Tensor::<2, Int>::from_data(
            TensorData::new(mask, shape),
            device,
        ));
    }
    batch
}

/// Compares every output with transformers' (`{tag}_*` arrays of `reference`); returns the
/// largest difference of each, after asserting they are within tolerance.
fn check_outputs(
    label: &str,
    output: Wav2Vec2Output,
    reference: &SafetensorsFile,
    tag: &str,
) -> Vec<(&'static str, f32)> {
    let expected = |name: &str| reference.f32(&format!("{tag}_{name}")).unwrap();
    let mut diffs = Vec::new();
    let (shape, want) = expected("extract_features");
    assert_eq!(output.extract_features.dims().to_vec(), shape);
    diffs.push((
        "extract_features",
        max_abs_diff(&values(output.extract_features), &want),
    ));
    let (shape, want) = expected("last_hidden_state");
    assert_eq!(output.last_hidden_state.dims().to_vec(), shape);
    diffs.push((
        "last_hidden_state",
        max_abs_diff(&values(output.last_hidden_state), &want),
    ));
    let (shape, want) = expected("hidden_states");
    assert_eq!(output.hidden_states.len(), shape[0]);
    let per_state = want.len() / shape[0];
    let mut worst = 0.0f32;
    for (i, state) in output.hidden_states.into_iter().enumerate() {
        let diff = max_abs_diff(&values(state), &want[i * per_state..(i + 1) * per_state]);
        worst = worst.max(diff);
    }
    diffs.push(("hidden_states", worst));
    let (_, want) = expected("pooled");
    diffs.push(("pooled", max_abs_diff(&values(output.pooled), &want)));
    for (name, diff) in &diffs {
        println!("{label} {tag}: {name}: max abs diff {diff:.2e}");
        assert!(
            *diff <= TOLERANCE,
            "{label} {tag}: {name} differs by {diff}"
        );
    }
    diffs
}

fn check_parity(model: &str, reference: &str) {
    let (encoder, _) = load(model);
    let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
    check_outputs(
        model,
        run(&encoder, &reference, false),
        &reference,
        "nomask",
    );
    check_outputs(model, run(&encoder, &reference, true), &reference, "mask");
}

#[test]
fn group_norm_ctc_checkpoint_with_weight_g_v_matches_transformers() {
    check_parity("group-ctc", "group_reference.safetensors");
    let (_, config, report) =
        Wav2Vec2Model::from_pretrained(&fixture("group-ctc"), &Device::flex()).unwrap();
    assert_eq!(report.stripped_prefix.as_deref(), Some("wav2vec2"));
    assert_eq!(report.unused, ["lm_head.bias", "lm_head.weight"]);
    assert!(report.newly_initialised.is_empty());
    assert!(
        report
            .loaded
            .iter()
            .any(|k| k == "encoder.pos_conv_embed.conv.weight_g")
    );
    assert!(!config.do_stable_layer_norm && !config.conv_bias);
}

#[test]
fn layer_norm_stable_checkpoint_with_parametrizations_matches_transformers() {
    check_parity("layer-bare", "layer_reference.safetensors");
    let (_, config, report) =
        Wav2Vec2Model::from_pretrained(&fixture("layer-bare"), &Device::flex()).unwrap();
    assert_eq!(report.stripped_prefix, None);
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    assert!(
        report
            .loaded
            .iter()
            .any(|k| k == "encoder.pos_conv_embed.conv.parametrizations.weight.original0")
    );
    assert!(config.do_stable_layer_norm && config.conv_bias);
}

/// A copy of fixture model `name` in a scratch folder, its weights rewritten by `edit`.
fn edited_model(name: &str, scratch: &str, edit: impl Fn(&mut Vec<NamedArray>)) -> PathBuf {
    let dir = scratch_dir(scratch);
    std::fs::copy(fixture(name).join("config.json"), dir.join("config.json")).unwrap();
    let file = SafetensorsFile::open(&fixture(name).join("model.safetensors")).unwrap();
    let mut arrays: Vec<NamedArray> = file
        .names()
        .map(|key| {
            let (shape, values) = file.f32(key).unwrap();
            NamedArray::f32(key, shape, values)
        })
        .collect();
    edit(&mut arrays);
    write(&dir.join("model.safetensors"), &arrays).unwrap();
    dir
}

fn rename(arrays: &mut [NamedArray], from: &str, to: &str) {
    for array in arrays {
        array.name = array.name.replace(from, to);
    }
}

/// Largest difference of the last hidden state (with mask) to the reference.
fn last_state_diff(dir: &Path, reference: &str) -> f32 {
    let (model, _, _) = Wav2Vec2Model::from_pretrained(dir, &Device::flex()).unwrap();
    let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
    let output = run(&model, &reference, true);
    let (_, want) = reference.f32("mask_last_hidden_state").unwrap();
    max_abs_diff(&values(output.last_hidden_state), &want)
}

#[test]
fn both_weight_norm_namings_load_into_either_variant() {
    let dir = edited_model("group-ctc", "wav2vec2-group-parametrizations", |arrays| {
        rename(arrays, "weight_g", "parametrizations.weight.original0");
        rename(arrays, "weight_v", "parametrizations.weight.original1");
    });
    let diff = last_state_diff(&dir, "group_reference.safetensors");
    println!("group, parametrizations naming: max abs diff {diff:.2e}");
    assert!(diff <= TOLERANCE, "{diff}");

    let dir = edited_model("layer-bare", "wav2vec2-layer-weight-g-v", |arrays| {
        rename(arrays, "parametrizations.weight.original0", "weight_g");
        rename(arrays, "parametrizations.weight.original1", "weight_v");
        // And with the head prefix, as a CTC checkpoint of the large models.
        for array in arrays.iter_mut() {
            array.name = format!("wav2vec2.{}", array.name);
        }
    });
    let diff = last_state_diff(&dir, "layer_reference.safetensors");
    println!("layer, weight_g/weight_v naming, prefixed: max abs diff {diff:.2e}");
    assert!(diff <= TOLERANCE, "{diff}");
}

#[test]
fn group_norm_padding_changes_valid_frames_as_in_transformers() {
    let device = Device::flex();
    let (model, config) = load("group-ctc");
    let batch_ref = SafetensorsFile::open(&fixture("group_reference.safetensors")).unwrap();
    let singles = SafetensorsFile::open(&fixture("group_single_reference.safetensors")).unwrap();
    let batch = values(run(&model, &batch_ref, false).last_hidden_state);
    let (shape, want_batch) = batch_ref.f32("nomask_last_hidden_state").unwrap();
    let [frames, hidden] = [shape[1], shape[2]];
    let (_, frame_lengths) = batch_ref.i64("frame_lengths").unwrap();
    for row in 0..3 {
        let (shape, clip) = singles.f32(&format!("single{row}_input_values")).unwrap();
        let single = model.forward(Wav2Vec2Input::new(Tensor::from_data(
            TensorData::new(clip, shape.clone()),
            &device,
        )));
        let n = frame_lengths[row] as usize;
        assert_eq!(config.frames(shape[1]), n);
        // Alone, the clip matches transformers alone.
        let (_, want) = singles
            .f32(&format!("single{row}_last_hidden_state"))
            .unwrap();
        let ours_single = values(single.last_hidden_state);
        let diff = max_abs_diff(&ours_single, &want);
        assert!(diff <= TOLERANCE, "clip {row} alone differs by {diff}");
        let (_, want) = singles
            .f32(&format!("single{row}_extract_features"))
            .unwrap();
        assert!(max_abs_diff(&values(single.extract_features), &want) <= TOLERANCE);
        // In the padded batch, its valid frames differ from the clip alone (the GroupNorm
        // statistics include the padding) except for the longest clip: in transformers and
        // in emofuse alike.
        let rows = |all: &[f32]| all[row * frames * hidden..(row * frames + n) * hidden].to_vec();
        let theirs = max_abs_diff(&rows(&want_batch), &want_single(&singles, row));
        let ours = max_abs_diff(&rows(&batch), &ours_single);
        println!(
            "clip {row} ({n} frames): batch vs alone, transformers {theirs:.2e}, emofuse \
             {ours:.2e}"
        );
        if n == frames {
            assert!(theirs <= TOLERANCE && ours <= TOLERANCE);
        } else {
            assert!(theirs > 1e-2 && ours > 1e-2, "{theirs} {ours}");
        }
    }
}

fn want_single(singles: &SafetensorsFile, row: usize) -> Vec<f32> {
    singles
        .f32(&format!("single{row}_last_hidden_state"))
        .unwrap()
        .1
}

#[test]
fn layer_norm_with_attention_mask_gives_each_clip_its_single_result() {
    let device = Device::flex();
    let (model, config) = load("layer-bare");
    let reference = SafetensorsFile::open(&fixture("layer_reference.safetensors")).unwrap();
    let output = run(&model, &reference, true);
    let batch = values(output.last_hidden_state);
    let pooled = values(output.pooled);
    let (shape, input) = reference.f32("input_values").unwrap();
    let samples = shape[1];
    let (_, mask) = reference.i64("attention_mask").unwrap();
    let frames = config.frames(samples);
    let hidden = config.hidden_size;
    for row in 0..shape[0] {
        let valid = mask[row * samples..(row + 1) * samples]
            .iter()
            .filter(|&&m| m == 1)
            .count();
        let clip = input[row * samples..row * samples + valid].to_vec();
        let single = model.forward(Wav2Vec2Input::new(Tensor::from_data(
            TensorData::new(clip, [1, valid]),
            &device,
        )));
        let n = config.frames(valid);
        let diff = max_abs_diff(
            &batch[row * frames * hidden..(row * frames + n) * hidden],
            &values(single.last_hidden_state),
        );
        let pooled_diff = max_abs_diff(
            &pooled[row * hidden..(row + 1) * hidden],
            &values(single.pooled),
        );
        println!("clip {row}: batch (masked) vs alone: {diff:.2e}, pooled {pooled_diff:.2e}");
        assert!(diff <= TOLERANCE && pooled_diff <= TOLERANCE);
    }
}

#[test]
fn frame_lengths_follow_transformers() {
    #[derive(serde::Deserialize)]
    struct Lengths {
        conv_kernel: Vec<usize>,
        conv_stride: Vec<usize>,
        samples: Vec<i64>,
        frames: Vec<i64>,
    }
    let text = std::fs::read_to_string(fixture("frame_lengths.json")).unwrap();
    let lengths: Lengths = serde_json::from_str(&text).unwrap();
    let base = Wav2Vec2Config::wav2vec2_base();
    assert_eq!(base.conv_kernel, lengths.conv_kernel);
    assert_eq!(base.conv_stride, lengths.conv_stride);
    for (&samples, &frames) in lengths.samples.iter().zip(&lengths.frames) {
        assert_eq!(
            base.feat_extract_output_length(samples),
            frames,
            "{samples} samples"
        );
        assert_eq!(base.frames(samples as usize), frames.max(0) as usize);
    }
    assert_eq!(base.min_samples(), 400);
    assert_eq!(base.frames(80_000), 249);

    // The frame mask of a padded batch, as transformers' _get_feature_vector_attention_mask.
    let reference = SafetensorsFile::open(&fixture("group_reference.safetensors")).unwrap();
    let (_, config) = load("group-ctc");
    let (shape, mask) = reference.i64("attention_mask").unwrap();
    let (_, expected) = reference.i64("frame_lengths").unwrap();
    let frames = config.frames(shape[1]);
    let frame_mask = config.frame_mask(
        Tensor::<2, Int>::from_data(TensorData::new(mask, shape), &Device::flex()),
        frames,
    );
    let counted: Vec<i64> = frame_mask
        .int()
        .sum_dim(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap();
    assert_eq!(counted, expected);
    assert_eq!(config.min_samples(), 40);
    assert_eq!(config.frames(39), 0);
    assert_eq!(config.frames(40), 1);
}

#[test]
fn missing_tensors_are_an_error_listing_them() {
    let dir = edited_model("group-ctc", "wav2vec2-missing-keys", |arrays| {
        arrays.retain(|a| {
            a.name != "wav2vec2.encoder.layers.1.feed_forward.output_dense.bias"
                && a.name != "wav2vec2.feature_extractor.conv_layers.0.layer_norm.weight"
                && a.name != "wav2vec2.encoder.pos_conv_embed.conv.weight_g"
        })
    });
    let error = Wav2Vec2Model::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing 3 tensor"), "{error}");
    for key in [
        "encoder.layers.1.feed_forward.output_dense.bias",
        "feature_extractor.conv_layers.0.layer_norm.weight",
        "encoder.pos_conv_embed.conv.weight_g",
    ] {
        assert!(error.contains(key), "{key}: {error}");
    }
    assert!(error.contains("model.safetensors"), "{error}");
}

#[test]
fn a_shape_mismatch_names_the_key_and_both_shapes() {
    let dir = edited_model("layer-bare", "wav2vec2-wrong-shape", |arrays| {
        let array = arrays
            .iter_mut()
            .find(|a| a.name == "feature_extractor.conv_layers.1.conv.weight")
            .unwrap();
        array.shape = vec![16, 3, 16];
    });
    let error = Wav2Vec2Model::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "`feature_extractor.conv_layers.1.conv.weight`: expected shape [16, 16, 3], found \
             [16, 3, 16]"
        ),
        "{error}"
    );
}

fn with_config(scratch: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = scratch_dir(scratch);
    let config = std::fs::read_to_string(fixture("group-ctc").join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), edit(config)).unwrap();
    std::fs::copy(
        fixture("group-ctc").join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    dir
}

#[test]
fn bad_configurations_name_the_file_and_the_value() {
    let dir = with_config("wav2vec2-unknown-norm", |c| {
        c.replace(
            "\"feat_extract_norm\": \"group\"",
            "\"feat_extract_norm\": \"batch\"",
        )
    });
    let error = Wav2Vec2Model::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("feat_extract_norm `batch`"), "{error}");
    assert!(
        error.contains("`group`") && error.contains("`layer`"),
        "{error}"
    );

    let dir = with_config("wav2vec2-unknown-type", |c| {
        c.replace("\"wav2vec2\"", "\"hubert\"")
    });
    let error = Wav2Vec2Model::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("model_type `hubert`"), "{error}");

    let dir = with_config("wav2vec2-conv-lists", |c| {
        c.replacen("\"conv_kernel\": [\n    10,", "\"conv_kernel\": [", 1)
    });
    let error = Wav2Vec2Model::from_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("one value per conv layer"), "{error}");
}

#[test]
fn inputs_too_short_or_badly_masked_are_errors() {
    let (_, config) = load("group-ctc");
    let values = vec![0.1f32; 2 * 60];
    let ok = config.check_inputs(&[2, 60], &values, None, "test");
    assert!(ok.is_ok(), "{ok:?}");
    let error = config
        .check_inputs(&[2, 30], &values[..60], None, "test")
        .unwrap_err()
        .to_string();
    assert!(error.contains("at least 40 samples"), "{error}");
    let mut mask = vec![1i64; 120];
    mask[70..].fill(0);
    let error = config
        .check_inputs(&[2, 60], &values, Some(&mask), "test")
        .unwrap_err()
        .to_string();
    assert!(error.contains("clip 1 has 10 valid samples"), "{error}");
    mask.fill(2);
    let error = config
        .check_inputs(&[2, 60], &values, Some(&mask), "test")
        .unwrap_err()
        .to_string();
    assert!(error.contains("attention_mask holds 2"), "{error}");
    let mut bad = values.clone();
    bad[65] = f32::NAN;
    let error = config
        .check_inputs(&[2, 60], &bad, None, "test")
        .unwrap_err()
        .to_string();
    assert!(error.contains("input_values[1][5]"), "{error}");
}

#[test]
fn forward_audio_with_inputs_writes_transformers_outputs() {
    let dir = scratch_dir("forward-audio-inputs");
    let out = dir.join("out.safetensors");
    let reference = fixture("layer_reference.safetensors");
    let (ok, log) = run_emofuse(&[
        "forward",
        "audio",
        "--model",
        fixture("layer-bare").to_str().unwrap(),
        "--inputs",
        reference.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--batch-size",
        "2",
    ]);
    assert!(ok, "{log}");
    let written = SafetensorsFile::open(&out).unwrap();
    let expected = SafetensorsFile::open(&reference).unwrap();
    for name in [
        "extract_features",
        "last_hidden_state",
        "hidden_states",
        "pooled",
    ] {
        let (shape, got) = written.f32(name).unwrap();
        let (want_shape, want) = expected.f32(&format!("mask_{name}")).unwrap();
        assert_eq!(shape, want_shape, "{name}");
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= TOLERANCE, "{name} differs by {diff}");
    }
    assert_eq!(
        written.i64("frame_lengths").unwrap().1,
        expected.i64("frame_lengths").unwrap().1
    );
}

/// Writes mono 16 kHz float WAV `path`.
fn write_wav(path: &Path, samples: &[f32]) {
    let data = samples.len() as u32 * 4;
    let mut bytes = Vec::new();
    bytes.extend(b"RIFF");
    bytes.extend((36 + data).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    bytes.extend(16u32.to_le_bytes());
    bytes.extend(3u16.to_le_bytes()); // IEEE float
    bytes.extend(1u16.to_le_bytes()); // mono
    bytes.extend(16_000u32.to_le_bytes());
    bytes.extend((16_000u32 * 4).to_le_bytes());
    bytes.extend(4u16.to_le_bytes());
    bytes.extend(32u16.to_le_bytes());
    bytes.extend(b"data");
    bytes.extend(data.to_le_bytes());
    for sample in samples {
        bytes.extend(sample.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// The reference clips as WAV files (their samples are already normalised over the clip).
fn reference_wavs(dir: &Path, reference: &SafetensorsFile) -> Vec<String> {
    let (shape, input) = reference.f32("input_values").unwrap();
    let (_, mask) = reference.i64("attention_mask").unwrap();
    let samples = shape[1];
    (0..shape[0])
        .map(|row| {
            let valid = mask[row * samples..(row + 1) * samples]
                .iter()
                .filter(|&&m| m == 1)
                .count();
            let path = dir.join(format!("clip{row}.wav"));
            write_wav(&path, &input[row * samples..row * samples + valid]);
            path.to_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn forward_audio_prepares_files_as_the_feature_extractor() {
    let dir = scratch_dir("forward-audio-files");
    // Layer-norm model: clips normalised over their own samples, mask passed to the model,
    // hence transformers' masked outputs.
    let reference = SafetensorsFile::open(&fixture("layer_reference.safetensors")).unwrap();
    let wavs = reference_wavs(&dir, &reference);
    let run_on = |model: &str, out: &Path| {
        let mut args = vec![
            "forward".to_string(),
            "audio".into(),
            "--model".into(),
            fixture(model).to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--audio".into(),
        ];
        args.extend(wavs.iter().cloned());
        run_emofuse(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = dir.join("layer.safetensors");
    let (ok, log) = run_on("layer-bare", &out);
    assert!(ok, "{log}");
    assert!(log.contains("attention mask passed to the model"), "{log}");
    let written = SafetensorsFile::open(&out).unwrap();
    assert_eq!(
        written.i64("attention_mask").unwrap().1,
        reference.i64("attention_mask").unwrap().1
    );
    for name in ["last_hidden_state", "pooled"] {
        let diff = max_abs_diff(
            &written.f32(name).unwrap().1,
            &reference.f32(&format!("mask_{name}")).unwrap().1,
        );
        println!("forward audio --audio (layer): {name}: max abs diff {diff:.2e}");
        assert!(diff <= TOLERANCE, "{name} differs by {diff}");
    }

    // Group-norm model (wav2vec2-base): no mask for the model, normalisation over the padded
    // clip; `pooled` still averages only the frames of real audio.
    let out = dir.join("group.safetensors");
    let (ok, log) = run_on("group-ctc", &out);
    assert!(ok, "{log}");
    assert!(log.contains("no attention mask"), "{log}");
    let written = SafetensorsFile::open(&out).unwrap();
    assert!(!written.contains("attention_mask"));
    let (_, lengths) = written.i64("frame_lengths").unwrap();
    assert_eq!(lengths, reference.i64("frame_lengths").unwrap().1);
    let (shape, last) = written.f32("last_hidden_state").unwrap();
    let (_, pooled) = written.f32("pooled").unwrap();
    let [frames, hidden] = [shape[1], shape[2]];
    for (row, &n) in lengths.iter().enumerate() {
        let n = n as usize;
        for d in 0..hidden {
            let mean = (0..n)
                .map(|t| last[(row * frames + t) * hidden + d])
                .sum::<f32>()
                / n as f32;
            assert!((pooled[row * hidden + d] - mean).abs() <= 1e-5);
        }
    }
    // The shortest clip, normalised over the padded length: unit variance over the whole row
    // (its real samples had unit variance alone).
    let (_, values) = written.f32("input_values").unwrap();
    let row = &values[2 * shape_samples(&written)..];
    let variance = row.iter().map(|x| x * x).sum::<f32>() / row.len() as f32;
    assert!(
        (variance - 1.0).abs() < 1e-3,
        "variance over the padded clip {variance}"
    );
}

fn shape_samples(file: &SafetensorsFile) -> usize {
    file.shape("input_values").unwrap()[1]
}

#[test]
fn a_fresh_model_with_an_odd_positional_kernel_keeps_every_frame() {
    let device = Device::flex();
    device.seed(3);
    let config = Wav2Vec2Config::new(vec![8, 8], vec![10, 3], vec![5, 2], 16, 1, 2, 24)
        .with_num_conv_pos_embeddings(5)
        .with_num_conv_pos_embedding_groups(2);
    let model = config.init(&device);
    let input = Tensor::<2>::random(
        [3, 400],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let output = model.forward(Wav2Vec2Input::new(input).with_hidden_states(true));
    assert_eq!(config.frames(400), 39);
    assert_eq!(output.last_hidden_state.dims(), [3, 39, 16]);
    assert_eq!(output.extract_features.dims(), [3, 39, 8]);
    assert_eq!(output.hidden_states.len(), 2);
    assert!(values(output.pooled).iter().all(|v| v.is_finite()));
}

/// Splits fixture `model` at `train` and runs trunk then top ([`Wav2Vec2Stage`], which builds
/// its own frame mask and mask bias, as training, the cache, `serve` and `predict` run it) on
/// the reference batch, with its attention mask when `masked` (else every sample valid, which
/// is transformers without a mask). The trunk's output must match transformers' intermediate
/// hidden state, the top's the last hidden state.
fn check_split_parity(model: &str, reference: &str, train: TrainLayers, masked: bool) {
    let device = Device::flex();
    let (encoder, config) = load(model);
    let reference = SafetensorsFile::open(&fixture(reference)).unwrap();
    let (shape, input) = reference.f32("input_values").unwrap();
    let waveform = Tensor::<2>::from_data(TensorData::new(input, shape.clone()), &device);
    let attention_mask = if masked {
        let (shape, mask) = reference.i64("attention_mask").unwrap();
        Tensor::<2, Int>::from_data(TensorData::new(mask, shape), &device)
    } else {
        Tensor::<2, Int>::ones([shape[0], shape[1]], &device)
    };
    let (trunk, top) = encoder.split(train, false);
    let TrainLayers::Last(n) = train else {
        panic!("a split with a trunk")
    };
    assert_eq!(top.num_layers(), n);
    let trunk_out = trunk.forward(AudioState::Waveform {
        values: waveform,
        attention_mask,
    });
    let AudioState::Hidden { x: trunk_x, .. } = trunk_out.clone() else {
        panic!("the trunk ends in hidden states");
    };
    let AudioState::Hidden { x: top_x, .. } = top.forward(trunk_out) else {
        panic!("the top ends in hidden states");
    };
    let tag = if masked { "mask" } else { "nomask" };
    let (shape, expected) = reference.f32(&format!("{tag}_hidden_states")).unwrap();
    let per_state = expected.len() / shape[0];
    let state = |i: usize| &expected[i * per_state..(i + 1) * per_state];
    let (_, last) = reference.f32(&format!("{tag}_last_hidden_state")).unwrap();
    for (label, got, want) in [
        ("trunk", trunk_x, state(config.num_layers - n)),
        ("top", top_x, &last[..]),
    ] {
        assert_eq!(got.dims().to_vec(), shape[1..], "{model} {label}");
        let diff = max_abs_diff(&values(got), want);
        println!("{model} {tag} split {train:?}: {label}: max abs diff {diff:.2e}");
        assert!(
            diff <= TOLERANCE,
            "{model} {tag} split {train:?}: {label} differs by {diff}"
        );
    }
}

#[test]
fn split_stages_match_transformers_hidden_states() {
    for (model, reference) in [
        ("group-ctc", "group_reference.safetensors"),
        ("layer-bare", "layer_reference.safetensors"),
    ] {
        for train in [TrainLayers::Last(1), TrainLayers::Last(2)] {
            for masked in [false, true] {
                check_split_parity(model, reference, train, masked);
            }
        }
    }
}

/// Every gradient of a module, flattened in visiting order.
struct AllGrads<'a> {
    grads: &'a burn::optim::GradientsParams,
    values: Vec<f32>,
}

impl burn::module::ModuleVisitor for AllGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.values.extend(values(grad));
        }
    }
}

/// The CPU computes the conv feature encoder as strided windows times the weight (one GEMM per
/// layer) instead of burn-flex's conv1d: both paths give the same features and, when the conv
/// encoder is fine-tuned, the same gradients for every parameter and the input, in both
/// architectures (GroupNorm over time in the first layer; LayerNorm in every layer).
#[test]
fn the_gemm_convolution_path_equals_conv1d_forward_and_backward() {
    use burn::module::Module;
    use emofuse::models::wav2vec2::ConvPath;
    for name in ["group-ctc", "layer-bare"] {
        let device = Device::flex().autodiff();
        let (model, _, _) = Wav2Vec2Model::from_pretrained(&fixture(name), &device).unwrap();
        device.seed(7);
        // Odd lengths: the last window ends before the last sample.
        let input = Tensor::<2>::random(
            [3, 1234],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let probe = Tensor::<3>::random(
            model.conv_features(input.clone().detach()).dims(),
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let run = |path: ConvPath| {
            let input = input.clone().detach().require_grad();
            let features = model.conv_features_with(input.clone(), path);
            let loss = (features.clone() * probe.clone()).sum();
            let grads = loss.backward();
            let input_grad = values(input.grad(&grads).unwrap());
            let params = burn::optim::GradientsParams::from_grads(grads, &model);
            let mut visitor = AllGrads {
                grads: &params,
                values: Vec::new(),
            };
            model.visit(&mut visitor);
            (values(features), input_grad, visitor.values)
        };
        let (want_features, want_input_grad, want_param_grads) = run(ConvPath::Conv1d);
        // One block per layer, and blocks of a few frames (uneven last block).
        for path in [ConvPath::Matmul, ConvPath::MatmulInBlocks(500)] {
            let (features, input_grad, param_grads) = run(path);
            assert!(!param_grads.is_empty() && param_grads.len() == want_param_grads.len());
            let scale = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (what, got, want) in [
                ("features", &features, &want_features),
                ("input gradient", &input_grad, &want_input_grad),
                ("parameter gradients", &param_grads, &want_param_grads),
            ] {
                let diff = max_abs_diff(got, want);
                assert!(
                    diff <= 1e-5 * scale(want).max(1.0),
                    "{name}, {path:?}: {what} differ by {diff} (largest {})",
                    scale(want)
                );
            }
        }
    }
}

/// On the CPU the batch is split between the pool's threads (`split_batch`): the split forward
/// equals the whole batch in one part, for the model's forward (every output, with and without
/// mask) and for the frozen-trunk path (`Trunks::audio`, waveforms to hidden states and conv
/// features to hidden states) that the cache build runs. A pool of 3 threads splits the batch of
/// 3 clips into 3 parts.
#[test]
fn the_batch_split_between_threads_equals_one_part() {
    use emofuse::inference::trunk::Trunks;
    use emofuse::models::nn::set_batch_split;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let reference = SafetensorsFile::open(&fixture("group_reference.safetensors")).unwrap();
    let outputs = |split: bool, name: &str| {
        pool.install(|| {
            set_batch_split(split);
            let (model, _) = load(name);
            let mut all = Vec::new();
            for masked in [false, true] {
                let out = run(&model, &reference, masked);
                all.extend(out.hidden_states.into_iter().map(values));
                all.push(values(out.extract_features));
                all.push(values(out.pooled));
            }
            let device = Device::flex();
            let (shape, input) = reference.f32("input_values").unwrap();
            let (mask_shape, mask) = reference.i64("attention_mask").unwrap();
            let waveform = AudioState::Waveform {
                values: Tensor::from_data(TensorData::new(input, shape), &device),
                attention_mask: Tensor::from_data(TensorData::new(mask, mask_shape), &device),
            };
            for train_conv in [false, true] {
                // Last(1) keeps the conv encoder in the trunk; All with train_conv = false
                // leaves only the conv encoder there (waveforms to conv features).
                let train = if train_conv {
                    TrainLayers::All
                } else {
                    TrainLayers::Last(1)
                };
                let (trunk, _) = model.clone().split(train, false);
                let trunks = Trunks {
                    text: None,
                    audio: Some(trunk),
                    ..Trunks::default()
                };
                match trunks.audio(waveform.narrow(0, 3)) {
                    AudioState::Hidden { x, frame_mask }
                    | AudioState::Conv {
                        features: x,
                        frame_mask,
                    } => {
                        all.push(values(x));
                        all.push(values(frame_mask.float()));
                    }
                    AudioState::Waveform { .. } => panic!("the trunk encodes"),
                }
            }
            set_batch_split(true);
            all
        })
    };
    for name in ["group-ctc", "layer-bare"] {
        let (split, whole) = (outputs(true, name), outputs(false, name));
        assert_eq!(split.len(), whole.len());
        for (i, (a, b)) in split.iter().zip(&whole).enumerate() {
            let diff = max_abs_diff(a, b);
            assert!(
                diff <= 1e-6,
                "{name}: output {i} differs by {diff} when split"
            );
        }
    }
}
