//! Serving a trained run: [`predictor`] loads it once and predicts single utterances from a
//! transcript and encoded audio in memory; [`server`] puts that behind HTTP (`emofuse serve`):
//! a demo page and a JSON prediction API; [`batch`] predicts every row of a folder, list or
//! table (`emofuse predict --input`).

pub mod batch;
pub mod body;
pub mod conn;
pub mod memory;
pub mod predictor;
pub mod server;

pub use predictor::{
    AudioFile, AudioSummary, BatchUtterance, InputError, PredictError, Prediction, PredictionInput,
    Predictor, Scored, WindowPrediction, Windowing,
};
pub use server::{ServeOptions, Server, router};
