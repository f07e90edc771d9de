//! Hostile audio (issue 19): files that once aborted, hung or fooled the front end now give one
//! clean error naming the file, or a warning. Fixtures: tests/fixtures/hostile (made by
//! make_hostile.py). A regression would abort this test binary (a 68 GB allocation), make it
//! grow without end, or panic, rather than fail an assertion quietly.

use crate::{repo_path, run_emofuse, scratch_dir};
use emofuse::audio::{
    self, BadSample, BadSampleRate, DecoderPanic, MAX_SAMPLES, TooLong, decode_bytes, decode_file,
    resample,
};
use emofuse::data::dataset::Utterance;
use emofuse::features::LogMelConfig;
use emofuse::features::extract::{ArrayKind, FeatureSpec, extract};
use std::path::PathBuf;

fn hostile(name: &str) -> PathBuf {
    repo_path("tests/fixtures/hostile").join(name)
}

/// The error of decoding `name` from its file and from memory, as `{:#}` text.
fn both_errors(name: &str) -> [anyhow::Error; 2] {
    let path = hostile(name);
    let from_file = decode_file(&path).expect_err(name);
    let bytes = std::fs::read(&path).unwrap();
    let from_memory = decode_bytes(bytes, None, 600.0).expect_err(name);
    [from_file, from_memory]
}

fn spec(kind: ArrayKind) -> FeatureSpec {
    FeatureSpec {
        kind,
        audio: audio::AudioOptions {
            sample_rate: 16_000,
            max_seconds: None,
            normalize: None,
        },
        logmel: LogMelConfig::librosa(16_000),
        n_mfcc: 20,
        mean: false,
        augment: None,
        seed: 0,
    }
}

#[test]
fn mp4_tables_are_checked_before_symphonia_allocates_them() {
    for (file, says) in [
        (
            "stsc_count.m4a",
            "`stsc` box: it declares 4294967295 entries",
        ),
        (
            "stsz_count.m4a",
            "`stsz` box: it declares 4294967295 entries",
        ),
        (
            "stco_count.m4a",
            "`stco` box: it declares 1073741824 entries",
        ),
        (
            "stts_count.m4a",
            "`stts` box: it declares 4294967295 entries",
        ),
        (
            "mdhd_timescale_0.m4a",
            "`mdhd` box: the track's timescale is 0",
        ),
        // Found by `emofuse fuzz audio`.
        ("stts_cut.m4a", "`stts` box: it declares 4294967295 entries"),
        (
            "stsc_past_parent.m4a",
            "`stsc` box: it declares 4294967295 entries",
        ),
        (
            "junk_before_ftyp.m4a",
            "`stsc` box: it declares 4294967295 entries",
        ),
    ] {
        let [from_file, from_memory] = both_errors(file);
        let text = format!("{from_file:#}");
        assert!(text.contains(file) && text.contains(says), "{file}: {text}");
        assert!(
            format!("{from_memory:#}").contains(says),
            "{file}: {from_memory:#}"
        );
        // A clean refusal, not a caught crash.
        assert!(from_file.downcast_ref::<DecoderPanic>().is_none(), "{text}");
    }
}

#[test]
fn sample_rates_outside_recordings_are_refused_before_decoding() {
    for (file, rate) in [
        ("rate_4294967295.wav", u32::MAX),
        ("rate_1.wav", 1),
        ("rate_0.wav", 0),
        ("rate_1.ogg", 1),
    ] {
        for error in both_errors(file) {
            let bad = error
                .downcast_ref::<BadSampleRate>()
                .unwrap_or_else(|| panic!("{file}: {error:#}"));
            assert_eq!(bad.0, rate, "{file}");
            assert!(
                format!("{error:#}").contains(&format!("sample rate {rate} Hz is outside")),
                "{file}: {error:#}"
            );
        }
        let text = format!(
            "{:#}",
            audio::load_waveform(&hostile(file), 16_000).unwrap_err()
        );
        assert!(text.contains(file), "{text}");
    }
    // The resampler refuses them too, and outputs beyond MAX_SAMPLES, before planning anything.
    let error = resample(&[0.0; 100], 1, 16_000).unwrap_err();
    assert_eq!(
        error.downcast_ref::<BadSampleRate>(),
        Some(&BadSampleRate(1))
    );
    let error = resample(&[0.0; 100], 16_000, 0).unwrap_err();
    assert_eq!(
        error.downcast_ref::<BadSampleRate>(),
        Some(&BadSampleRate(0))
    );
    let long = vec![0.0f32; MAX_SAMPLES / 300];
    let error = resample(&long, 1_000, 384_000).unwrap_err();
    let too_long = error.downcast_ref::<TooLong>().expect("TooLong");
    assert_eq!(too_long.max_seconds, MAX_SAMPLES as f64 / 384_000.0);
}

