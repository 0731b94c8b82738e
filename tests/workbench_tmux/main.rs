//! The real `spanscope` binary in a real terminal (tmux), apart from tests/workbench because
//! it starts processes and waits on screens. One test binary per area (docs/TESTING.md).

mod adjudication;
mod annotate;
mod filter;
mod formats;
#[path = "../interop/mod.rs"]
mod interop;
mod keys;
mod mouse;
mod rules;
mod signals;
mod tmux;
