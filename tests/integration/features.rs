//! Log-mel and MFCC parity with librosa 0.11 (tests/fixtures/audio/librosa_reference.json, made
//! by make_fixtures.py at each clip's own sample rate), and `emofuse features` end to end.

use crate::{repo_path, run_emofuse, scratch_dir};
use emofuse::audio::decode_file;
use emofuse::features::{LogMel, LogMelConfig, Mfcc};
use serde_json::Value;

struct Case {
    name: String,
    file: String,
    samples: Vec<f32>,
    config: LogMelConfig,
    n_mfcc: usize,
    logmel: Vec<f32>,
    mfcc: Vec<f32>,
    mfcc_mean: Vec<f32>,
}

fn flat(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        number => vec![number.as_f64().expect("number") as f32],
    }
}

fn cases() -> Vec<Case> {
    let path = repo_path("tests/fixtures/audio/librosa_reference.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let p = &case["params"];
            let int = |key: &str| p[key].as_u64().unwrap() as usize;
            Case {
                name: case["name"].as_str().unwrap().to_string(),
                file: case["source_file"].as_str().unwrap().to_string(),
                samples: flat(&case["samples"]),
                config: LogMelConfig {
                    sample_rate: int("sr") as u32,
                    n_fft: int("n_fft"),
                    hop_length: int("hop_length"),
                    n_mels: int("n_mels"),
                    fmin: p["fmin"].as_f64().unwrap() as f32,
                    fmax: p["fmax"].as_f64().map(|f| f as f32),
                    ..LogMelConfig::librosa(int("sr") as u32)
                },
                n_mfcc: int("n_mfcc"),
                logmel: flat(&case["logmel"]),
                mfcc: flat(&case["mfcc"]),
                mfcc_mean: flat(&case["mfcc_mean"]),
            }
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn logmel_and_mfcc_match_librosa() {
    let cases = cases();
    assert_eq!(cases.len(), 3);
    for case in &cases {
        let logmel = LogMel::new(case.config.clone()).compute(&case.samples);
        let diff = max_abs_diff(&logmel, &case.logmel);
        assert!(diff < 1e-2, "{}: log-mel max abs diff {diff} dB", case.name);

        let mfcc = Mfcc::new(case.config.clone(), case.n_mfcc);
        let diff = max_abs_diff(&mfcc.compute(&case.samples), &case.mfcc);
        assert!(diff < 1e-2, "{}: MFCC max abs diff {diff}", case.name);
        let diff = max_abs_diff(&mfcc.compute_mean(&case.samples), &case.mfcc_mean);
        assert!(diff < 1e-2, "{}: MFCC mean max abs diff {diff}", case.name);
    }
}

/// The straightforward per-frame formulation: window, FFT, power, one dot product per band, dB,
/// DCT row by row. The blocked, vectorised code must give exactly its bits: the published
/// RAVDESS results were computed with them.
fn per_frame_mfcc(config: &LogMelConfig, n_mfcc: usize, audio: &[f32]) -> Vec<f32> {
    let reference = LogMel::new(config.clone());
    let n = config.n_fft;
    let pad = n / 2;
    let frames = reference.frames(audio.len());
    let window: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n as f32).cos())
        .collect();
    let fft = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let filters: Vec<(usize, Vec<f32>)> =
        reference.filters().map(|(f, w)| (f, w.to_vec())).collect();
    let mut mel = vec![0.0f32; config.n_mels * frames];
    for frame in 0..frames {
        let mut input = vec![0.0f32; n];
        for (i, slot) in input.iter_mut().enumerate() {
            let t = (frame * config.hop_length + i) as isize - pad as isize;
            if t >= 0 && (t as usize) < audio.len() {
                *slot = audio[t as usize] * window[i];
            }
        }
        let mut spectrum = fft.make_output_vec();
        fft.process(&mut input, &mut spectrum).unwrap();
        let power: Vec<f32> = spectrum.iter().map(|c| c.norm_sqr()).collect();
        for (band, (first, weights)) in filters.iter().enumerate() {
            mel[band * frames + frame] = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
        }
    }
    emofuse::features::logmel::power_to_db(&mut mel, config.amin, config.top_db);
    // The orthonormal DCT-II basis (scipy.fft.dct with norm="ortho", as librosa).
    let dct_of = |k: usize, m: usize| {
        let n_mels = config.n_mels as f64;
        let scale = if k == 0 {
            (1.0 / n_mels).sqrt()
        } else {
            (2.0 / n_mels).sqrt()
        };
        (scale * (std::f64::consts::PI * k as f64 * (2 * m + 1) as f64 / (2.0 * n_mels)).cos())
            as f32
    };
    let mut out = vec![0.0f32; n_mfcc * frames];
    for k in 0..n_mfcc {
        for m in 0..config.n_mels {
            let w = dct_of(k, m);
            for f in 0..frames {
                out[k * frames + f] += w * mel[m * frames + f];
            }
        }
    }
    out
}

