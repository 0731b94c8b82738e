//! One workbench edits a folder at a time.
//!
//! Journals are one file per document (`.spanscope/recovery/<name>.journal.jsonl`), so two
//! workbenches editing the same folder would replace each other's journal and lose unsaved
//! edits. The first workbench to load a document of a folder takes an exclusive lock on
//! `<dir>/.spanscope/lock` and keeps it until it exits; any other workbench opening documents of
//! that folder gets them read-only, with the reason shown (docs/RELIABILITY.md). The lock is the
//! operating system's (`flock`), so a workbench killed with `kill -9` releases it at once and no
//! stale lock is ever left; the file itself stays, holding the holder's process id for messages.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::data::io::remove_abandoned_temps;

/// A folder this process may write documents and journals in. Dropping it releases the lock.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// What [`FolderLock::take`] found.
#[derive(Debug)]
pub enum Lock {
    /// We hold the folder's lock.
    Held(FolderLock),
    /// Another process holds it: documents of the folder are read-only here. The string says
    /// who, for the user.
    Taken(String),
    /// No lock can be made (the folder is read-only, or `.spanscope` cannot be created). Nothing
    /// can be written there either, so no other workbench can lose work through us; saves
    /// report their own errors.
    Unavailable(String),
}

impl FolderLock {
    /// The lock file of the folder holding `save_path`.
    pub fn path_for(save_path: &Path) -> PathBuf {
        let dir = save_path.parent().filter(|d| !d.as_os_str().is_empty());
        dir.unwrap_or(Path::new(".")).join(".spanscope").join("lock")
    }

    /// Tries to take the lock of the folder holding `save_path`, without waiting.
    pub fn take(save_path: &Path) -> Lock {
        let path = Self::path_for(save_path);
        if let Some(folder) = path.parent() {
            if let Err(e) = fs::create_dir_all(folder) {
                return Lock::Unavailable(format!("{}: could not create: {e}", folder.display()));
            }
        }
        let opened =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
        let mut file = match opened {
            Ok(file) => file,
            Err(e) => return Lock::Unavailable(format!("{}: could not open: {e}", path.display())),
        };
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the message another workbench shows; best effort.
                let me = format!("pid {}\n", std::process::id());
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(me.as_bytes()));
                remove_abandoned_temps_beside(save_path);
                Lock::Held(FolderLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() { String::new() } else { format!(" ({holder})") };
                let dir = save_path.parent().filter(|d| !d.as_os_str().is_empty());
                let dir = dir.unwrap_or(Path::new(".")).display().to_string();
                Lock::Taken(format!(
                    "another spanscope workbench{who} is editing {dir}; read-only here until it exits"
                ))
            }
            Err(TryLockError::Error(e)) => {
                Lock::Unavailable(format!("{}: could not lock: {e}", path.display()))
            }
        }
    }
}

/// Holding the lock, we are the only workbench writing in the folder: temporary files a killed
/// one left in it and in its `.spanscope` folders are ours to remove.
fn remove_abandoned_temps_beside(save_path: &Path) {
    let dir = save_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let ours = dir.join(".spanscope");
    for folder in [dir.to_path_buf(), ours.join("recovery"), ours.join("conflicts")] {
        for removed in remove_abandoned_temps(&folder) {
            tracing::info!(
                "removed a temporary file left by a killed writer: {}",
                removed.display()
            );
        }
    }
}
