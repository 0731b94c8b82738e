//! The review workbench: a keyboard-first terminal UI to review, correct and explain
//! extractions.
//!
//! The shape is Elm's: terminal event → key map → [`keymap::Action`] →
//! `update(&mut state, action)` → `draw(&state)`. State and update are pure and tested without
//! a terminal; the model and the disk are reached only through workers that talk by messages.

pub mod adjudication;
pub mod app;
pub mod commands;
pub mod config;
pub mod filter;
pub mod find;
pub mod history;
pub mod hits;
pub mod inspection;
pub mod keymap;
pub mod labels;
pub mod provenance;
pub mod search;
pub mod sentences;
pub mod state;
pub mod theme;
pub mod update;
pub mod view;
