//! The HTTP side of `emofuse serve`: the demo page, `POST /api/predict` and `GET /health`.
//!
//! Every answer is JSON except the page; every error is `{"error": "<what to do>"}` with a 4xx
//! status for the client's mistakes (missing or empty input, a malformed or too slow upload,
//! unsupported or corrupt audio, an upload over the limit), 503 when the server is too busy
//! (with `Retry-After`), and 500 only for failures inside, which never stop the server: a panic
//! in the model is caught with the request it belongs to.
//!
//! Every resource a client can hold is bounded (see [`ServeOptions`]): connections, the time to
//! send headers and body, idle kept-alive connections, the upload bytes held across requests,
//! and the time a prediction may take.

use super::body::{Reservation, TimedBody, UploadBudget, body_timeout_of};
use super::conn::{self, ConnLimits};
use super::memory::InFlight;
use super::predictor::{
    AudioFile, InputError, PredictError, Prediction, PredictionInput, Predictor,
};
use anyhow::{Context, Result, anyhow};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// The single page: text box, upload, recording, chart. Self-contained (no network).
const PAGE: &str = include_str!("page.html");

/// Audio formats the server decodes, as users name them.
pub const AUDIO_FORMATS: &str = "WAV, FLAC, MP3, Ogg Vorbis, M4A (AAC)";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Largest request body accepted, in bytes (the audio file and the text together).
    pub max_upload_bytes: usize,
    /// Upload bytes held at once across all requests (at least `max_upload_bytes`): a request
    /// that would go over is answered 503 with `Retry-After` before its body is read.
    pub max_inflight_upload_bytes: usize,
    /// Predictions computed at the same time; more requests wait their turn.
    pub workers: usize,
    /// Connections open at once; at the limit the longest-idle one is closed to make room, and
    /// when all are busy the new one is answered 503 and closed.
    pub max_connections: usize,
    /// A request's headers must arrive within this time of the connection opening (or of the
    /// previous answer on a kept-alive connection).
    pub header_timeout: Duration,
    /// A connection that sends nothing for this long after opening or after an answer is closed.
    pub idle_timeout: Duration,
    /// A request's whole body must arrive within this time of its headers (408 otherwise).
    pub body_timeout: Duration,
    /// A body that sends no bytes for this long is given up (408): also what ends a body shorter
    /// than its Content-Length.
    pub body_stall_timeout: Duration,
    /// The time from a complete upload to its answer (waiting for a worker, decoding,
    /// predicting); over it the client gets 503. The work itself runs to its end, but keeps its
    /// worker, so abandoned work cannot pile up.
    pub predict_timeout: Duration,
    /// Print one line per request to stderr.
    pub log_requests: bool,
    /// Stop (after the requests in flight) on Ctrl-C or SIGTERM.
    pub stop_on_signal: bool,
}

impl Default for ServeOptions {
    /// 127.0.0.1:7860 (Gradio's port), 10 MB uploads and 100 MB of them in flight, one worker
    /// per core, 512 connections, 10 s for headers, 5 s idle, 60 s for a body (10 s without a
    /// byte), 60 s per prediction, quiet, no signal handling.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7860)),
            max_upload_bytes: 10 * 1_000_000,
            max_inflight_upload_bytes: 100 * 1_000_000,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(60),
            body_stall_timeout: Duration::from_secs(10),
            predict_timeout: Duration::from_secs(60),
            log_requests: false,
            stop_on_signal: false,
        }
    }
}

impl ServeOptions {
    /// The limits as `GET /health` reports them (sizes in bytes, times in seconds).
    pub fn limits_json(&self) -> Value {
        json!({
            "max_upload_bytes": self.max_upload_bytes,
            "max_inflight_upload_bytes": self.max_inflight_upload_bytes,
            "workers": self.workers,
            "max_connections": self.max_connections,
            "header_timeout_s": self.header_timeout.as_secs_f64(),
            "idle_timeout_s": self.idle_timeout.as_secs_f64(),
            "body_timeout_s": self.body_timeout.as_secs_f64(),
            "body_stall_timeout_s": self.body_stall_timeout.as_secs_f64(),
            "predict_timeout_s": self.predict_timeout.as_secs_f64(),
        })
    }
}

