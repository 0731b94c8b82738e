//! BertEncoder against a plain-loops reference of BERT's forward pass (no candle, f64), on a
//! tiny random model with a padded batch; plus the training path, half precision and masks.

use crate::encoder_support::*;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use spanscope::model::config::{BertConfig, HiddenAct};
use spanscope::model::encoder::{pad_batch, BertEncoder, EncoderPath};

/// Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 {
        y
    } else {
        -y
    }
}

/// The feed-forward activation of `act`: erf GELU, its tanh approximation, or ReLU.
fn activation(act: HiddenAct, u: f64) -> f64 {
    match act {
        HiddenAct::Gelu => 0.5 * u * (1.0 + erf(u / 2f64.sqrt())),
        HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * u * (1.0 + (c * (u + 0.044_715 * u * u * u)).tanh())
        }
        HiddenAct::Relu => u.max(0.0),
    }
}

/// `x [n, inp] · wᵀ + b` with `w [out, inp]`.
fn linear(x: &[f64], n: usize, inp: usize, w: &[f32], b: &[f32]) -> Vec<f64> {
    let out = b.len();
    let mut y = vec![0.0; n * out];
    for r in 0..n {
        for o in 0..out {
            let mut s = b[o] as f64;
            for i in 0..inp {
                s += x[r * inp + i] * w[o * inp + i] as f64;
            }
            y[r * out + o] = s;
        }
    }
    y
}

fn layer_norm(x: &mut [f64], h: usize, g: &[f32], b: &[f32], eps: f64) {
    for row in x.chunks_mut(h) {
        let mean = row.iter().sum::<f64>() / h as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h as f64;
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) / (var + eps).sqrt() * g[j] as f64 + b[j] as f64;
        }
    }
}

/// One sequence through BERT: hidden `[T, H]` and attentions `[L, heads, T, T]`.
fn reference(cfg: &BertConfig, w: &Weights, ids: &[u32], real: &[bool]) -> (Vec<f64>, Vec<f64>) {
    let get = |name: &str| w[name].1.as_slice();
    let (t, h, nh) = (ids.len(), cfg.hidden_size, cfg.num_attention_heads);
    let d = h / nh;
    let eps = cfg.layer_norm_eps;
    let mut x = vec![0.0; t * h];
    for (p, &id) in ids.iter().enumerate() {
        for j in 0..h {
            x[p * h + j] = get("embeddings.word_embeddings.weight")[id as usize * h + j] as f64
                + get("embeddings.token_type_embeddings.weight")[j] as f64
                + get("embeddings.position_embeddings.weight")[p * h + j] as f64;
        }
    }
    layer_norm(
        &mut x,
        h,
        get("embeddings.LayerNorm.weight"),
        get("embeddings.LayerNorm.bias"),
        eps,
    );
    let mut attentions = Vec::new();
    for l in 0..cfg.num_hidden_layers {
        let lin = |x: &[f64], inp: usize, part: &str| {
            let p = format!("encoder.layer.{l}.{part}");
            linear(x, t, inp, get(&format!("{p}.weight")), get(&format!("{p}.bias")))
        };
        let q = lin(&x, h, "attention.self.query");
        let k = lin(&x, h, "attention.self.key");
        let v = lin(&x, h, "attention.self.value");
        let mut context = vec![0.0; t * h];
        for head in 0..nh {
            for i in 0..t {
                let mut row: Vec<f64> = (0..t)
                    .map(|j| {
                        let dot: f64 =
                            (0..d).map(|e| q[i * h + head * d + e] * k[j * h + head * d + e]).sum();
                        dot / (d as f64).sqrt() + if real[j] { 0.0 } else { f32::MIN as f64 }
                    })
                    .collect();
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                row.iter_mut().for_each(|s| *s = (*s - max).exp());
                let sum: f64 = row.iter().sum();
                row.iter_mut().for_each(|s| *s /= sum);
                for e in 0..d {
                    context[i * h + head * d + e] =
                        (0..t).map(|j| row[j] * v[j * h + head * d + e]).sum();
                }
                attentions.extend(row);
            }
        }
        let mut attended = lin(&context, h, "attention.output.dense");
        attended.iter_mut().zip(&x).for_each(|(a, r)| *a += r);
        let p = format!("encoder.layer.{l}.attention.output.LayerNorm");
        layer_norm(&mut attended, h, get(&format!("{p}.weight")), get(&format!("{p}.bias")), eps);
        let mut inner = lin(&attended, h, "intermediate.dense");
        inner.iter_mut().for_each(|u| *u = activation(cfg.hidden_act, *u));
        let mut out = lin(&inner, cfg.intermediate_size, "output.dense");
        out.iter_mut().zip(&attended).for_each(|(a, r)| *a += r);
        let p = format!("encoder.layer.{l}.output.LayerNorm");
        layer_norm(&mut out, h, get(&format!("{p}.weight")), get(&format!("{p}.bias")), eps);
        x = out;
    }
    (x, attentions)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn encoder(w: &Weights, dtype: DType) -> BertEncoder {
    encoder_of(&tiny_config(), w, dtype)
}

/// A frozen encoder of configuration `cfg` with weights `w` on the CPU.
fn encoder_of(cfg: &BertConfig, w: &Weights, dtype: DType) -> BertEncoder {
    let vb = VarBuilder::from_tensors(to_tensors(w, dtype, str::to_string), dtype, &Device::Cpu);
    BertEncoder::load(vb, cfg).unwrap()
}

#[test]
fn matches_plain_reference_on_padded_batch() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 7);
    let enc = encoder(&w, DType::F32);
    assert_eq!(enc.forward_path(), EncoderPath::Lean);
    assert_matches_reference(&cfg, &w, &enc);
}

