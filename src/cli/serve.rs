//! `emofuse serve`: the web demo and prediction API of a trained run.

use crate::serving::{Predictor, ServeOptions, Server};
use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Predictions computed at the same time (default: one per core); more requests wait.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Do not print a line per request.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `emofuse serve` until Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<()> {
    if !(args.max_upload_mb.is_finite() && args.max_upload_mb > 0.0) {
        bail!(
            "--max-upload-mb {}: give a positive size in MB, e.g. 10",
            args.max_upload_mb
        );
    }
    if args.workers == Some(0) {
        bail!("--workers 0: at least one prediction must be able to run");
    }
    let started = std::time::Instant::now();
    let predictor = Predictor::load(&args.run, args.checkpoint.as_deref())?;
    let mut options = ServeOptions {
        addr: args.addr,
        max_upload_bytes: (args.max_upload_mb * 1e6) as usize,
        log_requests: !args.quiet,
        stop_on_ctrl_c: true,
        ..ServeOptions::default()
    };
    if let Some(workers) = args.workers {
        options.workers = workers;
    }
    let modalities: Vec<&str> = predictor.modalities().iter().map(|m| m.name()).collect();
    eprintln!(
        "loaded {} ({}; reads {}; {} classes) in {:.1} s",
        predictor.name(),
        predictor.checkpoint().display(),
        modalities.join(" + "),
        predictor.labels().len(),
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(Arc::new(predictor), options)?;
    // On stdout, alone on its line, so scripts can read the address (with --addr ...:0).
    println!("serving on {}", server.url());
    eprintln!(
        "open {} in a browser; API: POST {}api/predict (multipart: text, audio), GET {}health; Ctrl-C stops",
        server.url(),
        server.url(),
        server.url()
    );
    server.wait()
}
