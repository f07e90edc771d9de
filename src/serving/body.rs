//! Request bodies under limits: a body that must arrive within a time (whole, and without a
//! stall between chunks), and the server-wide budget of upload bytes in flight.

use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Why a request body stopped arriving in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyTimeout {
    /// The whole body took longer than this.
    Whole(Duration),
    /// No bytes came for this long.
    Stalled(Duration),
}

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyTimeout::Whole(d) => write!(
                f,
                "the upload did not arrive within {:.0} s: send a smaller file, or from a faster \
                 connection",
                d.as_secs_f64()
            ),
            BodyTimeout::Stalled(d) => write!(
                f,
                "the upload stalled (no bytes for {:.0} s, or fewer bytes than its Content-Length): \
                 send the whole file",
                d.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for BodyTimeout {}

/// The [`BodyTimeout`] behind an error, if one is in its chain of sources (a multipart error
/// wraps the body's error a few levels deep).
pub fn body_timeout_of(error: &(dyn std::error::Error + 'static)) -> Option<BodyTimeout> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(timeout) = e.downcast_ref::<BodyTimeout>() {
            return Some(*timeout);
        }
        next = e.source();
    }
    None
}

/// A body that fails with a [`BodyTimeout`] when it is not complete within `whole`, or when no
/// chunk comes for `stall`: a client cannot hold a request (and its buffers) open by sending
/// slowly, or by sending fewer bytes than it announced.
pub struct TimedBody {
    inner: Body,
    whole: Duration,
    stall: Duration,
    deadline: Pin<Box<Sleep>>,
    stall_deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    /// `inner`, timed from now.
    pub fn new(inner: Body, whole: Duration, stall: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            whole,
            stall,
            deadline: Box::pin(tokio::time::sleep_until(now + whole)),
            stall_deadline: Box::pin(tokio::time::sleep_until(now + stall)),
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.stall;
                this.stall_deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    let e = axum::Error::new(BodyTimeout::Whole(this.whole));
                    return Poll::Ready(Some(Err(e)));
                }
                if this.stall_deadline.as_mut().poll(cx).is_ready() {
                    let e = axum::Error::new(BodyTimeout::Stalled(this.stall));
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The bytes of uploads the server holds at once, across requests: each request reserves its
/// size before its body is read, and gives it back when its prediction has finished (the bytes,
/// decoded, live until then).
#[derive(Clone)]
pub struct UploadBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// Bytes reserved from an [`UploadBudget`], given back on drop.
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
}

impl UploadBudget {
    /// A budget of `total` bytes (at most 4 GB: the semaphore counts in u32 steps).
    pub fn new(total: usize) -> Self {
        let total = total.min(u32::MAX as usize);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The budget, in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Reserves `bytes` now, or `None` when the other uploads in flight leave too little.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        if bytes == 0 {
            return Some(Reservation { _permit: None });
        }
        let n = u32::try_from(bytes.min(self.total)).unwrap_or(u32::MAX);
        Arc::clone(&self.bytes)
            .try_acquire_many_owned(n)
            .ok()
            .map(|permit| Reservation {
                _permit: Some(permit),
            })
    }
}
