//! emofuse's own CPU kernels against burn's: the vectorised exact GELU used at inference and
//! its training form (value and gradient under autodiff).

use burn::tensor::{Device, Tensor, TensorData};
use emofuse::models::nn::cpu_gelu::{exact_gelu, gelu, gelu_and_grad, gelu_cpu};

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

/// Under autodiff on the CPU backend, [`exact_gelu`] (the training path of the quickstart's
/// audio CNN) gives the inference kernel's values bit for bit, and the gradient reaching its
/// input is the upstream gradient times GELU's derivative, within 5e-7 · max(1, |x|) of what
/// burn's own `gelu` backward gives, on a 2-D grid over [-12, 12] with uneven upstream weights.
#[test]
fn training_gelu_matches_burns_value_and_gradient() {
    let (rows, cols) = (3, 8_001);
    let grid: Vec<f32> = (0..rows * cols)
        .map(|i| ((i % cols) as f32 - 4_000.0) * 3e-3 + (i / cols) as f32 * 1e-3)
        .collect();
    let weights: Vec<f32> = (0..grid.len())
        .map(|i| 1.5 + (i as f32 * 0.37).sin())
        .collect();
    let device = Device::flex().autodiff();
    let tensor =
        |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    let run = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
        let x = tensor(&grid).require_grad();
        let y = f(x.clone());
        assert_eq!(y.dims(), [rows, cols]);
        let grads = (y.clone() * tensor(&weights)).sum().backward();
        let grad = x.grad(&grads).expect("the input gets a gradient");
        let values = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
        (values(y.detach()), values(grad))
    };
    let (want_y, want_g) = run(&|x| burn::tensor::activation::gelu(x));
    let (got_y, got_g) = run(&exact_gelu);
    let mut worst = (0.0f32, 0.0f32);
    for i in 0..grid.len() {
        let x = grid[i];
        assert_eq!(got_y[i].to_bits(), gelu(x).to_bits(), "value at {x}");
        assert!(
            (got_y[i] - want_y[i]).abs() <= 3e-7 * x.abs().max(1.0),
            "value at {x}"
        );
        assert_eq!(got_g[i], weights[i] * gelu_and_grad(x).1, "gradient at {x}");
        let err = (got_g[i] - want_g[i]).abs() / (weights[i] * x.abs().max(1.0));
        if err > worst.0 {
            worst = (err, x);
        }
    }
    assert!(
        worst.0 <= 5e-7,
        "largest scaled gradient error {} at x = {}",
        worst.0,
        worst.1
    );
    // The derivative's landmarks: 1/2 at 0, 0 far left, 1 far right.
    assert!((gelu_and_grad(0.0).1 - 0.5).abs() <= 2e-7);
    assert!(gelu_and_grad(-12.0).1.abs() < 1e-20);
    assert_eq!(gelu_and_grad(12.0).1, 1.0);
}
