//! `emofuse serve`: the web demo and prediction API of a trained run.

use crate::serving::{Predictor, ServeOptions, Server};
use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `emofuse serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Address to listen on; 127.0.0.1 serves this machine only, 0.0.0.0 every interface;
    /// port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7860")]
    pub addr: SocketAddr,
    /// Weights to load (default: the run's selected `model.bpk`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Largest upload accepted, in MB (the audio file and the text together).
    #[arg(long, default_value_t = 10.0)]
    pub max_upload_mb: f64,
    /// Upload bytes held at once across all requests, in MB (at least --max-upload-mb); a
    /// request that would go over is answered 503 with Retry-After.
    #[arg(long, default_value_t = 100.0)]
    pub max_uploads_in_flight_mb: f64,
    /// Predictions computed at the same time (default: one per core); more requests wait.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Connections open at once; at the limit the longest-idle one is closed to make room, and
    /// when all are busy a new one is answered 503. Keep it below the descriptor limit
    /// (`ulimit -n`).
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, from connecting (or from the previous
    /// answer on a kept-alive connection).
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds a connection may stay silent (after connecting, or after an answer) before it
    /// is closed.
    #[arg(long, default_value_t = 5.0)]
    pub idle_timeout: f64,
    /// Seconds a request's whole body may take to arrive (408 after).
    #[arg(long, default_value_t = 60.0)]
    pub body_timeout: f64,
    /// Seconds a body may go without a byte before it is given up (408).
    #[arg(long, default_value_t = 10.0)]
    pub body_stall_timeout: f64,
    /// Seconds from a complete upload to its answer (queue, decode, predict); 503 after.
    #[arg(long, default_value_t = 60.0)]
    pub predict_timeout: f64,
    /// Do not print a line per request.
    #[arg(long)]
    pub quiet: bool,
    /// How uploads longer than the model's clip are scored.
    #[command(flatten)]
    pub windows: crate::cli::predict::WindowArgs,
    /// Where and in what precision the model runs.
    #[command(flatten)]
    pub device: crate::cli::DeviceArgs,
}

/// `seconds` as a duration, or an error naming `flag`.
fn seconds(flag: &str, seconds: f64) -> Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
        bail!("--{flag} {seconds}: give a positive number of seconds, e.g. 10");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Runs `emofuse serve` until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    for (flag, mb) in [
        ("max-upload-mb", args.max_upload_mb),
        ("max-uploads-in-flight-mb", args.max_uploads_in_flight_mb),
    ] {
        if !(mb.is_finite() && mb > 0.0) {
            bail!("--{flag} {mb}: give a positive size in MB, e.g. 10");
        }
    }
    if args.max_uploads_in_flight_mb < args.max_upload_mb {
        bail!(
            "--max-uploads-in-flight-mb {} is below --max-upload-mb {}: one upload must fit",
            args.max_uploads_in_flight_mb,
            args.max_upload_mb
        );
    }
    if args.max_connections == 0 {
        bail!("--max-connections 0: at least one connection must be able to open");
    }
    if args.workers == Some(0) {
        bail!("--workers 0: at least one prediction must be able to run");
    }
    let mut options = ServeOptions {
        addr: args.addr,
        max_upload_bytes: (args.max_upload_mb * 1e6) as usize,
        max_inflight_upload_bytes: (args.max_uploads_in_flight_mb * 1e6) as usize,
        max_connections: args.max_connections,
        header_timeout: seconds("header-timeout", args.header_timeout)?,
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        body_timeout: seconds("body-timeout", args.body_timeout)?,
        body_stall_timeout: seconds("body-stall-timeout", args.body_stall_timeout)?,
        predict_timeout: seconds("predict-timeout", args.predict_timeout)?,
        log_requests: !args.quiet,
        stop_on_signal: true,
        ..ServeOptions::default()
    };
    if let Some(workers) = args.workers {
        options.workers = workers;
    }
    let started = std::time::Instant::now();
    let mut predictor =
        Predictor::load_on(&args.run, args.checkpoint.as_deref(), args.device.choice())?;
    args.windows.apply(&mut predictor)?;
    let modalities: Vec<&str> = predictor.modalities().iter().map(|m| m.name()).collect();
    eprintln!(
        "loaded {} ({}; reads {}; {} classes) in {:.1} s",
        predictor.name(),
        predictor.checkpoint().display(),
        modalities.join(" + "),
        predictor.labels().len(),
        started.elapsed().as_secs_f64()
    );
    crate::serving::memory::tune_for_serving();
    let server = Server::start(Arc::new(predictor), options)?;
    // On stdout, alone on its line, so scripts can read the address (with --addr ...:0).
    println!("serving on {}", server.url());
    eprintln!(
        "open {} in a browser; API: POST {}api/predict (multipart: text, audio), GET {}health; Ctrl-C (or SIGTERM) stops",
        server.url(),
        server.url(),
        server.url()
    );
    server.wait()
}
