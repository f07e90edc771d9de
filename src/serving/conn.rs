//! The connections of `emofuse serve`: an accept loop over hyper's HTTP/1 connections with the
//! limits `axum::serve` does not expose: a time to send a request's headers, an idle time
//! after which a kept-alive connection is closed, and a cap on open connections. At the cap an
//! idle connection (no request in progress) is closed to make room, so that a crowd of silent
//! connections cannot lock everyone else out; only when every connection is busy is the new one
//! answered 503 and closed.

use super::memory::InFlight;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

/// The connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request's headers must be complete within this time of the connection opening or of
    /// the previous answer on it.
    pub header_timeout: Duration,
    /// A connection that sends nothing for this long (after opening, or after an answer) is
    /// closed.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// One open connection, as the accept loop and its own task see it.
struct Tracked {
    /// Requests being answered on it (hyper calls the service once headers are complete).
    busy: AtomicUsize,
    /// Bytes read from the socket so far.
    bytes_read: AtomicU64,
    /// When it last became idle, and `bytes_read` then: idle means nothing read since.
    idle_mark: Mutex<(Instant, u64)>,
    /// Asks its task to close it (gracefully: an answer in progress is finished first).
    close: Notify,
}

impl Tracked {
    fn new() -> Self {
        Self {
            busy: AtomicUsize::new(0),
            bytes_read: AtomicU64::new(0),
            idle_mark: Mutex::new((Instant::now(), 0)),
            close: Notify::new(),
        }
    }

    fn mark_idle(&self) {
        let bytes = self.bytes_read.load(Ordering::SeqCst);
        *self.idle_mark.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), bytes);
    }

    /// When it became idle, if it is idle now (no request, nothing read since).
    fn idle_since(&self) -> Option<Instant> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let (since, bytes) = *self.idle_mark.lock().unwrap_or_else(|e| e.into_inner());
        (self.bytes_read.load(Ordering::SeqCst) == bytes).then_some(since)
    }

    /// Resolves when it has been idle for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            match self.idle_since() {
                Some(since) if since.elapsed() >= timeout => return,
                Some(since) => tokio::time::sleep_until(since + timeout).await,
                None => tokio::time::sleep(timeout).await,
            }
        }
    }
}

/// Counts a request on its connection while it is answered (also when the client goes away
/// and the answer is dropped).
struct Busy(Arc<Tracked>);

impl Busy {
    fn new(tracked: &Arc<Tracked>) -> Self {
        tracked.busy.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(tracked))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.mark_idle();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, by id.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<Tracked>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// Registers a new connection, closing the longest-idle one when `max` are open; `None`
    /// when `max` are open and all busy.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Tracked>)> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= max.max(1) {
            let victim = open
                .iter()
                .filter_map(|(&id, t)| t.idle_since().map(|since| (since, id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(tracked) = open.remove(&victim) {
                tracked.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let tracked = Arc::new(Tracked::new());
        open.insert(id, Arc::clone(&tracked));
        Some((id, tracked))
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// A socket that counts the bytes read from it (what tells an idle connection from one whose
/// client is still sending).
struct Counted {
    stream: TcpStream,
    tracked: Arc<Tracked>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            this.tracked
                .bytes_read
                .fetch_add(read as u64, Ordering::SeqCst);
        }
        result
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The answer to a connection over the limit when every open one is busy.
const TOO_MANY: &str = "{\"error\": \"the server has too many connections in progress: retry in a \
                        few seconds\"}";

fn refuse(stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: \
         2\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{TOO_MANY}",
        TOO_MANY.len()
    );
    // Best effort, without waiting: the point is to let go of the socket at once.
    let _ = stream.try_write(answer.as_bytes());
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, lets every open
/// connection finish the request it is answering, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    // The buffers of a connection are freed when it closes, after its last request.
    let open = Arc::new(AtomicUsize::new(0));
    let (shutdown, shutting_down) = watch::channel(false);
    // Every connection task holds a sender: `recv` returns `None` once all have finished.
    let (running, mut all_done) = mpsc::channel::<()>(1);
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors or memory, or a connection reset before it was accepted:
                // wait a little rather than spin, then go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Some((id, tracked)) = registry.admit(limits.max_connections) else {
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let registry = Arc::clone(&registry);
        let app = TowerToHyperService::new(app.clone());
        let mut shutting_down = shutting_down.clone();
        let running = running.clone();
        let open = InFlight::new(&open);
        tokio::spawn(async move {
            let _running = running;
            let on_request = Arc::clone(&tracked);
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let busy = Busy::new(&on_request);
                let answer = app.call(request);
                async move {
                    let response = answer.await;
                    drop(busy);
                    response
                }
            });
            let io = TokioIo::new(Counted {
                stream,
                tracked: Arc::clone(&tracked),
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    // Errors are the client's (a reset, a malformed request, a timeout): the
                    // connection is over either way.
                    _ = connection.as_mut() => break,
                    () = tracked.close.notified(), if !closing => closing = true,
                    _ = shutting_down.changed(), if !closing => closing = true,
                    () = tracked.idle_for(limits.idle_timeout), if !closing => closing = true,
                }
                if closing {
                    connection.as_mut().graceful_shutdown();
                }
            }
            registry.remove(id);
            drop(open);
        });
    }
    // Refuse new connections while the open ones finish.
    drop(listener);
    let _ = shutdown.send(true);
    drop(running);
    all_done.recv().await;
    Ok(())
}
