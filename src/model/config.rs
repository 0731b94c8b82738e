//! The encoder's shape, read from a Hugging Face `config.json` (docs/DESIGN.md §1: "any BERT-family
//! checkpoint in Hugging Face layout").
//!
//! Only what the forward pass needs is kept; unknown keys are ignored. Keys that old
//! checkpoints omit (SciBERT's config has no `model_type`, `layer_norm_eps` or
//! `position_embedding_type`) take the defaults of transformers' `BertConfig`.
//!
//! Accepted: `model_type` `"bert"` or absent. Everything else (RoBERTa, DistilBERT, ELECTRA,
//! ...) is rejected with a message, even where the tensor names look alike: RoBERTa, for one,
//! offsets its position ids by `pad_token_id + 1` and would load without error but compute
//! the wrong thing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The feed-forward activation, named as in transformers' `ACT2FN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HiddenAct {
    /// Exact GELU, `x · Φ(x)` with the error function: what BERT uses.
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`).
    #[serde(rename = "gelu_new")]
    GeluNew,
    /// The tanh approximation of GELU under PyTorch's name; same function as `gelu_new`.
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    /// `max(0, x)`.
    #[serde(rename = "relu")]
    Relu,
}

/// Shape and hyper-parameters of a BERT encoder, as in a Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Number of word pieces in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state (768 for BERT-base, 384 for MiniLM).
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    /// Longest sequence the position embeddings cover, in word pieces.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Rows of the token-type (segment) embedding; spanscope always uses row 0.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding word piece.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Dropout after the embeddings and after each dense output, in training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities that mix the values, in training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Only `"absolute"` is supported.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// `"bert"`, or absent in old checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
}

fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_position_type() -> String {
    "absolute".to_string()
}

/// A `config.json` that cannot be read, parsed or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read encoder config `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON or misses a required key.
    #[error("encoder config `{path}` is not a BERT config.json: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The file parses but describes a model spanscope's encoder cannot run.
    #[error("encoder config `{path}`: {reason}")]
    Unsupported {
        /// The file, or `<in memory>`.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl BertConfig {
    /// Reads and validates a `config.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })?;
        cfg.validate()
            .map_err(|reason| ConfigError::Unsupported { path: path.to_path_buf(), reason })?;
        Ok(cfg)
    }

    /// Parses and validates config JSON held in memory.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let path = PathBuf::from("<in memory>");
        let cfg: Self = serde_json::from_str(text)
            .map_err(|source| ConfigError::Parse { path: path.clone(), source })?;
        cfg.validate().map_err(|reason| ConfigError::Unsupported { path, reason })?;
        Ok(cfg)
    }

    /// The shape of `bert-base-cased` (vocabulary 28996), for random-weight speed runs.
    pub fn bert_base() -> Self {
        Self {
            vocab_size: 28996,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            position_embedding_type: default_position_type(),
            model_type: Some("bert".to_string()),
        }
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Checks that this is a BERT the encoder can run; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(kind) = self.model_type.as_deref() {
            if kind != "bert" {
                return Err(format!(
                    "model_type `{kind}` is not supported: spanscope's encoder runs BERT \
                     checkpoints (model_type \"bert\", e.g. bert-base-cased, SciBERT, BioBERT, \
                     MiniLM)"
                ));
            }
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type `{}` is not supported: only \"absolute\"",
                self.position_embedding_type
            ));
        }
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be positive"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        for (key, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{key} must be in [0, 1), got {p}"));
            }
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(format!("layer_norm_eps must be positive, got {}", self.layer_norm_eps));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_old_configs_with_defaults() {
        // SciBERT's config.json: no model_type, layer_norm_eps or position_embedding_type.
        let cfg = BertConfig::from_json(
            r#"{"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
                "intermediate_size": 3072, "max_position_embeddings": 512,
                "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2,
                "vocab_size": 31116}"#,
        )
        .unwrap();
        assert_eq!(cfg.vocab_size, 31116);
        assert_eq!(cfg.layer_norm_eps, 1e-12);
        assert_eq!(cfg.model_type, None);
        assert_eq!(cfg.head_size(), 64);
    }

    #[test]
    fn activation_names_match_transformers() {
        for (name, act) in [
            ("gelu", HiddenAct::Gelu),
            ("gelu_new", HiddenAct::GeluNew),
            ("gelu_pytorch_tanh", HiddenAct::GeluPytorchTanh),
            ("relu", HiddenAct::Relu),
        ] {
            let parsed: HiddenAct = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, act);
            assert_eq!(serde_json::to_string(&act).unwrap(), format!("\"{name}\""));
        }
        assert!(serde_json::from_str::<HiddenAct>("\"swish\"").is_err());
    }

    #[test]
    fn round_trips_through_json() {
        let cfg = BertConfig::bert_base();
        let text = serde_json::to_string(&cfg).unwrap();
        assert_eq!(BertConfig::from_json(&text).unwrap(), cfg);
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        let mut cfg = BertConfig::bert_base();
        cfg.model_type = Some("roberta".into());
        assert!(cfg.validate().unwrap_err().contains("roberta"));
        let mut cfg = BertConfig::bert_base();
        cfg.num_attention_heads = 7;
        assert!(cfg.validate().unwrap_err().contains("multiple"));
        let mut cfg = BertConfig::bert_base();
        cfg.position_embedding_type = "relative_key".into();
        assert!(cfg.validate().unwrap_err().contains("relative_key"));
        let err = BertConfig::from_json(r#"{"hidden_size": 8}"#).unwrap_err();
        assert!(err.to_string().contains("vocab_size"), "{err}");
    }
}
