//! The server target: mutated HTTP requests to a running `emofuse serve` (a tiny quickstart
//! model trained for the campaign), sent the way hostile clients send them: whole, cut off
//! early, or stalled half-way. After every case the server must still answer `GET /health` on
//! a fresh connection, and no answer may be a 500 (every client-caused failure is a 4xx; a 503
//! means "busy, retry" and is allowed).
//!
//! The first byte of a case picks the client's behaviour (so mutations change it too): most
//! cases send everything and read the answer; 1 in 16 closes the connection after part of the
//! request; 1 in 32 stalls after part of it and waits for the server to close the connection
//! (the campaign's header and body timeouts are 1 s, so a stall costs about a second).

use super::mutate::Mutator;
use super::{Seed, Target, Verdict};
use crate::experiment::Experiment;
use crate::serving::{Predictor, ServeOptions, Server};
use anyhow::{Context, Result};
use rand::RngExt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a client waits for an answer (the server's own timeouts are far shorter).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A served tiny model and the requests that seed the campaign.
pub struct ServerTarget {
    seeds: Vec<Seed>,
    server: Option<Server>,
    addr: SocketAddr,
}

impl ServerTarget {
    /// Trains a tiny quickstart run in a temporary folder (a few seconds), serves it on a free
    /// port with short timeouts, and builds the seed requests from the audio fixture under
    /// `root` (`tests/fixtures/audio/pcm_s16.wav`).
    pub fn new(root: &Path) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("emofuse-fuzz-server-{}", std::process::id()));
        let sets: Vec<String> = [
            "data.train_size=120",
            "data.valid_size=24",
            "data.test_size=24",
            "model.text_dim=16",
            "model.audio_channels=16",
            "model.projection_dim=16",
            "model.hidden_dim=16",
            "training.epochs=1",
            "evaluation.ablation=false",
            "evaluation.splits=[\"test\"]",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            format!("output.runs_dir=\"{}\"", dir.join("runs").display()),
            format!("output.reports_dir=\"{}\"", dir.join("reports").display()),
            format!("output.cache_dir=\"{}\"", dir.join("cache").display()),
        ])
        .collect();
        let experiment = Experiment::built_in_quickstart(&sets)?;
        let run = crate::pipeline::train(&experiment, Default::default())?
            .context("the fuzz server's model did not train")?
            .run_dir;
        let predictor = Arc::new(Predictor::load(&run, None)?);
        let options = ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_upload_bytes: 1_000_000,
            max_inflight_upload_bytes: 8_000_000,
            max_connections: 64,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(2),
            body_stall_timeout: Duration::from_secs(1),
            predict_timeout: Duration::from_secs(5),
            ..ServeOptions::default()
        };
        let server = Server::start(predictor, options)?;
        let addr = server.addr();
        let wav_path = root.join("tests/fixtures/audio/pcm_s16.wav");
        let wav = std::fs::read(&wav_path)
            .with_context(|| format!("cannot read {}", wav_path.display()))?;
        let seeds = vec![
            seed("text and audio", &multipart(Some("Oh my God!"), Some(&wav))),
            seed("audio", &multipart(None, Some(&wav))),
            seed("text", &multipart(Some("fine, thanks"), None)),
            seed(
                "health",
                b"GET /health HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n\r\n",
            ),
        ];
        Ok(Self {
            seeds,
            server: Some(server),
            addr,
        })
    }
}

impl Drop for ServerTarget {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop();
        }
    }
}

/// A seed: the behaviour byte 0 (send everything), then the request.
fn seed(name: &str, request: &[u8]) -> Seed {
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(request);
    Seed {
        name: name.into(),
        bytes,
    }
}

