//! `emofuse serve`: the prediction API (through the router, and over real sockets with
//! concurrent clients) and the demo page in headless Chromium, on tiny quickstart runs.

use crate::{ONE_RUN_AT_A_TIME, experiment_in, repo_path, scratch_dir};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use emofuse::cli::predict::{PredictArgs, predict_one};
use emofuse::data::Utterance;
use emofuse::pipeline::trained::{load_run, run_experiment};
use emofuse::serving::{Predictor, ServeOptions, Server, router};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// Three tiny trained runs of the quickstart model: both modalities, text only, audio only.
pub(crate) struct Runs {
    pub(crate) dir: PathBuf,
    pub(crate) both: PathBuf,
    pub(crate) text: PathBuf,
    pub(crate) audio: PathBuf,
}

pub(crate) fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = scratch_dir("serve");
        let train = |name: &str, modalities: &str| {
            let modalities = format!("model.modalities={modalities}");
            let sets = [
                "data.train_size=240",
                "data.valid_size=48",
                "data.test_size=48",
                "model.text_dim=16",
                "model.audio_channels=16",
                "model.projection_dim=16",
                "model.hidden_dim=16",
                "training.epochs=2",
                "evaluation.ablation=false",
                &modalities,
            ];
            let experiment = experiment_in(&dir, name, &sets);
            emofuse::pipeline::train(&experiment, Default::default())
                .unwrap()
                .unwrap()
                .run_dir
        };
        Runs {
            both: train("both", r#"["text", "audio"]"#),
            text: train("text", r#"["text"]"#),
            audio: train("audio", r#"["audio"]"#),
            dir,
        }
    })
}

pub(crate) fn predictor(run: &Path) -> Arc<Predictor> {
    Arc::new(Predictor::load(run, None).unwrap())
}

pub(crate) fn app(run: &Path, max_upload_bytes: usize) -> Router {
    let options = ServeOptions {
        max_upload_bytes,
        ..ServeOptions::default()
    };
    router(predictor(run), &options)
}

/// A 16-bit mono PCM WAV of `seconds` of a gliding tone with a little noise.
pub(crate) fn wav(rate: u32, seconds: f32, pitch: f32) -> Vec<u8> {
    let n = (rate as f32 * seconds) as usize;
    let mut out = Vec::with_capacity(44 + 2 * n);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 0x0001_0001, rate, rate * 2, 0x0010_0002] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n as u32).to_le_bytes());
    let mut noise = 12345u32;
    let mut phase = 0f32;
    for i in 0..n {
        noise = noise.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let t = i as f32 / rate as f32;
        phase += std::f32::consts::TAU * pitch * (1.0 + 0.3 * t) / rate as f32;
        let x = 0.5 * phase.sin() + 0.05 * ((noise >> 16) as f32 / 32768.0 - 1.0);
        out.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes());
    }
    out
}

/// A WAV of 32-bit float samples (format 3) at `rate`.
pub(crate) fn float_wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let n = samples.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 4 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 0x0001_0003, rate, rate * 4, 0x0020_0004] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(4 * n).to_le_bytes());
    for x in samples {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// A multipart/form-data part.
pub(crate) enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a str, &'a [u8]),
}

pub(crate) const BOUNDARY: &str = "emofuse-test-7b1d";

pub(crate) fn form(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
            Part::File(name, file, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Sends a request to the router (no socket): status and body (JSON, or a string for HTML).
pub(crate) fn send(
    app: &Router,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    })
}

pub(crate) fn post(app: &Router, parts: &[Part]) -> (u16, Value) {
    send(
        app,
        "POST",
        "/api/predict",
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        form(parts),
    )
}

