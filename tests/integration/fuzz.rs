//! The fuzz campaigns CI runs (bounded; `emofuse fuzz <target> --seconds 600` is the long
//! mode), and the campaign runner's own contract: findings are caught, saved and replayable.

use crate::{repo_path, scratch_dir};
use emofuse::core::events::Silent;
use emofuse::fuzz::mutate::Mutator;
use emofuse::fuzz::{self, Campaign, Seed, Target, Verdict};
use std::path::Path;
use std::time::Duration;

/// Runs `emofuse fuzz <target>` as a child process (so that an abort is a failed exit status
/// rather than the end of the test binary) and returns its summary line; fails with the
/// reproducer's path when the campaign found something or died.
pub fn campaign(target: &str, cases: u64, seed: u64) -> String {
    let out = scratch_dir(&format!("fuzz-{target}"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_emofuse"))
        .args(["fuzz", target, "--cases", &cases.to_string()])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(&out)
        .current_dir(repo_path(""))
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "fuzz {target} failed ({}); the case being run is kept in {}; findings: {}\n{stdout}\n{stderr}",
        output.status,
        out.display(),
        std::fs::read_to_string(out.join("findings.txt")).unwrap_or_default()
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with(&format!("fuzz {target}: ")))
        .unwrap_or_else(|| panic!("no summary line: {stdout}"))
        .to_string();
    assert!(
        summary.contains(&format!("fuzz {target}: {cases} cases"))
            && summary.contains(" 0 findings"),
        "{summary}"
    );
    summary
}

#[test]
fn experiment_toml_campaign_finds_nothing() {
    let summary = campaign("experiment", 1500, 11);
    // The campaign must reach both sides: experiments refused with an error, and mutated ones
    // still valid enough to build and probe.
    let count = |what: &str| -> u64 {
        let before = summary.split(what).next().unwrap();
        before.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count(" accepted") > 100, "{summary}");
    assert!(count(" refused with an error") > 500, "{summary}");
}

#[test]
fn audio_campaign_finds_nothing() {
    // Seed 12 reached, before the fixes, an MP4 whose ftyp follows junk bytes (an abort).
    let summary = campaign("audio", 3000, 12);
    let count = |what: &str| -> u64 {
        let before = summary.split(what).next().unwrap();
        before.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count(" accepted") > 300, "{summary}");
    assert!(count(" refused with an error") > 1000, "{summary}");
    // residue_classbook.ogg and its mutations: symphonia panics, caught at the guard.
    assert!(
        count(" refused after a caught upstream panic") > 0,
        "{summary}"
    );
}

#[test]
fn server_campaign_finds_nothing() {
    // Mutated requests, cut-off and stalled clients against a served tiny model: no 500, and
    // /health answers after every case. About 10 s (stalled clients wait for the 1 s timeouts).
    campaign("server", 300, 17);
}

/// A target with a bug planted: it panics on inputs that start with `!`, and answers wrongly on
/// inputs that start with `'`.
struct Planted {
    seeds: Vec<Seed>,
}

impl Target for Planted {
    fn name(&self) -> &'static str {
        "planted"
    }

    fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    fn run(&mut self, input: &[u8]) -> Verdict {
        match input.first() {
            Some(b'!') => panic!("planted bug"),
            Some(b'\'') => Verdict::Wrong("planted wrong answer".into()),
            _ => Verdict::Refused("fine".into()),
        }
    }
}

#[test]
fn campaign_catches_saves_and_replays_a_planted_panic() {
    quiet_planted_panics();
    let out = scratch_dir("fuzz-planted");
    // `#` (0x23) is one bit flip away from `!` (0x21) and from `'` (0x27).
    let mut target = Planted {
        seeds: vec![Seed {
            name: "hash".into(),
            bytes: b"#abc".to_vec(),
        }],
    };
    let campaign = Campaign {
        cases: 3000,
        seconds: None,
        seed: 5,
        case_budget: Duration::from_secs(5),
        hang_after: Duration::from_secs(60),
        max_rss_bytes: None,
        out: out.clone(),
    };
    let summary = fuzz::run(&mut target, &campaign, &Silent).unwrap();
    assert_eq!(summary.cases, 3000);
    let panics: Vec<_> = summary
        .findings
        .iter()
        .filter(|f| f.kind == "panic")
        .collect();
    let wrong: Vec<_> = summary
        .findings
        .iter()
        .filter(|f| f.kind == "wrong")
        .collect();
    assert!(
        !panics.is_empty() && !wrong.is_empty(),
        "{:?}",
        summary.findings
    );
    assert_eq!(panics.len() + wrong.len(), summary.findings.len());
    assert_eq!(
        summary.refused + summary.findings.len() as u64,
        3000,
        "every case is counted once"
    );
    let first = panics[0];
    assert_eq!(first.detail, "planted bug");
    assert_eq!(std::fs::read(&first.file).unwrap()[0], b'!');
    let verdict = fuzz::replay(&mut target, &first.file).unwrap();
    assert_eq!(verdict, Verdict::Wrong("panic: planted bug".into()));
    let findings = std::fs::read_to_string(out.join("findings.txt")).unwrap();
    assert!(findings.contains(&format!("case {} panic: planted bug", first.case)));
    assert!(
        !Path::new(&out.join("current.bin")).exists(),
        "removed after the campaign"
    );

    // The same seed gives the same cases.
    let again = fuzz::run(&mut target, &campaign, &Silent).unwrap();
    let cases = |s: &fuzz::Summary| s.findings.iter().map(|f| f.case).collect::<Vec<_>>();
    assert_eq!(cases(&again), cases(&summary));
}

/// Keeps the planted panics (hundreds) out of the test output; every other panic is printed by
/// the hook that was there before.
fn quiet_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planted = info.payload().downcast_ref::<&str>() == Some(&"planted bug");
            if !planted {
                previous(info);
            }
        }));
    });
}

#[test]
fn mutator_is_deterministic_and_reaches_every_kind_of_change() {
    let input: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let (mut a, mut b) = (Mutator::new(3), Mutator::new(3));
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..500 {
        let (x, mx) = a.mutate(&input);
        let (y, my) = b.mutate(&input);
        assert_eq!(x, y);
        assert_eq!(mx, my);
        for m in mx {
            kinds.insert(m.to_string().split(' ').next().unwrap().to_string());
        }
    }
    // flip, u8/u16/u32/u64 fields, truncate, duplicate, delete, scramble.
    for kind in ["flip", "truncate", "duplicate", "delete", "scramble"] {
        assert!(kinds.contains(kind), "{kind} never drawn: {kinds:?}");
    }
    assert!(kinds.iter().any(|k| k.starts_with("u32")), "{kinds:?}");
}
