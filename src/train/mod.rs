//! Training and evaluation: SpERT's negative sampling, the joint loss, the optimiser schedule,
//! the training loop, the SpERT evaluation protocol, and agreement between two annotation sets.

pub mod agreement;
pub mod calibration;
pub mod evaluate;
pub mod finetune;
pub mod loss;
pub mod sampling;
pub mod schedule;
pub mod settings;
pub mod trainer;
