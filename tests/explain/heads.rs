//! The head gate of the explanation path on a tiny random BERT (CPU): masking a head equals
//! zeroing its columns of the attention output projection, masking nothing reproduces the
//! prediction, and importance agrees with finite differences of ξ.

use crate::tiny_model;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use spanscope::explain::heads::{ablate, gates, head_importance, single_head_sweep, Head};
use spanscope::model::encoder::{BertEncoder, EncoderOutput};

const IDS: [u32; 7] = [2, 10, 11, 12, 13, 14, 3];

fn random_encoder() -> (VarMap, BertEncoder) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let enc = BertEncoder::load(vb, &tiny_model::encoder_config()).expect("tiny encoder");
    // VarMap starts layer norms at zero; random weights everywhere make every head matter.
    for var in vm.all_vars() {
        let t = var.as_tensor();
        var.set(&Tensor::randn(0f32, 0.5, t.dims(), &Device::Cpu).unwrap()).unwrap();
    }
    let frozen = enc.frozen().expect("frozen copy");
    (vm, frozen)
}

fn inputs(rows: usize) -> (Tensor, Tensor) {
    let ids: Vec<u32> = (0..rows).flat_map(|_| IDS).collect();
    let ids = Tensor::from_vec(ids, (rows, IDS.len()), &Device::Cpu).unwrap();
    let mask = Tensor::ones((rows, IDS.len()), DType::U32, &Device::Cpu).unwrap();
    (ids, mask)
}

/// A score per batch row: the hidden state of word piece 2 against a fixed direction.
fn score(out: &EncoderOutput) -> candle_core::Result<Tensor> {
    let hidden = out.hidden.dim(2)?;
    let dir: Vec<f32> = (0..hidden).map(|i| ((i * 7 % 5) as f32 - 2.0) / 3.0).collect();
    let dir = Tensor::from_vec(dir, (hidden, 1), &Device::Cpu)?;
    out.hidden.i((.., 2, ..))?.contiguous()?.matmul(&dir)?.flatten_all()
}

#[test]
fn masking_a_head_equals_zeroing_its_output_projection_columns() {
    let (vm, encoder) = random_encoder();
    let (ids, mask) = inputs(1);
    let target = Head { layer: 1, head: 2 };
    let masked = ablate(&encoder, &ids, &mask, &[vec![target]], score).unwrap()[0];
    let cfg = tiny_model::encoder_config();
    let d = cfg.hidden_size / cfg.num_attention_heads;
    let name = format!("encoder.layer.{}.attention.output.dense.weight", target.layer);
    {
        let data = vm.data().lock().unwrap();
        let var = data.get(&name).expect("attention output weight");
        let w = var.as_tensor();
        let keep: Vec<f32> =
            (0..cfg.hidden_size).map(|c| if c / d == target.head { 0.0 } else { 1.0 }).collect();
        let keep = Tensor::from_vec(keep, (1, cfg.hidden_size), &Device::Cpu).unwrap();
        var.set(&w.broadcast_mul(&keep).unwrap()).unwrap();
    }
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let zeroed = BertEncoder::load(vb, &cfg).unwrap().frozen().unwrap();
    let by_hand = ablate(&zeroed, &ids, &mask, &[vec![]], score).unwrap()[0];
    let unmasked = ablate(&encoder, &ids, &mask, &[vec![]], score).unwrap()[0];
    assert!((masked - by_hand).abs() <= 1e-5 * by_hand.abs().max(1.0), "{masked} vs {by_hand}");
    assert!((masked - unmasked).abs() > 1e-4, "masking the head changed nothing: {masked}");
}

