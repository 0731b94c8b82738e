//! Explanations: the attention contribution degree f_a of a span over every layer and head.

pub mod contribution;

pub use contribution::{span_contribution, Contribution, Fusion};
