//! The fused training ops against candle's composed ops on the CPU: values and gradients of
//! layer norm, GELU, dense layers, attention probabilities, range max and the losses agree;
//! dropout keeps about 1 - p of the elements, scales them, repeats for a key and passes its
//! gradient through the same mask; collected weight gradients equal the returned ones.
//! (tests/cuda.rs runs the same comparisons on a GPU.)

use crate::tiny_model::random;
use candle_core::{DType, Device, Tensor, Var};
use spanscope::model::fused;

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
}

/// Σ f(x)·r for a fixed r, so that every output element has its own upstream gradient.
fn weighted(y: &Tensor, seed: u64) -> Tensor {
    (y * random(y.dims(), seed)).unwrap().sum_all().unwrap()
}

#[test]
fn layer_norm_matches_the_composed_layer_norm_and_all_three_gradients() {
    let x = Var::from_tensor(&(random(&[3, 4, 48], 3) + 0.7).unwrap()).unwrap();
    let w = Var::from_tensor(&(random(&[48], 4) + 1.0).unwrap()).unwrap();
    let b = Var::from_tensor(&random(&[48], 5)).unwrap();
    let eps = 1e-12;
    let ours = fused::layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), eps, None).unwrap();
    let theirs = fused::layer_norm_slow(x.as_tensor(), w.as_tensor(), b.as_tensor(), eps).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-5, "{}", max_diff(&ours, &theirs));
    let g_ours = weighted(&ours, 6).backward().unwrap();
    let g_theirs = weighted(&theirs, 6).backward().unwrap();
    for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
        let (a, c) = (g_ours.get(v).unwrap(), g_theirs.get(v).unwrap());
        assert_eq!(a.dims(), v.dims(), "gradient of {name}");
        let scale = c.abs().unwrap().max_keepdim(0).unwrap().max_all().unwrap();
        let scale = scale.to_scalar::<f32>().unwrap().max(1.0);
        assert!(max_diff(a, c) / scale < 1e-4, "gradient of {name}: {}", max_diff(a, c));
    }
}

#[test]
fn layer_norm_of_other_dtypes_takes_the_composed_path() {
    let x = random(&[2, 8], 7).to_dtype(DType::F64).unwrap();
    let (w, b) = (
        Tensor::ones(8, DType::F64, &Device::Cpu).unwrap(),
        Tensor::zeros(8, DType::F64, &Device::Cpu).unwrap(),
    );
    let y = fused::layer_norm(&x, &w, &b, 1e-5, None).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let means = y.mean(1).unwrap().to_vec1::<f64>().unwrap();
    assert!(means.iter().all(|m| m.abs() < 1e-9), "{means:?}");
}

#[test]
fn gelu_matches_candles_erf_gelu_and_its_gradient() {
    let x = Var::from_tensor(&(random(&[4, 33], 8) * 2.5).unwrap()).unwrap();
    let ours = fused::gelu_erf(x.as_tensor()).unwrap();
    let theirs = x.as_tensor().gelu_erf().unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-5);
    let g_ours = weighted(&ours, 9).backward().unwrap().get(&x).unwrap().clone();
    let g_theirs = weighted(&theirs, 9).backward().unwrap().get(&x).unwrap().clone();
    assert!(max_diff(&g_ours, &g_theirs) < 1e-4, "{}", max_diff(&g_ours, &g_theirs));
}

