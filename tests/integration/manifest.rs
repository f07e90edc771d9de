//! MELD-style manifests (`data-prep meld` output) read into a corpus: cells exactly as written
//! (quoted commas, curly quotes, leading spaces, an empty transcript), speakers numbered across
//! splits, and every bad row listed in one error with its line.

use crate::scratch_dir;
use emofuse::core::LabelMap;
use emofuse::data::manifest::load_manifests;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn manifests_keep_cells_as_written_and_number_speakers_across_splits() {
    let dir = scratch_dir("manifest-cells");
    std::fs::create_dir_all(dir.join("wav")).unwrap();
    for f in ["a.wav", "b.wav", "c.wav", "d.wav"] {
        std::fs::write(dir.join("wav").join(f), b"").unwrap();
    }
    let train = write(
        &dir,
        "train.csv",
        "id,path,text,label,speaker,extra\n\
         dia0_utt0,wav/a.wav,\"Oh, my God!\",surprise,Ross,1\n\
         dia0_utt1,wav/b.wav,\" You must\u{2019}ve had your hands full.\",joy,Rachel,2\n",
    );
    let valid = write(
        &dir,
        "valid.csv",
        "id,path,text,label,speaker\ndia1_utt0,wav/c.wav,,neutral,Rachel\n",
    );
    let test = write(
        &dir,
        "test.csv",
        "id,path,text,label,speaker\ndia2_utt0,wav/d.wav,Okay.,anger,Joey\n",
    );
    // Audio-only use: the empty transcript of `valid` is allowed.
    let corpus = load_manifests(
        [&train, &valid, &test],
        LabelMap::meld(),
        16_000,
        false,
        true,
    )
    .unwrap();
    let texts: Vec<&str> = corpus.train.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(
        texts,
        ["Oh, my God!", " You must\u{2019}ve had your hands full."]
    );
    let labels: Vec<usize> = corpus.train.iter().map(|u| u.label).collect();
    assert_eq!(labels, [2, 1]);
    assert_eq!(corpus.valid[0].text, "");
    assert_eq!(corpus.valid[0].id, "dia1_utt0");
    // Ross 0, Rachel 1 (in train and valid), Joey 2.
    let speakers: Vec<u32> = [&corpus.train[..], &corpus.valid[..], &corpus.test[..]]
        .concat()
        .iter()
        .map(|u| u.speaker)
        .collect();
    assert_eq!(speakers, [0, 1, 1, 2]);
    assert_eq!(
        corpus.test[0].audio_path.as_deref(),
        Some(dir.join("wav/d.wav").as_path())
    );
}

