//! Watching document folders for files that other programs add, change or remove.
//!
//! Only `.json`, `.jsonl` and `.txt` files directly in a watched folder are reported; hidden
//! files (our temporary files are `.<name>.<pid>.<n>.tmp`) and anything under `.spanscope` are
//! not. One change on disk may be reported more than once (a write in several pieces, a rename
//! seen as both "to" and "from"), so callers compare fingerprints before acting on an event.
//!
//! Paths are reported as the folder's canonical path joined with the file name. To compare a
//! path of your own with a reported one, pass it through [`canonical_form`] first.

use std::path::{Component, Path, PathBuf};

use notify::event::{ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use thiserror::Error;

use crate::data::io::Format;

/// A change to a document file in a watched folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEvent {
    /// The file was created, written, or replaced by a rename onto it.
    Changed(PathBuf),
    /// The file was deleted or renamed away.
    Removed(PathBuf),
    /// Events may have been lost (the system's queue overflowed, or the watcher failed): check
    /// every document of the watched folders.
    Rescan,
}

/// A folder could not be watched.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: could not watch the folder: {reason}", folder.display())]
pub struct WatchError {
    /// The folder.
    pub folder: PathBuf,
    /// Why.
    pub reason: String,
}

/// Watches folders (not their subfolders) until dropped.
pub struct FolderWatcher {
    /// Kept alive for its thread; dropping it stops watching.
    _watcher: RecommendedWatcher,
    folders: Vec<PathBuf>,
}

impl std::fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatcher").field("folders", &self.folders).finish()
    }
}

impl FolderWatcher {
    /// Starts watching `folders`; `on_event` is called on the watcher's own thread.
    pub fn new(
        folders: &[PathBuf],
        on_event: impl Fn(FileEvent) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let fail =
            |folder: &Path, reason: String| WatchError { folder: folder.to_path_buf(), reason };
        let handler = move |result: notify::Result<Event>| match result {
            Ok(event) => translate(&event).into_iter().for_each(&on_event),
            Err(err) => {
                tracing::warn!("file watcher: {err}");
                on_event(FileEvent::Rescan);
            }
        };
        let mut watcher = notify::recommended_watcher(handler)
            .map_err(|e| fail(folders.first().map_or(Path::new("."), |f| f), e.to_string()))?;
        let mut watched = Vec::new();
        for folder in folders {
            let canonical = folder.canonicalize().map_err(|e| fail(folder, e.to_string()))?;
            watcher
                .watch(&canonical, RecursiveMode::NonRecursive)
                .map_err(|e| fail(folder, e.to_string()))?;
            watched.push(canonical);
        }
        Ok(Self { _watcher: watcher, folders: watched })
    }

    /// The watched folders, canonical.
    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }
}

/// `path` with its folder made canonical, as [`FileEvent`]s report it; works for files that no
/// longer exist (as long as their folder does). Falls back to `path` itself.
pub fn canonical_form(path: &Path) -> PathBuf {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    parent.canonicalize().map(|p| p.join(name)).unwrap_or_else(|_| path.to_path_buf())
}

/// The file events a notify event means for us.
fn translate(event: &Event) -> Vec<FileEvent> {
    if event.need_rescan() {
        return vec![FileEvent::Rescan];
    }
    let paths = event.paths.iter().filter(|p| is_document(p));
    match event.kind {
        EventKind::Create(_) => paths.map(|p| FileEvent::Changed(p.clone())).collect(),
        EventKind::Remove(_) => paths.map(|p| FileEvent::Removed(p.clone())).collect(),
        EventKind::Modify(ModifyKind::Name(mode)) => match mode {
            RenameMode::To => paths.map(|p| FileEvent::Changed(p.clone())).collect(),
            RenameMode::From => paths.map(|p| FileEvent::Removed(p.clone())).collect(),
            RenameMode::Both => {
                let mut out = Vec::new();
                if let Some(from) = event.paths.first().filter(|p| is_document(p)) {
                    out.push(FileEvent::Removed(from.clone()));
                }
                if let Some(to) = event.paths.get(1).filter(|p| is_document(p)) {
                    out.push(FileEvent::Changed(to.clone()));
                }
                out
            }
            // The backend could not tell which side of the rename this is: look.
            _ => paths.map(|p| by_existence(p)).collect(),
        },
        EventKind::Modify(ModifyKind::Metadata(_)) => Vec::new(),
        EventKind::Modify(_) => paths.map(|p| FileEvent::Changed(p.clone())).collect(),
        EventKind::Any | EventKind::Other => paths.map(|p| by_existence(p)).collect(),
        EventKind::Access(_) => Vec::new(),
    }
}

fn by_existence(path: &Path) -> FileEvent {
    if path.exists() {
        FileEvent::Changed(path.to_path_buf())
    } else {
        FileEvent::Removed(path.to_path_buf())
    }
}

/// A document file we report: a known extension, not hidden, not under `.spanscope`.
fn is_document(path: &Path) -> bool {
    let hidden = path.file_name().is_none_or(|n| n.to_string_lossy().starts_with('.'));
    let ours = path.components().any(|c| c == Component::Normal(".spanscope".as_ref()));
    // brat documents are `.ann` files (their `.txt` is a text document already).
    let brat = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ann"));
    !hidden && !ours && (Format::from_path(path).is_some() || brat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_document_files_count() {
        assert!(is_document(Path::new("/d/a.json")));
        assert!(is_document(Path::new("/d/a.TXT")));
        assert!(!is_document(Path::new("/d/a.csv")));
        assert!(!is_document(Path::new("/d/.a.json.12.0.tmp")));
        assert!(!is_document(Path::new("/d/.a.json")));
        assert!(!is_document(Path::new("/d/.spanscope/recovery/a.json.journal.jsonl")));
    }

    #[test]
    fn a_rename_over_a_document_reports_the_target_changed() {
        let event = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/d/.a.json.1.0.tmp"))
            .add_path(PathBuf::from("/d/a.json"));
        assert_eq!(translate(&event), vec![FileEvent::Changed(PathBuf::from("/d/a.json"))]);
    }
}
