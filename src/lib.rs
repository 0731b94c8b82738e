//! spanscope: joint entity and relation extraction with the ASpERT model.
//!
//! Layers, each importing only those before it (docs/ARCHITECTURE.md):
//! [`data`] (documents, types, annotations and edits: pure) → [`model`] (the encoder, f_a,
//! the heads, decoding, checkpoints) → [`explain`] and [`train`] → [`store`] (where documents
//! live on disk) → [`worker`] (the background threads) → [`workbench`] (the TUI: a pure
//! `update`, a pure `view`, and the event loop in `app`). The command line lives in the
//! binary (`src/main.rs`, `src/cli/`).

#![warn(missing_docs)]

pub mod data;
pub mod explain;
pub mod model;
pub mod store;
pub mod train;
pub mod workbench;
pub mod worker;

#[cfg(feature = "python")]
mod python;
