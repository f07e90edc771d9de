//! The HTTP side of `emofuse serve`: the demo page, `POST /api/predict` and `GET /health`.
//!
//! Every answer is JSON except the page; every error is `{"error": "<what to do>"}` with a 4xx
//! status for the client's mistakes (missing or empty input, unsupported or corrupt audio, an
//! upload over the limit) and 500 for failures inside, which never stop the server: a panic in
//! the model is caught with the request it belongs to.

use super::predictor::{
    AudioFile, InputError, PredictError, Prediction, PredictionInput, Predictor,
};
use anyhow::{Context, Result, anyhow};
use axum::Json;
use axum::Router;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
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
    /// Predictions computed at the same time; more requests wait their turn.
    pub workers: usize,
    /// Print one line per request to stderr.
    pub log_requests: bool,
    /// Stop (after the requests in flight) on Ctrl-C.
    pub stop_on_ctrl_c: bool,
}

impl Default for ServeOptions {
    /// 127.0.0.1:7860 (Gradio's port), 10 MB uploads, one worker per core, quiet, no Ctrl-C.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7860)),
            max_upload_bytes: 10 * 1_000_000,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            log_requests: false,
            stop_on_ctrl_c: false,
        }
    }
}

#[derive(Clone)]
struct AppState {
    predictor: Arc<Predictor>,
    workers: Arc<Semaphore>,
    max_upload_bytes: usize,
}

/// The application: routes, body limit, JSON fallbacks. Exposed so that tests can call it
/// without a socket.
pub fn router(predictor: Arc<Predictor>, options: &ServeOptions) -> Router {
    let state = AppState {
        predictor,
        workers: Arc::new(Semaphore::new(options.workers.max(1))),
        max_upload_bytes: options.max_upload_bytes,
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/api/predict", post(predict))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_upload_bytes))
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
        let ctrl_c = options.stop_on_ctrl_c;
        let thread = std::thread::Builder::new()
            .name("emofuse-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if ctrl_c {
                        let stop = Arc::clone(&stopped);
                        tokio::spawn(async move {
                            if tokio::signal::ctrl_c().await.is_ok() {
                                eprintln!("stopping: answering the requests in flight first");
                                stop.notify_one();
                            }
                        });
                    }
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stopped.notified().await })
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

    /// Blocks until the server stops (Ctrl-C, with `stop_on_ctrl_c`).
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

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
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
            PredictError::Input(InputError::CorruptAudio(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            PredictError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

/// The JSON answer of a prediction: `{"label", "probabilities"}` (class order), `audio` (what
/// was read: name, seconds, sample rate, channels) when the model reads audio, and `ignored`
/// and `warnings` when there are any.
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
        "max_upload_bytes": state.max_upload_bytes,
        "audio_formats": AUDIO_FORMATS,
    }))
}

/// The error of a multipart body that could not be read.
fn multipart_error(error: MultipartError, max_upload_bytes: usize) -> ApiError {
    let status = error.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            status,
            format!(
                "the upload is larger than this server's limit of {:.1} MB: send a shorter clip \
                 (the model reads only its first seconds), or restart the server with a larger \
                 --max-upload-mb",
                max_upload_bytes as f64 / 1e6
            ),
        );
    }
    ApiError::new(
        status,
        format!("the multipart body cannot be read: {}", error.body_text()),
    )
}

async fn predict(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "send multipart/form-data with a `text` field and/or an `audio` file, e.g. \
             curl -F text='...' -F audio=@clip.wav <server>/api/predict ({})",
            e.body_text()
        ))
    })?;
    let mut input = PredictionInput::default();
    let limit = state.max_upload_bytes;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "text" => {
                if input.text.is_some() {
                    return Err(ApiError::bad_request("the `text` field is given twice"));
                }
                let text = field.text().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        multipart_error(e, limit)
                    } else {
                        ApiError::bad_request(format!("the `text` field is not UTF-8 text: {e}"))
                    }
                })?;
                input.text = Some(text);
            }
            "audio" => {
                if input.audio.is_some() {
                    return Err(ApiError::bad_request("the `audio` field is given twice"));
                }
                let file_name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(|e| multipart_error(e, limit))?;
                // A form's file input with no file chosen sends an empty part with no name.
                if bytes.is_empty() && file_name.as_deref().unwrap_or_default().is_empty() {
                    continue;
                }
                input.audio = Some(AudioFile {
                    bytes: bytes.to_vec(),
                    name: file_name,
                });
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown field `{other}`: send `text` (the transcript) and/or `audio` (a file)"
                )));
            }
        }
    }
    let _turn =
        state.workers.acquire().await.map_err(|_| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
        })?;
    let predictor = Arc::clone(&state.predictor);
    let prediction = tokio::task::spawn_blocking(move || predictor.predict(input))
        .await
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
