//! A tiny random ASpERT on the CPU for the model tests: hidden 32, 2 layers, 4 heads, a
//! vocabulary of a few dozen pieces written to a temporary directory.

#![allow(dead_code)]

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use spanscope::data::types::{EntityType, RelationType, Types};
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::{Entity, Relation, Sentence};
use spanscope::model::aspert::ModelConfig;
use spanscope::model::checkpoint::{init_random, Trainable};
use spanscope::model::config::BertConfig;

pub const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "john",
    "smith", "works", "for", "acme", "in", "paris", ".", ",", "a", "big", "dog", "##s", "##ing",
    "run", "new", "york", "city", "lives", "and", "mary", "killed", "by",
];

/// Writes `vocab.txt` into `dir` and loads it.
pub fn word_pieces(dir: &Path) -> WordPieces {
    std::fs::write(dir.join("vocab.txt"), VOCAB.join("\n") + "\n").expect("write vocab");
    WordPieces::from_dir(dir).expect("tiny vocabulary loads")
}

pub fn encoder_config() -> BertConfig {
    BertConfig {
        vocab_size: VOCAB.len(),
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 64,
        max_position_embeddings: 64,
        ..BertConfig::bert_base()
    }
}

pub fn types() -> Types {
    let entity = |n: &str| EntityType {
        name: n.into(),
        short: n.into(),
        verbose: n.into(),
        ..EntityType::default()
    };
    let relation = |n: &str, symmetric| RelationType {
        name: n.into(),
        short: n.into(),
        verbose: format!("{n} (verbose)"),
        symmetric,
        ..RelationType::default()
    };
    Types {
        entities: vec![entity("Peop"), entity("Loc"), entity("Org")],
        relations: vec![
            relation("Work_For", false),
            relation("Kill", false),
            relation("Near", true),
        ],
    }
}

/// ASpERT with small heads; `theta` low enough that random attention passes it.
pub fn aspert_config() -> ModelConfig {
    let mut cfg = ModelConfig::aspert(encoder_config(), &types());
    cfg.mlp_size = 24;
    cfg.theta = 0.05;
    cfg.max_span_width = 4;
    cfg
}

pub fn model(cfg: &ModelConfig, dir: &Path, seed: u64) -> Trainable {
    init_random(cfg, word_pieces(dir), &Device::Cpu, DType::F32, seed).expect("tiny model")
}

/// Makes class `class` of the span classifier win everywhere (so that entities are found) by
/// raising its output bias.
pub fn favour_class(t: &mut Trainable, class: usize, by: f32) {
    let name = "span_classifier.out.bias";
    let bias = t.varmap.data().lock().unwrap()[name].as_tensor().to_vec1::<f32>().unwrap();
    let mut bias = bias;
    bias[class] += by;
    let n = bias.len();
    t.varmap.set_one(name, Tensor::from_vec(bias, n, &Device::Cpu).unwrap()).unwrap();
}

/// Sets every relation output bias to `value` (fresh models start at a low prior, under
/// which random weights rarely fire).
pub fn set_relation_bias(t: &mut Trainable, value: f32) {
    let name = "relation_classifier.bias";
    let n = t.varmap.data().lock().unwrap()[name].as_tensor().elem_count();
    t.varmap.set_one(name, Tensor::full(value, n, &Device::Cpu).unwrap()).unwrap();
}

pub fn sentence(text: &str) -> Sentence {
    Sentence::from_tokens(text.split_whitespace().map(String::from).collect())
}

pub fn sentences() -> Vec<Sentence> {
    vec![
        sentence("John Smith works for Acme in Paris ."),
        sentence("the cat sat"),
        sentence("Mary lives in New York City and John runs for the big dogs ."),
        sentence("a"),
    ]
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
}

/// A sentence of `text` with entities `(type, start, end)` and relations `(type, head, tail)`.
pub fn annotated(
    text: &str,
    entities: &[(&str, usize, usize)],
    relations: &[(&str, usize, usize)],
) -> Sentence {
    let mut s = sentence(text);
    s.entities = entities.iter().map(|&(t, a, b)| Entity::new(t, a, b)).collect();
    s.relations = relations.iter().map(|&(t, h, r)| Relation::new(t, h, r)).collect();
    s
}

/// The tiny model without dropout, for tests that compare a model with itself after training.
pub fn quiet_config() -> ModelConfig {
    let mut cfg = aspert_config();
    cfg.dropout = 0.0;
    cfg.encoder.hidden_dropout_prob = 0.0;
    cfg.encoder.attention_probs_dropout_prob = 0.0;
    cfg
}

/// A fixed pseudo-random fill in [-2, 2) on the CPU (xorshift), so that failures repeat.
pub fn random(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).expect("a random tensor")
}

/// A tiny random BERT in Hugging Face layout (`config.json`, `model.safetensors` with `bert.`
/// names, `vocab.txt`) in `dir`, from the model of `seed`; returns its encoder weights by name.
pub fn tiny_encoder(dir: &Path, seed: u64) -> std::collections::HashMap<String, Tensor> {
    let t = model(&aspert_config(), dir, seed);
    let tensors: std::collections::HashMap<String, Tensor> = t
        .varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with("bert."))
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let config = serde_json::to_string(&encoder_config()).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    tensors
}