/// The probabilities of an answer, in its (label) order.
pub(crate) fn probabilities(answer: &Value) -> Vec<(String, f64)> {
    answer["probabilities"]
        .as_object()
        .unwrap_or_else(|| panic!("no probabilities in {answer}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect()
}

pub(crate) fn error_of(answer: &Value) -> &str {
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error: {answer}"))
}

#[test]
fn api_predicts_what_emofuse_predict_prints() {
    let runs = runs();
    let app = app(&runs.both, 10_000_000);
    // Not at the model's 16 kHz: both paths below resample.
    let audio = wav(22_050, 1.2, 180.0);
    let text = "oh my god you got the job";
    let (status, answer) = post(
        &app,
        &[
            Part::Text("text", text),
            Part::File("audio", "clip.wav", &audio),
        ],
    );
    assert_eq!(status, 200, "{answer}");
    let got = probabilities(&answer);
    let sum: f64 = got.iter().map(|(_, p)| p).sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    let best = got
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0
        .clone();
    assert_eq!(answer["label"], best.as_str());
    assert!(answer.get("ignored").is_none() && answer.get("warnings").is_none());
    assert_eq!(
        answer["audio"],
        serde_json::json!({"name": "clip.wav", "seconds": 1.2, "sample_rate": 22_050, "channels": 1}),
        "what the server read"
    );

    // The same utterance through `emofuse predict` (a file on disk, decoded the same way).
    let path = runs.dir.join("clip.wav");
    std::fs::write(&path, &audio).unwrap();
    let (names, expected) = predict_one(&PredictArgs {
        run: runs.both.clone(),
        text: Some(text.into()),
        audio: Some(path.clone()),
        past: Vec::new(),
        speaker: None,
        json: true,
        input: None,
        out: None,
        dataset: None,
        timeline: false,
        batch_size: 32,
        windows: Default::default(),
        device: Default::default(),
    })
    .unwrap();
    assert_eq!(
        got.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        names,
        "classes in label order"
    );
    for ((name, p), q) in got.iter().zip(&expected) {
        assert!((p - f64::from(*q)).abs() < 1e-6, "{name}: {p} vs {q}");
    }

    // And through the evaluation path (`emofuse eval`): the file named by `audio_path`,
    // decoded from disk and resampled by `load_waveform`, not the upload decoder.
    let trained = load_run(run_experiment(&runs.both).unwrap(), None).unwrap();
    let utterance = Utterance {
        id: "clip".into(),
        text: text.into(),
        audio: Vec::new(),
        audio_path: Some(path),
        label: 0,
        speaker: 0,
        turn: None,
    };
    let evaluated = trained
        .predict_utterances(std::slice::from_ref(&utterance), 1)
        .unwrap();
    for ((name, p), q) in got.iter().zip(&evaluated.probabilities[0]) {
        assert!(
            (p - f64::from(*q)).abs() < 1e-6,
            "eval path, {name}: {p} vs {q}"
        );
    }

    // A different utterance gets a different answer (the inputs are really read).
    let (_, other) = post(
        &app,
        &[
            Part::Text("text", "i am so angry at you"),
            Part::File("audio", "other.wav", &wav(8_000, 0.6, 400.0)),
        ],
    );
    assert_ne!(probabilities(&other), got);

    let (status, health) = send(&app, "GET", "/health", "text/plain", Vec::new());
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["run"], "both");
    assert_eq!(health["modalities"], serde_json::json!(["text", "audio"]));
    assert_eq!(health["labels"].as_array().unwrap().len(), 7);
    let (status, page) = send(&app, "GET", "/", "text/plain", Vec::new());
    let page = page.as_str().unwrap();
    assert_eq!(status, 200);
    for id in [
        "id=\"text\"",
        "id=\"audio-file\"",
        "id=\"record\"",
        "id=\"chart\"",
    ] {
        assert!(page.contains(id), "page lacks {id}");
    }
}

#[test]
fn bad_requests_get_json_errors_that_say_what_to_do() {
    let runs = runs();
    let app = app(&runs.both, 64 * 1024);
    let audio = wav(16_000, 0.5, 200.0);
    let long = wav(16_000, 3.0, 200.0);
    let mut with_nan = vec![0.1f32; 800];
    with_nan[400] = f32::NAN;
    let with_nan = float_wav(8_000, &with_nan);
    // 2000 samples at 2 Hz: 1000 s, which would resample to 16 million samples; no recording
    // has that rate, so it is refused as a corrupt header before decoding.
    let very_slow = float_wav(2, &[0.0f32; 2000]);
    let cases: Vec<(&str, Vec<Part>, u16, &str)> = vec![
        (
            "text without audio",
            vec![Part::Text("text", "hello")],
            400,
            "`audio` field",
        ),
        (
            "audio without text",
            vec![Part::File("audio", "a.wav", &audio)],
            400,
            "`text` field",
        ),
        (
            "blank text",
            vec![
                Part::Text("text", "  \n "),
                Part::File("audio", "a.wav", &audio),
            ],
            400,
            "empty",
        ),
        (
            "not audio",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "notes.txt", b"these are my notes, not a recording"),
            ],
            415,
            "not a supported audio container",
        ),
        (
            "a WAV cut inside its header",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "cut.wav", &audio[..30]),
            ],
            422,
            "cannot be decoded",
        ),
        (
            "an empty file",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "empty.wav", b""),
            ],
            422,
            "empty",
        ),
        (
            "a NaN sample",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "nan.wav", &with_nan),
            ],
            422,
            "non-finite sample (NaN or infinity) at 0.050 s",
        ),
        (
            "a sample rate of 2 Hz",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "slow.wav", &very_slow),
            ],
            422,
            "the sample rate 2 Hz is outside 1000..384000 Hz",
        ),
        (
            "over the upload limit",
            vec![
                Part::Text("text", "hello"),
                Part::File("audio", "long.wav", &long),
            ],
            413,
            "limit of 0.1 MB",
        ),
        (
            "an unknown field",
            vec![Part::Text("text", "hello"), Part::Text("speech", "x")],
            400,
            "unknown field `speech`",
        ),
        (
            "text twice",
            vec![Part::Text("text", "hello"), Part::Text("text", "again")],
            400,
            "twice",
        ),
    ];
    for (what, parts, status, message) in cases {
        let (got, answer) = post(&app, &parts);
        assert_eq!(got, status, "{what}: {answer}");
        let error = error_of(&answer);
        assert!(
            error.contains(message),
            "{what}: `{error}` lacks `{message}`"
        );
        if what == "not audio" {
            assert!(error.contains("notes.txt"), "names the file: {error}");
        }
    }
    let (status, answer) = send(
        &app,
        "POST",
        "/api/predict",
        "application/json",
        br#"{"text": "hello"}"#.to_vec(),
    );
    assert_eq!(status, 400);
    assert!(
        error_of(&answer).contains("multipart/form-data"),
        "{answer}"
    );
    let (status, answer) = send(&app, "GET", "/api/predict", "text/plain", Vec::new());
    assert_eq!(status, 405);
    assert!(error_of(&answer).contains("POST /api/predict"), "{answer}");
    let (status, answer) = send(&app, "GET", "/predict", "text/plain", Vec::new());
    assert_eq!(status, 404);
    assert!(error_of(&answer).contains("/health"), "{answer}");
}