#[test]
fn dropout_zeroes_about_p_scales_the_rest_and_repeats_for_a_key() {
    let x = (Tensor::ones((100, 1000), DType::F32, &Device::Cpu).unwrap() * 2.0).unwrap();
    let y = fused::dropout(&x, 0.25, 42).unwrap();
    let values = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let zeros = values.iter().filter(|v| **v == 0.0).count();
    assert!((zeros as f64 / 1e5 - 0.25).abs() < 0.01, "{zeros} zeros of 100000");
    assert!(values.iter().all(|v| *v == 0.0 || (*v - 2.0 / 0.75).abs() < 1e-6));
    assert_eq!(
        values,
        fused::dropout(&x, 0.25, 42).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    let other =
        fused::dropout(&x, 0.25, 43).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_ne!(values, other);
    // p = 0 is the identity.
    assert_eq!(max_diff(&fused::dropout(&x, 0.0, 1).unwrap(), &x), 0.0);
    assert!(fused::dropout(&x, 1.0, 1).is_err());
}

#[test]
fn dropout_passes_its_gradient_through_the_same_mask() {
    let x = Var::from_tensor(&random(&[16, 24], 10)).unwrap();
    let y = fused::dropout(x.as_tensor(), 0.3, 7).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let g = grads.get(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = 1.0 / 0.7;
    for (g, y) in g.iter().zip(&y) {
        if *y == 0.0 {
            assert_eq!(*g, 0.0);
        } else {
            assert!((g - scale).abs() < 1e-6);
        }
    }
}

#[test]
fn dropout_of_a_strided_or_half_tensor_works_on_its_values() {
    let x = random(&[6, 10], 11);
    let t = x.t().unwrap();
    let y = fused::dropout(&t, 0.5, 5).unwrap();
    assert_eq!(y.dims(), &[10, 6]);
    let kept = (y.ne(0f32).unwrap().to_dtype(DType::F32).unwrap() * &t).unwrap();
    assert!(max_diff(&(kept * 2.0).unwrap(), &y) < 1e-6);
    let h = fused::dropout(&x.to_dtype(DType::F16).unwrap(), 0.5, 5).unwrap();
    assert_eq!(h.dtype(), DType::F16);
}

#[test]
fn linear_matches_matmul_plus_bias_and_its_gradients_with_and_without_heads() {
    let x = Var::from_tensor(&random(&[2, 5, 12], 20)).unwrap();
    let w = Var::from_tensor(&random(&[8, 12], 21)).unwrap();
    let b = Var::from_tensor(&random(&[8], 22)).unwrap();
    for heads in [None, Some(2)] {
        let ours = fused::linear(x.as_tensor(), w.as_tensor(), b.as_tensor(), heads, None).unwrap();
        let theirs =
            fused::linear_slow(x.as_tensor(), w.as_tensor(), b.as_tensor(), heads).unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        assert!(max_diff(&ours, &theirs) < 1e-5, "{heads:?}: {}", max_diff(&ours, &theirs));
        let g_ours = weighted(&ours, 23).backward().unwrap();
        let g_theirs = weighted(&theirs.contiguous().unwrap(), 23).backward().unwrap();
        for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
            let (a, c) = (g_ours.get(v).unwrap(), g_theirs.get(v).unwrap());
            assert_eq!(a.dims(), v.dims());
            assert!(max_diff(a, c) < 1e-4, "{heads:?}, gradient of {name}: {}", max_diff(a, c));
        }
    }
}

#[test]
fn attention_probs_match_the_composed_masked_softmax_and_its_gradients() {
    let q = Var::from_tensor(&random(&[2, 3, 6, 4], 30)).unwrap();
    let k = Var::from_tensor(&random(&[2, 3, 6, 4], 31)).unwrap();
    // The second item has two padding keys.
    let mask = Tensor::new(
        &[[0f32, 0., 0., 0., 0., 0.], [0., 0., 0., 0., f32::MIN, f32::MIN]],
        &Device::Cpu,
    )
    .unwrap();
    let scale = 0.5;
    let ours = fused::attention_probs(q.as_tensor(), k.as_tensor(), &mask, scale).unwrap();
    let theirs = fused::attention_probs_slow(q.as_tensor(), k.as_tensor(), &mask, scale).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-6, "{}", max_diff(&ours, &theirs));
    let padded = ours.get(1).unwrap().narrow(2, 4, 2).unwrap();
    assert_eq!(padded.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    let g_ours = weighted(&ours, 32).backward().unwrap();
    let g_theirs = weighted(&theirs, 32).backward().unwrap();
    for (name, v) in [("q", &q), ("k", &k)] {
        let (a, c) = (g_ours.get(v).unwrap(), g_theirs.get(v).unwrap());
        assert!(max_diff(a, c) < 1e-5, "gradient of {name}: {}", max_diff(a, c));
        assert!(a.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 1e-3);
    }
}

#[test]
fn range_max_matches_per_range_maxima_and_their_gradients() {
    let x = Var::from_tensor(&random(&[2, 9, 5], 40)).unwrap();
    let ranges = vec![vec![0..1, 2..7, 3..5, 8..9], vec![1..9, 4..4, 0..3]];
    let ours = fused::range_max(x.as_tensor(), &ranges).unwrap();
    assert_eq!(ours.dims(), &[2, 4, 5]);
    let theirs = fused::range_max_slow(x.as_tensor(), &ranges).unwrap();
    assert_eq!(max_diff(&ours, &theirs), 0.0);
    let g_ours = weighted(&ours, 41).backward().unwrap().get(&x).unwrap().clone();
    let g_theirs = weighted(&theirs, 41).backward().unwrap().get(&x).unwrap().clone();
    assert!(max_diff(&g_ours, &g_theirs) < 1e-6, "{}", max_diff(&g_ours, &g_theirs));
    // Position 8 of item 1 is in no range's maximum only if it is not the max of 1..9.
    assert!(g_ours.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.1);
}

#[test]
fn cross_entropy_matches_candles_and_its_gradient() {
    let x = Var::from_tensor(&(random(&[7, 5], 50) * 3.0).unwrap()).unwrap();
    let labels = Tensor::new(&[0u32, 4, 2, 2, 1, 0, 3], &Device::Cpu).unwrap();
    let ours = fused::cross_entropy(x.as_tensor(), &labels).unwrap();
    let theirs = candle_nn::loss::cross_entropy(x.as_tensor(), &labels).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-6);
    let g_ours = (ours * 3.0).unwrap().backward().unwrap().get(&x).unwrap().clone();
    let g_theirs = (theirs * 3.0).unwrap().backward().unwrap().get(&x).unwrap().clone();
    assert!(max_diff(&g_ours, &g_theirs) < 1e-6, "{}", max_diff(&g_ours, &g_theirs));
    let bad = Tensor::new(&[0u32, 5, 0, 0, 0, 0, 0], &Device::Cpu).unwrap();
    assert!(fused::cross_entropy(x.as_tensor(), &bad).is_err(), "label 5 of 5 classes");
}

