//! Where documents live: discovery, saving, the journal, the watcher and the store worker.
//! One test binary per area (docs/TESTING.md).

mod files;
#[path = "../interop/mod.rs"]
mod interop;
mod journal;
mod other_tools;
mod reliability;
mod watch;
mod worker;
