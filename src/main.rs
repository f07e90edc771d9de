//! `emofuse`: see `emofuse --help`.

use clap::Parser;

fn main() {
    tune_allocator();
    quiet_caught_decoder_panics();
    let cli = emofuse::cli::Cli::parse();
    if let Err(error) = emofuse::cli::run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// A panic inside the audio decoders is caught and reported as that file's error (see
/// `emofuse::audio::guard`): the default hook's "thread panicked at ..." would only repeat it as
/// noise, so it stays silent there. Every other panic is printed as usual, and caught ones too
/// with `EMOFUSE_SHOW_DECODER_PANICS=1`, whose location belongs in the upstream bug report.
fn quiet_caught_decoder_panics() {
    let show = std::env::var_os("EMOFUSE_SHOW_DECODER_PANICS").is_some_and(|v| v != "0");
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if show || !emofuse::audio::inside_guard() {
            default(info);
        }
    }));
}

/// glibc returns large freed blocks to the kernel (munmap, heap trimming), so every tensor
/// buffer of a forward pass page-faults in again: measured 12-20% of a roberta-base forward on
/// the CPU backend. Keep them: mmap only above 32 MiB (glibc's maximum threshold) and trim the
/// heap only above 1 GiB of free memory. Environment variables (`MALLOC_*_`) still override.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = |name: &str| std::env::var_os(name).is_some();
        // SAFETY: mallopt only changes allocator parameters; called before any other thread
        // exists.
        unsafe {
            if !user_set("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            }
            if !user_set("MALLOC_TRIM_THRESHOLD_") {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        }
    }
}
