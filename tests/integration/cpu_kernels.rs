//! emofuse's own CPU kernels against burn's: the vectorised exact GELU used at inference and
//! its training form (value and gradient under autodiff), and the CPU dropout (its mask's
//! statistics, the layer's values and gradients, the fused GELU + dropout).

use burn::nn::DropoutConfig;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use emofuse::models::nn::cpu_dropout::{dropout, dropout_as_burn, dropout_mask, gelu_dropout};
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

/// The fraction of `mask` equal to `scale` lies within 5 standard deviations of `keep`.
fn assert_kept_fraction(kept: usize, len: usize, keep: f64, what: &str) {
    let fraction = kept as f64 / len as f64;
    let sigma = (keep * (1.0 - keep) / len as f64).sqrt();
    assert!(
        (fraction - keep).abs() <= 5.0 * sigma,
        "{what}: kept {fraction:.5}, expected {keep} ± {:.5}",
        5.0 * sigma
    );
}

/// The mask holds exactly 0 or 1 / keep, keeps each element with probability `keep` (alone, in
/// pairs drawn from one hash, and across seeds), does not depend on the thread count or on the
/// length it is built for, and changes with the seed.
#[test]
fn dropout_mask_keeps_each_element_with_its_probability() {
    let len = 200_001; // several of the pool's chunks, an odd tail
    for keep in [0.9, 0.5, 0.25] {
        let scale = (1.0 / keep) as f32;
        let mask = dropout_mask(17, keep, len);
        assert_eq!(mask.len(), len);
        assert!(
            mask.iter().all(|&m| m == 0.0 || m == scale),
            "values of {keep}"
        );
        let kept = |m: &[f32]| m.iter().filter(|&&v| v != 0.0).count();
        assert_kept_fraction(kept(&mask), len, keep, "one seed");
        // The two elements of one hash, and the same element under two seeds, are independent.
        let pairs = mask
            .chunks_exact(2)
            .filter(|p| p[0] != 0.0 && p[1] != 0.0)
            .count();
        assert_kept_fraction(pairs, len / 2, keep * keep, "both of a pair");
        let other = dropout_mask(18, keep, len);
        assert_ne!(mask, other);
        let both = mask
            .iter()
            .zip(&other)
            .filter(|(a, b)| **a != 0.0 && **b != 0.0)
            .count();
        assert_kept_fraction(both, len, keep * keep, "two seeds");
        // An element's fate is a function of (seed, index) alone.
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| dropout_mask(17, keep, len));
        assert_eq!(mask, one_thread, "thread count");
        assert_eq!(mask[..1_001], dropout_mask(17, keep, 1_001)[..], "length");
    }
    assert!(dropout_mask(3, 1.0, 1_000).iter().all(|&m| m == 1.0));
}

/// Under autodiff on the CPU, the layer gives `x · (1 / keep)` (burn's layer's bits) or 0 with
/// the gradient `1 / keep` or 0 at the same places; reseeding the device repeats the mask and
/// the next call draws another; outside autodiff, or with probability 0, it is the identity.
#[test]
fn cpu_dropout_values_gradients_and_seeding() {
    let (rows, cols) = (4, 25_001);
    let grid: Vec<f32> = (0..rows * cols)
        .map(|i| 0.5 + (i as f32 * 0.013).sin())
        .collect();
    let layer = DropoutConfig::new(0.1).init();
    let scale = (1.0f64 / 0.9) as f32;
    let device = Device::flex().autodiff();
    let tensor =
        |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    let values = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let run = || {
        let x = tensor(&grid).require_grad();
        let y = dropout(&layer, x.clone());
        let grads = y.clone().sum().backward();
        (values(y.detach()), values(x.grad(&grads).unwrap()))
    };
    device.seed(5);
    let (y, g) = run();
    let mut kept = 0;
    for i in 0..grid.len() {
        if g[i] == 0.0 {
            assert_eq!(y[i], 0.0, "dropped at {i}");
        } else {
            kept += 1;
            assert_eq!(g[i], scale, "gradient at {i}");
            assert_eq!(y[i].to_bits(), (grid[i] * scale).to_bits(), "value at {i}");
        }
    }
    assert_kept_fraction(kept, grid.len(), 0.9, "the layer");
    let (next, _) = run();
    assert_ne!(y, next, "the next call draws another mask");
    device.seed(5);
    assert_eq!(run().0, y, "the same seed, the same mask");

    let plain = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(grid.clone(), [rows, cols]), &plain);
    assert_eq!(values(dropout(&layer, x)), grid, "inference");
    let off = DropoutConfig::new(0.0).init();
    assert_eq!(values(dropout(&off, tensor(&grid))), grid, "probability 0");
}

