//! The recovery journal: unsaved edits, written to disk as they happen, so that a crash or a
//! `kill -9` loses at most the edit being written.
//!
//! One JSON Lines file per document, `<dir>/.spanscope/recovery/<name>.journal.jsonl`. Line 1 is
//! a header naming the file and the fingerprint of the version the edits apply to
//! (`{"spanscope_journal":1,"file":"a.json","base":{"len":..,"hash":..}}`, `base` null for a
//! file not saved yet); every later line is a [`JournalEntry`] saying "sentence i became
//! `after`" (or, for a split or merge, "sentences i.. became these"). Undo and redo are entries too, so [`replay`]ing all entries in order gives the
//! edited document. A journal is never deleted except right after a successful save
//! ([`Journal::discard`]); one the user declines is set aside ([`Journal::set_aside`]).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::files::{clean_tag, file_name, spanscope_folder, unused_path, Fingerprint};
use crate::data::document::Sentence;
use crate::data::io::write_atomic;

/// The journal format version written in the header.
const VERSION: u32 = 1;

/// One edit: sentence `sentence` (0-based) of the document became `after`. A split or merge
/// (and its undo) replaces `replaces` sentences from there on with `after` and `following`;
/// both keys are left out of an ordinary edit, so its line reads as before they existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 0-based index of the sentence in the document.
    pub sentence: usize,
    /// The whole sentence after the edit, as SpERT JSON.
    pub after: Sentence,
    /// What the edit was, for the user ("add entity", "undo", ...).
    pub label: String,
    /// When, in seconds since 1970 (UTC).
    pub at: u64,
    /// How many sentences, from `sentence` on, the edit replaced.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub replaces: usize,
    /// The sentences after `after` that the edit put in their place (a split's second half).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub following: Vec<Sentence>,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl JournalEntry {
    /// Sentence `sentence` became `after`: an edit that keeps the sentences where they are.
    pub fn new(sentence: usize, after: Sentence, label: impl Into<String>, at: u64) -> Self {
        Self { sentence, after, label: label.into(), at, replaces: 1, following: Vec::new() }
    }

    /// The sentences `sentence..sentence + replaces` became `after` (at least one).
    pub fn replacing(
        sentence: usize,
        replaces: usize,
        mut after: Vec<Sentence>,
        label: impl Into<String>,
        at: u64,
    ) -> Self {
        let following = after.split_off(1.min(after.len()));
        let first = after.pop().unwrap_or_default();
        Self { sentence, after: first, label: label.into(), at, replaces, following }
    }

    /// Whether the entry splits or merges sentences (or undoes that): the sentences after it
    /// are no longer where they were.
    pub fn restructures(&self) -> bool {
        self.replaces != 1 || !self.following.is_empty()
    }
}

/// Line 1 of a journal file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    spanscope_journal: u32,
    file: String,
    base: Option<Fingerprint>,
}

/// A journal found on disk by [`Journal::read`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    /// The journal file.
    pub path: PathBuf,
    /// The fingerprint of the document version the entries apply to (`None`: not saved yet).
    pub base: Option<Fingerprint>,
    /// The edits, in order (a torn last line left out).
    pub entries: Vec<JournalEntry>,
    /// When the journal was last written.
    pub modified: SystemTime,
}

/// A journal open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// What went wrong with a journal file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JournalError {
    /// The journal could not be read, written, created or renamed.
    #[error("{}: could not {doing}: {reason}", path.display())]
    Io {
        /// The journal file (or its folder).
        path: PathBuf,
        /// What we tried ("append to", "read", ...).
        doing: String,
        /// The system's reason.
        reason: String,
    },
    /// A line of the journal is not what we write.
    #[error("{}: line {line}: {reason}", path.display())]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl JournalError {
    fn io(path: &Path, doing: &str, err: &std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), doing: doing.to_string(), reason: err.to_string() }
    }

    fn corrupt(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        Self::Corrupt { path: path.to_path_buf(), line, reason: reason.into() }
    }
}

impl From<crate::data::io::DataError> for JournalError {
    fn from(err: crate::data::io::DataError) -> Self {
        Self::Io { path: err.file, doing: "write".to_string(), reason: err.reason }
    }
}

