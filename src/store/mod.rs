//! Where documents live on disk, for the workbench: which files a folder holds, loading and
//! atomic saving, the recovery journal of unsaved edits, and watching folders for changes.
//!
//! Everything here may block on the disk, so the workbench calls it from its store worker
//! ([`worker`]), never from the UI thread.

pub mod files;
pub mod journal;
pub mod watch;
pub mod worker;
