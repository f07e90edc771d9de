//! `data-prep meld` on a small fake MELD tree built from the audio fixtures: nested folders,
//! `.mp4.wav` names, the `final_videos_test` prefix, ids repeated across splits, a missing, an
//! empty and an unreadable clip, a bad CSV row; and a re-run that skips finished clips.

use data_prep::meld::{MeldOptions, parse_media_name, prepare};
use std::path::{Path, PathBuf};

const HEADER: &str = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/audio")
        .join(name)
}

fn place(root: &Path, relative: &str, fixture_name: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(fixture(fixture_name), path).unwrap();
}

#[test]
fn media_names_are_parsed_in_all_their_forms() {
    assert_eq!(parse_media_name("dia12_utt3.mp4"), Some((12, 3)));
    assert_eq!(parse_media_name("dia12_utt3.mp4.wav"), Some((12, 3)));
    assert_eq!(
        parse_media_name("final_videos_testdia7_utt10.mp4"),
        Some((7, 10))
    );
    assert_eq!(parse_media_name("dia12_utt3.txt"), None);
    assert_eq!(parse_media_name("dia12_utt.mp4"), None);
}

#[test]
fn meld_tree_becomes_wavs_manifests_and_a_problem_report() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("data-prep-meld");
    let _ = std::fs::remove_dir_all(&root);
    let (raw, csv, out) = (root.join("raw"), root.join("csv"), root.join("out"));
    place(
        &raw,
        "MELD.Raw/train/train_splits/dia0_utt0.mp4",
        "tone.m4a",
    );
    place(
        &raw,
        "MELD.Raw/train/train_splits/more/dia0_utt1.mp4.wav",
        "pcm_u8.wav",
    );
    place(
        &raw,
        "MELD.Raw/train/train_splits/dia1_utt0.mp4",
        "no_moov.mp4",
    );
    place(
        &raw,
        "MELD.Raw/train/train_splits/dia1_utt1.mp4",
        "zero_bytes.mp4",
    );
    place(
        &raw,
        "MELD.Raw/dev/dev_splits_complete/dia0_utt0.wav",
        "pcm_s16.wav",
    );
    place(
        &raw,
        "MELD.Raw/test/output_repeated_splits_test/final_videos_testdia0_utt0.mp4",
        "video_first.mp4",
    );
    std::fs::create_dir_all(&csv).unwrap();
    std::fs::write(
        csv.join("train_sent_emo.csv"),
        format!(
            "{HEADER}\n\
             1,\"Oh my God, he’s lost it.\",Phoebe,sadness,negative,0,0,4,7,\"00:20:57,256\",\"00:21:00,049\"\n\
             2,What?,Monica,surprise,negative,0,1,4,7,a,b\n\
             3,Gone.,Ross,neutral,neutral,0,2,4,7,a,b\n\
             4,Broken.,Joey,joy,positive,1,0,4,7,a,b\n\
             5,Nothing.,Joey,fear,negative,1,1,4,7,a,b\n\
             6,Bad label.,Joey,happy,positive,1,2,4,7,a,b\n"
        ),
    )
    .unwrap();
    std::fs::write(
        csv.join("dev_sent_emo.csv"),
        format!("{HEADER}\n1,Dev line,Rachel,anger,negative,0,0,1,1,a,b\n"),
    )
    .unwrap();
    std::fs::write(
        csv.join("test_sent_emo.csv"),
        format!("{HEADER}\n1,Test line,Chandler,joy,positive,0,0,1,1,a,b\n"),
    )
    .unwrap();
    let options = MeldOptions {
        raw: Some(raw),
        csv: csv.clone(),
        out: out.clone(),
        sample_rate: 16_000,
        long_clip_seconds: 0.3,
    };

    let summary = prepare(&options).unwrap();
    let train = &summary.splits["train"];
    assert_eq!(
        (train.rows, train.kept, train.written, train.skipped),
        (6, 2, 2, 0)
    );
    let dropped: Vec<(&str, usize)> = train.dropped.iter().map(|(k, n)| (*k, *n)).collect();
    assert_eq!(
        dropped,
        vec![
            ("bad_row", 1),
            ("empty", 1),
            ("missing", 1),
            ("unreadable", 1)
        ]
    );
    assert_eq!(summary.splits["dev"].kept, 1);
    assert_eq!(summary.splits["test"].kept, 1);
    // dev's 0.4 s clip is over the 0.3 s threshold: kept and flagged.
    assert_eq!(summary.splits["dev"].flagged.get("long"), Some(&1));

    let manifest = std::fs::read_to_string(out.join("train.csv")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(
        lines[0],
        "id,path,text,label,speaker,duration,dialogue_id,utterance_id,sentiment"
    );
    assert_eq!(
        lines[1],
        "dia0_utt0,train/dia0_utt0.wav,\"Oh my God, he’s lost it.\",sadness,Phoebe,0.2000,0,0,negative"
    );
    assert!(lines[2].starts_with("dia0_utt1,train/dia0_utt1.wav,What?,surprise,Monica,0.2500,"));
    assert_eq!(lines.len(), 3);

    // Same ids in different splits are different clips: dev's is 0.4 s, train's 0.2 s (AAC,
    // priming trimmed), test's 0.25 s (video track first).
    let dev = hound::WavReader::open(out.join("dev/dia0_utt0.wav")).unwrap();
    assert_eq!((dev.spec().sample_rate, dev.spec().channels), (16_000, 1));
    assert_eq!(dev.duration(), 6_400);
    let train_clip = hound::WavReader::open(out.join("train/dia0_utt0.wav")).unwrap();
    assert_eq!(train_clip.duration(), 3_200);
    let test_clip = hound::WavReader::open(out.join("test/dia0_utt0.wav")).unwrap();
    assert_eq!(test_clip.duration(), 4_000);

    let problems = std::fs::read_to_string(out.join("problems.csv")).unwrap();
    assert!(problems.contains("train,dia0_utt2,missing"), "{problems}");
    assert!(
        problems.contains("train,dia1_utt0,unreadable") && problems.contains("dia1_utt0.mp4"),
        "{problems}"
    );
    assert!(problems.contains("train,dia1_utt1,empty"), "{problems}");
    assert!(
        problems.contains("unknown emotion `happy`") && problems.contains("line 7"),
        "{problems}"
    );
    assert!(out.join("summary.json").exists());

    // Without --raw: every row with a valid label, an empty audio path, the ids kept.
    let text_out = root.join("text-only");
    let text_only = prepare(&MeldOptions {
        raw: None,
        out: text_out.clone(),
        ..options.clone()
    })
    .unwrap();
    assert_eq!(
        (
            text_only.splits["train"].rows,
            text_only.splits["train"].kept
        ),
        (6, 5)
    );
    assert_eq!(text_only.splits["train"].dropped.get("bad_row"), Some(&1));
    // Its summary speaks of transcripts, not of audio hours and files it never wrote.
    let rendered = text_only.render();
    assert!(
        rendered.contains("train: 6 rows, 5 kept (transcripts only)")
            && rendered.contains("no --raw")
            && !rendered.contains(" h;")
            && !rendered.contains("media files indexed"),
        "{rendered}"
    );
    let text_manifest = std::fs::read_to_string(text_out.join("train.csv")).unwrap();
    let text_lines: Vec<&str> = text_manifest.lines().collect();
    assert_eq!(text_lines.len(), 6);
    assert_eq!(
        text_lines[1],
        "dia0_utt0,,\"Oh my God, he’s lost it.\",sadness,Phoebe,,0,0,negative"
    );
    assert_eq!(text_lines[5], "dia1_utt1,,Nothing.,fear,Joey,,1,1,negative");
    assert!(!text_out.join("train").exists());

    // A re-run decodes nothing and writes the same manifests.
    let again = prepare(&options).unwrap();
    let train = &again.splits["train"];
    assert_eq!((train.kept, train.written, train.skipped), (2, 0, 2));
    assert_eq!(
        std::fs::read_to_string(out.join("train.csv")).unwrap(),
        manifest
    );
}
