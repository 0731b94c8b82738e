//! The model: a BERT encoder that also returns its attention probabilities, the ASpERT and
//! SpERT heads, decoding, and checkpoints.

pub mod aspert;
pub mod batch;
pub mod calibration;
pub mod candidates;
pub mod checkpoint;
pub mod config;
pub mod contribution;
pub mod decode;
pub mod delta;
pub mod device;
pub mod encoder;
pub mod fused;
pub mod overlap;
pub mod pooling;
pub mod source;
pub mod versions;
pub mod windows;

pub use fused::graphs;