#[test]
fn other_activations_match_the_plain_reference() {
    // Frozen f32 weights with another activation than erf GELU take the fused q/k/v path
    // (candle's softmax and layer-norm kernels), not the lean inference kernels.
    for act in [HiddenAct::GeluNew, HiddenAct::Relu] {
        let mut cfg = tiny_config();
        cfg.hidden_act = act;
        let w = random_weights(&cfg, 29);
        let enc = encoder_of(&cfg, &w, DType::F32);
        assert_eq!(enc.forward_path(), EncoderPath::FusedQkv, "{act:?}");
        assert_matches_reference(&cfg, &w, &enc);
    }
}

/// `enc` (built from `w`) against [`reference`] on the sample batch, every real position of
/// every sequence, to 1e-5.
fn assert_matches_reference(cfg: &BertConfig, w: &Weights, enc: &BertEncoder) {
    let batch = sample_batch();
    let (ids, mask) = pad_batch(&batch, 0, &Device::Cpu).unwrap();
    let out = enc.forward(&ids, &mask, false).unwrap();
    let t = batch[0].len();
    let (h, l, nh) = (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads);
    assert_eq!(out.hidden.dims(), [3, t, h]);
    assert_eq!(out.attentions.dims(), [3, l, nh, t, t]);
    let hidden = flat(&out.hidden);
    let attn = flat(&out.attentions);
    for (b, seq) in batch.iter().enumerate() {
        let mut padded = seq.clone();
        padded.resize(t, 0);
        let real: Vec<bool> = (0..t).map(|i| i < seq.len()).collect();
        let (rh, ra) = reference(cfg, w, &padded, &real);
        let rh: Vec<f32> = rh.iter().map(|&v| v as f32).collect();
        let ra: Vec<f32> = ra.iter().map(|&v| v as f32).collect();
        let eh = max_abs_diff(&hidden[b * t * h..(b + 1) * t * h], &rh);
        let ea = max_abs_diff(&attn[b * ra.len()..(b + 1) * ra.len()], &ra);
        eprintln!("sequence {b}: max |diff| hidden {eh:e}, attentions {ea:e}");
        assert!(eh <= 1e-5, "sequence {b}: hidden differs by {eh}");
        assert!(ea <= 1e-5, "sequence {b}: attentions differ by {ea}");
    }
}

