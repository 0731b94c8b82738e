//! SpERT documents and types: reading, writing, validation, text splitting and word-piece
//! alignment, and counts of what a dataset holds.
//!
//! Everything here is pure data handling; nothing knows about the model or the terminal.

pub mod annotation;
pub mod corpus;
pub mod document;
pub mod edit;
pub mod formats;
pub mod io;
pub mod layout;
pub mod origin;
pub mod provenance;
pub(crate) mod record;
pub mod split;
pub mod stats;
pub mod text;
pub mod time;
pub mod types;
pub mod validate;
pub mod wordpiece;

pub use document::{Entity, Relation, Sentence};
pub use io::{
    encode_sentences, read_bytes, read_sentences, read_sentences_strict, write_atomic,
    write_sentences, DataError, ErrorKind, Format, Loaded, Part, Place,
};
pub use text::{split_text, TextSentence, TextToken};
pub use types::{EntityType, RelationType, Types};
pub use validate::{validate_file, validate_types_file, validate_with_types_file, Problem};
pub use wordpiece::{EncodedSentence, WordPieces};
