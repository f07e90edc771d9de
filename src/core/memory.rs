//! Giving freed heap memory back to the system.
//!
//! The binary tells glibc to keep freed blocks (so that tensor buffers are not page-faulted in
//! again on every forward pass, see main.rs). Two places want them returned once: after a model
//! is built (its load-time copies are garbage the forward never reuses) and after a server's
//! burst of requests.

/// Returns the heap's free memory to the system (glibc on Linux; elsewhere nothing to do).
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