#[test]
fn blocked_mfcc_has_the_bits_of_the_per_frame_formulation() {
    let mut clips: Vec<(LogMelConfig, usize, Vec<f32>)> = cases()
        .into_iter()
        .map(|c| (c.config, c.n_mfcc, c.samples))
        .collect();
    // The recipes' parameters on clips of several blocks, a partial last block, and shorter
    // than one FFT window.
    let recipe = LogMelConfig {
        n_fft: 400,
        hop_length: 160,
        n_mels: 40,
        ..LogMelConfig::librosa(16_000)
    };
    let mut state = 12345u64;
    for samples in [56_321usize, 5_120, 300] {
        let audio: Vec<f32> = (0..samples)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                0.3 * (i as f32 * 0.05).sin() + 0.1 * noise
            })
            .collect();
        clips.push((recipe.clone(), 13, audio));
    }
    for (config, n_mfcc, audio) in &clips {
        let fast = Mfcc::new(config.clone(), *n_mfcc).compute(audio);
        let reference = per_frame_mfcc(config, *n_mfcc, audio);
        assert_eq!(fast.len(), reference.len());
        let differing = fast
            .iter()
            .zip(&reference)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differing,
            0,
            "{} of {} values differ ({} samples)",
            differing,
            fast.len(),
            audio.len()
        );
    }
}

#[test]
fn reference_samples_are_what_the_decoder_reads() {
    // The parity inputs are the fixtures' own samples: our decoder must read the same ones.
    for case in cases() {
        let decoded = decode_file(&repo_path("tests/fixtures/audio").join(&case.file)).unwrap();
        assert_eq!(
            decoded.sample_rate, case.config.sample_rate,
            "{}",
            case.name
        );
        let diff = max_abs_diff(&decoded.samples, &case.samples);
        assert!(diff < 1e-6, "{}: {diff}", case.name);
    }
}

/// Reads a little-endian f32 `.npy` written by `emofuse features`: (shape, values).
fn read_npy(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert_eq!((10 + header_len) % 64, 0, "header must be 64-byte aligned");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, values)
}

#[test]
fn features_command_writes_librosa_mfccs() {
    let case = cases().into_iter().find(|c| c.config.n_fft == 400).unwrap();
    let dir = scratch_dir("features-cli");
    let out = dir.join("mfcc.npy");
    let input = repo_path("tests/fixtures/audio").join(&case.file);
    let (ok, text) = run_emofuse(&[
        "features",
        "mfcc",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sample-rate",
        "16000",
        "--n-mfcc",
        "13",
        "--n-fft",
        "400",
        "--hop-length",
        "160",
        "--n-mels",
        "40",
    ]);
    assert!(ok, "{text}");
    let (shape, values) = read_npy(&out);
    assert_eq!(shape, vec![13, case.mfcc.len() / 13]);
    let diff = max_abs_diff(&values, &case.mfcc);
    assert!(diff < 1e-2, "{diff}");

    let out = dir.join("mean.npy");
    let (ok, text) = run_emofuse(&[
        "features",
        "mfcc",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--n-mfcc",
        "13",
        "--n-fft",
        "400",
        "--hop-length",
        "160",
        "--n-mels",
        "40",
        "--mean",
    ]);
    assert!(ok, "{text}");
    let (shape, values) = read_npy(&out);
    assert_eq!(shape, vec![13]);
    assert!(max_abs_diff(&values, &case.mfcc_mean) < 1e-2);
}

