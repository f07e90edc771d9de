//! The audio front end against its references: soundfile/ffmpeg decodes, transformers'
//! Wav2Vec2 normalisation, and bad inputs. Fixtures: tests/fixtures/audio (make_fixtures.py).

use crate::repo_path;
use emofuse::audio::{
    self, AudioOptions, Clip, NormalizeOver, TooLong, decode_bytes, decode_file, fix_length,
    normalize, resample,
};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures/audio").join(name)
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Signal-to-error ratio in dB of `ours` against `reference` over their common length.
fn snr_db(reference: &[f32], ours: &[f32]) -> f64 {
    let n = reference.len().min(ours.len());
    let signal: f64 = reference[..n].iter().map(|&x| (x as f64).powi(2)).sum();
    let error: f64 = reference[..n]
        .iter()
        .zip(&ours[..n])
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    10.0 * (signal / error.max(1e-30)).log10()
}

#[test]
fn lossless_files_decode_exactly_like_soundfile() {
    let reference = reference("decode_reference.json");
    let clips = reference["clips"].as_array().unwrap();
    let mut checked = 0;
    for clip in clips.iter().filter(|c| c["lossless"] == true) {
        let file = clip["file"].as_str().unwrap();
        let decoded = decode_file(&fixture(file)).unwrap();
        let expected = floats(&clip["samples"]);
        assert_eq!(
            decoded.sample_rate,
            clip["sample_rate"].as_u64().unwrap() as u32,
            "{file}"
        );
        assert_eq!(
            decoded.channels,
            clip["channels"].as_u64().unwrap() as usize,
            "{file}"
        );
        assert_eq!(decoded.samples.len(), expected.len(), "{file}");
        let diff = max_abs_diff(&decoded.samples, &expected);
        assert!(diff < 1e-6, "{file}: max abs diff {diff}");
        assert!(
            decoded.warnings.is_empty(),
            "{file}: {:?}",
            decoded.warnings
        );
        checked += 1;
    }
    // u8, s16, s24, float, stereo, 6 channels, FLAC.
    assert_eq!(checked, 7);
}

#[test]
fn lossy_files_match_ffmpeg_and_mp4_priming_is_trimmed() {
    let reference = reference("decode_reference.json");
    for clip in reference["clips"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["lossless"] == false)
    {
        let file = clip["file"].as_str().unwrap();
        let decoded = decode_file(&fixture(file)).unwrap();
        let expected = floats(&clip["samples"]);
        assert_eq!(
            decoded.sample_rate,
            clip["sample_rate"].as_u64().unwrap() as u32,
            "{file}"
        );
        assert_eq!(
            decoded.channels,
            clip["channels"].as_u64().unwrap() as usize,
            "{file}"
        );
        // Aligned with ffmpeg from the first sample: an untrimmed AAC priming (1024 samples)
        // or MP3 delay would make this SNR collapse to about 0 dB.
        let snr = snr_db(&expected, &decoded.samples);
        assert!(snr > 40.0, "{file}: SNR against ffmpeg {snr:.1} dB");
        let source = clip["source_frames_encoded"].as_u64().unwrap() as usize;
        match clip["codec"].as_str().unwrap() {
            // The edit list bounds the presentation to the encoded length; ffmpeg keeps the
            // encoder's trailing padding (`expected.len()` > source).
            "aac" => assert_eq!(decoded.samples.len(), source, "{file}"),
            "mp3" => assert_eq!(decoded.samples.len(), expected.len(), "{file}"),
            _ => assert!(
                (source..=expected.len()).contains(&decoded.samples.len()),
                "{file}: {} samples, expected {source} to {}",
                decoded.samples.len(),
                expected.len()
            ),
        }
    }
}

