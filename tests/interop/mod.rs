//! The files other tools wrote (../shared/data/interop, see its README), for the areas that
//! open them: without the shared data a test prints a note and passes.

use std::path::PathBuf;

/// The interop folder (`$SPANSCOPE_DATA_DIR/interop`, else `../shared/data/interop`), or
/// `None`, with a note, where it is missing.
pub fn interop() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    let dir = dir.join("interop");
    if !dir.is_dir() {
        eprintln!("note: no {}; skipping", dir.display());
    }
    dir.is_dir().then_some(dir)
}
