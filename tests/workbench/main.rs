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
mod large_document;
mod large_screens;
mod legend;
mod other_tools;
mod pointer;
mod provenance;
mod reliability;
mod safe_keys;
mod schema;
mod screens;
mod split;
mod training;