#[test]
fn padding_does_not_change_real_positions() {
    let w = random_weights(&tiny_config(), 3);
    let enc = encoder(&w, DType::F32);
    let batch = sample_batch();
    let (ids, mask) = pad_batch(&batch, 0, &Device::Cpu).unwrap();
    let padded = flat(&enc.forward(&ids, &mask, false).unwrap().hidden);
    let (ids, mask) = pad_batch(&batch[1..2], 0, &Device::Cpu).unwrap();
    let alone = flat(&enc.forward(&ids, &mask, false).unwrap().hidden);
    let (t, h, n) = (batch[0].len(), 16, batch[1].len());
    let err = max_abs_diff(&padded[t * h..t * h + n * h], &alone);
    assert!(err <= 1e-5, "padding changed real positions by {err}");
}

#[test]
fn fully_masked_rows_stay_finite_and_rows_sum_to_one() {
    let enc = encoder(&random_weights(&tiny_config(), 5), DType::F32);
    let ids = Tensor::new(&[[2u32, 9, 3], [2, 4, 3]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1f32, 1., 1.], [0., 0., 0.]], &Device::Cpu).unwrap();
    let out = enc.forward(&ids, &mask, false).unwrap();
    assert!(flat(&out.hidden).iter().all(|v| v.is_finite()));
    let sums = flat(&out.attentions.sum(4).unwrap());
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
}

#[test]
fn trainable_path_matches_inference_path_and_has_gradients() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 11);
    let fused = encoder(&w, DType::F32);
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for (name, t) in to_tensors(&w, DType::F32, str::to_string) {
            data.insert(name, Var::from_tensor(&t).unwrap());
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let trainable = BertEncoder::load(vb, &cfg).unwrap();
    assert_eq!(trainable.forward_path(), EncoderPath::SeparateQkv);
    assert_eq!(trainable.frozen().unwrap().forward_path(), EncoderPath::Lean);
    let (ids, mask) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    let a = fused.forward(&ids, &mask, false).unwrap();
    let b = trainable.forward(&ids, &mask, false).unwrap();
    assert!(max_abs_diff(&flat(&a.hidden), &flat(&b.hidden)) <= 1e-5);
    assert!(max_abs_diff(&flat(&a.attentions), &flat(&b.attentions)) <= 1e-5);

    let out = trainable.forward(&ids, &mask, true).unwrap();
    let loss = (out.hidden.sqr().unwrap().mean_all().unwrap()
        + out.attentions.sqr().unwrap().mean_all().unwrap())
    .unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm.is_finite(), "{name}: gradient not finite");
    }
    let q = "encoder.layer.0.attention.self.query.weight";
    let g = grads.get(varmap.data().lock().unwrap()[q].as_tensor()).unwrap().clone();
    assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
}

#[test]
fn dropout_leaves_returned_attentions_normalised() {
    let mut cfg = tiny_config();
    cfg.attention_probs_dropout_prob = 0.5;
    cfg.hidden_dropout_prob = 0.5;
    let enc = encoder_of(&cfg, &random_weights(&cfg, 13), DType::F32);
    let (ids, mask) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    let eval = enc.forward(&ids, &mask, false).unwrap();
    let train = enc.forward(&ids, &mask, true).unwrap();
    assert!(max_abs_diff(&flat(&eval.hidden), &flat(&train.hidden)) > 1e-3, "dropout did nothing");
    let sums = flat(&train.attentions.sum(4).unwrap());
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
}

#[test]
fn half_precision_is_close_to_f32() {
    let w = random_weights(&tiny_config(), 17);
    let (ids, mask) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    let full = encoder(&w, DType::F32).forward(&ids, &mask, false).unwrap();
    for dtype in [DType::F16, DType::BF16] {
        let half = encoder(&w, dtype);
        assert_eq!(half.forward_path(), EncoderPath::FusedQkv, "{dtype:?}");
        let half = half.forward(&ids, &mask, false).unwrap();
        assert_eq!(half.hidden.dtype(), dtype);
        assert_eq!(half.attentions.dtype(), DType::F32);
        let tol = if dtype == DType::F16 { 0.05 } else { 0.25 };
        let eh = max_abs_diff(&flat(&full.hidden), &flat(&half.hidden));
        let ea = max_abs_diff(&flat(&full.attentions), &flat(&half.attentions));
        assert!(eh < tol && ea < tol, "{dtype:?}: hidden {eh}, attentions {ea}");
    }
}

