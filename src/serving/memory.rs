//! Giving memory back after a burst. The binary tells glibc to keep freed blocks (so that
//! tensor buffers are not page-faulted in again on every forward pass, see main.rs); a server
//! would then keep the high-water mark of a burst of uploads and decodes resident for good.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::core::memory::release_memory;

/// glibc's trim threshold while serving: 4 MiB instead of the binary's 1 GiB. `malloc_trim`
/// does not shrink the top of a thread's own arena (only the main one's); glibc shrinks those
/// on `free` when more than the threshold is free at their top. Measured on a burst of 100
/// uploads of 1 MB: 46 MB left resident above the baseline with 1 GiB, 1 MB with 4 MiB.
const SERVING_TRIM_THRESHOLD: i32 = 4 << 20;

/// Tunes the allocator for a long-running server: freed memory above a few MiB goes back to
/// the system rather than staying for the next forward pass (one utterance's tensors are
/// small). `MALLOC_TRIM_THRESHOLD_` in the environment still wins.
pub fn tune_for_serving() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
        // SAFETY: mallopt only changes allocator parameters, under glibc's own lock.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, SERVING_TRIM_THRESHOLD);
        }
    }
}

/// Counts something in flight (a request, a connection); the last one to end calls
/// [`release_memory`].
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// One more in `count`.
    pub fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            release_memory();
        }
    }
}