/// The fused GELU + dropout has the values of GELU then dropout with the same seed, bit for
/// bit, and their gradient to within rounding (the mask multiplies the derivative before the
/// incoming gradient does).
#[test]
fn fused_gelu_dropout_matches_gelu_then_dropout() {
    let (rows, cols) = (3, 20_001);
    let grid: Vec<f32> = (0..rows * cols)
        .map(|i| ((i % cols) as f32 - 10_000.0) * 6e-4)
        .collect();
    let weights: Vec<f32> = (0..grid.len())
        .map(|i| 1.5 + (i as f32 * 0.37).sin())
        .collect();
    let layer = DropoutConfig::new(0.2).init();
    let device = Device::flex().autodiff();
    let tensor =
        |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    let run = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
        device.seed(11);
        let x = tensor(&grid).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * tensor(&weights)).sum().backward();
        let values = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
        (values(y.detach()), values(x.grad(&grads).unwrap()))
    };
    let (want_y, want_g) = run(&|x| dropout(&layer, exact_gelu(x)));
    let (got_y, got_g) = run(&|x| gelu_dropout(&layer, x));
    assert_eq!(got_y, want_y);
    let dropped = got_g.iter().filter(|&&g| g == 0.0).count();
    assert_kept_fraction(grid.len() - dropped, grid.len(), 0.8, "fused");
    for i in 0..grid.len() {
        assert!(
            (got_g[i] - want_g[i]).abs() <= 2.5e-7 * want_g[i].abs(),
            "gradient at {}: {} against {}",
            grid[i],
            got_g[i],
            want_g[i]
        );
    }
}

/// The one-multiply dropout that keeps burn's mask gives burn's `Dropout` bit for bit: values
/// (negative inputs, so zeros keep their sign), gradients under a loss of mixed signs, and the
/// device generator's state after the call (the next draw), at two probabilities.
#[test]
fn dropout_as_burn_has_burns_bits() {
    let (rows, cols) = (3, 20_011);
    let grid: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
    let weights: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.11).cos()).collect();
    let device = Device::flex().autodiff();
    let tensor =
        |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    let bits = |t: Tensor<2>| -> Vec<u32> {
        let v = t.into_data().try_into_vec::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    };
    for prob in [0.1, 0.25] {
        let layer = DropoutConfig::new(prob).init();
        let run = |ours: bool| {
            device.seed(11);
            let x = tensor(&grid).require_grad();
            let y = if ours {
                dropout_as_burn(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * tensor(&weights)).sum().backward();
            let next = Tensor::<1>::random([4], Distribution::Default, &device);
            (
                bits(y.detach()),
                bits(x.grad(&grads).unwrap()),
                next.into_data().try_into_vec::<f32>().unwrap(),
            )
        };
        let (want_y, want_g, want_next) = run(false);
        let (y, g, next) = run(true);
        let dropped = want_y.iter().filter(|&&b| f32::from_bits(b) == 0.0).count();
        assert_kept_fraction(grid.len() - dropped, grid.len(), 1.0 - prob, "burn's layer");
        assert!(y == want_y, "values differ from burn's at p = {prob}");
        assert!(g == want_g, "gradients differ from burn's at p = {prob}");
        assert_eq!(next, want_next, "the generator's next draw at p = {prob}");
    }
    let plain = Device::flex();
    let x = Tensor::<2>::from_data(TensorData::new(grid.clone(), [rows, cols]), &plain);
    let layer = DropoutConfig::new(0.1).init();
    let same = dropout_as_burn(&layer, x).into_data().try_into_vec::<f32>();
    assert_eq!(same.unwrap(), grid, "inference");
}