impl Journal {
    /// The journal file of the document saved to `save_path`.
    pub fn path_for(save_path: &Path) -> PathBuf {
        let dir = save_path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        dir.join(".spanscope")
            .join("recovery")
            .join(format!("{}.journal.jsonl", file_name(save_path)))
    }

    /// Starts an empty journal for `save_path` whose edits apply to the version `base`,
    /// atomically replacing any old one (the header is synced before this returns).
    pub fn start(save_path: &Path, base: Option<Fingerprint>) -> Result<Journal, JournalError> {
        spanscope_folder(save_path, "recovery")?;
        let path = Self::path_for(save_path);
        let header = Header { spanscope_journal: VERSION, file: file_name(save_path), base };
        let mut line = serde_json::to_string(&header)
            .map_err(|e| JournalError::corrupt(&path, 1, e.to_string()))?;
        line.push('\n');
        write_atomic(&path, line.as_bytes())?;
        Self::open_for_append(path)
    }

    /// Continues the journal of `save_path` if there is one (a torn last line is cut off
    /// first), or else starts one with `base`.
    pub fn open(save_path: &Path, base: Option<Fingerprint>) -> Result<Journal, JournalError> {
        let path = Self::path_for(save_path);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::start(save_path, base)
            }
            Err(e) => return Err(JournalError::io(&path, "read", &e)),
        };
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole == 0 {
            return Self::start(save_path, base); // not even a header survived
        }
        if whole < bytes.len() {
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| JournalError::io(&path, "open", &e))?;
            file.set_len(whole as u64)
                .and_then(|()| file.sync_data())
                .map_err(|e| JournalError::io(&path, "cut the torn last line of", &e))?;
        }
        Self::open_for_append(path)
    }

    fn open_for_append(path: PathBuf) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, "open", &e))?;
        Ok(Journal { path, file })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as one line, in a single write, then syncs it to disk.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry)
            .map_err(|e| JournalError::io(&self.path, "encode an entry for", &e.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| JournalError::io(&self.path, "append to", &e))?;
        self.file.sync_data().map_err(|e| JournalError::io(&self.path, "sync", &e))
    }

    /// Reads the journal of `save_path`; `None` when there is none. A last line without its
    /// newline (torn by a crash) is left out; any other bad line is an error naming it.
    pub fn read(save_path: &Path) -> Result<Option<Recovered>, JournalError> {
        let path = Self::path_for(save_path);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(JournalError::io(&path, "read", &e)),
        };
        let modified = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| JournalError::io(&path, "read the modification time of", &e))?;
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        lines.pop(); // after the last newline: empty, or a torn line
        let Some(first) = lines.first() else {
            return Ok(Some(Recovered { path, base: None, entries: Vec::new(), modified }));
        };
        let header: Header = serde_json::from_slice(first)
            .map_err(|e| JournalError::corrupt(&path, 1, format!("not a journal header: {e}")))?;
        if header.spanscope_journal != VERSION {
            let reason = format!("journal version {} is not supported", header.spanscope_journal);
            return Err(JournalError::corrupt(&path, 1, reason));
        }
        if header.file != file_name(save_path) {
            let reason =
                format!("the journal is for {}, not {}", header.file, file_name(save_path));
            return Err(JournalError::corrupt(&path, 1, reason));
        }
        let mut entries = Vec::new();
        for (i, line) in lines.iter().enumerate().skip(1) {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry = serde_json::from_slice(line)
                .map_err(|e| JournalError::corrupt(&path, i + 1, format!("not an entry: {e}")))?;
            entries.push(entry);
        }
        Ok(Some(Recovered { path, base: header.base, entries, modified }))
    }

    /// Renames the journal of `save_path` to `<name>.journal.<why>-<time>.jsonl` beside it, so
    /// it is out of the way but kept; returns the new path, or `None` when there was none.
    pub fn set_aside(save_path: &Path, why: &str) -> Result<Option<PathBuf>, JournalError> {
        let path = Self::path_for(save_path);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let folder = path.parent().unwrap_or(Path::new("."));
        let (name, why) = (file_name(save_path), clean_tag(why));
        let target = unused_path(folder, |stamp| format!("{name}.journal.{why}-{stamp}.jsonl"));
        fs::rename(&path, &target).map_err(|e| JournalError::io(&path, "set aside", &e))?;
        Ok(Some(target))
    }

    /// Removes the journal of `save_path` (its edits must be in the saved file); no journal is
    /// not an error.
    pub fn discard(save_path: &Path) -> Result<(), JournalError> {
        let path = Self::path_for(save_path);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(JournalError::io(&path, "remove", &e)),
        }
    }
}

