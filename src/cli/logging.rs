//! Diagnostic logs go to a file, never to the terminal the user is reading.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

/// Sends `tracing` events to `file`, or to `$SPANSCOPE_LOG_FILE`, filtered by
/// `$SPANSCOPE_LOG` (default `info`). Without a file, events are dropped.
pub fn init(file: Option<&Path>) {
    let path: Option<PathBuf> = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SPANSCOPE_LOG_FILE").map(Into::into));
    let Some(path) = path else { return };
    let log = match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("spanscope: cannot open log file {}: {err}", path.display());
            return;
        }
    };
    let filter =
        EnvFilter::try_from_env("SPANSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // A second initialisation (tests) is harmless: keep the first. A span enabled by the
    // filter (the model's stage spans at `trace`) writes its busy and idle time as it closes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(Mutex::new(log))
        .try_init();
}
