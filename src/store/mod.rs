//! Where documents live on disk, for the workbench: which files a folder holds, loading and
//! atomic saving, the recovery journal of unsaved edits, and watching folders for changes.
//!
//! Everything here may block on the disk, so the workbench calls it from its store worker
//! ([`worker`]), never from the UI thread.
//!
//! Inside each document folder we keep a `.spanscope/` folder: `recovery/` holds the journals
//! of unsaved edits ([`journal`]), and `conflicts/` the versions a save or reload would otherwise
//! have lost ([`files::save`], [`files::keep_copy`]). Nothing in it is ever deleted by us except
//! a journal whose edits were just saved.

pub mod files;
pub mod journal;
pub mod lock;
pub mod watch;
