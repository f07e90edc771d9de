//! `emofuse cache --shard i/n` and `--merge`: shards of the frozen-trunk caches built apart (as
//! on separate machines, each in its own cache folder), copied together and merged, give the
//! bytes of caches built at once; an interrupted shard resumes; a shard built for another key,
//! a missing shard and bad `--shard` values are refused with messages naming them. Runs the
//! binary on a small synthetic corpus with the tiny encoders of tests/fixtures/fusion.

use crate::{repo_path, run_emofuse, scratch_dir};
use emofuse::inference::cache::Shard;
use std::path::Path;

/// `emofuse cache` on the quickstart experiment with both fixture encoders, small splits and
/// small cache batches (text windows of 16, audio of 4), its caches in `cache`, then `extra`.
fn cache(cache: &Path, extra: &[&str]) -> (bool, String) {
    emofuse("cache", cache, extra)
}

/// `emofuse <command>` (`cache` or `train`) on that experiment; runs and reports go beside
/// `cache`.
pub(crate) fn emofuse(command: &str, cache: &Path, extra: &[&str]) -> (bool, String) {
    let (text, audio) = (
        repo_path("tests/fixtures/fusion/roberta-tiny"),
        repo_path("tests/fixtures/fusion/wav2vec2-tiny"),
    );
    let mut sets = vec![
        "data.train_size=40".to_string(),
        "data.valid_size=12".to_string(),
        "data.test_size=12".to_string(),
        "data.clip_seconds=0.5".to_string(),
        "data.max_tokens=16".to_string(),
        format!("model.text.checkpoint=\"{}\"", text.display()),
        format!("model.audio.checkpoint=\"{}\"", audio.display()),
        "model.text.cache_batch=2".to_string(),
        "model.audio.cache_batch=4".to_string(),
        format!("output.cache_dir=\"{}\"", cache.display()),
        format!(
            "output.runs_dir=\"{}\"",
            cache.with_extension("runs").display()
        ),
        format!(
            "output.reports_dir=\"{}\"",
            cache.with_extension("reports").display()
        ),
    ];
    let mut args = vec![
        command.to_string(),
        "experiments/quickstart.toml".to_string(),
    ];
    for set in sets.drain(..) {
        args.push("--set".to_string());
        args.push(set);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_emofuse(&args)
}

fn ok(result: (bool, String), what: &str) -> String {
    assert!(result.0, "{what} failed:\n{}", result.1);
    result.1
}

/// The cache folders under `root` (`<branch>-<split>-<hash>`), sorted.
pub(crate) fn folders(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies `from` into `to` recursively (what `cp -r` or rsync of a cache folder does).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Copies every `shards/` folder of the caches under `from` into the same cache folders under
/// `to`, leaving out the shard folders `skip` names (`<i>-of-<n>`).
fn copy_shards(from: &Path, to: &Path, skip: &[&str]) {
    for name in folders(from) {
        let shards = from.join(&name).join("shards");
        for shard in std::fs::read_dir(&shards).unwrap() {
            let shard = shard.unwrap();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            if !skip.contains(&shard_name.as_str()) {
                copy_tree(
                    &shard.path(),
                    &to.join(&name).join("shards").join(shard_name),
                );
            }
        }
    }
}

/// Asserts that the caches under `a` and `b` are the same folders with the same bytes.
fn assert_same_caches(a: &Path, b: &Path) {
    assert_eq!(folders(a), folders(b), "the same cache folders");
    for name in folders(a) {
        for file in ["key.json", "width", "index.bin", "data.bin", "complete"] {
            let (x, y) = (a.join(&name).join(file), b.join(&name).join(file));
            let (x, y) = (std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
            assert!(
                x == y,
                "{name}/{file} differs: {} vs {} bytes",
                x.len(),
                y.len()
            );
        }
    }
}

#[test]
fn shards_built_apart_and_merged_are_the_caches_built_at_once() {
    let dir = scratch_dir("cache-shards");
    let started = std::time::Instant::now();
    let once = dir.join("once");
    ok(cache(&once, &[]), "the one-shot build");
    // train, valid, test x text, audio.
    assert_eq!(folders(&once).len(), 6, "{:?}", folders(&once));

    // Three "machines", each with its own cache folder and one shard.
    let machine = |i: usize| dir.join(format!("machine-{i}"));
    let mut logs = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        logs.push(ok(
            cache(&machine(i), &["--shard", &shard]),
            &format!("shard {shard}"),
        ));
    }
    // Each shard of the training split holds whole windows of its own (text: 16, audio: 4).
    for (log, text, audio) in [
        (&logs[0], "0..16", "0..12"),
        (&logs[1], "16..32", "12..24"),
        (&logs[2], "32..40", "24..40"),
    ] {
        assert!(
            log.contains(&format!("text train: utterances {text} of 40")),
            "{log}"
        );
        assert!(
            log.contains(&format!("audio train: utterances {audio} of 40")),
            "{log}"
        );
    }

    // An interrupted shard build resumes (after its first window) and ends with the same bytes.
    let shard_dir = |root: &Path, prefix: &str| {
        let name = folders(root)
            .into_iter()
            .find(|n| n.starts_with(prefix))
            .unwrap();
        root.join(name).join("shards").join("2-of-3")
    };
    let audio_shard = shard_dir(&machine(2), "audio-train-");
    let full_data = std::fs::read(audio_shard.join("data.bin")).unwrap();
    let full_index = std::fs::read(audio_shard.join("index.bin")).unwrap();
    std::fs::remove_file(audio_shard.join("complete")).unwrap();
    std::fs::write(audio_shard.join("index.bin"), &full_index[..4 * 4]).unwrap();
    let log = ok(cache(&machine(2), &["--shard", "2/3"]), "the resumed shard");
    assert!(
        log.contains("resuming audio train (utterances 12..24 of 40) at utterance 4 of 12"),
        "{log}"
    );
    assert!(std::fs::read(audio_shard.join("data.bin")).unwrap() == full_data);
    assert_eq!(
        std::fs::read(audio_shard.join("index.bin")).unwrap(),
        full_index
    );

    // Copied into one cache folder and merged: the one-shot caches, byte for byte.
    let merged = dir.join("merged");
    for i in 1..=3 {
        copy_shards(&machine(i), &merged, &[]);
    }
    let log = ok(cache(&merged, &["--merge"]), "the merge");
    assert!(log.contains("merged 3 shards of 40 utterances"), "{log}");
    assert_same_caches(&once, &merged);
    // Merging again finds the caches complete.
    ok(cache(&merged, &["--merge"]), "the second merge");
    assert_same_caches(&once, &merged);

    // Without --merge (as training opens its caches) the shards are merged too.
    let auto = dir.join("auto");
    for i in 1..=3 {
        copy_shards(&machine(i), &auto, &[]);
    }
    let log = ok(cache(&auto, &[]), "the build that finds the shards");
    assert!(
        !log.contains("computing the frozen"),
        "nothing recomputed: {log}"
    );
    assert_same_caches(&once, &auto);
    // And training finds them: copy the shard folders into its cache folder, train.
    let train = dir.join("train");
    for i in 1..=3 {
        copy_shards(&machine(i), &train, &[]);
    }
    let log = ok(
        emofuse("train", &train, &["--set", "training.epochs=1"]),
        "training on the shards",
    );
    assert!(
        log.contains("merged 3 shards of 40 utterances") && !log.contains("computing the frozen"),
        "{log}"
    );
    assert_same_caches(&once, &train);

    // A missing shard: named, by --merge and by the plain build (which does not silently
    // rebuild the whole split).
    let missing = dir.join("missing");
    for i in 1..=3 {
        copy_shards(&machine(i), &missing, &["2-of-3"]);
    }
    for extra in [&["--merge"][..], &[]] {
        let (success, log) = cache(&missing, extra);
        assert!(!success, "a merge without shard 2: {log}");
        assert!(
            log.contains("2-of-3 (missing)") && log.contains("--shard i/n"),
            "{log}"
        );
    }

    // A shard built with another text setting (another key) in place of shard 2: refused,
    // naming it.
    let other = dir.join("other");
    ok(
        cache(&other, &["--shard", "2/3", "--set", "data.max_tokens=12"]),
        "the other shard",
    );
    let mixed = dir.join("mixed");
    for i in 1..=3 {
        copy_shards(&machine(i), &mixed, &[]);
    }
    let target = shard_dir(&mixed, "text-train-");
    std::fs::remove_dir_all(&target).unwrap();
    copy_tree(&shard_dir(&other, "text-train-"), &target);
    let (success, log) = cache(&mixed, &["--merge"]);
    assert!(!success, "a merge with a foreign shard: {log}");
    assert!(
        log.contains(&format!("cannot merge shard {}", target.display()))
            && log.contains("key.json differs"),
        "{log}"
    );
    println!(
        "one-shot build, 3 shards, resume, 5 merges (one by training): {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn bad_shard_values_are_refused_naming_the_flag() {
    let dir = scratch_dir("cache-shards-bad");
    for (value, says) in [
        ("0/3", "there is no shard 0 of 3"),
        ("4/3", "there is no shard 4 of 3"),
        ("1/0", "cannot be cut into 0 shards"),
        ("2", "`2` is not i/n"),
        ("a/b", "`a/b` is not i/n"),
        ("1/2/3", "`1/2/3` is not i/n"),
    ] {
        let (success, log) = cache(&dir, &["--shard", value]);
        assert!(!success, "--shard {value}: {log}");
        assert!(
            log.contains("--shard") && log.contains(says),
            "--shard {value}: {log}"
        );
    }
    let (success, log) = cache(&dir, &["--shard", "1/2", "--merge"]);
    assert!(!success && log.contains("cannot be used with"), "{log}");
    // Nothing was built.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn shards_are_whole_windows_that_cover_the_split_once() {
    for (total, window, count) in [
        (40, 16, 3),
        (40, 4, 3),
        (12, 16, 3),
        (1000, 256, 7),
        (0, 8, 2),
    ] {
        let mut next = 0;
        for index in 1..=count {
            let range = Shard::new(index, count).unwrap().range(total, window);
            assert_eq!(range.start, next, "{total} {window} {index}/{count}");
            assert!(range.start.is_multiple_of(window) || range.start == total);
            next = range.end;
        }
        assert_eq!(next, total, "{total} {window} {count}");
    }
    // As even as whole windows allow: 10 windows in 3 shards are 3, 3 and 4.
    let sizes: Vec<usize> = (1..=3)
        .map(|i| Shard::new(i, 3).unwrap().range(40, 4).len())
        .collect();
    assert_eq!(sizes, vec![12, 12, 16]);
}
