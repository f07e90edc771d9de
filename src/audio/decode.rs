//! Decoding audio files with symphonia: WAV (8/16/24/32-bit integer and float), FLAC, MP3,
//! OGG/Vorbis and MP4/M4A with AAC, downmixed to mono by averaging the channels.

use super::guard::guard;
use super::{header, mp4, ogg};
use anyhow::{Context, Result, anyhow, bail};
use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::Path;
use std::sync::Arc;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// A decoded clip: mono samples in [-1, 1] at the file's own sample rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Mono samples (the mean of all channels).
    pub samples: Vec<f32>,
    /// Sample rate of the file, in Hz.
    pub sample_rate: u32,
    /// Channels in the file (before the downmix).
    pub channels: usize,
    /// Things worth reporting that did not stop decoding (skipped corrupt packets, a file
    /// shorter than its header says).
    pub warnings: Vec<String>,
}

impl Decoded {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// The data is not in a container or codec that emofuse decodes (as opposed to a supported
/// format that is damaged). Found with `anyhow::Error::downcast_ref`, e.g. to answer an upload
/// with "415 Unsupported Media Type" rather than "422".
#[derive(Debug)]
pub struct UnsupportedFormat(pub String);

impl std::fmt::Display for UnsupportedFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnsupportedFormat {}

/// The audio lasts longer than the caller accepts ([`decode_bytes`]'s `max_seconds`): decoding
/// stopped there, so an upload that decompresses to hours of samples costs no more memory than
/// the limit. Samples are counted rather than the header believed: a WAV streamed by ffmpeg
/// declares 4 GB of data whatever its length.
#[derive(Debug)]
pub struct TooLong {
    /// The limit that was passed.
    pub max_seconds: f64,
    /// The duration the file's header declares, when it declares one.
    pub declared_seconds: Option<f64>,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // To the hundredth, without trailing zeros: "600 s", "0.15 s".
        let round = |s: f64| (s * 100.0).round() / 100.0;
        write!(f, "the audio lasts more than {} s", round(self.max_seconds))?;
        if let Some(seconds) = self.declared_seconds {
            write!(f, " (its header says {} s)", round(seconds))?;
        }
        Ok(())
    }
}

impl std::error::Error for TooLong {}

/// Lowest sample rate accepted, in Hz: telephone audio is 8 kHz and nothing sampled below
/// 1 kHz carries speech. Rates outside the bounds are corrupt headers (a WAV declaring 1 Hz or
/// 4,294,967,295 Hz) that would make the resampler plan FFTs or outputs of unbounded size.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest sample rate accepted, in Hz: the highest rate that studio formats use.
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Longest audio [`decode_file`] accepts, in seconds (3 hours): far above any utterance, yet a
/// file that decodes to endless samples stops costing memory there.
pub const DEFAULT_MAX_SECONDS: f64 = 3.0 * 3600.0;

/// Most mono samples any decode or resample holds (2^29: 2 GiB of f32, 3 h at 48 kHz), so
/// the seconds bound cannot mean unbounded memory at a high sample rate either.
pub const MAX_SAMPLES: usize = 1 << 29;

/// Largest sample magnitude accepted. Integer formats decode to [-1, 1] and float WAVs are
/// nominally there too; a float file mastered hot still stays within tens (+40 dBFS = 100).
/// At 1e4 (+80 dBFS) every later step stays finite in f32: the power spectrum of a 65,536-point
/// FFT frame is at most (1e4 * 65536)^2 = 4e17, far below f32's 3e38, whereas samples of 1e30
/// overflow it and turn every MFCC into NaN.
pub const MAX_MAGNITUDE: f32 = 1e4;

/// The file's sample rate is outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`]: a corrupt
/// header (found with `anyhow::Error::downcast_ref`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BadSampleRate(pub u32);

impl std::fmt::Display for BadSampleRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the sample rate {} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz: the header \
             is corrupt; re-export the recording",
            self.0
        )
    }
}

impl std::error::Error for BadSampleRate {}

/// Checks a sample rate against [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
pub fn check_sample_rate(rate: u32) -> Result<()> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(anyhow!(BadSampleRate(rate)))
    }
}

/// A decoded sample is NaN, infinite or beyond [`MAX_MAGNITUDE`] (found with
/// `anyhow::Error::downcast_ref`): such a file would give NaN features, or hide them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BadSample {
    /// Time of the first bad sample, in seconds from the start of the file.
    pub seconds: f64,
    /// Its value.
    pub value: f32,
}