#[test]
fn rejects_sequences_longer_than_positions_and_bad_masks() {
    let enc = encoder(&random_weights(&tiny_config(), 19), DType::F32);
    let long = vec![vec![1u32; 21]];
    let (ids, mask) = pad_batch(&long, 0, &Device::Cpu).unwrap();
    let err = enc.forward(&ids, &mask, false).unwrap_err().to_string();
    assert!(err.contains("longer"), "{err}");
    let (ids, _) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    let bad = Tensor::ones((3, 2), DType::U32, &Device::Cpu).unwrap();
    assert!(enc.forward(&ids, &bad, false).is_err());
    assert!(pad_batch(&[], 0, &Device::Cpu).is_err());
}

#[test]
fn dump_writes_what_parity_script_reads() {
    let enc = encoder(&random_weights(&tiny_config(), 23), DType::F32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.safetensors");
    spanscope::model::encoder::dump_outputs(&enc, &sample_batch(), &Device::Cpu, &path).unwrap();
    let t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    assert_eq!(t["input_ids"].dtype(), DType::I64);
    assert_eq!(t["attention_mask"].dims(), [3, 7]);
    assert_eq!(t["hidden"].dims(), [3, 7, 16]);
    assert_eq!(t["attentions"].dims(), [3, 2, 4, 7, 7]);
    let mask: Vec<Vec<i64>> = t["attention_mask"].to_vec2().unwrap();
    assert_eq!(mask[1], [1, 1, 1, 1, 0, 0, 0]);
}

/// A trainable encoder on the CPU and its `VarMap`, from `w`.
fn trainable_encoder(cfg: &BertConfig, w: &Weights) -> (BertEncoder, VarMap) {
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for (name, t) in to_tensors(w, DType::F32, str::to_string) {
            data.insert(name, Var::from_tensor(&t).unwrap());
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    (BertEncoder::load(vb, cfg).unwrap(), varmap)
}

#[test]
fn layers_trained_as_one_graph_node_match_the_per_op_graph() {
    // While a training loop collects weight gradients, each layer is one node with its own
    // backward pass (and a tap for its attention probabilities); otherwise, a node per op.
    let mut cfg = tiny_config();
    cfg.attention_probs_dropout_prob = 0.2;
    cfg.hidden_dropout_prob = 0.3;
    let (enc, varmap) = trainable_encoder(&cfg, &random_weights(&cfg, 23));
    let (ids, mask) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    // Weights on every output, so that every hidden state and attention probability counts.
    let weights = |shape: &[usize], seed: u64| {
        let mut rng = Rng::new(seed);
        let n = shape.iter().product();
        Tensor::from_vec((0..n).map(|_| rng.next(1.0)).collect::<Vec<f32>>(), shape, &Device::Cpu)
            .unwrap()
    };
    let run = |collect: bool| {
        enc.weight_grads().set_collecting(collect).unwrap();
        enc.dropout_stream().reseed(7);
        let out = enc.forward(&ids, &mask, true).unwrap();
        let loss = ((&out.hidden * weights(out.hidden.dims(), 1)).unwrap().sum_all().unwrap()
            + (&out.attentions * weights(out.attentions.dims(), 2)).unwrap().sum_all().unwrap())
        .unwrap();
        let nodes = loss.sorted_nodes().len();
        let mut grads = loss.backward().unwrap();
        enc.weight_grads().merge_into(&mut grads).unwrap();
        enc.weight_grads().set_collecting(false).unwrap();
        (loss.to_scalar::<f32>().unwrap(), grads, nodes)
    };
    let (per_op_loss, per_op, per_op_nodes) = run(false);
    let (node_loss, node, node_nodes) = run(true);
    // The node path was taken: two nodes a layer instead of about twenty.
    assert!(node_nodes * 2 < per_op_nodes, "{node_nodes} nodes against {per_op_nodes}");
    assert!((per_op_loss - node_loss).abs() <= 1e-5 * per_op_loss.abs().max(1.0));
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let a = flat(per_op.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient")));
        let b = flat(node.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient")));
        // The key bias has no gradient in exact arithmetic (softmax ignores a shift shared by
        // all keys): floored at 1.
        let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&a, &b);
        assert!(diff <= 1e-5 * scale, "{name}: gradients differ by {diff} (largest {scale})");
    }
}
