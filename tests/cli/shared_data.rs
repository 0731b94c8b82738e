//! The shared datasets, found as the other areas find them: wherever `SPANSCOPE_DATA_DIR`
//! points, else `../shared/data` beside the checkout (CI clones the repository elsewhere).

use std::path::PathBuf;

/// CoNLL04 dev in the shared data (the file may be absent).
pub fn conll04_dev() -> PathBuf {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    dir.join("conll04/conll04_dev.json")
}
