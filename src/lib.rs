//! spanscope: joint entity and relation extraction with the ASpERT model.
//!
//! Data flows one way: files ([`data`]) → model ([`model`]) → predictions and explanations
//! ([`explain`]) → the review workbench ([`workbench`]), whose edits go back to files through
//! [`store`]. The command line lives in the binary (`src/main.rs`, `src/cli/`).

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
