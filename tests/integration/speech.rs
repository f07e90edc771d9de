//! Study B's data layer: RAVDESS / EmoDB / CSV readers, label tables and filters, and
//! speaker-independent splits, on the fixtures of tests/fixtures/speech (make_fixtures.py).

use crate::{repo_path, scratch_dir};
use emofuse::core::Gender;
use emofuse::data::speech::{
    ClipFilter, LabelTable, SpeechClip, SplitAssignment, builtin_table, canonical_emotion,
    check_no_leakage, holdout, natural_cmp, read_emodb, read_ravdess, read_savee, read_table,
    select, settle_speaker_independence, speaker_kfold, stratified_random,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn ravdess_clips() -> Vec<SpeechClip> {
    read_ravdess(&repo_path("tests/fixtures/speech/ravdess"))
        .unwrap()
        .clips
}

fn clip<'a>(clips: &'a [SpeechClip], id: &str) -> &'a SpeechClip {
    clips.iter().find(|c| c.id == id).unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn speech_ravdess_names_give_emotion_speaker_gender_and_attributes() {
    let read = read_ravdess(&repo_path("tests/fixtures/speech/ravdess")).unwrap();
    // 6 actors x 8 emotions + 6 strong-intensity clips.
    assert_eq!(read.clips.len(), 54);
    let paths: Vec<_> = read.clips.iter().map(|c| c.path.clone()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "clips come sorted by path");

    let c = clip(&read.clips, "03-01-05-02-01-01-02");
    assert_eq!(c.emotion, "angry");
    assert_eq!(c.speaker, "actor_02");
    assert_eq!(c.gender, Some(Gender::Female));
    assert_eq!(c.text, "Kids are talking by the door");
    assert_eq!(c.attrs["intensity"], "strong");
    assert_eq!(c.attrs["statement"], "kids");
    assert_eq!(c.attrs["channel"], "speech");
    assert_eq!(c.attrs["modality"], "audio_only");
    assert_eq!(c.attrs["repetition"], "1");
    assert!(c.path.ends_with("Actor_02/03-01-05-02-01-01-02.wav"));

    let c = clip(&read.clips, "03-01-08-01-02-01-05");
    assert_eq!(c.emotion, "surprised");
    assert_eq!(c.speaker, "actor_05");
    assert_eq!(c.gender, Some(Gender::Male));
    assert_eq!(c.text, "Dogs are sitting by the door");
    assert_eq!(c.attrs["intensity"], "normal");
    assert_eq!(c.attrs["statement"], "dogs");

    let emotions: BTreeSet<&str> = read.clips.iter().map(|c| c.emotion.as_str()).collect();
    assert_eq!(emotions.len(), 8);
    let speakers: BTreeSet<&str> = read.clips.iter().map(|c| c.speaker.as_str()).collect();
    assert_eq!(speakers.len(), 6);
}

#[test]
fn speech_ravdess_skips_bad_names_with_reasons() {
    let read = read_ravdess(&repo_path("tests/fixtures/speech/ravdess")).unwrap();
    let skipped: BTreeMap<String, String> = read
        .skipped
        .iter()
        .map(|(p, r)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                r.clone(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped["notes.wav"].contains("found 1 field"),
        "{skipped:?}"
    );
    assert!(
        skipped["03-01-09-01-01-01-01.wav"].contains("unknown emotion code 09"),
        "{skipped:?}"
    );
}

#[test]
fn speech_ravdess_reads_flac_in_nested_folders_and_names_a_missing_folder() {
    let dir = scratch_dir("speech_ravdess_flac");
    let nested = dir.join("copy/Actor_10");
    std::fs::create_dir_all(&nested).unwrap();
    // The reader does not open the files: empty ones are enough.
    std::fs::write(nested.join("03-01-02-01-01-02-10.flac"), b"").unwrap();
    std::fs::write(nested.join("03-01-02-01-01-02-10.FLAC"), b"").unwrap();
    std::fs::write(nested.join("README.txt"), b"not audio").unwrap();
    std::fs::write(nested.join("03-01-02-01-03-01-10.wav"), b"").unwrap();
    let read = read_ravdess(&dir).unwrap();
    assert_eq!(read.clips.len(), 1);
    assert_eq!(read.clips[0].speaker, "actor_10");
    assert_eq!(read.clips[0].attrs["repetition"], "2");
    // `.FLAC` sorts first and is kept; the `.flac` copy is listed, not counted twice.
    assert!(
        read.clips[0]
            .path
            .ends_with("Actor_10/03-01-02-01-01-02-10.FLAC")
    );
    let reasons: Vec<&str> = read.skipped.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unknown statement code 03")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("same clip id `03-01-02-01-01-02-10`")),
        "{reasons:?}"
    );

    let err = read_ravdess(&dir.join("nowhere")).unwrap_err().to_string();
    assert!(
        err.contains("nowhere") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("Actor_01"), "{err}");
}

