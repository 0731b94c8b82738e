//! Explanations: head importance and ablation on a tiny model, and explanations of the
//! bundled model's predictions. One test binary per area (docs/TESTING.md).

#[path = "../tiny_model/mod.rs"]
mod tiny_model;

mod heads;
mod prediction;
