//! emofuse's own CPU kernels against burn's: the vectorised exact GELU used at inference.

use burn::tensor::{Device, Tensor, TensorData};
use emofuse::models::nn::cpu_gelu::{gelu, gelu_cpu};

/// The vectorised GELU equals burn's (libm's `erff`) within 3e-7 · max(1, |x|) on a dense grid
/// over [-12, 12] (both tails, the underflow of e^{-x²/2} and zero included), and the tensor
/// path (threads, in place) gives the scalar function's bits.
#[test]
fn vectorised_gelu_matches_burns_exact_gelu() {
    let grid: Vec<f32> = (-120_000..=120_000).map(|i| i as f32 * 1e-4).collect();
    let device = Device::flex();
    let tensor = || Tensor::<1>::from_data(TensorData::new(grid.clone(), [grid.len()]), &device);
    let want = burn::tensor::activation::gelu(tensor())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let got = gelu_cpu(tensor())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let mut worst = (0.0f32, 0.0f32);
    for ((&x, &g), &w) in grid.iter().zip(&got).zip(&want) {
        assert_eq!(g.to_bits(), gelu(x).to_bits(), "tensor path at {x}");
        let err = (g - w).abs() / x.abs().max(1.0);
        if err > worst.0 {
            worst = (err, x);
        }
    }
    assert!(
        worst.0 <= 3e-7,
        "largest scaled error {} at x = {}",
        worst.0,
        worst.1
    );
    assert_eq!(gelu(0.0), 0.0);
    assert!(gelu(-20.0) <= 0.0 && gelu(-20.0).abs() < 1e-30);
    assert_eq!(gelu(20.0), 20.0);
}
