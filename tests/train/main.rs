//! Training and evaluation: sampling, the loop, fine-tuning, new types and the SpERT
//! evaluation protocol. One test binary per area (docs/TESTING.md).

#[path = "../binary/mod.rs"]
mod binary;
#[path = "../tiny_model/mod.rs"]
mod tiny_model;

mod conll04;
mod evaluate;
mod finetune;
mod new_types;
mod sampling;
mod trainer;
