//! The text of a caught panic, for the boundaries that turn one into an error (a decoder, the
//! model probe, a fuzz case).

/// The message of a panic payload (`&str` or `String`, as `panic!` makes them).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
