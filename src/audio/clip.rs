//! Fixed-length clips with a mask of valid samples, and the Wav2Vec2 feature extractor's
//! per-utterance normalisation.

/// A clip cut or padded to a fixed length.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Samples, `length` of them (zeros after `valid`).
    pub samples: Vec<f32>,
    /// Number of real samples at the start; the rest is padding.
    pub valid: usize,
}

impl Clip {
    /// The mask of valid samples (1 for audio, 0 for padding), as the `attention_mask` that
    /// Wav2Vec2 takes.
    pub fn mask(&self) -> Vec<u8> {
        let mut mask = vec![0u8; self.samples.len()];
        mask[..self.valid].fill(1);
        mask
    }
}

/// Cuts `samples` to `length` (keeping the start, as transformers' `truncation=True` does) or
/// pads it with zeros at the end.
pub fn fix_length(mut samples: Vec<f32>, length: usize) -> Clip {
    let valid = samples.len().min(length);
    samples.resize(length, 0.0);
    Clip { samples, valid }
}

/// The windows a long recording is scored in: `[start, end)` sample ranges of `window`
/// samples every `hop` samples from the start, and, when they stop short of the end, one more
/// window that ends with the recording (so every sample is covered and every window is
/// full-length, with no padding inside the recording). A recording no longer than `window` is
/// one window, the whole of it: exactly what a model reading one clip sees.
///
/// `window` and `hop` must be positive.
pub fn windows(len: usize, window: usize, hop: usize) -> Vec<std::ops::Range<usize>> {
    assert!(window > 0 && hop > 0, "window and hop are positive");
    if len <= window {
        return std::iter::once(0..len).collect();
    }
    let mut ranges: Vec<_> = (0..=len - window)
        .step_by(hop)
        .map(|start| start..start + window)
        .collect();
    if ranges.last().is_some_and(|last| last.end < len) {
        ranges.push(len - window..len);
    }
    ranges
}

/// Which samples the mean and variance of [`normalize`] are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeOver {
    /// The whole padded clip, padding included. This is what `Wav2Vec2FeatureExtractor` does
    /// when it returns no attention mask (`wav2vec2-base-960h`): it pads first and normalises
    /// the padded array.
    Padded,
    /// Only the valid samples; padding is set back to zero afterwards. This is what the
    /// feature extractor does when it returns an attention mask (`wav2vec2-large-lv60` etc.).
    Valid,
}

/// Zero-mean, unit-variance normalisation as transformers'
/// `Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm`: `(x - mean) / sqrt(var + 1e-7)`, with
/// the population variance, in place.
pub fn normalize(clip: &mut Clip, over: NormalizeOver) {
    let span = match over {
        NormalizeOver::Padded => clip.samples.len(),
        NormalizeOver::Valid => clip.valid,
    };
    if span == 0 {
        return;
    }
    let values = &clip.samples[..span];
    // Accumulate in f64: 80,000 squared samples lose digits in f32.
    let mean = values.iter().map(|&x| x as f64).sum::<f64>() / span as f64;
    let var = values
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / span as f64;
    let scale = 1.0 / (var + 1e-7).sqrt();
    for x in &mut clip.samples[..span] {
        *x = ((*x as f64 - mean) * scale) as f32;
    }
    if over == NormalizeOver::Valid {
        clip.samples[span..].fill(0.0);
    }
}
