//! The SpERT record: a sentence with its word tokens, entities and relations.
//!
//! Key names are SpERT's, byte for byte; any key we do not know is kept in `extra` and written
//! back in its original position relative to the known keys' order (known keys first).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An entity mention: a word span `[start, end)` with a type name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Entity type name, a key of the types file's `entities`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// First word of the span.
    pub start: usize,
    /// One past the last word of the span.
    pub end: usize,
    /// Keys SpERT does not know (provenance, scores, ...), kept on round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A directed relation between two entities of the same sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// Relation type name, a key of the types file's `relations`.
    #[serde(rename = "type")]
    pub relation_type: String,
    /// Index of the head entity in the sentence's `entities`.
    pub head: usize,
    /// Index of the tail entity in the sentence's `entities`.
    pub tail: usize,
    /// Keys SpERT does not know, kept on round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One SpERT record. SpERT calls it a document; it is usually one sentence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sentence {
    /// Word tokens, kept exactly as read.
    pub tokens: Vec<String>,
    /// Entity mentions.
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Relations between `entities`.
    #[serde(default)]
    pub relations: Vec<Relation>,
    /// Keys SpERT does not know (`orig_id`, review state, ...), kept on round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Entity {
    /// A new entity with no extra keys.
    pub fn new(entity_type: impl Into<String>, start: usize, end: usize) -> Self {
        Self { entity_type: entity_type.into(), start, end, extra: Map::new() }
    }

    /// Number of words in the span.
    pub fn width(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
}

impl Relation {
    /// A new relation with no extra keys.
    pub fn new(relation_type: impl Into<String>, head: usize, tail: usize) -> Self {
        Self { relation_type: relation_type.into(), head, tail, extra: Map::new() }
    }
}

impl Sentence {
    /// A sentence with tokens and no annotation.
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        Self { tokens, ..Self::default() }
    }
}
