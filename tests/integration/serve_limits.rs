//! `emofuse serve` against hostile clients, over real sockets: slow or silent connections,
//! bodies that stall or stop short, crowds of idle connections, more uploads in flight than
//! the budget, malformed multipart bodies, SIGTERM with a request in flight, and the memory of
//! a burst of uploads. Timeouts are short here (1-2 s) and every assertion allows several
//! times that, so that a loaded machine does not make them flaky.

use crate::serve::{
    BOUNDARY, Part, ServeProcess, error_of, float_wav, form, http, post, predictor, runs, wav,
};
use emofuse::serving::{ServeOptions, Server, router};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A server on a free port with `options` (the address is set here).
fn start(options: ServeOptions) -> Server {
    let options = ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..options
    };
    Server::start(predictor(&runs().both), options).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection: what it sent, and how long that took. Panics
/// if it is still open after the stream's read timeout.
fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open for {:.1} s ({e})",
                start.elapsed().as_secs_f64()
            ),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

/// The status, headers (lowercase names) and JSON body of a raw response.
fn parse(response: &str) -> (u16, String, Value) {
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

const MULTIPART: &str = "multipart/form-data; boundary=emofuse-test-7b1d";

fn request_head(addr: SocketAddr, content_length: usize, extra: &str) -> String {
    format!(
        "POST /api/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {MULTIPART}\r\n\
         Content-Length: {content_length}\r\n{extra}\r\n"
    )
}

fn quick_form() -> Vec<u8> {
    form(&[
        Part::Text("text", "you got the job"),
        Part::File("audio", "a.wav", &wav(16_000, 0.5, 200.0)),
    ])
}

#[test]
fn slow_headers_and_silent_connections_are_closed() {
    let server = start(ServeOptions {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    // Headers started, never finished: the header timeout closes it.
    let mut slow = connect(addr);
    write!(
        slow,
        "POST /api/predict HTTP/1.1\r\nHost: {addr}\r\nContent-Ty"
    )
    .unwrap();
    let (_, took) = until_closed(&mut slow);
    assert!(
        took < Duration::from_secs(10),
        "closed after {took:?}, header timeout 1 s"
    );
    // Silent from the start: the header timer runs from the connection's opening too.
    let mut silent = connect(addr);
    let (_, took) = until_closed(&mut silent);
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    drop(server);

    // The idle timeout, on a kept-alive connection after an answer.
    let server = server_with_idle(Duration::from_secs(1));
    let addr = server.addr();
    let mut kept = connect(addr);
    write!(kept, "GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let (answer, took) = until_closed(&mut kept);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"limits\""), "health shows the limits");
    assert!(
        took < Duration::from_secs(10),
        "idle connection closed after {took:?}, idle timeout 1 s"
    );
}

fn server_with_idle(idle: Duration) -> Server {
    start(ServeOptions {
        header_timeout: Duration::from_secs(60),
        idle_timeout: idle,
        ..ServeOptions::default()
    })
}

#[test]
fn bodies_that_stall_or_stop_short_get_408_and_are_closed() {
    let server = start(ServeOptions {
        body_stall_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(60),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    // Fewer bytes than the Content-Length (cut inside the audio), then nothing.
    let body = quick_form();
    let mut short = connect(addr);
    short
        .write_all(request_head(addr, body.len(), "").as_bytes())
        .unwrap();
    short.write_all(&body[..body.len() / 2]).unwrap();
    let (answer, took) = until_closed(&mut short);
    let (status, _, json) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert!(error_of(&json).contains("stalled"), "{json}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    // Cut by the client (half the body, then its end of the connection shut): its fault, 400.
    let mut cut = connect(addr);
    cut.write_all(request_head(addr, body.len(), "").as_bytes())
        .unwrap();
    cut.write_all(&body[..body.len() / 2]).unwrap();
    cut.shutdown(std::net::Shutdown::Write).unwrap();
    let (answer, _) = until_closed(&mut cut);
    let (status, _, json) = parse(&answer);
    assert_eq!(status, 400, "{answer}");
    assert!(error_of(&json).contains("ended before"), "{json}");
    drop(server);

    // Trickling: bytes keep coming, but the whole body takes too long.
    let server = start(ServeOptions {
        body_stall_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(2),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    let mut trickle = connect(addr);
    trickle
        .write_all(request_head(addr, body.len(), "").as_bytes())
        .unwrap();
    let start = Instant::now();
    let mut sent = 0;
    // Until the server answers (a write fails) or far past the body timeout.
    while sent < body.len() && start.elapsed() < Duration::from_secs(20) {
        if trickle.write_all(&body[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sent < body.len(), "the trickle was never cut off");
    let (answer, _) = until_closed(&mut trickle);
    let (status, _, json) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert!(
        error_of(&json).contains("did not arrive within 2 s"),
        "{json}"
    );
}

#[test]
fn health_answers_while_more_idle_connections_than_the_limit_are_held() {
    let limit = 64;
    let server = start(ServeOptions {
        max_connections: limit,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    // Three times the limit, all silent (the descriptor limit of a test process may be 1024:
    // the configured limit stands in for it).
    let held: Vec<TcpStream> = (0..3 * limit).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let (status, health) = http(addr, "GET", "/health", "text/plain", b"");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "/health took {:?}",
        start.elapsed()
    );
    // The server closed idle connections to stay at its limit.
    let mut closed = 0;
    for mut stream in held {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            _ => closed += 1,
        }
    }
    assert!(
        closed >= 2 * limit,
        "{closed} of {} held connections closed",
        3 * limit
    );
}

#[test]
fn uploads_over_the_in_flight_budget_get_503_with_retry_after() {
    let server = start(ServeOptions {
        max_upload_bytes: 1_000_000,
        max_inflight_upload_bytes: 2_000_000,
        body_stall_timeout: Duration::from_secs(60),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    // Two uploads announced at 0.9 MB each, sending only their start: they hold 1.8 MB.
    let body = quick_form();
    let mut holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(request_head(addr, 900_000, "").as_bytes())
                .unwrap();
            s.write_all(&body[..100]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut third = connect(addr);
    third
        .write_all(request_head(addr, 900_000, "").as_bytes())
        .unwrap();
    let (answer, _) = until_closed(&mut third);
    let (status, head, json) = parse(&answer);
    assert_eq!(status, 503, "{answer}");
    assert!(head.contains("retry-after: "), "{head}");
    assert!(error_of(&json).contains("uploads in flight"), "{json}");
    // Smaller uploads still fit in what is left.
    let (status, answer) = http(addr, "POST", "/api/predict", MULTIPART, &body);
    assert_eq!(status, 200, "{answer}");
    // Once the holders go away, their bytes are given back.
    holders.clear();
    std::thread::sleep(Duration::from_millis(500));
    let mut again = connect(addr);
    again
        .write_all(request_head(addr, body.len(), "Connection: close\r\n").as_bytes())
        .unwrap();
    again.write_all(&body).unwrap();
    let (answer, _) = until_closed(&mut again);
    assert_eq!(parse(&answer).0, 200, "{answer}");
}

#[test]
fn a_prediction_over_its_time_budget_gets_503() {
    let server = start(ServeOptions {
        predict_timeout: Duration::from_millis(1),
        ..ServeOptions::default()
    });
    let addr = server.addr();
    // 25 s at 44.1 kHz: decoding and resampling it takes far longer than 1 ms.
    let body = form(&[
        Part::Text("text", "hello"),
        Part::File("audio", "long.wav", &wav(44_100, 25.0, 200.0)),
    ]);
    let mut stream = connect(addr);
    stream
        .write_all(request_head(addr, body.len(), "Connection: close\r\n").as_bytes())
        .unwrap();
    stream.write_all(&body).unwrap();
    let (answer, _) = until_closed(&mut stream);
    let (status, head, json) = parse(&answer);
    assert_eq!(status, 503, "{answer}");
    assert!(head.contains("retry-after: "), "{head}");
    assert!(error_of(&json).contains("longer than"), "{json}");
}

/// A multipart body by hand: `parts` are raw part texts between boundaries.
fn raw_multipart(parts: &[String], close: bool) -> Vec<u8> {
    let mut body = String::new();
    for part in parts {
        body.push_str(&format!("--{BOUNDARY}\r\n{part}\r\n"));
    }
    if close {
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
    }
    body.into_bytes()
}

#[test]
fn malformed_multipart_bodies_and_absurd_audio_are_4xx_never_500() {
    let app = router(
        predictor(&runs().both),
        &ServeOptions {
            max_upload_bytes: 2_000_000,
            ..ServeOptions::default()
        },
    );
    let text = "Content-Disposition: form-data; name=\"text\"\r\n\r\nhello".to_string();
    let audio_part = |bytes: &[u8]| {
        let mut part = b"Content-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\
                         Content-Type: audio/wav\r\n\r\n"
            .to_vec();
        part.extend_from_slice(bytes);
        part
    };
    let good = wav(16_000, 0.5, 200.0);
    let mut whole = raw_multipart(std::slice::from_ref(&text), false);
    whole.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
    whole.extend_from_slice(&audio_part(&good));
    whole.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let loud = float_wav(16_000, &vec![1e30f32; 16_000]);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "a boundary that is not in the body",
            "multipart/form-data; boundary=other".into(),
            whole.clone(),
        ),
        (
            "no boundary parameter",
            "multipart/form-data".into(),
            whole.clone(),
        ),
        (
            "cut in the middle of the audio",
            MULTIPART.into(),
            whole[..whole.len() / 2].to_vec(),
        ),
        (
            "no closing boundary",
            MULTIPART.into(),
            raw_multipart(std::slice::from_ref(&text), false),
        ),
        (
            "a part without headers",
            MULTIPART.into(),
            raw_multipart(&["\r\nhello".into()], true),
        ),
        (
            "a part without a name",
            MULTIPART.into(),
            raw_multipart(
                &["Content-Disposition: form-data\r\n\r\nhello".into()],
                true,
            ),
        ),
        (
            "a header line of a megabyte",
            MULTIPART.into(),
            raw_multipart(
                &[format!(
                    "Content-Disposition: form-data; name=\"text\"\r\nX-Long: {}\r\n\r\nhello",
                    "a".repeat(1_000_000)
                )],
                true,
            ),
        ),
        (
            "thousands of parts",
            MULTIPART.into(),
            raw_multipart(
                &vec![
                    "Content-Disposition: form-data; name=\"audio\"; filename=\"\"\r\n\r\n"
                        .to_string();
                    5000
                ],
                true,
            ),
        ),
        (
            "a field name repeated",
            MULTIPART.into(),
            raw_multipart(&[text.clone(), text.clone()], true),
        ),
        ("an empty body", MULTIPART.into(), Vec::new()),
        (
            "garbage",
            MULTIPART.into(),
            b"\x00\xff\xfe garbage \r\n\r\n--".to_vec(),
        ),
    ];
    for (what, content_type, body) in cases {
        let (status, answer) =
            crate::serve::send(&app, "POST", "/api/predict", &content_type, body);
        assert!(
            (400..500).contains(&status),
            "{what}: {status} {answer}, want a 4xx"
        );
        assert!(!error_of(&answer).is_empty(), "{what}: {answer}");
    }
    // Samples of 1e30 are finite, and the model's output for them is not: the input's fault.
    let (status, answer) = post(
        &app,
        &[
            Part::Text("text", "hello"),
            Part::File("audio", "loud.wav", &loud),
        ],
    );
    assert_eq!(status, 422, "{answer}");
    assert!(!error_of(&answer).contains("finished run"), "{answer}");
}

/// The `VmRSS` and `VmHWM` of a process, in MB.
#[cfg(target_os = "linux")]
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn addr_of(process: &ServeProcess) -> SocketAddr {
    process
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let mut process = ServeProcess::start(&runs().both);
    let addr = addr_of(&process);
    let body = quick_form();
    let mut stream = connect(addr);
    // `Expect: 100-continue`: the server's "100 Continue" says the request is in its hands.
    stream
        .write_all(request_head(addr, body.len(), "Expect: 100-continue\r\n").as_bytes())
        .unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    // SAFETY: kill only sends a signal to the child this test started.
    let sent = unsafe { libc::kill(process.child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body).unwrap();
    let (answer, _) = until_closed(&mut stream);
    let (status, _, json) = parse(&answer);
    assert_eq!(status, 200, "the request in flight is answered: {answer}");
    assert!(json["probabilities"].is_object(), "{json}");
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = process.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
}

/// The burst's memory bounds, over the server's resident memory before it: the peak while 100
/// uploads of 1 MB are in flight (the default budget of 100 MB of uploads, a prediction's
/// decode per worker, connection buffers), and what may remain once they are answered.
const BURST_PEAK_MB: f64 = 300.0;
const BURST_AFTER_MB: f64 = 15.0;

#[cfg(target_os = "linux")]
#[test]
fn memory_returns_near_its_baseline_after_a_burst_of_uploads() {
    let process = ServeProcess::start(&runs().both);
    let addr = addr_of(&process);
    let pid = process.child.id();
    // 30 s of 16-bit audio at 16 kHz: 0.96 MB, decoded in full; 100 of them fit in the
    // default budget of uploads in flight.
    let body = form(&[
        Part::Text("text", "you got the job"),
        Part::File("audio", "a.wav", &wav(16_000, 30.0, 200.0)),
    ]);
    // Warm up: the model's buffers and the first decode are part of the baseline.
    for _ in 0..3 {
        let (status, answer) = http(addr, "POST", "/api/predict", MULTIPART, &body);
        assert_eq!(status, 200, "{answer}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let (baseline, _) = memory_mb(pid);
    let peak = std::sync::Mutex::new(baseline);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (rss, _) = memory_mb(pid);
                let mut peak = peak.lock().unwrap();
                *peak = peak.max(rss);
                drop(peak);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let clients: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| http(addr, "POST", "/api/predict", MULTIPART, &body)))
            .collect();
        for client in clients {
            let (status, answer) = client.join().unwrap();
            assert_eq!(status, 200, "{answer}");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    std::thread::sleep(Duration::from_millis(500));
    let (after, hwm) = memory_mb(pid);
    let peak = peak.into_inner().unwrap().max(after);
    println!(
        "burst of 100 x 0.96 MB: baseline {baseline:.0} MB, peak {peak:.0} MB (VmHWM {hwm:.0} MB), \
         after {after:.0} MB"
    );
    assert!(
        peak < baseline + BURST_PEAK_MB,
        "peak {peak:.0} MB over baseline {baseline:.0} MB + {BURST_PEAK_MB} MB"
    );
    assert!(
        after < baseline + BURST_AFTER_MB,
        "after the burst {after:.0} MB, baseline {baseline:.0} MB + {BURST_AFTER_MB} MB"
    );
}
