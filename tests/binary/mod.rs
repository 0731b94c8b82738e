//! Running the real `spanscope` binary from integration tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `spanscope ARGS` with no model override from the environment.
pub fn spanscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spanscope"))
        .args(args)
        .env_remove("SPANSCOPE_MODEL")
        .output()
        .expect("spanscope runs")
}

/// What the command printed on standard output.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the command printed on standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A temporary path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}