#[test]
fn manifest_errors_name_the_file_the_lines_and_the_column() {
    let dir = scratch_dir("manifest-errors");
    std::fs::create_dir_all(dir.join("wav")).unwrap();
    std::fs::write(dir.join("wav/a.wav"), b"").unwrap();
    let good = write(&dir, "good.csv", "id,path,text,label\nx,wav/a.wav,hi,joy\n");
    let bad = write(
        &dir,
        "bad.csv",
        "id,path,text,label\nx,wav/a.wav,hi,happy\ny,wav/missing.wav,hi,joy\nz,wav/a.wav,fine,fear\n",
    );
    let err = load_manifests([&bad, &good, &good], LabelMap::meld(), 16_000, false, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.csv: 2 bad rows (of 3)"), "{err}");
    assert!(err.contains("line 2: unknown class `happy`"), "{err}");
    assert!(err.contains("line 3: audio file"), "{err}");
    assert!(err.contains("missing.wav does not exist"), "{err}");
    let no_text = write(&dir, "no_text.csv", "id,path,label\nx,wav/a.wav,joy\n");
    let err = load_manifests(
        [&no_text, &good, &good],
        LabelMap::meld(),
        16_000,
        false,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no_text.csv: no `text` column (found: id,path,label)"),
        "{err}"
    );
    let absent = dir.join("absent.csv");
    let err = format!(
        "{:#}",
        load_manifests(
            [&absent, &good, &good],
            LabelMap::meld(),
            16_000,
            false,
            true
        )
        .unwrap_err()
    );
    assert!(
        err.contains("cannot open manifest") && err.contains("absent.csv"),
        "{err}"
    );
}

#[test]
fn manifests_refuse_repeated_ids_empty_transcripts_and_clips_in_two_splits() {
    let dir = scratch_dir("manifest-duplicates");
    std::fs::create_dir_all(dir.join("wav")).unwrap();
    for f in ["a.wav", "b.wav", "c.wav"] {
        std::fs::write(dir.join("wav").join(f), b"").unwrap();
    }
    let valid = write(
        &dir,
        "valid.csv",
        "id,path,text,label\nv,wav/b.wav,hi,joy\n",
    );
    let test = write(&dir, "test.csv", "id,path,text,label\nt,wav/c.wav,hi,joy\n");
    let repeated = write(
        &dir,
        "repeated.csv",
        "id,path,text,label\nx,wav/a.wav,hi,joy\nx,wav/a.wav,hi again,joy\n",
    );
    let err = load_manifests(
        [&repeated, &valid, &test],
        LabelMap::meld(),
        16_000,
        false,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3: id `x` repeats line 2"), "{err}");

    // An empty transcript is a bad row only for a model that reads text.
    let empty = write(
        &dir,
        "empty.csv",
        "id,path,text,label\nx,wav/a.wav,hi,joy\ny,wav/a.wav,  ,joy\n",
    );
    load_manifests(
        [&empty, &valid, &test],
        LabelMap::meld(),
        16_000,
        false,
        true,
    )
    .unwrap();
    let err = load_manifests(
        [&empty, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("empty.csv: 1 bad rows (of 2)"), "{err}");
    assert!(err.contains("line 3: empty transcript"), "{err}");

    // Ids restart per split (MELD's dia0_utt0 is in every split); the same clip may not.
    let train = write(
        &dir,
        "train.csv",
        "id,path,text,label\nv,wav/a.wav,hi,joy\n",
    );
    load_manifests(
        [&train, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        true,
    )
    .unwrap();
    let leaky = write(
        &dir,
        "leaky.csv",
        "id,path,text,label\nz,wav/c.wav,hi,joy\n",
    );
    let err = load_manifests(
        [&leaky, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("1 audio file(s) appear in two splits"),
        "{err}"
    );
    assert!(
        err.contains("c.wav (id `t`) is in")
            && err.contains("leaky.csv and in")
            && err.contains("test.csv"),
        "{err}"
    );
}

/// What `data-prep meld` writes without `--raw`: empty audio paths, dialogue ids. A text model
/// reads it (turns kept); an audio model refuses every row, naming it.
#[test]
fn text_only_manifests_keep_dialogue_turns_and_need_no_audio() {
    let dir = scratch_dir("manifest-text-only");
    let header = "id,path,text,label,speaker,duration,dialogue_id,utterance_id,sentiment\n";
    let train = write(
        &dir,
        "train.csv",
        &format!(
            "{header}dia0_utt0,,Hi there,neutral,Monica,,0,0,neutral\n\
             dia0_utt1,,What happened?,surprise,The Interviewer,,0,1,negative\n"
        ),
    );
    let valid = write(
        &dir,
        "dev.csv",
        &format!("{header}dia0_utt0,,Oh!,joy,Ross,,0,0,positive\n"),
    );
    let test = write(
        &dir,
        "test.csv",
        &format!("{header}dia3_utt2,,No.,anger,Joey,,3,2,negative\n"),
    );
    let corpus = load_manifests(
        [&train, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        false,
    )
    .unwrap();
    let turn = corpus.train[1].turn.as_ref().unwrap();
    assert_eq!(
        (turn.dialogue.as_str(), turn.index, turn.speaker.as_str()),
        ("0", 1, "The Interviewer")
    );
    assert_eq!(corpus.test[0].turn.as_ref().unwrap().index, 2);
    assert!(corpus.train.iter().all(|u| u.audio_path.is_none()));
    let err = load_manifests(
        [&train, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("2 bad rows") && err.contains("line 2: audio file"),
        "{err}"
    );

    let bad = write(
        &dir,
        "bad.csv",
        &format!("{header}dia0_utt0,,Hi,neutral,Monica,,0,zero,neutral\n"),
    );
    let err = load_manifests([&bad, &valid, &test], LabelMap::meld(), 16_000, true, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("utterance_id `zero` is not a whole number"),
        "{err}"
    );
    let half = write(
        &dir,
        "half.csv",
        "id,path,text,label,dialogue_id\nx,,Hi,neutral,0\n",
    );
    let err = load_manifests(
        [&half, &valid, &test],
        LabelMap::meld(),
        16_000,
        true,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("both `dialogue_id` and `utterance_id`"),
        "{err}"
    );
}