#[test]
fn non_finite_and_absurd_samples_are_errors_with_their_time_everywhere() {
    for (file, says) in [
        (
            "nan_22050.wav",
            "non-finite sample (NaN or infinity) at 0.025 s",
        ),
        (
            "inf_16000.wav",
            "non-finite sample (NaN or infinity) at 0.025 s",
        ),
        ("huge_16000.wav", "a sample of 1e30 at 0.025 s"),
    ] {
        for error in both_errors(file) {
            let bad = error
                .downcast_ref::<BadSample>()
                .unwrap_or_else(|| panic!("{file}: {error:#}"));
            assert!((bad.seconds - 0.025).abs() < 1e-3, "{file}: {bad:?}");
            assert!(format!("{error:#}").contains(says), "{file}: {error:#}");
        }
        // Every front end that reads files: features of each kind, and training's utterances.
        for kind in [ArrayKind::Waveform, ArrayKind::Mfcc, ArrayKind::Logmel] {
            let error = extract(&hostile(file), &spec(kind)).unwrap_err();
            let text = format!("{error:#}");
            assert!(
                text.contains(file) && text.contains(says),
                "{kind:?}: {text}"
            );
        }
        let utterance = Utterance {
            id: "row-7".into(),
            text: String::new(),
            audio: Vec::new(),
            audio_path: Some(hostile(file)),
            label: 0,
            speaker: 0,
            turn: None,
        };
        let text = format!("{:#}", utterance.samples(16_000).unwrap_err());
        assert!(
            text.contains("utterance `row-7`") && text.contains(file) && text.contains(says),
            "{text}"
        );
    }
    // The resampler, called directly, refuses a NaN instead of panicking in rubato.
    let mut samples = vec![0.1f32; 4000];
    samples[100] = f32::NAN;
    let error = resample(&samples, 22_050, 16_000).unwrap_err();
    assert!(
        error.to_string().contains("sample 100 is not finite"),
        "{error}"
    );
}

#[test]
fn a_decoder_panic_is_that_files_error() {
    // symphonia 0.5.5 checks a Vorbis residue's books against the codebook count, but not its
    // classbook, and indexes out of bounds with it while decoding the first audio packet.
    let file = "residue_classbook.ogg";
    for error in both_errors(file) {
        let panic = error
            .downcast_ref::<DecoderPanic>()
            .unwrap_or_else(|| panic!("{error:#}"));
        assert_eq!(panic.library, "symphonia");
        assert!(panic.message.contains("index out of bounds"), "{panic:?}");
        assert!(
            format!("{error:#}").contains("a decoder bug worth reporting"),
            "{error:#}"
        );
    }
    let text = format!("{:#}", decode_file(&hostile(file)).unwrap_err());
    assert_eq!(text.matches(file).count(), 1, "named once: {text}");
    assert!(!audio::inside_guard(), "the guard is left on every path");
}

#[test]
fn a_cut_off_last_ogg_page_warns_with_the_lost_duration() {
    // The re-paged stream decodes like the original, without a warning.
    let whole = decode_file(&hostile("two_pages.ogg")).unwrap();
    let original = decode_file(&repo_path("tests/fixtures/audio/tone.ogg")).unwrap();
    // symphonia trims the 41 samples past the last granule position (6615) only when the stream
    // has more than one audio page: the re-paged stream is the original, trimmed.
    assert_eq!(whole.samples.len(), 6615);
    assert_eq!(whole.samples[..], original.samples[..6615]);
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);

    let cut = decode_file(&hostile("cut_last_page.ogg")).unwrap();
    assert!(
        cut.samples.len() < whole.samples.len(),
        "{}",
        cut.samples.len()
    );
    let warning = cut.warnings.join("; ");
    // 6615 frames declared by the cut page's granule, 3200 decoded before it (at 22050 Hz).
    assert!(
        warning.contains("truncated: the last Ogg page is cut off")
            && warning.contains("0.15 s of audio lost (0.15 s of 0.30 s read)"),
        "{warning}"
    );
}

#[test]
fn features_over_a_folder_write_the_good_files_and_list_the_bad_ones() {
    let dir = scratch_dir("hostile_features_folder");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let good = [
        ("pcm_s16.wav", "pcm_s16.wav"),
        ("tone.flac", "tone.flac"),
        ("tone.m4a", "aac.m4a"),
    ];
    let bad = [
        "stsc_count.m4a",
        "nan_22050.wav",
        "residue_classbook.ogg",
        "rate_1.wav",
    ];
    for (name, copy) in good {
        let from = repo_path("tests/fixtures/audio").join(name);
        std::fs::copy(from, input.join(copy)).unwrap();
    }
    for name in bad {
        std::fs::copy(hostile(name), input.join(name)).unwrap();
    }
    let out = dir.join("mfcc.safetensors");
    let (ok, text) = run_emofuse(&[
        "features",
        "mfcc",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    for name in bad {
        assert!(
            text.lines()
                .any(|l| l.starts_with("error: ") && l.contains(name)),
            "{name}: {text}"
        );
    }
    assert!(text.contains("4 of 7 input(s) could not be read"), "{text}");
    // The caught decoder panic is reported once, as an error, without the panic hook's noise.
    assert!(!text.contains("panicked"), "{text}");
    let file = emofuse::io::safetensors::SafetensorsFile::open(&out).unwrap();
    let mut names: Vec<&str> = file.names().collect();
    names.sort_unstable();
    assert_eq!(names, ["aac", "pcm_s16", "tone"]);
}