#[derive(Clone)]
struct AppState {
    predictor: Arc<Predictor>,
    workers: Arc<Semaphore>,
    uploads: UploadBudget,
    in_flight: Arc<AtomicUsize>,
    options: Arc<ServeOptions>,
}

/// The application: routes, body limits, JSON fallbacks. Exposed so that tests can call it
/// without a socket (the connection limits of [`ServeOptions`] need [`Server`]).
pub fn router(predictor: Arc<Predictor>, options: &ServeOptions) -> Router {
    let state = AppState {
        predictor,
        workers: Arc::new(Semaphore::new(options.workers.max(1))),
        uploads: UploadBudget::new(
            options
                .max_inflight_upload_bytes
                .max(options.max_upload_bytes),
        ),
        in_flight: Arc::new(AtomicUsize::new(0)),
        options: Arc::new(options.clone()),
    };
    let (whole, stall) = (options.body_timeout, options.body_stall_timeout);
    let app = Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/api/predict", post(predict))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_upload_bytes))
        .layer(middleware::map_request(
            move |request: Request| async move {
                request.map(|body| Body::new(TimedBody::new(body, whole, stall)))
            },
        ))
        .with_state(state);
    if options.log_requests {
        app.layer(middleware::from_fn(log_request))
    } else {
        app
    }
}

/// A running server: listening on its own threads until [`Server::stop`] (or Ctrl-C).
pub struct Server {
    addr: SocketAddr,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Binds `options.addr` and starts serving `predictor` in the background.
    pub fn start(predictor: Arc<Predictor>, options: ServeOptions) -> Result<Self> {
        if options.max_inflight_upload_bytes < options.max_upload_bytes {
            return Err(anyhow!(
                "the upload bytes in flight ({}) must be at least the largest upload ({}): one \
                 upload must fit",
                options.max_inflight_upload_bytes,
                options.max_upload_bytes
            ));
        }
        let listener = std::net::TcpListener::bind(options.addr).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "another program uses this port: stop it, or pass --addr 127.0.0.1:<other port> \
                     (port 0 picks a free one)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "ports below 1024 need privileges: pick a port above 1024"
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "this machine has no such address: use 127.0.0.1 (this machine only) or \
                     0.0.0.0 (every interface)"
                }
                _ => "check --addr",
            };
            anyhow!("cannot listen on {}: {e}; {hint}", options.addr)
        })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = router(predictor, &options);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("emofuse-serve")
            .enable_all()
            .build()
            .context("cannot start the server's async runtime")?;
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        let on_signal = options.stop_on_signal;
        let limits = ConnLimits {
            header_timeout: options.header_timeout,
            idle_timeout: options.idle_timeout,
            max_connections: options.max_connections,
        };
        let thread = std::thread::Builder::new()
            .name("emofuse-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if on_signal {
                        let stop = Arc::clone(&stopped);
                        tokio::spawn(async move {
                            if stop_signal().await.is_ok() {
                                eprintln!("stopping: answering the requests in flight first");
                                stop.notify_one();
                            }
                        });
                    }
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    conn::serve(listener, app, limits, async move {
                        stopped.notified().await;
                    })
                    .await
                })
            })?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Blocks until the server stops (Ctrl-C or SIGTERM, with `stop_on_signal`).
    pub fn wait(mut self) -> Result<()> {
        self.join()
    }

    /// Stops accepting connections, answers the requests in flight, and returns.
    pub fn stop(mut self) -> Result<()> {
        self.stop.notify_one();
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow!("the server thread panicked"))?
                .context("the server failed"),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.notify_one();
            let _ = self.join();
        }
    }
}

