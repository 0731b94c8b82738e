//! Which model a command uses: `--model DIR`, else the bundled one.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Directory name of the model shipped with spanscope, under `models/`.
pub const BUNDLED_MODEL: &str = "conll04-aspert-minilm";

/// Environment variable naming the model to use instead of the bundled one.
const MODEL_VARIABLE: &str = "SPANSCOPE_MODEL";

/// File that marks a directory as a spanscope checkpoint.
const CHECKPOINT_MARKER: &str = "spanscope.json";

/// True when `dir` holds a spanscope checkpoint (as opposed to a plain encoder).
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join(CHECKPOINT_MARKER).is_file()
}

/// The checkpoint directory to use: the one given, else `$SPANSCOPE_MODEL`, else the bundled
/// model.
pub fn checkpoint_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.exists() {
            bail!("model directory {} does not exist", dir.display());
        }
        if !is_checkpoint(dir) {
            bail!(
                "{} is not a spanscope checkpoint (no {CHECKPOINT_MARKER}); \
                 a plain BERT encoder has no entity or relation classifier to predict with",
                dir.display()
            );
        }
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(MODEL_VARIABLE).map(PathBuf::from) {
        if !is_checkpoint(&dir) {
            bail!(
                "${MODEL_VARIABLE} is {}, which is not a spanscope checkpoint (no \
                 {CHECKPOINT_MARKER}): unset it to use the bundled model, or pass --model DIR",
                dir.display()
            );
        }
        return Ok(dir);
    }
    match bundled_model_dir() {
        Some(dir) => Ok(dir),
        None => bail!(
            "no model is bundled with this build, and no --model was given: pass --model DIR \
             with a spanscope checkpoint (`spanscope train` makes one); looked in {}",
            bundled_candidates()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The bundled model, when this installation has one.
pub fn bundled_model_dir() -> Option<PathBuf> {
    bundled_candidates().into_iter().find(|dir| is_checkpoint(dir))
}

/// Where the bundled model may be: see [`installed`].
fn bundled_candidates() -> Vec<PathBuf> {
    installed(&Path::new("models").join(BUNDLED_MODEL))
}

/// Where a file or folder shipped with spanscope (`relative` to the repository root) may be:
/// beside the executable or up to two levels above it (as in cargo's `target/release`), then
/// in the source tree the executable was built from.
pub fn installed(relative: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(3) {
            found.push(dir.join(relative));
        }
    }
    found.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative));
    found.dedup();
    found
}
