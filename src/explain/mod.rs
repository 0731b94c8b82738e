//! Explanations: the attention contribution degree f_a of a span over every layer and head.
//!
//! [`span_contribution`] computes f_a from one sentence's attentions; to run a model first,
//! see [`crate::model::decode::explain_span`] (a trained ASpERT, its own θ and fusion) and
//! [`crate::model::decode::explain_span_with_encoder`] (a plain BERT, θ and fusion given).

pub mod contribution;

pub use contribution::{span_contribution, Contribution, Fusion};
