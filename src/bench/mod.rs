//! Benchmarks behind `emofuse bench`. They print times and ratios against a reference measured
//! in the same process; they never assert speed.

pub mod audio_encoder;
pub mod backends;
pub mod device;
pub mod features;
pub mod fusion;
pub mod text;

/// Runs `f` `warmup` times untimed, then `repeats` times (at least once) timed; returns the
/// mean and the minimum in milliseconds.
pub fn time_ms(warmup: usize, repeats: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..warmup {
        f();
    }
    let times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (mean, times.iter().copied().fold(f64::INFINITY, f64::min))
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    Some(memory_kib("VmHWM")? as f64 / 1024.0)
}

/// A memory figure of this process in KiB from Linux's `/proc/self/status` (`VmRSS`, `VmHWM`,
/// ...), if known.
pub fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    line.split_whitespace().nth(1)?.parse().ok()
}