#[test]
fn masking_nothing_reproduces_the_prediction() {
    let (_vm, encoder) = random_encoder();
    let (ids, mask) = inputs(1);
    let (base, sweep) = single_head_sweep(&encoder, &ids, &mask, score).unwrap();
    let alone = ablate(&encoder, &ids, &mask, &[vec![]], score).unwrap()[0];
    // The gradient pass takes the layer norm node with a backward pass and a batch of 17 rows
    // rounds the matrix products in another order: both agree up to rounding.
    let importance = head_importance(&encoder, &ids, &mask, score).unwrap();
    let tracked = importance.score;
    assert!((tracked - alone).abs() <= 1e-5 * alone.abs().max(1.0), "{tracked} vs {alone}");
    let again = ablate(&encoder, &ids, &mask, &[vec![]], score).unwrap()[0];
    assert_eq!(again.to_bits(), alone.to_bits(), "the same pass twice: {again} vs {alone}");
    assert!((base - alone).abs() <= 1e-5 * alone.abs().max(1.0), "batched {base} vs {alone}");
    // The ordinary inference path (fused kernels) agrees up to rounding.
    let plain = score(&encoder.forward(&ids, &mask, false).unwrap()).unwrap();
    let plain = plain.to_vec1::<f32>().unwrap()[0];
    assert!((plain - base).abs() <= 1e-4 * base.abs().max(1.0), "{plain} vs {base}");
    // Row 1 + i of the sweep is head i masked on its own, as a batch of one gives it.
    let head = Head { layer: 0, head: 1 };
    let one = ablate(&encoder, &ids, &mask, &[vec![head]], score).unwrap()[0];
    assert!((sweep.get(head) - one).abs() <= 1e-5 * one.abs().max(1.0));
}

#[test]
fn importance_agrees_with_finite_differences() {
    let (_vm, encoder) = random_encoder();
    let (ids, mask) = inputs(1);
    let importance = head_importance(&encoder, &ids, &mask, score).unwrap();
    let eps = 1e-2f32;
    let cfg = tiny_model::encoder_config();
    let (layers, heads) = (cfg.num_hidden_layers, cfg.num_attention_heads);
    let (ids2, mask2) = inputs(2);
    for layer in 0..layers {
        for head in 0..heads {
            let at = |v: f32| {
                let mut g = vec![1f32; layers * heads];
                g[layer * heads + head] = v;
                g
            };
            let gate = [at(1.0 + eps), at(1.0 - eps)].concat();
            let gate = Tensor::from_vec(gate, (2, layers, heads), &Device::Cpu).unwrap();
            let out = encoder.forward_gated(&ids2, &mask2, &gate).unwrap();
            let s = score(&out).unwrap().to_vec1::<f32>().unwrap();
            let fd = ((s[0] - s[1]) / (2.0 * eps)).abs();
            let grad = importance.grid.get(Head { layer, head });
            assert!(
                (grad - fd).abs() <= 2e-2 * fd.max(grad) + 1e-3,
                "head {layer}.{head}: gradient {grad} vs finite difference {fd}"
            );
        }
    }
    assert!(importance.grid.values.iter().any(|v| *v > 1e-3), "{:?}", importance.grid);
    // gates() masks exactly the heads asked for.
    let g = gates(&encoder, &[vec![Head { layer: 1, head: 3 }]]).unwrap();
    assert_eq!(g.sum_all().unwrap().to_scalar::<f32>().unwrap(), (layers * heads - 1) as f32);
}

#[test]
fn rows_sharing_their_unmasked_layers_equal_separate_rows() {
    let (_vm, encoder) = random_encoder();
    let sets = vec![
        vec![Head { layer: 1, head: 2 }],
        vec![],
        vec![Head { layer: 0, head: 1 }],
        vec![Head { layer: 0, head: 0 }, Head { layer: 1, head: 3 }],
        vec![Head { layer: 1, head: 0 }],
    ];
    let gate = gates(&encoder, &sets).unwrap();
    let (ids1, mask1) = inputs(1);
    let (ids, mask) = inputs(sets.len());
    let separate = encoder.forward_gated(&ids, &mask, &gate).unwrap();
    let shared = encoder.forward_gated_shared(&ids1, &mask1, &gate).unwrap();
    assert_eq!(shared.hidden.dims(), separate.hidden.dims());
    assert_eq!(shared.attentions.dims(), separate.attentions.dims());
    let diff = |a: &Tensor, b: &Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!(diff(&shared.hidden, &separate.hidden) < 1e-5);
    assert!(diff(&shared.attentions, &separate.attentions) < 1e-6);
    // The rows really differ: masking a head changes the hidden states.
    let rows = |t: &Tensor, r: usize| t.get(r).unwrap();
    assert!(diff(&rows(&shared.hidden, 0), &rows(&shared.hidden, 1)) > 1e-3);
}
