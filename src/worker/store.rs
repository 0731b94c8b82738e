//! The store worker: one thread that does all the workbench's disk I/O, so the UI never blocks.
//!
//! The UI sends [`StoreRequest`]s; they are handled strictly in order, and the answers come back
//! through the `notify` callback as [`StoreReply`]s, in the same order. Every request gets
//! exactly one reply, except `StartJournal` and `Journal`, which reply only when they fail
//! ([`StoreReply::JournalFailed`]). A journal problem while loading or saving is reported as a
//! `JournalFailed` right after the `Loaded` or `Saved` reply.
//!
//! Journals: the worker keeps one open [`Journal`] per save path. `Journal` requests append to
//! it, opening it first if needed (continuing an existing journal, or starting one whose base is
//! the fingerprint last loaded or saved). A successful save discards the journal and starts an
//! empty one with the new base. A `Load` closes the open journal of its file (it is reopened on
//! the next append) and returns any journal with entries as the `recovery` of [`StoreReply::Loaded`]:
//! the UI replays it ([`crate::store::journal::replay`]) when its base matches the loaded fingerprint
//! and the user agrees, and otherwise sends `SetAsideJournal`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::data::document::Sentence;
use crate::data::io::{DataError, ErrorKind, Place};
use crate::data::types::Types;
use crate::store::files::{self, DocumentSource, Fingerprint, LoadedDocument, SaveError};
use crate::store::journal::{Journal, JournalEntry, JournalError, Recovered};
use crate::store::lock::{FolderLock, Lock};
use crate::worker::{guarded, Worker};

/// The workbench's name for an open document.
pub type DocId = u64;

/// A document's sentences as they were when a save or a copy was asked for, shared with the
/// workbench sentence by sentence rather than copied.
pub type Snapshot = Arc<[Arc<Sentence>]>;

/// Work for the store worker.
#[derive(Debug)]
pub enum StoreRequest {
    /// Load a document, and look for a recovery journal.
    Load {
        /// The document.
        doc: DocId,
        /// Where it is.
        source: DocumentSource,
    },
    /// Save a document (see [`files::save`]).
    Save {
        /// The document.
        doc: DocId,
        /// Where it is.
        source: DocumentSource,
        /// Its sentences as they are now, shared with the workbench (which compares them with
        /// its own once the save succeeds).
        sentences: Snapshot,
        /// The fingerprint last loaded or saved.
        expected: Option<Fingerprint>,
        /// Save even if the file changed on disk (the disk version is kept).
        force: bool,
    },
    /// Write the types file (atomically), as the label editor changed it.
    WriteTypes {
        /// The types file.
        path: PathBuf,
        /// Its new contents.
        types: Types,
    },
    /// Start an empty journal, replacing any old one.
    StartJournal {
        /// The document.
        doc: DocId,
        /// Its save path.
        save_path: PathBuf,
        /// The fingerprint of the version the edits apply to.
        base: Option<Fingerprint>,
    },
    /// Append an edit to the document's journal.
    Journal {
        /// The document.
        doc: DocId,
        /// Its save path.
        save_path: PathBuf,
        /// The edit.
        entry: JournalEntry,
    },
    /// Set the document's journal aside (see [`Journal::set_aside`]).
    SetAsideJournal {
        /// The document.
        doc: DocId,
        /// Its save path.
        save_path: PathBuf,
        /// Why, for the new file name ("declined", "stale").
        why: String,
    },
    /// Keep a copy of the sentences in `.spanscope/conflicts` (see [`files::keep_copy`]).
    KeepCopy {
        /// The document.
        doc: DocId,
        /// Where it is.
        source: DocumentSource,
        /// The sentences to keep.
        sentences: Snapshot,
        /// A word for the file name ("mine").
        tag: String,
    },
    /// Fingerprint the file on disk, to see whether it changed.
    Check {
        /// The document.
        doc: DocId,
        /// Where it is.
        source: DocumentSource,
        /// The fingerprint the UI knows (for the UI's own bookkeeping; the reply has the disk's).
        known: Option<Fingerprint>,
    },
}