#[test]
fn speech_savee_names_in_both_layouts_give_emotion_and_speaker() {
    let read = read_savee(&repo_path("tests/fixtures/speech/savee")).unwrap();
    assert_eq!(read.clips.len(), 28, "4 speakers x 7 emotions");
    let c = clip(&read.clips, "DC_sa01");
    assert_eq!(c.emotion, "sadness");
    assert_eq!(c.speaker, "DC");
    assert_eq!(c.gender, Some(Gender::Male));
    assert_eq!(c.text, "sa01");
    // The original layout: the speaker is the folder.
    let c = clip(&read.clips, "KL_su01");
    assert_eq!(c.emotion, "surprise");
    assert_eq!(c.speaker, "KL");
    assert!(c.path.ends_with("KL/su01.wav"));
    for (id, emotion) in [
        ("JE_a01", "anger"),
        ("JE_d01", "disgust"),
        ("JE_f01", "fear"),
        ("JK_h01", "happiness"),
        ("JK_n01", "neutral"),
    ] {
        assert_eq!(clip(&read.clips, id).emotion, emotion, "{id}");
    }
    assert_eq!(read.skipped.len(), 1);
    assert!(read.skipped[0].0.ends_with("DC_x01.wav"));
    assert!(
        read.skipped[0].1.contains("unknown SAVEE emotion code `x`"),
        "{}",
        read.skipped[0].1
    );
    let selection = select(
        read.clips,
        &builtin_table("savee7").unwrap(),
        &ClipFilter::default(),
    );
    assert_eq!(
        selection.class_counts(&builtin_table("savee7").unwrap()),
        [4; 7]
    );
}

#[test]
fn label_tables_carry_onto_another_corpus_by_emotion_name() {
    assert_eq!(canonical_emotion("angry"), "anger");
    assert_eq!(canonical_emotion("Happy"), "happiness");
    assert_eq!(canonical_emotion("surprised"), "surprise");
    assert_eq!(canonical_emotion("boredom"), "boredom");
    let ravdess8 = builtin_table("ravdess8").unwrap();
    let emodb = read_emodb(&repo_path("tests/fixtures/speech/emodb")).unwrap();
    let emotions: Vec<&str> = [
        "anger",
        "boredom",
        "disgust",
        "fear",
        "happiness",
        "neutral",
        "sadness",
    ]
    .into();
    let onto = ravdess8.onto_corpus(&emotions, &BTreeMap::new()).unwrap();
    assert_eq!(
        onto.classes, ravdess8.classes,
        "the trained classes, in their order"
    );
    let selection = select(emodb.clips, &onto, &ClipFilter::default());
    // 4 speakers x 6 matched emotions; boredom has no RAVDESS class, calm and surprised no
    // EmoDB clip.
    assert_eq!(selection.class_counts(&onto), [4, 0, 4, 4, 4, 4, 4, 0]);
    assert_eq!(
        selection.dropped,
        BTreeMap::from([(
            "emotion boredom not in table ravdess8 (cross-corpus)".to_string(),
            4
        )])
    );
    // Explicit groups: boredom counted as calm, an unknown class is an error.
    let groups = BTreeMap::from([("calm".to_string(), vec!["boredom".to_string()])]);
    let onto = ravdess8.onto_corpus(&emotions, &groups).unwrap();
    assert_eq!(onto.class_of("boredom"), Some(1));
    assert_eq!(
        onto.class_of("anger"),
        None,
        "groups replace the name match"
    );
    let bad = BTreeMap::from([("bored".to_string(), vec!["boredom".to_string()])]);
    let err = ravdess8
        .onto_corpus(&emotions, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`bored` is not one of the trained classes"),
        "{err}"
    );
}