#[test]
fn uploads_decode_like_files_and_long_audio_stops_early() {
    let files = [
        "pcm_u8.wav",
        "pcm_s16.wav",
        "pcm_s24.wav",
        "float32.wav",
        "stereo_s16.wav",
        "multi_6ch.wav",
        "tone.flac",
        "tone.mp3",
        "tone.ogg",
        "tone.m4a",
        "video_first.mp4",
    ];
    for file in files {
        let path = fixture(file);
        let bytes = std::fs::read(&path).unwrap();
        // No extension: the probe finds the format from the bytes alone.
        let from_memory = decode_bytes(bytes.clone(), None, 600.0).unwrap();
        let from_file = decode_file(&path).unwrap();
        assert_eq!(from_memory.samples, from_file.samples, "{file}");
        assert_eq!(
            (from_memory.sample_rate, from_memory.channels),
            (from_file.sample_rate, from_file.channels),
            "{file}"
        );
        // Any bound below the clip's length is refused while decoding.
        let seconds = from_file.duration_s();
        let error = decode_bytes(bytes, Some("bin"), seconds / 2.0).unwrap_err();
        let too_long = error
            .downcast_ref::<TooLong>()
            .unwrap_or_else(|| panic!("{file}: {error:#}"));
        assert_eq!(too_long.max_seconds, seconds / 2.0);
        let declared = too_long.declared_seconds.unwrap();
        assert!((declared - seconds).abs() < 0.05, "{file}: {too_long:?}");
        assert!(
            error.to_string().starts_with("the audio lasts more than"),
            "{file}: {error}"
        );
    }

    // A WAV streamed by ffmpeg (`-f wav -`) declares 4 GB of data: it is judged by its samples.
    let mut bytes = std::fs::read(fixture("pcm_s16.wav")).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let streamed = decode_bytes(bytes.clone(), Some("wav"), 600.0).unwrap();
    let whole = decode_file(&fixture("pcm_s16.wav")).unwrap();
    assert_eq!(streamed.samples, whole.samples);
    assert_eq!(streamed.warnings, Vec::<String>::new(), "not truncated");
    let error = decode_bytes(bytes, Some("wav"), 0.01).unwrap_err();
    // The header's 4 GB are not quoted as a duration.
    assert_eq!(error.to_string(), "the audio lasts more than 0.01 s");
}

#[test]
fn bad_inputs_give_errors_naming_the_file() {
    for (file, says) in [
        ("not_audio.wav", "not a supported audio container"),
        ("zero_bytes.mp4", "empty (0 bytes)"),
        ("no_moov.mp4", "no_moov.mp4"),
        ("empty.wav", "no audio samples"),
        ("does_not_exist.wav", "cannot open"),
    ] {
        let error = decode_file(&fixture(file)).expect_err(file);
        let text = format!("{error:#}");
        assert!(text.contains(file), "{file}: {text}");
        assert!(text.contains(says), "{file}: {text}");
    }
}

#[test]
fn truncated_wav_keeps_what_is_there_and_warns() {
    let reference = reference("decode_reference.json");
    let truncated = &reference["bad_inputs"]["truncated.wav"];
    let decoded = decode_file(&fixture("truncated.wav")).unwrap();
    let expected = floats(&truncated["expected_samples_prefix"]);
    assert_eq!(decoded.samples.len(), expected.len());
    assert!(max_abs_diff(&decoded.samples, &expected) < 1e-6);
    let warning = decoded.warnings.join("; ");
    assert!(
        warning.contains("truncated") && warning.contains("8000"),
        "{warning}"
    );
}

#[test]
fn resampling_is_band_limited_aligned_and_sized() {
    let tone = |rate: f64, n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate).sin() as f32 * 0.5)
            .collect()
    };
    for (from, to) in [
        (48_000u32, 16_000u32),
        (44_100, 16_000),
        (22_050, 16_000),
        (8_000, 16_000),
    ] {
        let input = tone(from as f64, from as usize / 2 + 7);
        let out = resample(&input, from, to).unwrap();
        let expected_len = (input.len() as u64 * to as u64).div_ceil(from as u64) as usize;
        assert_eq!(out.len(), expected_len, "{from} -> {to}");
        // Away from the edges the output is the same tone sampled at the new rate: no delay.
        let truth = tone(to as f64, out.len());
        let middle = out.len() / 4..3 * out.len() / 4;
        let diff = max_abs_diff(&out[middle.clone()], &truth[middle]);
        assert!(diff < 2e-3, "{from} -> {to}: max abs diff {diff}");
    }
    // A tone above the new Nyquist frequency is removed, not aliased.
    let high: Vec<f32> = (0..24_000)
        .map(|i| (2.0 * std::f64::consts::PI * 10_000.0 * i as f64 / 48_000.0).sin() as f32)
        .collect();
    let out = resample(&high, 48_000, 16_000).unwrap();
    let rms = (out[2000..6000].iter().map(|x| x * x).sum::<f32>() / 4000.0).sqrt();
    assert!(rms < 1e-2, "aliased energy {rms}");
}

