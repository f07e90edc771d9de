//! The one boundary between emofuse and the third-party decoders (symphonia) and resampler
//! (rubato): a panic inside them becomes that file's [`DecoderPanic`] error instead of aborting
//! a batch, a training run or a server request.
//!
//! The default panic hook would still print "thread '...' panicked at ..." on stderr: a binary
//! that wants a caught decoder panic to stay quiet installs a hook that returns early while
//! [`inside_guard`] is true (`src/main.rs` does). Library code never prints.

use crate::core::panic::panic_message;
use anyhow::Result;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// Nesting depth of [`guard`] calls on this thread (a panic hook runs on the panicking one).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A third-party decoder or resampler panicked on this input: a bug in that library (found
/// with `anyhow::Error::downcast_ref`). The input is still bad or unusual, so it is reported as
/// that input's error; the message asks for the file to be reported upstream.
#[derive(Debug, Clone)]
pub struct DecoderPanic {
    /// The library that panicked ("symphonia", "rubato").
    pub library: &'static str,
    /// What it was doing ("decoding", "resampling 22050 Hz to 16000 Hz"); the caller's
    /// context names the file.
    pub what: String,
    /// The panic's message.
    pub message: String,
}

impl std::fmt::Display for DecoderPanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the audio decoder ({}) crashed while {} ({}): the file is damaged or unusual, and \
             this is a decoder bug worth reporting (with the file) to {}",
            self.library, self.what, self.message, self.library
        )
    }
}

impl std::error::Error for DecoderPanic {}

/// Whether this thread is inside [`guard`]: a panic now is caught and reported as an error, so
/// a panic hook may stay silent.
pub fn inside_guard() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Runs `work` (`library` doing `what`: "decoding", "resampling ..."), turning a panic into a
/// [`DecoderPanic`].
pub fn guard<T>(library: &'static str, what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    DEPTH.with(|d| d.set(d.get() + 1));
    // The decoder state that a panic may leave half-updated is dropped with the closure.
    let outcome = catch_unwind(AssertUnwindSafe(work));
    DEPTH.with(|d| d.set(d.get() - 1));
    outcome.unwrap_or_else(|payload| {
        Err(anyhow::Error::new(DecoderPanic {
            library,
            what: what.to_string(),
            message: panic_message(payload.as_ref()),
        }))
    })
}