/// A `POST /api/predict` with the given fields, as curl sends it.
fn multipart(text: Option<&str>, wav: Option<&[u8]>) -> Vec<u8> {
    let boundary = "------------------------fuzzboundary";
    let mut body = Vec::new();
    if let Some(text) = text {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(wav) = wav {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"audio\"; filename=\"clip.wav\"\r\ncontent-type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(wav);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST /api/predict HTTP/1.1\r\nhost: fuzz\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

/// The status code of an HTTP answer, if it starts like one.
fn status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// Reads until the server closes the connection or the client's patience ends.
fn read_all(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(answer),
            Err(e) => return Err(e),
        }
    }
}

impl ServerTarget {
    /// `GET /health` on a fresh connection answers 200.
    fn healthy(&self) -> Result<(), String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, CLIENT_TIMEOUT)
            .map_err(|e| format!("cannot connect for /health: {e}"))?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).ok();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n\r\n")
            .map_err(|e| format!("cannot send /health: {e}"))?;
        let answer = read_all(&mut stream).map_err(|e| format!("no /health answer: {e}"))?;
        match status(&answer) {
            Some(200) => Ok(()),
            other => Err(format!("/health answered {other:?}")),
        }
    }
}

impl Target for ServerTarget {
    fn name(&self) -> &'static str {
        "server"
    }

    fn extension(&self) -> &'static str {
        "http"
    }

    fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    fn mutate(&self, mutator: &mut Mutator, seed: &Seed) -> (Vec<u8>, Vec<String>) {
        let (request, mutations) = mutator.mutate(&seed.bytes[1..]);
        let mode = match mutator.rng().random_range(0..32u8) {
            30 => 30,
            31 => 31,
            _ => 0,
        };
        let mut case = vec![mode];
        case.extend_from_slice(&request);
        let mut applied: Vec<String> = mutations.iter().map(ToString::to_string).collect();
        applied.push(
            match mode {
                30 => "client closes half-way",
                31 => "client stalls half-way",
                _ => "client sends everything",
            }
            .into(),
        );
        (case, applied)
    }

    fn run(&mut self, input: &[u8]) -> Verdict {
        let Some((&mode, request)) = input.split_first() else {
            return Verdict::Refused("empty case".into());
        };
        let verdict = match TcpStream::connect_timeout(&self.addr, CLIENT_TIMEOUT) {
            Err(e) => Verdict::Wrong(format!("cannot connect: {e}")),
            Ok(mut stream) => {
                stream.set_read_timeout(Some(CLIENT_TIMEOUT)).ok();
                let half = request.len() / 2;
                match mode % 32 {
                    // Cut off: part of the request, then the connection closed.
                    30 => {
                        let _ = stream.write_all(&request[..half]);
                        Verdict::Refused("client closed early".into())
                    }
                    // Stalled: part of the request, then silence; the server must hang up.
                    31 => {
                        let _ = stream.write_all(&request[..half]);
                        let started = Instant::now();
                        match read_all(&mut stream) {
                            Ok(answer) if status(&answer) == Some(500) => {
                                Verdict::Wrong("500 for a stalled request".into())
                            }
                            Ok(_) => Verdict::Refused(format!(
                                "stalled client dropped after {:.1} s",
                                started.elapsed().as_secs_f64()
                            )),
                            Err(e) => Verdict::Wrong(format!(
                                "a stalled client was held for more than {} s ({e})",
                                CLIENT_TIMEOUT.as_secs()
                            )),
                        }
                    }
                    _ => {
                        let _ = stream.write_all(request);
                        let _ = stream.shutdown(std::net::Shutdown::Write);
                        match read_all(&mut stream) {
                            Err(e) => Verdict::Wrong(format!(
                                "no answer within {} s ({e})",
                                CLIENT_TIMEOUT.as_secs()
                            )),
                            Ok(answer) => match status(&answer) {
                                Some(500..=502 | 504..) => Verdict::Wrong(format!(
                                    "answered {}: {}",
                                    status(&answer).unwrap_or(0),
                                    String::from_utf8_lossy(&answer[..answer.len().min(300)])
                                )),
                                Some(200) => Verdict::Accepted,
                                Some(code) => Verdict::Refused(format!("answered {code}")),
                                None => Verdict::Refused("closed without an answer".into()),
                            },
                        }
                    }
                }
            }
        };
        if matches!(verdict, Verdict::Wrong(_)) {
            return verdict;
        }
        match self.healthy() {
            Ok(()) => verdict,
            Err(why) => Verdict::Wrong(format!("the server stopped answering: {why}")),
        }
    }
}