impl std::fmt::Display for BadSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_finite() {
            write!(
                f,
                "a sample of {:e} at {:.3} s, beyond the {MAX_MAGNITUDE:e} accepted (audio is \
                 nominally within -1..1): the file is corrupt or not scaled as audio; fix or \
                 re-export the recording",
                self.value, self.seconds
            )
        } else {
            write!(
                f,
                "a non-finite sample (NaN or infinity) at {:.3} s (the value is {}): fix or \
                 re-export the recording",
                self.seconds, self.value
            )
        }
    }
}

impl std::error::Error for BadSample {}

/// Checks that every sample (at `sample_rate`) is finite and within [`MAX_MAGNITUDE`].
pub fn check_samples(samples: &[f32], sample_rate: u32) -> Result<()> {
    match samples
        .iter()
        .position(|x| x.is_nan() || x.abs() > MAX_MAGNITUDE)
    {
        None => Ok(()),
        Some(i) => Err(anyhow!(BadSample {
            seconds: i as f64 / f64::from(sample_rate.max(1)),
            value: samples[i],
        })),
    }
}

/// Decodes `path` to mono. Picks the first track with a supported audio codec (MP4 files from
/// video sources carry the video track first), and trims the encoder priming samples that an
/// MP4 edit list marks, as ffmpeg and librosa do.
///
/// Errors name the file and say why: missing, empty, not audio, unsupported codec, no samples,
/// a corrupt table or sample rate, a NaN, infinite or absurd sample ([`BadSample`]), more than
/// [`DEFAULT_MAX_SECONDS`] of audio ([`TooLong`]), a decoder crash ([`DecoderPanic`]).
///
/// [`DecoderPanic`]: super::DecoderPanic
pub fn decode_file(path: &Path) -> Result<Decoded> {
    decode_file_within(path, DEFAULT_MAX_SECONDS)
}

/// [`decode_file`] with another bound than [`DEFAULT_MAX_SECONDS`].
pub fn decode_file_within(path: &Path, max_seconds: f64) -> Result<Decoded> {
    guard("symphonia", "decoding", || decode_path(path, max_seconds))
        .with_context(|| format!("cannot decode audio file {}", path.display()))
}

/// Decodes an encoded file held in memory (an upload), as [`decode_file`] does. `extension`
/// (e.g. "wav", from the upload's file name) only helps the format probe. Audio longer than
/// `max_seconds` is a [`TooLong`] error, raised while decoding, as soon as the count of
/// decoded samples passes the limit. The other errors are those of [`decode_file`].
pub fn decode_bytes(bytes: Vec<u8>, extension: Option<&str>, max_seconds: f64) -> Result<Decoded> {
    if bytes.is_empty() {
        bail!("the audio is empty (0 bytes)");
    }
    let shared: Arc<[u8]> = bytes.into();
    let source = Box::new(Cursor::new(Arc::clone(&shared)));
    guard("symphonia", "decoding", || {
        decode(source, extension, max_seconds, || {
            Ok(Cursor::new(Arc::clone(&shared)))
        })
    })
}

fn decode_path(path: &Path, max_seconds: f64) -> Result<Decoded> {
    let file = File::open(path).context("cannot open the file")?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        bail!("the file is empty (0 bytes)");
    }
    let extension = path.extension().and_then(|e| e.to_str());
    decode(Box::new(file), extension, max_seconds, || {
        Ok(File::open(path)?)
    })
}