#[test]
fn speech_emodb_names_give_emotion_speaker_gender_and_text() {
    let read = read_emodb(&repo_path("tests/fixtures/speech/emodb")).unwrap();
    assert_eq!(read.clips.len(), 28);
    let c = clip(&read.clips, "03a01Fa");
    assert_eq!(c.emotion, "happiness");
    assert_eq!(c.speaker, "speaker_03");
    assert_eq!(c.gender, Some(Gender::Male));
    assert_eq!(c.text, "Der Lappen liegt auf dem Eisschrank.");
    assert_eq!(c.attrs["text_id"], "a01");
    assert_eq!(c.attrs["version"], "a");
    let c = clip(&read.clips, "08b01Wa");
    assert_eq!(c.emotion, "anger");
    assert_eq!(c.gender, Some(Gender::Female));
    assert_eq!(clip(&read.clips, "09b01La").emotion, "boredom");
    assert_eq!(clip(&read.clips, "10a01Ta").emotion, "sadness");
    assert_eq!(clip(&read.clips, "10a01Ea").emotion, "disgust");
    assert_eq!(clip(&read.clips, "10a01Aa").emotion, "fear");
    assert_eq!(clip(&read.clips, "10a01Na").emotion, "neutral");

    assert_eq!(read.skipped.len(), 1);
    assert!(read.skipped[0].0.ends_with("03a01Xa.wav"));
    assert!(
        read.skipped[0]
            .1
            .contains("unknown EmoDB emotion letter `X`"),
        "{}",
        read.skipped[0].1
    );

    let table = builtin_table("emodb7").unwrap();
    let selection = select(read.clips, &table, &ClipFilter::default());
    assert_eq!(selection.class_counts(&table), vec![4; 7]);
    assert!(selection.dropped.is_empty());
}

#[test]
fn speech_grouping_tables_count_classes_and_drops() {
    // Per emotion on the fixture: 6 clips, and 8 for happy, sad and angry (strong intensity).
    let clips = ravdess_clips();
    let counts = |name: &str| {
        let table = builtin_table(name).unwrap();
        let selection = select(clips.clone(), &table, &ClipFilter::default());
        assert_eq!(
            selection.clips.len() + selection.dropped_total(),
            clips.len(),
            "every clip is kept or counted"
        );
        (
            table.classes.clone(),
            selection.class_counts(&table),
            selection.dropped,
        )
    };

    let (classes, c, dropped) = counts("ravdess8");
    assert_eq!(classes.len(), 8);
    assert_eq!(c, vec![6, 6, 8, 8, 8, 6, 6, 6]);
    assert!(dropped.is_empty());

    let (classes, c, dropped) = counts("ravdess5");
    assert_eq!(
        classes,
        strings(&["angry", "calm", "fearful", "happy", "sad"])
    );
    assert_eq!(c, vec![8, 6, 6, 8, 8]);
    assert_eq!(dropped.len(), 3);
    assert_eq!(dropped["emotion surprised not in table ravdess5"], 6);
    assert_eq!(dropped["emotion neutral not in table ravdess5"], 6);
    assert_eq!(dropped["emotion disgust not in table ravdess5"], 6);

    let (classes, c, dropped) = counts("ravdess3");
    assert_eq!(classes, strings(&["positive", "neutral", "negative"]));
    assert_eq!(c, vec![8 + 6, 6 + 6, 8 + 8 + 6 + 6]);
    assert!(dropped.is_empty());

    let (classes, c, _) = counts("ravdess2");
    assert_eq!(classes, strings(&["positive", "negative"]));
    assert_eq!(c, vec![6 + 6 + 8 + 6, 8 + 8 + 6 + 6]);

    assert!(builtin_table("ravdess4").is_none());
    for name in emofuse::data::speech::BUILTIN_TABLES {
        let table = builtin_table(name).unwrap();
        assert_eq!(table.label_map().unwrap().names(), table.classes.as_slice());
    }
}