/// An answer from the store worker.
#[derive(Debug)]
pub enum StoreReply {
    /// A `Load` finished.
    Loaded {
        /// The document.
        doc: DocId,
        /// The document, or why it could not be read.
        result: Result<LoadedDocument, DataError>,
        /// A recovery journal with at least one entry, if there is one.
        recovery: Option<Recovered>,
    },
    /// A `Save` finished.
    Saved {
        /// The document.
        doc: DocId,
        /// The fingerprint of the saved file, or why nothing was saved.
        result: Result<Fingerprint, SaveError>,
    },
    /// A journal could not be read, started, appended to or set aside.
    JournalFailed {
        /// The document.
        doc: DocId,
        /// What went wrong, naming the journal file.
        error: String,
    },
    /// A `SetAsideJournal` finished; `path` is where the journal went (`None`: there was none).
    SetAside {
        /// The document.
        doc: DocId,
        /// The journal's new path.
        path: Option<PathBuf>,
    },
    /// A `KeepCopy` finished.
    CopyKept {
        /// The document.
        doc: DocId,
        /// Where the copy is, or why it could not be written.
        result: Result<PathBuf, DataError>,
    },
    /// A `WriteTypes` finished.
    TypesWritten {
        /// The types file.
        path: PathBuf,
        /// Why it could not be written, if it could not.
        result: Result<(), DataError>,
    },
    /// A `Check` finished.
    Checked {
        /// The document.
        doc: DocId,
        /// The fingerprint of the save path on disk (`None`: no file there).
        disk: Result<Option<Fingerprint>, DataError>,
    },
}

/// The running store worker. Dropping it finishes every request already sent, then stops.
#[derive(Debug)]
pub struct StoreWorker {
    worker: Worker<StoreRequest>,
    /// Journal requests sent, and how many the worker has finished.
    journal_sent: AtomicU64,
    journal_done: Arc<(Mutex<u64>, Condvar)>,
}

impl StoreRequest {
    /// Whether this request writes a journal (what [`StoreWorker::wait_for_journal`] waits on).
    fn writes_journal(&self) -> bool {
        matches!(self, StoreRequest::Journal { .. } | StoreRequest::StartJournal { .. })
    }
}

impl StoreWorker {
    /// Starts the worker thread; `notify` receives every reply, on that thread.
    pub fn spawn(notify: impl Fn(StoreReply) + Send + 'static) -> StoreWorker {
        let journal_done = Arc::new((Mutex::new(0u64), Condvar::new()));
        let done = journal_done.clone();
        let worker = Worker::spawn("spanscope-store", move |requests: Receiver<StoreRequest>| {
            let mut state = State::default();
            for request in requests {
                let journal = request.writes_journal();
                let failure = Failure::of(&request);
                let replies = guarded(|| state.handle(request)).unwrap_or_else(|panic| {
                    // The journals may be half-updated: reopen them on the next append.
                    state.journals.clear();
                    vec![failure.reply(panic)]
                });
                if journal {
                    let (count, changed) = &*done;
                    *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    changed.notify_all();
                }
                replies.into_iter().for_each(&notify);
            }
        });
        StoreWorker { worker, journal_sent: AtomicU64::new(0), journal_done }
    }