/// Decodes `source`, refusing more than `max_seconds` of audio (and more than [`MAX_SAMPLES`]);
/// `reopen` gives other readers of the same data, for the checks symphonia does not make.
fn decode<R: Read + Seek>(
    source: Box<dyn symphonia::core::io::MediaSource>,
    extension: Option<&str>,
    max_seconds: f64,
    reopen: impl Fn() -> Result<R>,
) -> Result<Decoded> {
    // Checked before symphonia reads the tables: it would allocate what they declare.
    let mut again = reopen()?;
    let is_mp4 = mp4::looks_like_mp4(&mut again);
    for start in mp4::possible_starts(&mut again)? {
        mp4::check_tables(&mut again, start)?;
    }
    // Checked before probing: symphonia's readers panic on a rate of 0 while opening.
    if let Some(rate) = header::declared_sample_rate(&mut again)? {
        check_sample_rate(rate)?;
    }
    let stream = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = extension {
        hint.with_extension(extension);
    }
    // Gapless mode makes the MP3 reader trim the LAME encoder delay and padding, as ffmpeg does.
    let format_options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_options, &MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => anyhow!(UnsupportedFormat(
                "not a supported audio container (supported: WAV, FLAC, MP3, OGG/Vorbis, MP4/M4A \
                 with AAC); is it an audio file?"
                    .into()
            )),
            other => anyhow!("unreadable or corrupt container: {other}"),
        })?;
    let mut reader = probed.format;

    let codecs = symphonia::default::get_codecs();
    let track = reader
        .tracks()
        .iter()
        .find(|t| {
            t.codec_params.codec != CODEC_TYPE_NULL
                && codecs.get_codec(t.codec_params.codec).is_some()
        })
        .ok_or_else(|| {
            anyhow!(UnsupportedFormat(format!(
                "no audio track with a supported codec ({} track(s) in the file; supported codecs: \
                 PCM, FLAC, MP3, Vorbis, AAC)",
                reader.tracks().len()
            )))
        })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    if let Some(rate) = params.sample_rate {
        check_sample_rate(rate)?;
    }
    let declared_frames = params.n_frames.filter(|_| !streamed_wav(&params));
    let mut decoder = codecs
        .make(&params, &DecoderOptions::default())
        .map_err(|e| anyhow!("cannot create the decoder: {e}"))?;

    let mut sample_rate = params.sample_rate;
    let mut channels = params.channels.map(|c| c.count()).unwrap_or(0);
    let mut samples = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut buffer_layout = (0usize, 0usize);
    let mut warnings = Vec::new();
    let mut bad_packets = 0usize;
    let mut frames_read = 0u64;
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                warnings.push(format!("stopped reading at a corrupt packet: {e}"));
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => bail!("decoding failed: {e}"),
        };
        let spec = *decoded.spec();
        check_sample_rate(spec.rate)?;
        sample_rate = Some(spec.rate);
        channels = spec.channels.count();
        let frames = decoded.frames();
        frames_read += frames as u64;
        if frames == 0 || channels == 0 {
            continue;
        }
        // A buffer sized for the largest packet so far, rebuilt if the layout changes.
        if buffer_layout != (channels, decoded.capacity()) {
            buffer = None;
        }
        let buf = buffer.get_or_insert_with(|| {
            buffer_layout = (channels, decoded.capacity());
            SampleBuffer::new(decoded.capacity() as u64, spec)
        });
        buf.copy_interleaved_ref(decoded);
        downmix_into(buf.samples(), channels, &mut samples);
        let max = max_seconds.min(MAX_SAMPLES as f64 / f64::from(spec.rate));
        if samples.len() as f64 > max * f64::from(spec.rate) {
            return Err(anyhow!(TooLong {
                max_seconds: max,
                declared_seconds: declared_frames.map(|n| n as f64 / f64::from(spec.rate)),
            }));
        }
    }
    if bad_packets > 0 {
        warnings.push(format!("{bad_packets} corrupt packet(s) skipped"));
    }
    let sample_rate = sample_rate.ok_or_else(|| anyhow!("the file declares no sample rate"))?;
    check_samples(&samples, sample_rate)?;
    if let Some(declared) = declared_frames
        && frames_read + 1 < declared
        && params.codec != symphonia::core::codecs::CODEC_TYPE_AAC
    {
        warnings.push(format!(
            "truncated: the header declares {declared} frames but only {frames_read} could be \
             read ({:.2} s of {:.2} s)",
            frames_read as f64 / sample_rate as f64,
            declared as f64 / sample_rate as f64
        ));
    }
    if let Some(cut) = ogg::cut_off_last_page(&mut reopen()?)? {
        warnings.push(cut.warning(frames_read, sample_rate));
    }
    if is_mp4 && let Some(edit) = mp4::audio_edit(&mut reopen()?, track_id)? {
        edit.apply(&mut samples, sample_rate);
    }
    if samples.is_empty() {
        bail!("the file holds no audio samples (zero-length audio)");
    }
    Ok(Decoded {
        samples,
        sample_rate,
        channels,
        warnings,
    })
}

/// Appends the per-frame mean of interleaved `channels`-channel samples to `out`.
/// Whether `params` are those of a WAV written to a pipe (ffmpeg's `-f wav -`), whose data
/// chunk declares the largest possible size (2^32 - 1 bytes) because the length was not known:
/// its frame count means nothing.
fn streamed_wav(params: &symphonia::core::codecs::CodecParameters) -> bool {
    let (Some(frames), Some(bits), Some(channels)) =
        (params.n_frames, params.bits_per_sample, params.channels)
    else {
        return false;
    };
    let frame_bytes = u64::from(bits).div_ceil(8) * channels.count() as u64;
    frame_bytes > 0 && (frames + 1) * frame_bytes > u64::from(u32::MAX)
}

fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels == 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale),
    );
}
