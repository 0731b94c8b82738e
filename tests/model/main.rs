//! The encoder and the ASpERT model: parity with references, checkpoints, heads, decoding and
//! the fused ops. One test binary per area (docs/TESTING.md).

#[path = "../tiny_model/mod.rs"]
mod tiny_model;

mod encoder_support;

mod checkpoint;
mod decode;
mod encoder_parity;
mod encoder_reference;
mod encoder_source;
mod fused;
mod heads;
mod packed;
mod versions;