#[test]
fn single_modality_models_need_only_their_modality() {
    let runs = runs();
    let audio = wav(16_000, 0.8, 150.0);

    let text_app = app(&runs.text, 10_000_000);
    let (status, answer) = post(&text_app, &[Part::Text("text", "what a surprise")]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(probabilities(&answer).len(), 7);
    let (status, with_audio) = post(
        &text_app,
        &[
            Part::Text("text", "what a surprise"),
            Part::File("audio", "a.wav", &audio),
        ],
    );
    assert_eq!(status, 200, "{with_audio}");
    assert_eq!(with_audio["ignored"], serde_json::json!(["audio"]));
    assert!(
        with_audio.get("audio").is_none(),
        "unread audio is not described"
    );
    assert_eq!(probabilities(&with_audio), probabilities(&answer));
    let (status, answer) = post(&text_app, &[Part::File("audio", "a.wav", &audio)]);
    assert_eq!(status, 400);
    assert!(error_of(&answer).contains("reads text"), "{answer}");

    let audio_app = app(&runs.audio, 10_000_000);
    let (status, answer) = post(&audio_app, &[Part::File("audio", "a.wav", &audio)]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(probabilities(&answer).len(), 7);
    // An empty text box from a form is not an input.
    let (status, same) = post(
        &audio_app,
        &[Part::Text("text", ""), Part::File("audio", "a.wav", &audio)],
    );
    assert_eq!(status, 200, "{same}");
    assert!(same.get("ignored").is_none(), "{same}");
    let (status, answer) = post(&audio_app, &[Part::Text("text", "hello")]);
    assert_eq!(status, 400);
    assert!(error_of(&answer).contains("reads audio"), "{answer}");
}

/// One HTTP/1.1 request over a fresh connection: status and JSON body.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn concurrent_clients_each_get_their_own_answer() {
    let runs = runs();
    let predictor = predictor(&runs.both);
    let options = ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        ..ServeOptions::default()
    };
    let server = Server::start(Arc::clone(&predictor), options).unwrap();
    let addr = server.addr();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let texts = [
        "you got the job",
        "i hate this",
        "what was that",
        "fine",
        "this is so sad",
        "get out of here",
    ];
    let bodies: Vec<Vec<u8>> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let audio = wav(16_000, 0.5 + 0.2 * i as f32, 120.0 + 60.0 * i as f32);
            form(&[
                Part::Text("text", text),
                Part::File("audio", "a.wav", &audio),
            ])
        })
        .collect();
    // One at a time first: the answers each concurrent request must get back.
    let expected: Vec<Value> = bodies
        .iter()
        .map(|body| {
            let (status, answer) = http(addr, "POST", "/api/predict", &content_type, body);
            assert_eq!(status, 200, "{answer}");
            answer
        })
        .collect();
    let distinct: std::collections::HashSet<String> =
        expected.iter().map(|a| a.to_string()).collect();
    assert_eq!(distinct.len(), texts.len(), "each input has its own answer");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|k| {
                let (body, content_type) = (&bodies[k % bodies.len()], &content_type);
                scope.spawn(move || (k, http(addr, "POST", "/api/predict", content_type, body)))
            })
            .collect();
        for handle in handles {
            let (k, (status, answer)) = handle.join().unwrap();
            assert_eq!(status, 200, "request {k}: {answer}");
            let want = &expected[k % bodies.len()];
            for ((name, p), (_, q)) in probabilities(&answer).iter().zip(probabilities(want)) {
                assert!((p - q).abs() < 1e-6, "request {k}, {name}: {p} vs {q}");
            }
            assert_eq!(answer["label"], want["label"], "request {k}");
        }
    });
    let (status, health) = http(addr, "GET", "/health", "text/plain", b"");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    server.stop().unwrap();
    // Released: a new server can listen there at once. (Binding, rather than connecting, is
    // not fooled by another test's listener or a TCP self-connect on a reused port.)
    assert!(
        std::net::TcpListener::bind(addr).is_ok(),
        "the port is released after stop"
    );
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let runs = runs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = ServeOptions {
        addr: taken.local_addr().unwrap(),
        ..ServeOptions::default()
    };
    let error = Server::start(predictor(&runs.text), options)
        .err()
        .expect("the port is taken");
    let message = format!("{error:#}");
    assert!(
        message.contains("--addr") && message.contains("port 0"),
        "{message}"
    );
}

