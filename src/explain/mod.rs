//! Explanations: the attention contribution degree f_a of a span over every layer and head
//! (the model's own feature, [`crate::model::contribution`], re-exported here because the
//! heatmap shows it), and causal ones through a gate on every head ([`heads`]: importance and
//! exact ablation), applied to one ASpERT prediction by [`prediction::Explainer`] (with word
//! attributions). This module builds on [`crate::model`]; the model never imports it.
//!
//! [`span_contribution`] computes f_a from one sentence's attentions; to run a model first,
//! see [`crate::model::decode::explain_span`] (a trained ASpERT, its own θ and fusion) and
//! [`crate::model::decode::explain_span_with_encoder`] (a plain BERT, θ and fusion given).

pub mod heads;
pub mod prediction;

pub use crate::model::contribution::{span_contribution, Contribution, Fusion};
pub use heads::{ablate, greedy_flip_set, head_importance, single_head_sweep, Head, HeadGrid};
pub use prediction::{
    Explainer, FlipLimits, FlipSet, Mode, Reading, Target, WordAttributions, Words,
};