    /// Queues a request; it is handled after every request sent before it.
    pub fn send(&self, request: StoreRequest) {
        let journal = request.writes_journal();
        if self.worker.send(request) && journal {
            self.journal_sent.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits until every journal write sent so far is on disk (or has failed and been
    /// replied), at most `timeout`; returns whether it got there. The workbench draws an edit
    /// only after this, so an edit on screen survives a kill.
    pub fn wait_for_journal(&self, timeout: Duration) -> bool {
        let wanted = self.journal_sent.load(Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let (count, changed) = &*self.journal_done;
        let mut done = count.lock().unwrap_or_else(|e| e.into_inner());
        while *done < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = changed.wait_timeout(done, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// What the worker remembers between requests.
#[derive(Default)]
struct State {
    /// Open journals, by save path.
    journals: HashMap<PathBuf, Journal>,
    /// The fingerprint last loaded or saved, by save path: the base of a journal started lazily.
    bases: HashMap<PathBuf, Option<Fingerprint>>,
    /// The lock of each folder a document was loaded from, by lock file (see [`crate::store::lock`]).
    locks: HashMap<PathBuf, Lock>,
}

impl State {
    fn handle(&mut self, request: StoreRequest) -> Vec<StoreReply> {
        if let Some(refused) = self.refuse_if_locked(&request) {
            return vec![refused];
        }
        match request {
            StoreRequest::Load { doc, source } => self.load(doc, &source),
            StoreRequest::Save { doc, source, sentences, expected, force } => {
                self.save(doc, &source, &sentences, expected, force)
            }
            StoreRequest::StartJournal { doc, save_path, base } => {
                self.journals.remove(&save_path);
                self.bases.insert(save_path.clone(), base);
                match Journal::start(&save_path, base) {
                    Ok(journal) => {
                        self.journals.insert(save_path, journal);
                        Vec::new()
                    }
                    Err(e) => vec![journal_failed(doc, e)],
                }
            }
            StoreRequest::Journal { doc, save_path, entry } => self.append(doc, save_path, &entry),
            StoreRequest::SetAsideJournal { doc, save_path, why } => {
                self.journals.remove(&save_path);
                match Journal::set_aside(&save_path, &why) {
                    Ok(path) => vec![StoreReply::SetAside { doc, path }],
                    Err(e) => vec![journal_failed(doc, e)],
                }
            }
            StoreRequest::KeepCopy { doc, source, sentences, tag } => {
                vec![StoreReply::CopyKept {
                    doc,
                    result: files::keep_copy(&source, &sentences, &tag),
                }]
            }
            StoreRequest::Check { doc, source, known: _ } => {
                vec![StoreReply::Checked { doc, disk: files::fingerprint(&source.save_path) }]
            }
            StoreRequest::WriteTypes { path, types } => {
                let result = types.write(&path);
                vec![StoreReply::TypesWritten { path, result }]
            }
        }
    }

    /// Takes the lock of `save_path`'s folder if nobody has it; returns why this workbench must
    /// not write there when another one holds it.
    fn taken_by_another(&mut self, save_path: &std::path::Path) -> Option<String> {
        let lock = self.locks.entry(FolderLock::path_for(save_path)).or_insert_with(|| {
            let lock = FolderLock::take(save_path);
            if let Lock::Unavailable(why) = &lock {
                tracing::warn!("{why}; saves and journals there will report their own errors");
            }
            lock
        });
        match lock {
            Lock::Taken(why) => Some(why.clone()),
            Lock::Held(_) | Lock::Unavailable(_) => None,
        }
    }

    /// The reply refusing a write to a folder another workbench holds, if `request` is one.
    fn refuse_if_locked(&mut self, request: &StoreRequest) -> Option<StoreReply> {
        match request {
            StoreRequest::Save { doc, source, .. } => {
                let why = self.taken_by_another(&source.save_path)?;
                let error = DataError::new(&source.save_path, Place::File, ErrorKind::Io, why);
                Some(StoreReply::Saved { doc: *doc, result: Err(SaveError::Data(error)) })
            }
            StoreRequest::StartJournal { doc, save_path, .. }
            | StoreRequest::Journal { doc, save_path, .. }
            | StoreRequest::SetAsideJournal { doc, save_path, .. } => {
                let why = self.taken_by_another(save_path)?;
                Some(journal_failed(doc.to_owned(), format!("{}: {why}", save_path.display())))
            }
            _ => None,
        }
    }

    fn load(&mut self, doc: DocId, source: &DocumentSource) -> Vec<StoreReply> {
        let save_path = &source.save_path;
        self.journals.remove(save_path);
        let mut result = files::load(source);
        if let Some(why) = self.taken_by_another(save_path) {
            // The journal there is the other workbench's, live: neither offer nor touch it.
            if let Ok(loaded) = &mut result {
                loaded.read_only = Some(why);
            }
            return vec![StoreReply::Loaded { doc, result, recovery: None }];
        }
        if let Ok(loaded) = &result {
            self.bases.insert(save_path.clone(), loaded.fingerprint);
        }
        let (recovery, problem) = match Journal::read(save_path) {
            Ok(Some(found)) if already_saved(&found, &result) => {
                // Killed between a save's rename and the journal's removal: nothing to recover.
                let removed = Journal::discard(save_path).err().map(|e| journal_failed(doc, e));
                (None, removed)
            }
            Ok(found) => (found.filter(|r| !r.entries.is_empty()), None),
            Err(e @ JournalError::Corrupt { .. }) => {
                // A damaged journal still holds edits: keep it out of the way of the new one.
                let aside = match Journal::set_aside(save_path, "damaged") {
                    Ok(Some(to)) => format!("; it is kept as {}", to.display()),
                    Ok(None) => String::new(),
                    Err(e) => format!("; and could not be set aside: {e}"),
                };
                (None, Some(journal_failed(doc, format!("{e}{aside}"))))
            }
            Err(e) => (None, Some(journal_failed(doc, e))),
        };
        let mut replies = vec![StoreReply::Loaded { doc, result, recovery }];
        replies.extend(problem);
        replies
    }

    fn save(
        &mut self,
        doc: DocId,
        source: &DocumentSource,
        sentences: &[Arc<Sentence>],
        expected: Option<Fingerprint>,
        force: bool,
    ) -> Vec<StoreReply> {
        let result = files::save(source, sentences, expected, force);
        let saved = result.as_ref().ok().copied();
        let mut replies = vec![StoreReply::Saved { doc, result }];
        if let Some(print) = saved {
            let save_path = &source.save_path;
            self.journals.remove(save_path);
            self.bases.insert(save_path.clone(), Some(print));
            // The edits are in the file now; the journal starts over from it.
            match Journal::discard(save_path).and_then(|()| Journal::start(save_path, Some(print)))
            {
                Ok(journal) => {
                    self.journals.insert(save_path.clone(), journal);
                }
                Err(e) => replies.push(journal_failed(doc, e)),
            }
        }
        replies
    }

    fn append(&mut self, doc: DocId, save_path: PathBuf, entry: &JournalEntry) -> Vec<StoreReply> {
        if !self.journals.contains_key(&save_path) {
            let base = match self.bases.get(&save_path) {
                Some(base) => *base,
                None => match files::fingerprint(&save_path) {
                    Ok(base) => base,
                    Err(e) => return vec![StoreReply::JournalFailed { doc, error: e.to_string() }],
                },
            };
            match Journal::open(&save_path, base) {
                Ok(journal) => self.journals.insert(save_path.clone(), journal),
                Err(e) => return vec![journal_failed(doc, e)],
            };
        }
        let Some(journal) = self.journals.get_mut(&save_path) else { return Vec::new() };
        match journal.append(entry) {
            Ok(()) => Vec::new(),
            Err(e) => {
                // Reopening cuts off whatever part of the line reached the disk.
                self.journals.remove(&save_path);
                vec![journal_failed(doc, e)]
            }
        }
    }
}

/// Whether every edit `journal` holds is already in the file as loaded (its base is an older
/// version, but replaying it changes nothing).
fn already_saved(journal: &Recovered, loaded: &Result<LoadedDocument, DataError>) -> bool {
    let Ok(loaded) = loaded else { return false };
    if journal.entries.is_empty() || journal.base == loaded.fingerprint {
        return false;
    }
    crate::store::journal::replayed(&loaded.sentences, &journal.entries)
        .is_ok_and(|after| after.into_iter().all(|(i, s)| loaded.sentences[i] == *s))
}

fn journal_failed(doc: DocId, error: impl ToString) -> StoreReply {
    StoreReply::JournalFailed { doc, error: error.to_string() }
}

/// Enough of a request to answer it when handling it panicked.
enum Failure {
    Load(DocId, PathBuf),
    Save(DocId, PathBuf),
    Journal(DocId),
    Copy(DocId, PathBuf),
    Check(DocId, PathBuf),
    Types(PathBuf),
}

impl Failure {
    fn of(request: &StoreRequest) -> Failure {
        match request {
            StoreRequest::Load { doc, source } => Failure::Load(*doc, source.read_path.clone()),
            StoreRequest::Save { doc, source, .. } => Failure::Save(*doc, source.save_path.clone()),
            StoreRequest::StartJournal { doc, .. }
            | StoreRequest::Journal { doc, .. }
            | StoreRequest::SetAsideJournal { doc, .. } => Failure::Journal(*doc),
            StoreRequest::KeepCopy { doc, source, .. } => {
                Failure::Copy(*doc, source.save_path.clone())
            }
            StoreRequest::Check { doc, source, .. } => {
                Failure::Check(*doc, source.save_path.clone())
            }
            StoreRequest::WriteTypes { path, .. } => Failure::Types(path.clone()),
        }
    }

    fn reply(self, message: String) -> StoreReply {
        let reason = format!("internal error in the store worker: {message}");
        let error = |path: &PathBuf| DataError::new(path, Place::File, ErrorKind::Io, &reason);
        match self {
            Failure::Load(doc, path) => {
                StoreReply::Loaded { doc, result: Err(error(&path)), recovery: None }
            }
            Failure::Save(doc, path) => {
                StoreReply::Saved { doc, result: Err(SaveError::Data(error(&path))) }
            }
            Failure::Journal(doc) => StoreReply::JournalFailed { doc, error: reason },
            Failure::Copy(doc, path) => StoreReply::CopyKept { doc, result: Err(error(&path)) },
            Failure::Check(doc, path) => StoreReply::Checked { doc, disk: Err(error(&path)) },
            Failure::Types(path) => {
                let result = Err(error(&path));
                StoreReply::TypesWritten { path, result }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_reply_the_request_expects() {
        let source = DocumentSource::for_path(std::path::Path::new("d.json")).unwrap();
        let request = StoreRequest::Save {
            doc: 9,
            source,
            sentences: Arc::new([]),
            expected: None,
            force: false,
        };
        let panic = guarded(|| panic!("boom {}", 1)).unwrap_err();
        let reply = Failure::of(&request).reply(panic);
        let StoreReply::Saved { doc: 9, result: Err(SaveError::Data(err)) } = reply else {
            panic!("expected a failed save, got {reply:?}")
        };
        assert_eq!(err.to_string(), "d.json: internal error in the store worker: boom 1");
    }
}