/// Where the browser test's tools are, or why it cannot run.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let script = repo_path("tests/e2e/serve_page.mjs");
    if !repo_path("tests/e2e/node_modules/playwright-core").is_dir() {
        return Err("playwright-core is not installed (npm ci --prefix tests/e2e)".into());
    }
    match std::process::Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Ok((chromium, script)),
        _ => Err("no `node` on PATH (install Node.js 18 or later)".into()),
    }
}

/// The server as a user starts it: the binary, on a free port, stopped when dropped.
pub(crate) struct ServeProcess {
    pub(crate) child: std::process::Child,
    pub(crate) url: String,
}

impl ServeProcess {
    pub(crate) fn start(run: &Path) -> Self {
        Self::start_with(run, &[])
    }

    /// Started with `extra` arguments after `--run` and `--addr`.
    pub(crate) fn start_with(run: &Path, extra: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_emofuse"))
            .args([
                "serve",
                "--run",
                run.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("emofuse serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("unexpected first line of emofuse serve: {line:?}"))
            .to_string();
        Self { child, url }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_page_in_chromium_shows_a_bar_per_class() {
    let (chromium, script) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var_os("EMOFUSE_REQUIRE_BROWSER").is_none() => {
            eprintln!("SKIPPED the browser test: {why}; .ci/run installs both");
            return;
        }
        Err(why) => panic!("EMOFUSE_REQUIRE_BROWSER is set but {why}"),
    };
    let runs = runs();
    let server = ServeProcess::start(&runs.both);
    let clip = runs.dir.join("generated.wav");
    std::fs::write(&clip, wav(22_050, 1.5, 200.0)).unwrap();
    let mut command = std::process::Command::new("node");
    command
        .arg(&script)
        .arg(&server.url)
        .arg(&clip)
        .env("CHROMIUM", &chromium);
    // EMOFUSE_SCREENSHOT=docs/serve.png refreshes the README's screenshot.
    if let Some(path) = std::env::var_os("EMOFUSE_SCREENSHOT") {
        command.arg(path);
    }
    let out = command.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    let labels: Vec<String> = Predictor::load(&runs.both, None).unwrap().labels().to_vec();

    assert!(
        seen["model_info"]
            .as_str()
            .unwrap()
            .contains("text + audio"),
        "{seen}"
    );
    // Submitting nothing shows the server's message and no chart.
    assert_eq!(seen["empty"]["status"], 400, "{seen}");
    assert!(
        seen["empty"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("empty"),
        "{seen}"
    );
    assert_eq!(seen["empty"]["result_visible"], false);
    assert!(
        seen["empty"]["console_errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.as_str().unwrap().contains("status of 400")),
        "only the expected 400 is logged: {seen}"
    );

    for step in ["upload", "recording"] {
        let got = &seen[step];
        assert_eq!(got["status"], 200, "{step}: {got}");
        let bars = got["bars"].as_array().unwrap();
        assert_eq!(bars.len(), labels.len(), "{step}: one bar per class");
        let mut names: Vec<String> = bars
            .iter()
            .map(|b| b["label"].as_str().unwrap().to_string())
            .collect();
        let shown: Vec<f64> = bars
            .iter()
            .map(|b| {
                b["shown"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('%')
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(
            shown.windows(2).all(|w| w[0] >= w[1]),
            "{step}: sorted: {shown:?}"
        );
        let sum: f64 = shown.iter().sum();
        // Each shown value is rounded to 0.1, so the sum is 100 within 0.05 per class.
        assert!(
            (sum - 100.0).abs() <= 0.05 * labels.len() as f64 + 1e-9,
            "{step}: percentages sum to {sum}"
        );
        // The bars are the API answer, in percent.
        let answer = &got["answer"]["probabilities"];
        for (bar, pct) in bars.iter().zip(&shown) {
            let p = answer[bar["label"].as_str().unwrap()].as_f64().unwrap();
            assert!((100.0 * p - pct).abs() <= 0.051, "{step}: {bar} vs {p}");
        }
        assert_eq!(names[0], got["answer"]["label"].as_str().unwrap(), "{step}");
        names.sort();
        let mut want = labels.clone();
        want.sort();
        assert_eq!(names, want, "{step}");
    }
    assert_eq!(
        seen["upload"]["label"], seen["upload"]["answer"]["label"],
        "the headline is the predicted class"
    );
    assert_eq!(seen["upload"]["error_visible"], false);
    // The server read what the page sent: the uploaded file as it is, then the recording,
    // which the page re-encodes as mono WAV at the model's rate.
    let upload_audio = &seen["upload"]["answer"]["audio"];
    assert_eq!(upload_audio["name"], "generated.wav", "{seen}");
    assert_eq!(upload_audio["sample_rate"], 22_050, "{seen}");
    assert!((upload_audio["seconds"].as_f64().unwrap() - 1.5).abs() < 1e-3);
    assert!(
        seen["upload"]["notes"]
            .as_str()
            .unwrap()
            .contains("generated.wav, 1.5 s at 22.05 kHz"),
        "the page says what was read: {seen}"
    );
    let recorded = &seen["recording"]["answer"]["audio"];
    assert_eq!(
        recorded["name"], "recording.wav",
        "the recording replaced the file: {seen}"
    );
    assert_eq!(
        (
            recorded["sample_rate"].as_u64(),
            recorded["channels"].as_u64()
        ),
        (Some(16_000), Some(1))
    );
    let recorded_seconds = recorded["seconds"].as_f64().unwrap();
    assert!(
        (1.0..5.0).contains(&recorded_seconds),
        "about 1.5 s were recorded: {recorded_seconds}"
    );
    assert_ne!(
        seen["recording"]["answer"]["probabilities"], seen["upload"]["answer"]["probabilities"],
        "another clip, another answer"
    );
    assert!(
        seen["record_status"]
            .as_str()
            .unwrap()
            .starts_with("Recorded"),
        "{seen}"
    );
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
}
