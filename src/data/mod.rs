//! SpERT documents and types: reading, writing, validation, text splitting and word-piece
//! alignment.

pub mod document;

pub use document::{Entity, Relation, Sentence};
