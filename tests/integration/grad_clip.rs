//! Gradient clipping by global norm.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use emofuse::training::grad_clip::{clip_grad_norm, grad_norm};

#[derive(Module, Debug)]
struct Two {
    a: Linear,
    b: Linear,
}

fn grads(scale: f32) -> (Two, GradientsParams) {
    let device = Device::flex().autodiff();
    device.seed(1);
    let model = Two {
        a: LinearConfig::new(3, 4).init(&device),
        b: LinearConfig::new(4, 2).init(&device),
    };
    let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], &device);
    let loss = model.b.forward(model.a.forward(x)).sum().mul_scalar(scale);
    let g = GradientsParams::from_grads(loss.backward(), &model);
    (model, g)
}

fn flat(model: &Two, g: &GradientsParams) -> Vec<f32> {
    let mut out = Vec::new();
    for layer in [&model.a, &model.b] {
        out.extend(
            g.get::<2>(layer.weight.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        let bias = layer.bias.as_ref().unwrap();
        out.extend(
            g.get::<1>(bias.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
    }
    out
}

#[test]
fn global_norm_is_the_norm_of_all_gradients() {
    let (model, g) = grads(10.0);
    let manual = flat(&model, &g).iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((grad_norm(&model, &g) - manual).abs() < 1e-3 * manual);
}

#[test]
fn clipping_rescales_all_gradients_together() {
    let (model, mut g) = grads(10.0);
    let before = flat(&model, &g);
    let norm = clip_grad_norm(&model, &mut g, 1.0);
    assert!(norm > 1.0, "test needs a norm above the bound, got {norm}");
    let after = flat(&model, &g);
    let new_norm = after.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((new_norm - 1.0).abs() < 1e-4, "{new_norm}");
    // One common factor: the direction is kept (per-tensor clipping would change it).
    let factor = after[0] / before[0];
    for (a, b) in after.iter().zip(&before) {
        assert!((a - b * factor).abs() < 1e-5);
    }
}

#[test]
fn gradients_below_the_bound_are_untouched() {
    let (model, mut g) = grads(1e-3);
    let before = flat(&model, &g);
    clip_grad_norm(&model, &mut g, 1.0);
    assert_eq!(flat(&model, &g), before);
}
