//! emofuse's test suite, in one binary so the library is linked once.

mod architecture;
mod audio;
mod augment;
mod batch_predict;
mod bench;
mod cache_key;
mod cache_shards;
mod cli;
mod committed_reports;
mod config;
mod context;
mod cpu_kernels;
mod crossval;
mod end_to_end;
mod export;
mod features;
mod fusion;
mod fuzz;
mod grad_clip;
mod hostile_audio;
mod labels;
mod manifest;
mod metrics;
mod recipe;
mod reports;
mod roberta;
mod serve;
mod serve_limits;
mod speech;
mod sweep;
mod synthetic;
mod text;
mod tokenizer;
mod training;
mod wav2vec2;
#[cfg(feature = "wgpu")]
mod wgpu;

use emofuse::experiment::Experiment;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The backend's random generator is process-wide (`Device::seed`), so training runs that must
/// be reproducible cannot overlap in one process: the tests take turns.
pub static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether the suite runs in CI: `CI` is `true` (or `1`), as CI services and `.ci/run` set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// For a test whose prerequisite is missing: locally it returns (the caller returns and the test
/// passes) after printing why; in CI ([`in_ci`]) it fails the test with that reason, because
/// libtest hides a passing test's output and a silent skip would let CI pass without the test.
pub fn skip_unless_ci(test: &str, why: &str) {
    assert!(!in_ci(), "{test} cannot run, and CI=true: {why}");
    println!("SKIPPED {test}: {why}");
}

/// A fresh, empty folder for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("emofuse-tests")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("can clear scratch dir");
    }
    std::fs::create_dir_all(&dir).expect("can create scratch dir");
    dir
}

/// Path of a file in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs the `emofuse` binary from the repository root: (success, stdout + stderr).
pub fn run_emofuse(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_emofuse"))
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .expect("binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The overrides that name an experiment `name` and put its runs, reports and caches under
/// `dir`.
pub fn output_in(dir: &Path, name: &str) -> Vec<String> {
    let mut all = vec![format!("output.name=\"{name}\"")];
    for (key, sub) in [
        ("runs_dir", "runs"),
        ("reports_dir", "reports"),
        ("cache_dir", "cache"),
    ] {
        all.push(format!("output.{key}=\"{}\"", dir.join(sub).display()));
    }
    all
}

/// An experiment named `name`: the defaults with `sets` (`key=value` overrides, as `--set`
/// takes them) applied, writing its runs, reports and caches under `dir`.
pub fn experiment_in<S: AsRef<str>>(dir: &Path, name: &str, sets: &[S]) -> Experiment {
    let mut all = output_in(dir, name);
    all.extend(sets.iter().map(|s| s.as_ref().to_string()));
    Experiment::from_toml_str("", &all, name).unwrap()
}

/// Largest absolute difference between two equally long value lists.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "same number of values");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every parameter tensor of a module, flattened, in visiting order.
pub fn parameters<M: burn::module::Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec()
                    .unwrap(),
            );
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}