/// Ctrl-C, or SIGTERM (what `kill`, systemd and container runtimes send) on Unix.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    /// `Retry-After`, in seconds, for answers that say "later".
    retry_after: Option<u32>,
    /// Close the connection after this answer (its body was not read to the end).
    close: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            close: false,
        }
    }

    fn busy(message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<PredictError> for ApiError {
    fn from(error: PredictError) -> Self {
        let status = match &error {
            PredictError::Input(InputError::Missing(_) | InputError::EmptyText) => {
                StatusCode::BAD_REQUEST
            }
            PredictError::Input(InputError::UnsupportedAudio(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            PredictError::Input(InputError::CorruptAudio(_) | InputError::Unscorable) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            PredictError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

/// The JSON answer of a prediction: `{"label", "probabilities"}` (class order), `audio` (what
/// was read: name, seconds, sample rate, channels) when the model reads audio, `windows` (the
/// timeline of a recording longer than one window: `start`, `end` in seconds, `label`,
/// `probabilities`), and `ignored` and `warnings` when there are any.
pub fn prediction_json(prediction: &Prediction) -> Value {
    let probabilities: Map<String, Value> = prediction
        .probabilities
        .iter()
        .map(|(name, p)| (name.clone(), json!(p)))
        .collect();
    let mut answer = json!({
        "label": prediction.label,
        "probabilities": probabilities,
    });
    if !prediction.ignored.is_empty() {
        let ignored: Vec<&str> = prediction.ignored.iter().map(|&m| m.name()).collect();
        answer["ignored"] = json!(ignored);
    }
    if let Some(audio) = &prediction.audio {
        answer["audio"] = json!({
            "name": audio.name,
            "seconds": audio.seconds,
            "sample_rate": audio.sample_rate,
            "channels": audio.channels,
        });
    }
    if !prediction.windows.is_empty() {
        let names = prediction.probabilities.iter().map(|(name, _)| name);
        let windows: Vec<Value> = prediction
            .windows
            .iter()
            .map(|w| {
                let probabilities: Map<String, Value> = names
                    .clone()
                    .zip(&w.probabilities)
                    .map(|(name, p)| (name.clone(), json!(p)))
                    .collect();
                json!({
                    "start": w.start,
                    "end": w.end,
                    "label": w.label,
                    "probabilities": probabilities,
                })
            })
            .collect();
        answer["windows"] = json!(windows);
    }
    if !prediction.warnings.is_empty() {
        answer["warnings"] = json!(prediction.warnings);
    }
    answer
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    let p = &state.predictor;
    let modalities: Vec<&str> = p.modalities().iter().map(|&m| m.name()).collect();
    Json(json!({
        "status": "ok",
        "run": p.name(),
        "modalities": modalities,
        "labels": p.labels(),
        "sample_rate": p.sample_rate(),
        "clip_seconds": p.clip_seconds(),
        "window": {
            "seconds": p.windowing().window,
            "hop": p.windowing().hop,
            "aggregate": p.windowing().aggregate.as_str(),
        },
        "past_context": p.reads_past_context(),
        "max_upload_bytes": state.options.max_upload_bytes,
        "audio_formats": AUDIO_FORMATS,
        "limits": state.options.limits_json(),
    }))
}

/// Most parts a prediction request may have (a form sends two: `text` and `audio`).
const MAX_PARTS: usize = 8;

/// The error of a multipart body that could not be read: always the client's (a malformed,
/// oversized, too slow or cut-off upload). The rest of the body is not read, so the connection
/// is closed after the answer.
fn multipart_error(error: MultipartError, max_upload_bytes: usize) -> ApiError {
    let status = error.status();
    let mut answer = if let Some(timeout) = body_timeout_of(&error) {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, timeout.to_string())
    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max_upload_bytes)
    } else if status.is_client_error() {
        ApiError::bad_request(format!(
            "the multipart body cannot be read ({}): send multipart/form-data with a `text` \
             field and/or an `audio` file",
            error.body_text()
        ))
    } else {
        // axum calls a failed read of the body a server error; here it is the client's: the
        // connection closed or broke before the body was complete.
        ApiError::bad_request(format!(
            "the upload ended before its end ({}): send the whole request",
            error.body_text()
        ))
    };
    answer.close = true;
    answer
}

fn too_large(max_upload_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is larger than this server's limit of {:.1} MB: send a shorter clip \
             (the model reads only its first seconds), or restart the server with a larger \
             --max-upload-mb",
            max_upload_bytes as f64 / 1e6
        ),
    )
}

/// The upload size a request announces, when it does.
fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads the form: the transcript and the audio file.
async fn read_form(
    mut multipart: Multipart,
    max_upload_bytes: usize,
) -> Result<PredictionInput, ApiError> {
    let mut input = PredictionInput::default();
    let mut parts = 0;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max_upload_bytes))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            let mut error = ApiError::bad_request(format!(
                "the form has more than {MAX_PARTS} parts: send one `text` field and/or one \
                 `audio` file"
            ));
            error.close = true;
            return Err(error);
        }
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "text" => {
                if input.text.is_some() {
                    return Err(ApiError::bad_request("the `text` field is given twice"));
                }
                // multer decodes text leniently (invalid UTF-8 becomes U+FFFD): the only
                // failures are the body's.
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e, max_upload_bytes))?;
                input.text = Some(text);
            }
            "past" => {
                if !input.past.is_empty() {
                    return Err(ApiError::bad_request("the `past` field is given twice"));
                }
                let past = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e, max_upload_bytes))?;
                // One earlier utterance per line, oldest first.
                input.past = past.lines().map(str::to_string).collect();
            }
            "speaker" => {
                if input.speaker.is_some() {
                    return Err(ApiError::bad_request("the `speaker` field is given twice"));
                }
                let speaker = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e, max_upload_bytes))?;
                input.speaker = (!speaker.trim().is_empty()).then(|| speaker.trim().to_string());
            }
            "audio" => {
                if input.audio.is_some() {
                    return Err(ApiError::bad_request("the `audio` field is given twice"));
                }
                let file_name = field.file_name().map(str::to_string);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e, max_upload_bytes))?;
                // A form's file input with no file chosen sends an empty part with no name.
                if bytes.is_empty() && file_name.as_deref().unwrap_or_default().is_empty() {
                    continue;
                }
                input.audio = Some(AudioFile {
                    // No copy when the part arrived in one piece.
                    bytes: Vec::from(bytes),
                    name: file_name,
                });
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown field `{other}`: send `text` (the transcript) and/or `audio` (a file), optionally `past` (earlier utterances, one `SPEAKER: text` per line) and `speaker`"
                )));
            }
        }
    }
    Ok(input)
}