#[test]
fn features_command_handles_folders_and_reports_bad_files() {
    let dir = scratch_dir("features-cli-folder");
    let clips = dir.join("clips/nested");
    std::fs::create_dir_all(&clips).unwrap();
    let fixtures = repo_path("tests/fixtures/audio");
    for (file, copy) in [
        ("tone.flac", "a.flac"),
        ("tone.m4a", "b.m4a"),
        ("not_audio.wav", "c.wav"),
    ] {
        std::fs::copy(fixtures.join(file), clips.join(copy)).unwrap();
    }
    let out = dir.join("waves.safetensors");
    let (ok, text) = run_emofuse(&[
        "features",
        "waveform",
        "--input",
        dir.join("clips").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-seconds",
        "1",
    ]);
    // The bad file fails the command, names the file, and the good ones are still written.
    assert!(!ok, "{text}");
    assert!(text.contains("c.wav") && text.contains("1 of 3"), "{text}");
    let file = emofuse::io::safetensors::SafetensorsFile::open(&out).unwrap();
    let mut names: Vec<&str> = file.names().collect();
    names.sort();
    assert_eq!(names, vec!["nested/a", "nested/b"]);
    for name in &names {
        assert_eq!(file.shape(name).unwrap(), &[16_000]);
    }

    // Several inputs need a .safetensors file.
    let (ok, text) = run_emofuse(&[
        "features",
        "mfcc",
        "--input",
        fixtures.join("tone.flac").to_str().unwrap(),
        fixtures.join("pcm_u8.wav").to_str().unwrap(),
        "--out",
        dir.join("x.npy").to_str().unwrap(),
    ]);
    assert!(!ok && text.contains(".safetensors"), "{text}");
}

#[test]
fn augmentation_preview_changes_the_clip_deterministically() {
    let dir = scratch_dir("features-cli-augment");
    let input = repo_path("tests/fixtures/audio/tone.flac");
    let run = |out: &str, spec: &str| {
        let out = dir.join(out);
        let (ok, text) = run_emofuse(&[
            "features",
            "waveform",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--augment",
            spec,
            "--seed",
            "7",
        ]);
        assert!(ok, "{text}");
        read_npy(&out).1
    };
    let plain = decode_file(&input).unwrap().samples;
    let a = run("a.npy", "noise=10,gain=2");
    let b = run("b.npy", "noise=10,gain=2");
    assert_eq!(a, b, "same seed, same output");
    // Gain 2 then noise at 10 dB SNR: the error against 2x the clean clip is 10 dB down.
    let signal: f64 = plain.iter().map(|&x| (2.0 * x as f64).powi(2)).sum();
    let noise: f64 = plain
        .iter()
        .zip(&a)
        .map(|(&x, &y)| (y as f64 - 2.0 * x as f64).powi(2))
        .sum();
    let snr = 10.0 * (signal / noise).log10();
    assert!((snr - 10.0).abs() < 0.3, "SNR {snr:.2} dB");
    let (ok, text) = run_emofuse(&[
        "features",
        "waveform",
        "--input",
        input.to_str().unwrap(),
        "--out",
        dir.join("c.npy").to_str().unwrap(),
        "--augment",
        "reverb=3",
    ]);
    assert!(!ok && text.contains("unknown transform `reverb`"), "{text}");
}