#[test]
fn speech_custom_tables_reject_overlaps_and_empty_classes() {
    let groups = |pairs: &[(&str, &[&str])]| {
        pairs
            .iter()
            .map(|(c, es)| (c.to_string(), strings(es)))
            .collect::<BTreeMap<_, _>>()
    };
    let table = LabelTable::custom(
        "arousal",
        strings(&["high", "low"]),
        groups(&[("high", &["angry", "happy"]), ("low", &["sad", "calm"])]),
    )
    .unwrap();
    assert_eq!(table.class_of("happy"), Some(0));
    assert_eq!(table.class_of("calm"), Some(1));
    assert_eq!(table.class_of("neutral"), None);

    let err = LabelTable::custom(
        "bad",
        strings(&["high", "low"]),
        groups(&[("high", &["angry", "sad"]), ("low", &["sad"])]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`sad`") && err.contains("two classes"),
        "{err}"
    );

    let err = LabelTable::custom(
        "bad",
        strings(&["high", "low"]),
        groups(&[("high", &["angry"]), ("low", &[])]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("class `low` has no emotion"), "{err}");

    let err = LabelTable::custom(
        "bad",
        strings(&["high"]),
        groups(&[("high", &["angry"]), ("mid", &["calm"])]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("group `mid`"), "{err}");
}

#[test]
fn speech_filters_keep_one_gender_or_intensity_and_count_the_rest() {
    let clips = ravdess_clips();
    let table = builtin_table("ravdess8").unwrap();

    let female = ClipFilter {
        gender: Some(Gender::Female),
        ..ClipFilter::default()
    };
    let selection = select(clips.clone(), &table, &female);
    // Actors 2, 4, 6: 24 clips plus actor 2's 3 strong ones.
    assert_eq!(selection.clips.len(), 27);
    assert!(
        selection
            .clips
            .iter()
            .all(|c| c.gender == Some(Gender::Female))
    );
    assert_eq!(selection.dropped["gender male filtered out"], 27);

    let strong = ClipFilter {
        intensity: Some("strong".into()),
        ..ClipFilter::default()
    };
    let selection = select(clips.clone(), &table, &strong);
    assert_eq!(selection.clips.len(), 6);
    assert_eq!(selection.dropped["intensity normal filtered out"], 48);

    // The filter counts first; the table counts only what the filter kept.
    let male_kids = ClipFilter {
        gender: Some(Gender::Male),
        statement: Some("kids".into()),
        ..ClipFilter::default()
    };
    let table5 = builtin_table("ravdess5").unwrap();
    let selection = select(clips.clone(), &table5, &male_kids);
    assert_eq!(selection.dropped["gender female filtered out"], 27);
    // Male clips: statement kids for odd emotion codes (neutral, happy, angry, disgust); dogs
    // for the others, including actor 1's strong sad clip.
    assert_eq!(selection.dropped["statement dogs filtered out"], 13);
    assert_eq!(
        selection.dropped["emotion neutral not in table ravdess5"],
        3
    );
    assert_eq!(
        selection.dropped["emotion disgust not in table ravdess5"],
        3
    );
    assert_eq!(selection.class_counts(&table5), vec![4, 0, 0, 4, 0]);
    assert_eq!(
        selection.clips.len() + selection.dropped_total(),
        clips.len()
    );

    // EmoDB has no intensity: an intensity filter leaves every clip out, and says why.
    let emodb = read_emodb(&repo_path("tests/fixtures/speech/emodb"))
        .unwrap()
        .clips;
    let (kept, dropped) = strong.apply(emodb);
    assert!(kept.is_empty());
    assert_eq!(dropped["intensity missing filtered out"], 28);
}

#[test]
fn speech_kfold_holds_out_whole_speakers() {
    let clips = ravdess_clips();
    let folds = speaker_kfold(&clips, 3, None).unwrap();
    assert_eq!(folds.len(), 3);
    assert_eq!(folds[0].name, "fold1of3");
    assert_eq!(folds[0].test_speakers, strings(&["actor_01", "actor_02"]));
    assert_eq!(folds[0].valid_speakers, strings(&["actor_03", "actor_04"]));
    assert_eq!(folds[0].train_speakers, strings(&["actor_05", "actor_06"]));
    assert_eq!(folds[2].test_speakers, strings(&["actor_05", "actor_06"]));
    assert_eq!(folds[2].valid_speakers, strings(&["actor_01", "actor_02"]));

    let mut tested = vec![0; clips.len()];
    for fold in &folds {
        check_no_leakage(fold, &clips).unwrap();
        assert!(fold.speaker_independent);
        assert_eq!(
            fold.train.len() + fold.valid.len() + fold.test.len(),
            clips.len()
        );
        for part in [&fold.train, &fold.valid, &fold.test] {
            assert!(!part.is_empty());
        }
        let speakers = |indices: &[usize]| -> BTreeSet<&str> {
            indices.iter().map(|&i| clips[i].speaker.as_str()).collect()
        };
        let (tr, va, te) = (
            speakers(&fold.train),
            speakers(&fold.valid),
            speakers(&fold.test),
        );
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        for &i in &fold.test {
            tested[i] += 1;
        }
    }
    assert!(
        tested.iter().all(|&n| n == 1),
        "every clip tested exactly once"
    );

    // A seed shuffles the speakers, deterministically, and keeps the folds clean.
    let a = speaker_kfold(&clips, 3, Some(7)).unwrap();
    assert_eq!(a, speaker_kfold(&clips, 3, Some(7)).unwrap());
    assert_eq!(a[0].name, "fold1of3-seed7");
    for fold in &a {
        check_no_leakage(fold, &clips).unwrap();
    }

    // The assignment is saved with each run.
    let path = scratch_dir("speech_kfold").join("split.json");
    folds[1].save(&path).unwrap();
    assert_eq!(SplitAssignment::load(&path).unwrap(), folds[1]);

    let err = speaker_kfold(&clips, 2, None).unwrap_err().to_string();
    assert!(err.contains("k >= 3"), "{err}");
    let err = speaker_kfold(&clips, 7, None).unwrap_err().to_string();
    assert!(
        err.contains("at least 7 speakers") && err.contains("have 6"),
        "{err}"
    );
}

#[test]
fn speech_kfold_groups_24_actors_as_emobox_and_sorts_naturally() {
    // 24 speakers named without zero padding: natural order puts actor_2 before actor_10.
    let clips: Vec<SpeechClip> = (1..=24)
        .map(|a| SpeechClip {
            id: format!("clip{a}"),
            path: format!("clip{a}.wav").into(),
            text: String::new(),
            emotion: "calm".into(),
            speaker: format!("actor_{a}"),
            gender: None,
            attrs: BTreeMap::new(),
        })
        .collect();
    let folds = speaker_kfold(&clips, 6, None).unwrap();
    assert_eq!(
        folds[0].test_speakers,
        strings(&["actor_1", "actor_2", "actor_3", "actor_4"])
    );
    assert_eq!(
        folds[2].test_speakers,
        strings(&["actor_9", "actor_10", "actor_11", "actor_12"])
    );
    assert_eq!(folds[5].valid_speakers, folds[0].test_speakers);
    // 24 speakers in 5 groups: sizes 5, 5, 5, 5, 4.
    let sizes: Vec<usize> = speaker_kfold(&clips, 5, None)
        .unwrap()
        .iter()
        .map(|f| f.test_speakers.len())
        .collect();
    assert_eq!(sizes, vec![5, 5, 5, 5, 4]);
    assert!(natural_cmp("actor_2", "actor_10").is_lt());
    assert!(natural_cmp("actor_02", "actor_2").is_lt(), "total order");
    assert!(natural_cmp("b", "a1").is_gt());
}

#[test]
fn speech_leaky_assignments_fail_naming_the_speaker() {
    let clips = ravdess_clips();
    let mut leaky = speaker_kfold(&clips, 3, None).unwrap().remove(0);
    // Move one test clip of actor_01 to training.
    let moved = leaky.test.remove(0);
    assert_eq!(clips[moved].speaker, "actor_01");
    leaky.train.push(moved);
    let err = check_no_leakage(&leaky, &clips).unwrap_err().to_string();
    assert!(err.contains("fold1of3"), "{err}");
    assert!(
        err.contains("speaker `actor_01` has clips in test and train"),
        "{err}"
    );

    // A clip used twice, one in no split, an index out of range.
    let mut broken = speaker_kfold(&clips, 3, None).unwrap().remove(0);
    let first_train = broken.train[0];
    broken.valid.push(first_train);
    let dropped = broken.test.pop().unwrap();
    broken.test.push(999);
    let err = check_no_leakage(&broken, &clips).unwrap_err().to_string();
    assert!(err.contains(&format!("clip {first_train} (")), "{err}");
    assert!(err.contains("is in train and in valid"), "{err}");
    assert!(
        err.contains(&format!("clip {dropped} (")) && err.contains("in no split"),
        "{err}"
    );
    assert!(
        err.contains("index 999 in test is out of range (54 clips)"),
        "{err}"
    );

    // A speaker listed under two parts leaks too, even if its clips do not.
    let mut listed = speaker_kfold(&clips, 3, None).unwrap().remove(0);
    listed.valid_speakers.push("actor_06".into());
    let err = check_no_leakage(&listed, &clips).unwrap_err().to_string();
    assert!(
        err.contains("speaker `actor_06` is listed under train and valid"),
        "{err}"
    );
}

#[test]
fn speech_holdout_names_its_speakers_and_rejects_bad_ones() {
    let clips = ravdess_clips();
    let split = holdout(
        &clips,
        &[],
        &strings(&["actor_05"]),
        &strings(&["actor_06"]),
    )
    .unwrap();
    check_no_leakage(&split, &clips).unwrap();
    assert_eq!(split.valid.len(), 8);
    assert_eq!(split.test.len(), 8);
    assert_eq!(split.train_speakers.len(), 4);

    let err = holdout(
        &clips,
        &[],
        &strings(&["actor_05"]),
        &strings(&["actor_99"]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown test speaker `actor_99`"), "{err}");
    assert!(err.contains("actor_01, actor_02"), "{err}");
    let err = holdout(
        &clips,
        &[],
        &strings(&["actor_05"]),
        &strings(&["actor_05"]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`actor_05` is in both"), "{err}");
    let err = holdout(&clips, &[], &[], &strings(&["actor_05"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no validation speaker"), "{err}");
    let all = strings(&["actor_01", "actor_02", "actor_03", "actor_04", "actor_05"]);
    let err = holdout(&clips, &[], &all, &strings(&["actor_06"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none is left to train on"), "{err}");

    // With training speakers named, every speaker must be in one list: a speaker in training
    // and test would leak, and an unlisted one is an error rather than a silent trainee.
    let train = strings(&["actor_01", "actor_02", "actor_03", "actor_04"]);
    let split = holdout(
        &clips,
        &train,
        &strings(&["actor_05"]),
        &strings(&["actor_06"]),
    )
    .unwrap();
    check_no_leakage(&split, &clips).unwrap();
    assert_eq!(split.train_speakers, train);
    let leaky = strings(&["actor_01", "actor_02", "actor_03", "actor_06"]);
    let err = holdout(
        &clips,
        &leaky,
        &strings(&["actor_05"]),
        &strings(&["actor_06"]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`actor_06` is in both the training and the test speakers"),
        "{err}"
    );
    let err = holdout(
        &clips,
        &train[..3],
        &strings(&["actor_05"]),
        &strings(&["actor_06"]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("speakers actor_04 are in no list"), "{err}");

    // Clips without speakers cannot be split by speaker.
    let mut anonymous = clips.clone();
    anonymous[3].speaker.clear();
    let err = speaker_kfold(&anonymous, 3, None).unwrap_err().to_string();
    assert!(err.contains("has no speaker"), "{err}");
}

#[test]
fn speech_stratified_random_keeps_class_proportions() {
    // 3 classes of 100, 50 and 10 clips.
    let labels: Vec<usize> = (0..160)
        .map(|i| match i {
            0..100 => 0,
            100..150 => 1,
            _ => 2,
        })
        .collect();
    let split = stratified_random(&labels, 0.1, 0.2, 42).unwrap();
    assert!(!split.speaker_independent);
    let count =
        |indices: &[usize], class: usize| indices.iter().filter(|&&i| labels[i] == class).count();
    assert_eq!(
        [
            count(&split.test, 0),
            count(&split.test, 1),
            count(&split.test, 2)
        ],
        [20, 10, 2]
    );
    assert_eq!(
        [
            count(&split.valid, 0),
            count(&split.valid, 1),
            count(&split.valid, 2)
        ],
        [10, 5, 1]
    );
    assert_eq!(split.train.len(), 160 - 32 - 16);
    let clips: Vec<SpeechClip> = (0..160)
        .map(|i| SpeechClip {
            id: format!("c{i}"),
            path: format!("c{i}.wav").into(),
            text: String::new(),
            emotion: String::new(),
            speaker: String::new(),
            gender: None,
            attrs: BTreeMap::new(),
        })
        .collect();
    check_no_leakage(&split, &clips).unwrap();

    assert_eq!(split, stratified_random(&labels, 0.1, 0.2, 42).unwrap());
    assert_ne!(
        split.test,
        stratified_random(&labels, 0.1, 0.2, 43).unwrap().test
    );

    for (valid, test) in [(0.5, 0.5), (-0.1, 0.2), (f64::NAN, 0.1), (0.1, 1.0)] {
        assert!(
            stratified_random(&labels, valid, test, 1).is_err(),
            "{valid} {test}"
        );
    }
}

#[test]
fn speaker_independence_is_computed_from_the_parts() {
    let clips = ravdess_clips();
    let of = |speakers: &[&str]| -> Vec<usize> {
        (0..clips.len())
            .filter(|&i| speakers.contains(&clips[i].speaker.as_str()))
            .collect()
    };
    // Built without any speaker promise, but the parts keep the actors apart.
    let mut a = SplitAssignment::empty("table".into(), false);
    a.train = of(&["actor_01", "actor_02", "actor_03", "actor_04"]);
    a.valid = of(&["actor_05"]);
    a.test = of(&["actor_06"]);
    assert!(settle_speaker_independence(&mut a, &clips).is_empty());
    assert!(a.speaker_independent);
    assert_eq!(a.test_speakers, ["actor_06"]);
    check_no_leakage(&a, &clips).unwrap();

    // Promised independent, but one test clip belongs to a training actor.
    let mut leaky = a.clone();
    let moved = leaky.train.remove(0);
    leaky.test.push(moved);
    leaky.test.sort_unstable();
    assert_eq!(
        settle_speaker_independence(&mut leaky, &clips),
        ["actor_01"]
    );
    assert!(!leaky.speaker_independent);
    assert!(leaky.test_speakers.is_empty());

    // A clip without a speaker: nothing can be promised, nobody is blamed.
    let mut anonymous = clips.clone();
    anonymous[0].speaker.clear();
    let mut b = a.clone();
    assert!(settle_speaker_independence(&mut b, &anonymous).is_empty());
    assert!(!b.speaker_independent);
}

#[test]
fn speech_table_reads_every_column() {
    let csv = repo_path("tests/fixtures/speech/table.csv");
    let read = read_table(&csv).unwrap();
    assert_eq!(read.clips.len(), 16);
    assert!(read.skipped.is_empty());
    let c = &read.clips[0];
    assert_eq!(c.id, "ravdess/Actor_01/03-01-01-01-01-01-01.wav");
    assert_eq!(
        c.path,
        repo_path("tests/fixtures/speech/ravdess/Actor_01/03-01-01-01-01-01-01.wav")
    );
    assert_eq!(c.emotion, "neutral");
    assert_eq!(c.text, "Kids, talking");
    assert_eq!(c.speaker, "spk1");
    assert_eq!(c.gender, Some(Gender::Male));
    assert_eq!(c.attrs["split"], "train");
    assert_eq!(c.attrs["corpus"], "fixture");
    assert_eq!(c.attrs.len(), 2);
    assert_eq!(
        read.clips[1].attrs["split"], "valid",
        "dev is written as valid"
    );
    assert_eq!(read.clips[8].gender, Some(Gender::Female));

    // Speaker splits work on a manifest as on RAVDESS.
    let folds = speaker_kfold(&read.clips, 3, None);
    assert!(
        folds
            .unwrap_err()
            .to_string()
            .contains("needs at least 3 speakers")
    );
    let split = holdout(&read.clips, &[], &strings(&["spk1"]), &strings(&["spk2"]));
    assert!(
        split
            .unwrap_err()
            .to_string()
            .contains("none is left to train on")
    );
}

/// Writes a manifest next to one empty audio file, `a.wav`, and reads it.
fn read_scratch_table(
    name: &str,
    text: &str,
) -> (
    std::path::PathBuf,
    anyhow::Result<emofuse::data::speech::ReadResult>,
) {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("a.wav"), b"").unwrap();
    let csv = dir.join("manifest.csv");
    std::fs::write(&csv, text).unwrap();
    let read = read_table(&csv);
    (csv, read)
}

#[test]
fn speech_table_minimal_columns_and_ids() {
    let (_, read) = read_scratch_table("speech_table_min", "id,path,label\n007,a.wav,calm\n");
    let read = read.unwrap();
    assert_eq!(read.clips[0].id, "007", "ids stay text");
    assert_eq!(read.clips[0].speaker, "");
    assert_eq!(read.clips[0].gender, None);
    assert!(read.clips[0].attrs.is_empty());
}

#[test]
fn speech_table_errors_name_the_file_line_and_columns() {
    let (csv, read) = read_scratch_table("speech_table_cols", "file,emotion\na.wav,calm\n");
    let err = format!("{:#}", read.unwrap_err());
    assert!(err.contains(&csv.display().to_string()), "{err}");
    assert!(
        err.contains("no `path` column (found: file,emotion)"),
        "{err}"
    );

    let (_, read) = read_scratch_table(
        "speech_table_rows",
        "path,label,gender,split\na.wav,calm,male,train\n,calm,,\na.wav,,female,test\na.wav,sad,x,dev\nmissing.wav,sad,m,eval\n",
    );
    let err = format!("{:#}", read.unwrap_err());
    assert!(err.contains("4 bad row(s) (of 5)"), "{err}");
    assert!(err.contains("line 3: empty `path`"), "{err}");
    assert!(err.contains("line 4: empty `label`"), "{err}");
    assert!(err.contains("line 5: unknown gender `x`"), "{err}");
    assert!(err.contains("line 6: unknown split `eval`"), "{err}");
    assert!(err.contains("missing.wav does not exist"), "{err}");

    let (_, read) = read_scratch_table("speech_table_empty", "path,label\n");
    let err = format!("{:#}", read.unwrap_err());
    assert!(err.contains("no rows"), "{err}");

    let err = format!(
        "{:#}",
        read_table(Path::new("/nonexistent/m.csv")).unwrap_err()
    );
    assert!(err.contains("/nonexistent/m.csv"), "{err}");
}

#[test]
fn speech_table_refuses_a_repeated_id_or_path() {
    let (_, read) = read_scratch_table(
        "speech_table_repeated",
        "id,path,label\nx,a.wav,calm\nx,a.wav,sad\n",
    );
    let err = format!("{:#}", read.unwrap_err());
    assert!(err.contains("1 bad row(s) (of 2)"), "{err}");
    assert!(err.contains("line 3: id `x` repeats line 2"), "{err}");
    // Without an id column the path is the id: the same file listed twice.
    let (_, read) = read_scratch_table(
        "speech_table_repeated_path",
        "path,label\na.wav,calm\na.wav,sad\n",
    );
    let err = format!("{:#}", read.unwrap_err());
    assert!(err.contains("line 3: id `a.wav` repeats line 2"), "{err}");
}
