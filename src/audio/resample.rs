//! Sample-rate conversion with rubato: the FFT resampler for fixed rate pairs (decoding), and a
//! windowed-sinc resampler for arbitrary ratios (speed and pitch augmentation).

use super::decode::{MAX_SAMPLES, TooLong, check_sample_rate};
use super::guard::guard;
use anyhow::{Context, Result, anyhow, bail};
use rubato::{
    FftFixedIn, Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// Input frames per resampler call: large enough to amortise the FFTs, small enough to keep the
/// scratch buffers in cache.
const CHUNK: usize = 4096;

/// Resamples mono `samples` from `from` Hz to `to` Hz. The output has
/// `ceil(len * to / from)` samples and is aligned with the input (the resampler's delay is
/// removed), so timestamps survive the conversion.
///
/// Both rates must lie within [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`] (rubato would plan
/// FFTs as large as the rates' ratio demands), the output may not exceed [`MAX_SAMPLES`]
/// ([`TooLong`]), and the input must be finite (rubato panics on NaN); a panic in rubato is a
/// [`DecoderPanic`].
///
/// [`MIN_SAMPLE_RATE`]: super::MIN_SAMPLE_RATE
/// [`MAX_SAMPLE_RATE`]: super::MAX_SAMPLE_RATE
/// [`DecoderPanic`]: super::DecoderPanic
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    check_sample_rate(from).context("resampling")?;
    check_sample_rate(to).context("resampling to the target rate")?;
    let expected = (samples.len() as u64 * to as u64).div_ceil(from as u64);
    if expected > MAX_SAMPLES as u64 {
        return Err(anyhow!(TooLong {
            max_seconds: MAX_SAMPLES as f64 / f64::from(to),
            declared_seconds: Some(samples.len() as f64 / f64::from(from)),
        }));
    }
    check_finite(samples)?;
    guard(
        "rubato",
        &format!("resampling {from} Hz to {to} Hz"),
        || {
            let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 1, 1)
                .with_context(|| format!("cannot resample from {from} Hz to {to} Hz"))?;
            drive(&mut resampler, samples, expected as usize)
        },
    )
}

/// rubato's FFT resampler panics on a NaN, so non-finite input is refused before it.
fn check_finite(samples: &[f32]) -> Result<()> {
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        bail!("cannot resample: sample {i} is not finite ({})", samples[i]);
    }
    Ok(())
}

/// Resamples mono `samples` by an arbitrary `ratio` (output rate / input rate), e.g. 1/1.1 to
/// play a clip 10% faster. Output length is `round(len * ratio)`.
pub fn resample_by(samples: &[f32], ratio: f64) -> Result<Vec<f32>> {
    if (ratio - 1.0).abs() < 1e-9 || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let expected = (samples.len() as f64 * ratio).round().max(1.0);
    if !ratio.is_finite() || ratio <= 0.0 || expected > MAX_SAMPLES as f64 {
        bail!(
            "cannot resample {} samples by a ratio of {ratio}: it must be positive and give at \
             most {MAX_SAMPLES} samples",
            samples.len()
        );
    }
    check_finite(samples)?;
    guard(
        "rubato",
        &format!("resampling by a ratio of {ratio}"),
        || resample_by_unguarded(samples, ratio, expected as usize),
    )
}

fn resample_by_unguarded(samples: &[f32], ratio: f64, expected: usize) -> Result<Vec<f32>> {
    // Augmentation quality: a short filter is plenty and keeps it cheap.
    let parameters = SincInterpolationParameters {
        sinc_len: 64,
        f_cutoff: 0.925,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Linear,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut resampler = SincFixedIn::<f32>::new(ratio, 1.0, parameters, CHUNK, 1)
        .with_context(|| format!("cannot resample by a ratio of {ratio}"))?;
    drive(&mut resampler, samples, expected)
}

/// Feeds `samples` through `resampler` in chunks, flushes it, and returns `expected` samples
/// aligned with the input.
fn drive(
    resampler: &mut impl Resampler<f32>,
    samples: &[f32],
    expected: usize,
) -> Result<Vec<f32>> {
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + resampler.output_frames_max());
    let mut chunk_out = vec![vec![0.0f32; resampler.output_frames_max()]];
    let mut position = 0;
    while position + resampler.input_frames_next() <= samples.len() {
        let take = resampler.input_frames_next();
        let (_, written) = resampler
            .process_into_buffer(&[&samples[position..position + take]], &mut chunk_out, None)
            .context("resampling failed")?;
        out.extend_from_slice(&chunk_out[0][..written]);
        position += take;
    }
    // The tail, then zeros, until the delayed output has caught up with the input.
    while out.len() < expected + delay {
        let rest = &samples[position..];
        // An empty slice would mark the channel inactive; `None` feeds zeros.
        let input = (!rest.is_empty()).then_some([rest]);
        let (_, written) = resampler
            .process_partial_into_buffer(input.as_ref().map(|r| &r[..]), &mut chunk_out, None)
            .context("resampling failed")?;
        out.extend_from_slice(&chunk_out[0][..written]);
        position = samples.len();
    }
    out.drain(..delay);
    out.truncate(expected);
    Ok(out)
}