/// Why journal entries could not be applied to a document.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// The entry names a sentence the document does not have.
    #[error("journal entry {entry} ({label}): sentence {sentence} is out of range; the document has {count}")]
    OutOfRange {
        /// 0-based index of the entry (line `entry + 2` of the journal).
        entry: usize,
        /// The entry's label.
        label: String,
        /// The sentence it names.
        sentence: usize,
        /// How many sentences the document has.
        count: usize,
    },
    /// The entry's sentence has other tokens: the journal is of another version of the file.
    #[error("journal entry {entry} ({label}): its tokens differ from those of sentence {sentence}; the journal is of another version of the file")]
    TokensDiffer {
        /// 0-based index of the entry (line `entry + 2` of the journal).
        entry: usize,
        /// The entry's label.
        label: String,
        /// The sentence it names.
        sentence: usize,
    },
}

/// Applies `entries` in order. On error `sentences` is unchanged.
///
/// An edit never changes words, and a split or merge only moves where sentences end, so each
/// entry's words must be those of the sentences it replaces, read in order.
pub fn replay(sentences: &mut Vec<Sentence>, entries: &[JournalEntry]) -> Result<(), ReplayError> {
    if !entries.iter().any(JournalEntry::restructures) {
        // The common case checks everything first and applies in place, copying nothing.
        for (i, after) in replayed(sentences, entries)? {
            sentences[i] = after.clone();
        }
        return Ok(());
    }
    *sentences = restructured(sentences, entries)?;
    Ok(())
}

/// What replaying `entries` on `sentences` makes of the whole document, when some entry splits
/// or merges sentences (so the sentences after it move); an error as [`replay`] gives it.
pub fn restructured<S: Borrow<Sentence>>(
    sentences: &[S],
    entries: &[JournalEntry],
) -> Result<Vec<Sentence>, ReplayError> {
    let mut work: Vec<Sentence> = sentences.iter().map(|s| s.borrow().clone()).collect();
    for (entry, e) in entries.iter().enumerate() {
        check(&work, entry, e)?;
        let after = std::iter::once(&e.after).chain(&e.following).cloned();
        work.splice(e.sentence..e.sentence + e.replaces, after);
    }
    Ok(work)
}

fn check<S: Borrow<Sentence>>(
    sentences: &[S],
    entry: usize,
    e: &JournalEntry,
) -> Result<(), ReplayError> {
    let label = e.label.clone();
    let Some(replaced) = sentences.get(e.sentence..e.sentence + e.replaces) else {
        let count = sentences.len();
        return Err(ReplayError::OutOfRange { entry, label, sentence: e.sentence, count });
    };
    let before = replaced.iter().flat_map(|s| &s.borrow().tokens);
    let after = std::iter::once(&e.after).chain(&e.following).flat_map(|s| &s.tokens);
    if e.replaces == 0 || !before.eq(after) {
        return Err(ReplayError::TokensDiffer { entry, label, sentence: e.sentence });
    }
    Ok(())
}

/// What replaying `entries` on `sentences` makes of each sentence they name, in sentence order,
/// without copying the others; an error as [`replay`] gives it. Only for entries that keep the
/// sentences where they are: one that splits or merges is [`restructured`]'s, and is refused
/// here as naming other words.
pub fn replayed<'e, S: Borrow<Sentence>>(
    sentences: &[S],
    entries: &'e [JournalEntry],
) -> Result<BTreeMap<usize, &'e Sentence>, ReplayError> {
    let mut last = BTreeMap::new();
    for (entry, e) in entries.iter().enumerate() {
        if e.restructures() {
            let (label, sentence) = (e.label.clone(), e.sentence);
            return Err(ReplayError::TokensDiffer { entry, label, sentence });
        }
        // Entries never change tokens, so checking against the original is enough.
        check(sentences, entry, e)?;
        last.insert(e.sentence, &e.after);
    }
    Ok(last)
}
