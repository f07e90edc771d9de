//! The late-fusion classifier and the encoders it trains from scratch: a small transformer over
//! tokens ([`ScratchTextEncoder`]), a dilated CNN over log-mel frames ([`DilatedAudioCnn`]) and
//! a CNN over MFCC frames ([`SpeechCnn`]). The pretrained encoders are in
//! [`crate::models::roberta`] and [`crate::models::wav2vec2`]; [`head`] writes and reads the
//! model without them (`emofuse export`).

mod dilated_audio_cnn;
pub mod head;
mod late_fusion;
mod scratch_text_encoder;
mod speech_cnn;

pub use dilated_audio_cnn::{DilatedAudioCnn, DilatedAudioCnnConfig};
pub use late_fusion::{
    AudioBranch, AudioBranchEncoder, AudioInput, FusionBatch, LateFusion, LateFusionConfig,
    Projection, TextBranch, TextBranchEncoder, TextInput,
};
pub use scratch_text_encoder::{ScratchTextEncoder, ScratchTextEncoderConfig};
pub use speech_cnn::{FramePooling, SpeechCnn, SpeechCnnBlock, SpeechCnnConfig};
