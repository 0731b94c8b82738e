//! The workbench at the state level (`update` driven by key strings, `TestBackend` screens
//! with insta snapshots) and its model worker; no terminal. One test binary per area
//! (docs/TESTING.md).

#[path = "../tiny_model/mod.rs"]
mod tiny_model;

mod support;

mod adjudication;
mod edits;
mod filter_line;
mod inference;
mod inspector;
mod other_tools;
mod legend;
mod large_document;
mod provenance;
mod large_screens;
mod pointer;
mod reliability;
mod safe_keys;
mod schema;
mod screens;
mod training;