async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let in_flight = InFlight::new(&state.in_flight);
    let options = &state.options;
    let limit = options.max_upload_bytes;
    let announced = content_length(&headers);
    if announced.is_some_and(|n| n > limit) {
        let mut error = too_large(limit);
        error.close = true;
        return Err(error);
    }
    // Reserved before the body is read; a chunked body may be as large as the limit.
    let reservation: Reservation = state
        .uploads
        .try_reserve(announced.unwrap_or(limit))
        .ok_or_else(|| {
            let mut error = ApiError::busy(
                format!(
                    "the server holds its limit of {:.0} MB of uploads in flight: retry in a few \
                     seconds",
                    state.uploads.total() as f64 / 1e6
                ),
                2,
            );
            error.close = true;
            error
        })?;
    let multipart = multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "send multipart/form-data with a `text` field and/or an `audio` file, e.g. \
             curl -F text='...' -F audio=@clip.wav <server>/api/predict ({})",
            e.body_text()
        ))
    })?;
    let input = read_form(multipart, limit).await?;
    let budget = options.predict_timeout;
    let deadline = tokio::time::Instant::now() + budget;
    let turn = tokio::time::timeout_at(deadline, Arc::clone(&state.workers).acquire_owned())
        .await
        .map_err(|_| {
            ApiError::busy(
                format!(
                    "every worker stayed busy for {:.0} s: retry later",
                    budget.as_secs_f64()
                ),
                5,
            )
        })?
        .map_err(|_| ApiError::busy("the server is stopping", 5))?;
    let predictor = Arc::clone(&state.predictor);
    // The worker's turn, the upload's reservation and the in-flight count go with the work:
    // work that outlives its answer still counts against the limits.
    let work = tokio::task::spawn_blocking(move || {
        let _held = (turn, reservation, in_flight);
        predictor.predict(input)
    });
    let prediction = tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| {
            ApiError::busy(
                format!(
                    "the prediction took longer than this server's {:.0} s: send a shorter clip, \
                     or retry when the server is less busy",
                    budget.as_secs_f64()
                ),
                5,
            )
        })?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the model failed on this input ({e}); the server keeps running"),
            )
        })??;
    Ok(Json(prediction_json(&prediction)))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such page: {method} {}; this server has GET / (the demo), GET /health and \
             POST /api/predict",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}: use GET / and GET /health, POST /api/predict",
            uri.path()
        ),
    )
}

async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    eprintln!(
        "{method} {path} -> {} ({:.0} ms)",
        response.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    response
}
