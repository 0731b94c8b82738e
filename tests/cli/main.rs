//! The `spanscope` binary as a user runs it, one module per group of sub-commands. One test
//! binary per area (docs/TESTING.md).

#[path = "../binary/mod.rs"]
mod binary;
#[path = "../tiny_model/mod.rs"]
mod tiny_model;

mod commands;
mod config;
mod data;
mod explain;
mod flags;
mod model_card;
mod reliability;
mod schema;
mod shared_data;
mod train;