#[test]
fn binary_cross_entropy_matches_the_composed_formula_and_its_gradient() {
    let x = Var::from_tensor(&(random(&[6, 4], 51) * 20.0).unwrap()).unwrap();
    let t = random(&[6, 4], 52).ge(0f32).unwrap().to_dtype(DType::F32).unwrap();
    let ours = fused::bce_with_logits(x.as_tensor(), &t).unwrap();
    let theirs = fused::bce_with_logits_slow(x.as_tensor(), &t).unwrap();
    assert!(max_diff(&ours, &theirs) < 1e-5, "{}", max_diff(&ours, &theirs));
    assert!(ours.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite()));
    let g_ours = weighted(&ours, 53).backward().unwrap().get(&x).unwrap().clone();
    let g_theirs = weighted(&theirs, 53).backward().unwrap().get(&x).unwrap().clone();
    assert!(max_diff(&g_ours, &g_theirs) < 1e-5, "{}", max_diff(&g_ours, &g_theirs));
}

#[test]
fn collected_weight_gradients_equal_the_returned_ones_once_merged() {
    let x = Var::from_tensor(&random(&[2, 5, 12], 60)).unwrap();
    let w = Var::from_tensor(&random(&[12, 12], 61)).unwrap();
    let b = Var::from_tensor(&random(&[12], 62)).unwrap();
    let (g, beta) = (
        Var::from_tensor(&(random(&[12], 63) + 1.0).unwrap()).unwrap(),
        Var::from_tensor(&random(&[12], 64)).unwrap(),
    );
    // The same weights used twice (their gradients add up), then a layer norm.
    let forward = |sink: Option<&fused::WeightGrads>| {
        let h = fused::linear(x.as_tensor(), w.as_tensor(), b.as_tensor(), None, sink).unwrap();
        let h =
            fused::linear(&h.relu().unwrap(), w.as_tensor(), b.as_tensor(), None, sink).unwrap();
        let y = fused::layer_norm(&h, g.as_tensor(), beta.as_tensor(), 1e-12, sink).unwrap();
        weighted(&y, 65)
    };
    let plain = forward(None).backward().unwrap();
    let sink = fused::WeightGrads::default();
    sink.set_collecting(true).unwrap();
    let mut collected = forward(Some(&sink)).backward().unwrap();
    for v in [&w, &b, &g, &beta] {
        assert!(collected.get(v).is_none(), "a collected gradient is not in candle's store");
    }
    sink.merge_into(&mut collected).unwrap();
    for (name, v) in [("x", &x), ("w", &w), ("b", &b), ("g", &g), ("beta", &beta)] {
        let (a, c) = (plain.get(v).unwrap(), collected.get(v).unwrap());
        assert!(max_diff(a, c) < 1e-5, "gradient of {name}: {}", max_diff(a, c));
    }
    // Not collecting: nothing is held back.
    sink.set_collecting(false).unwrap();
    assert!(forward(Some(&sink)).backward().unwrap().get(&w).is_some());
}

#[test]
fn query_stats_match_the_composed_statistics_and_their_gradients() {
    // Probabilities in [0, 0.5), with ties above θ (the maximum's gradient goes to each, as
    // candle's max does), and a padded second sentence (its last two keys masked).
    let (b, l, h, t) = (2, 2, 3, 5);
    let mut values: Vec<f32> = random(&[b, l, h, t, t], 70)
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.abs().min(0.49))
        .collect();
    for row in values.chunks_mut(t).step_by(3) {
        row[1] = 0.4;
        row[3] = 0.4;
    }
    let a = Var::from_tensor(&Tensor::from_vec(values, (b, l, h, t, t), &Device::Cpu).unwrap())
        .unwrap();
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1], [1, 1, 1, 0, 0]], &Device::Cpu).unwrap();
    for max in [false, true] {
        for theta in [0.0f32, 0.2] {
            let ours = fused::query_stats(a.as_tensor(), &mask, theta, max).unwrap();
            let theirs = fused::query_stats_slow(a.as_tensor(), &mask, theta, max).unwrap();
            assert_eq!(ours.dims(), [b, t, l * h]);
            assert!(max_diff(&ours, &theirs) < 1e-6, "max {max}, θ {theta}: values differ");
            let g_ours = weighted(&ours, 71).backward().unwrap().get(&a).unwrap().clone();
            let g_theirs = weighted(&theirs, 71).backward().unwrap().get(&a).unwrap().clone();
            let diff = max_diff(&g_ours, &g_theirs);
            assert!(diff < 1e-6, "max {max}, θ {theta}: gradients differ by {diff}");
        }
    }
}
