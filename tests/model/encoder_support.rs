//! Shared by the encoder tests: a tiny random BERT, written in Hugging Face names.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use spanscope::model::config::BertConfig;

/// The tiny configuration every encoder test uses.
pub fn tiny_config() -> BertConfig {
    BertConfig::from_json(
        r#"{"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 23, "max_position_embeddings": 20,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
            "model_type": "bert"}"#,
    )
    .expect("tiny config is valid")
}

/// Deterministic xorshift numbers in [-scale, scale).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self, scale: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
}

/// Named weights as plain vectors with their shapes: `name -> (shape, values)`.
pub type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Random weights for `cfg` under bare Hugging Face `BertModel` names.
pub fn random_weights(cfg: &BertConfig, seed: u64) -> Weights {
    let mut rng = Rng::new(seed);
    let mut w = Weights::new();
    let h = cfg.hidden_size;
    let i = cfg.intermediate_size;
    let mut put = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        let n = shape.iter().product();
        let v = (0..n).map(|_| offset + rng.next(scale)).collect();
        w.insert(name, (shape, v));
    };
    put("embeddings.word_embeddings.weight".into(), vec![cfg.vocab_size, h], 1.0, 0.0);
    put(
        "embeddings.position_embeddings.weight".into(),
        vec![cfg.max_position_embeddings, h],
        0.5,
        0.0,
    );
    put("embeddings.token_type_embeddings.weight".into(), vec![cfg.type_vocab_size, h], 0.5, 0.0);
    put("embeddings.LayerNorm.weight".into(), vec![h], 0.2, 1.0);
    put("embeddings.LayerNorm.bias".into(), vec![h], 0.2, 0.0);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{l}.");
        for part in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            put(format!("{p}{part}.weight"), vec![h, h], 0.6, 0.0);
            put(format!("{p}{part}.bias"), vec![h], 0.3, 0.0);
        }
        put(format!("{p}intermediate.dense.weight"), vec![i, h], 0.5, 0.0);
        put(format!("{p}intermediate.dense.bias"), vec![i], 0.3, 0.0);
        put(format!("{p}output.dense.weight"), vec![h, i], 0.5, 0.0);
        put(format!("{p}output.dense.bias"), vec![h], 0.3, 0.0);
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            put(format!("{p}{norm}.weight"), vec![h], 0.2, 1.0);
            put(format!("{p}{norm}.bias"), vec![h], 0.2, 0.0);
        }
    }
    w
}

/// The weights as candle tensors in `dtype`, each name passed through `rename`.
pub fn to_tensors(
    w: &Weights,
    dtype: DType,
    rename: impl Fn(&str) -> String,
) -> HashMap<String, Tensor> {
    w.iter()
        .map(|(name, (shape, v))| {
            let t = Tensor::from_vec(v.clone(), shape.as_slice(), &Device::Cpu)
                .and_then(|t| t.to_dtype(dtype))
                .expect("tensor");
            (rename(name), t)
        })
        .collect()
}

/// Writes a checkpoint directory: `config.json` and `model.safetensors`.
pub fn write_checkpoint(
    dir: &Path,
    cfg: &BertConfig,
    w: &Weights,
    dtype: DType,
    rename: impl Fn(&str) -> String,
) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(cfg).expect("json"))
        .expect("config");
    candle_core::safetensors::save(&to_tensors(w, dtype, rename), dir.join("model.safetensors"))
        .expect("save");
}

/// Three sequences of different lengths, the last two padded.
pub fn sample_batch() -> Vec<Vec<u32>> {
    vec![vec![2, 17, 33, 5, 49, 8, 3], vec![2, 40, 11, 3], vec![2]]
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