#[test]
fn fixed_length_and_mask() {
    let clip = fix_length(vec![1.0, 2.0, 3.0], 5);
    assert_eq!(clip.samples, vec![1.0, 2.0, 3.0, 0.0, 0.0]);
    assert_eq!(clip.mask(), vec![1, 1, 1, 0, 0]);
    let clip = fix_length(vec![1.0, 2.0, 3.0], 2);
    assert_eq!((clip.samples, clip.valid), (vec![1.0, 2.0], 2));
}

#[test]
fn normalisation_matches_the_wav2vec2_feature_extractor() {
    let reference = reference("wav2vec2_normalize_reference.json");
    let mut checked = 0;
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let call = &case["call"];
        let with_mask = call["return_attention_mask"] == true;
        let inputs: Vec<Vec<f32>> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| floats(&reference["inputs"][name.as_str().unwrap()]))
            .collect();
        let outputs: Vec<Vec<f32>> = case["input_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let length = match call["padding"].as_str() {
            Some("max_length") => Some(call["max_length"].as_u64().unwrap() as usize),
            Some("longest") => inputs.iter().map(Vec::len).max(),
            _ => None,
        };
        for (input, expected) in inputs.iter().zip(&outputs) {
            let mut clip = match length {
                Some(length) => fix_length(input.clone(), length),
                None => Clip {
                    samples: input.clone(),
                    valid: input.len(),
                },
            };
            let over = if with_mask {
                NormalizeOver::Valid
            } else {
                NormalizeOver::Padded
            };
            normalize(&mut clip, over);
            assert_eq!(clip.samples.len(), expected.len(), "{name}");
            let diff = max_abs_diff(&clip.samples, expected);
            assert!(diff < 1e-5, "{name}: max abs diff {diff}");
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
}

#[test]
fn whole_front_end_downmixes_resamples_cuts_and_normalises() {
    let options = AudioOptions {
        sample_rate: 16_000,
        max_seconds: Some(0.1),
        normalize: Some(NormalizeOver::Padded),
    };
    // 0.2 s of 48 kHz stereo AAC: 3200 samples at 16 kHz, cut to 1600.
    let loaded = audio::load_clip(&fixture("tone.m4a"), &options).unwrap();
    assert_eq!(loaded.clip.samples.len(), 1600);
    assert_eq!(loaded.clip.valid, 1600);
    assert_eq!(
        (loaded.source_channels, loaded.source_sample_rate),
        (2, 48_000)
    );
    assert!((loaded.source_duration_s - 0.2).abs() < 1e-3);
    let mean = loaded.clip.samples.iter().map(|&x| x as f64).sum::<f64>() / 1600.0;
    let var = loaded
        .clip
        .samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / 1600.0;
    assert!(
        mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
        "mean {mean}, var {var}"
    );

    // Padding: 0.25 s of FLAC in a 1 s clip.
    let options = AudioOptions {
        max_seconds: Some(1.0),
        normalize: None,
        ..options
    };
    let loaded = audio::load_clip(&fixture("tone.flac"), &options).unwrap();
    assert_eq!(
        (loaded.clip.samples.len(), loaded.clip.valid),
        (16_000, 4_000)
    );
    assert!(loaded.clip.samples[4_000..].iter().all(|&x| x == 0.0));
}
