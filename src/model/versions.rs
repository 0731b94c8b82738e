//! Versioned checkpoints next to the documents: every model that fine-tuning produced and the
//! user accepted, so that any earlier one can be brought back.
//!
//! The folder is `<documents>/.spanscope/models/` (beside the store's `recovery/` and
//! `conflicts/`). Each accepted model is a checkpoint in `v1/`, `v2/`, ..., its weights stored
//! as the exact changes to its parent's ([`super::delta`]; a folder written whole, by an older
//! build or when the parent cannot be read, loads as before), and
//! `versions.json` lists them with where each came from and how it scored, and says which one
//! is current; `"base"` means none of them: the model the user started from, which lives
//! elsewhere (the bundled model or `--model DIR`) and is never copied here.
//!
//! Versions are deleted only by [`Versions::prune`] (a retention setting: the last N and the
//! current one are kept), which first re-encodes any kept version stored against one it
//! removes. Fine-tuning candidates that no process will decide on any more are removed too
//! ([`Versions::remove_abandoned_candidates`], at the start of each run).
//! A version folder appears whole or not at all (it is renamed into place), and
//! `versions.json` is replaced atomically, after the folder is in place: a crash in between
//! leaves a folder that no list names, which a later version number skips.
//! Two processes accepting at the same moment are not guarded against; each re-reads the file
//! before changing it, so only a race within milliseconds loses an entry.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::checkpoint::CONFIG_FILE;
use super::delta;
use crate::data::io::{write_atomic, DataError};
use crate::data::time::utc_stamp;

/// The versions folder, relative to the documents' folder.
pub const VERSIONS_FOLDER: &str = ".spanscope/models";
/// The list of versions, in the versions folder.
pub const VERSIONS_FILE: &str = "versions.json";
/// The `format` value of [`VERSIONS_FILE`].
const FORMAT: &str = "spanscope-model-versions";
/// The format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;
/// How a fine-tuning candidate's folder name starts: `.candidate-<stamp>-<pid>-<n>`.
const CANDIDATE_PREFIX: &str = ".candidate-";

/// Precision, recall and F1 in percent, and the number of gold items they are measured on.
///
/// The training layer's evaluation has its own type; this one is the model layer's record of
/// it, so that the model layer does not depend on training.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Score {
    /// Correct predictions over all predictions, in percent.
    pub precision: f64,
    /// Correct predictions over all gold items, in percent.
    pub recall: f64,
    /// Harmonic mean of the two, in percent.
    pub f1: f64,
    /// Gold items.
    pub support: usize,
}

/// A model's micro-averaged scores (SpERT protocol) on a set of held-out sentences.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// Sentences scored (0: no score at all).
    pub sentences: usize,
    /// Entities: span and type right.
    pub entities: Score,
    /// Relations, strict: type and both entities (span and type) right.
    pub relations: Score,
}

impl fmt::Display for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sentences == 0 {
            return f.write_str("not scored (no held-out sentence)");
        }
        write!(
            f,
            "entities F1 {:.2}, relations F1 {:.2} ({} sentence(s))",
            self.entities.f1, self.relations.f1, self.sentences
        )
    }
}

/// What the caller knows about a model it hands to [`Versions::accept`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The checkpoint it was fine-tuned from: `base`, `v3`, or a path (see
    /// [`Versions::name_of`]).
    pub parent: String,
    /// The parent's scores on the held-out reviewed sentences.
    pub before: Scores,
    /// This model's scores on the same sentences.
    pub after: Scores,
    /// Reviewed sentences it was trained on (replayed original data not counted).
    pub trained_on: usize,
    /// Original training sentences mixed in.
    pub replayed: usize,
    /// Reviewed sentences held out for the scores.
    pub held_out: usize,
    /// Accepted by the user although it scored worse than its parent (or was not scored).
    pub forced: bool,
}

/// One accepted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// 1, 2, ...: the folder is `v<number>`.
    pub number: u32,
    /// When it was accepted: UTC, ISO 8601 basic format (`20261124T143200Z`).
    pub created: String,
    /// Where it came from and how it scored.
    #[serde(flatten)]
    pub record: VersionRecord,
}

impl Version {
    /// The folder name, `v<number>`.
    pub fn name(&self) -> String {
        VersionRef::Number(self.number).to_string()
    }
}

/// A model the user can make current: the base model, or an accepted version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    /// The model the user started from (not stored in the versions folder).
    Base,
    /// Version `v<n>`.
    Number(u32),
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base => f.write_str("base"),
            Self::Number(n) => write!(f, "v{n}"),
        }
    }
}

/// Text that is neither `base` nor `v<n>` / `<n>`.
#[derive(Debug, thiserror::Error)]
#[error("unknown model version `{0}`: expected base, vN or N")]
pub struct BadVersionRef(String);

impl FromStr for VersionRef {
    type Err = BadVersionRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("base") {
            return Ok(Self::Base);
        }
        let digits = t.strip_prefix(['v', 'V']).unwrap_or(t);
        match digits.parse::<u32>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Self::Number(n)),
            _ => Err(BadVersionRef(s.to_string())),
        }
    }
}

/// Why the versions folder cannot be read or changed. Each names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum VersionsError {
    /// A file system operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `versions.json` is not what this build writes.
    #[error(
        "`{}` is damaged: {reason} (fix or remove it; the version folders are untouched)",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The version asked for is not in the list.
    #[error("there is no model version {version} in `{}`", path.display())]
    NoSuchVersion {
        /// The version asked for.
        version: VersionRef,
        /// The list.
        path: PathBuf,
    },
    /// The directory to accept is not a checkpoint.
    #[error("`{}` is not a spanscope checkpoint (no {CONFIG_FILE})", path.display())]
    NotACheckpoint {
        /// The directory.
        path: PathBuf,
    },
    /// Writing `versions.json` failed.
    #[error(transparent)]
    Write(#[from] DataError),
}

/// `versions.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionsFile {
    format: String,
    version: u32,
    /// `base` or `v<n>`.
    current: String,
    versions: Vec<Version>,
}

impl Default for VersionsFile {
    fn default() -> Self {
        Self {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            current: VersionRef::Base.to_string(),
            versions: Vec::new(),
        }
    }
}

/// The versions folder of one set of documents, as last read or written.
#[derive(Debug, Clone)]
pub struct Versions {
    root: PathBuf,
    file: VersionsFile,
    current: VersionRef,
}

impl Versions {
    /// The versions of the documents in `docs_dir` (`<docs_dir>/.spanscope/models`). A folder
    /// or list that does not exist yet reads as no versions, base current; nothing is created
    /// until a model is accepted.
    pub fn open(docs_dir: &Path) -> Result<Self, VersionsError> {
        Self::open_folder(&docs_dir.join(VERSIONS_FOLDER))
    }

    /// The versions kept in `root` itself (a folder laid out as [`VERSIONS_FOLDER`] is).
    pub fn open_folder(root: &Path) -> Result<Self, VersionsError> {
        let mut versions = Self {
            root: root.to_path_buf(),
            file: VersionsFile::default(),
            current: VersionRef::Base,
        };
        versions.reload()?;
        Ok(versions)
    }

    /// The versions folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every accepted version, oldest first.
    pub fn list(&self) -> &[Version] {
        &self.file.versions
    }

    /// The current version; `None` when the base model is current.
    pub fn current(&self) -> Option<&Version> {
        match self.current {
            VersionRef::Base => None,
            VersionRef::Number(n) => self.file.versions.iter().find(|v| v.number == n),
        }
    }

    /// Which model is current.
    pub fn current_ref(&self) -> VersionRef {
        self.current
    }

    /// The checkpoint directory of the current model: `base` when the base model is current.
    pub fn current_dir(&self, base: &Path) -> PathBuf {
        self.dir_of(self.current, base)
    }

    /// The checkpoint directory of `version` (`base` for [`VersionRef::Base`]).
    pub fn dir_of(&self, version: VersionRef, base: &Path) -> PathBuf {
        match version {
            VersionRef::Base => base.to_path_buf(),
            VersionRef::Number(_) => self.root.join(version.to_string()),
        }
    }

    /// How a version record names the checkpoint in `dir`: `v<n>` for a version of this
    /// folder, else the path as given (the base model).
    pub fn name_of(&self, dir: &Path) -> String {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let inside = dir.parent().is_some_and(|p| canonical(p) == canonical(&self.root));
        match name.parse::<VersionRef>() {
            Ok(VersionRef::Number(n)) if inside && name.starts_with('v') => {
                VersionRef::Number(n).to_string()
            }
            _ => dir.display().to_string(),
        }
    }

    /// A path inside the versions folder, not yet existing, for a fine-tuning run to write its
    /// candidate into: on the same file system, so [`Self::accept`] is a rename. The name
    /// starts with a dot and is never listed.
    pub fn work_dir(&self) -> Result<PathBuf, VersionsError> {
        self.create_root()?;
        let stamp = utc_stamp(SystemTime::now());
        let mut n = 0u32;
        loop {
            let name = format!("{CANDIDATE_PREFIX}{stamp}-{}-{n}", std::process::id());
            let path = self.root.join(name);
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(path);
            }
            n += 1;
        }
    }

    /// Removes fine-tuning candidates that no process will decide on any more: left by a
    /// process that is gone (a crash, a kill, a quit while a candidate awaited the user's
    /// choice), each a whole checkpoint, and untouched for a day. Candidates of this process
    /// and of any process still running are kept. Where a process cannot be looked up (no
    /// `/proc`), only candidates untouched for a week go. Returns what was removed; what
    /// cannot be removed is left.
    pub fn remove_abandoned_candidates(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = candidate_pid(&name) else {
                continue;
            };
            let path = entry.path();
            if pid == std::process::id() || !abandoned(pid, &path) {
                continue;
            }
            if std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
        removed
    }

    /// Takes the checkpoint in `candidate` in as the next version and makes it current. The
    /// directory is moved (copied, when it is on another file system, then removed), so the
    /// caller no longer has it.
    pub fn accept(
        &mut self,
        candidate: &Path,
        record: VersionRecord,
    ) -> Result<Version, VersionsError> {
        if !candidate.join(CONFIG_FILE).is_file() {
            return Err(VersionsError::NotACheckpoint { path: candidate.to_path_buf() });
        }
        self.reload()?;
        self.create_root()?;
        let number = self.next_number()?;
        let version = Version { number, created: utc_stamp(SystemTime::now()), record };
        let target = self.root.join(version.name());
        compact_candidate(candidate, &version.record.parent);
        move_dir(candidate, &target)?;
        let mut file = self.file.clone();
        file.versions.push(version.clone());
        file.current = version.name();
        self.write(&file)?;
        self.file = file;
        self.current = VersionRef::Number(number);
        Ok(version)
    }

    /// Removes every version but the last `keep` and the current one, and returns those
    /// removed. A version kept that stores its weights as changes to one removed is first
    /// re-encoded against that one's own parent (or written out whole), so no kept version
    /// loses what it is composed from. The list is rewritten before any folder goes: a crash
    /// leaves at worst an unlisted folder, which a later version number skips.
    pub fn prune(&mut self, keep: usize) -> Result<Vec<Version>, VersionsError> {
        self.reload()?;
        let mut numbers: Vec<u32> = self.file.versions.iter().map(|v| v.number).collect();
        numbers.sort_unstable();
        let cut = numbers.len().saturating_sub(keep.max(1));
        let doomed: Vec<u32> = numbers[..cut]
            .iter()
            .copied()
            .filter(|&n| self.current != VersionRef::Number(n))
            .collect();
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let folder = |n: u32| self.root.join(VersionRef::Number(n).to_string());
        let failed = |dir: &Path| {
            let path = dir.to_path_buf();
            move |e: super::checkpoint::CheckpointError| VersionsError::Io {
                action: "re-encode the version",
                path,
                source: std::io::Error::other(e.to_string()),
            }
        };
        // Newest first: a kept version then moves down its chain one removed parent at a time.
        for &gone in doomed.iter().rev() {
            let gone_dir = folder(gone);
            let grandparent = delta::parent_name(&gone_dir).map_err(failed(&gone_dir))?;
            for &n in numbers.iter().filter(|n| !doomed.contains(n)) {
                let dir = folder(n);
                if delta::parent_of(&dir).map_err(failed(&dir))?.as_deref() != Some(&gone_dir) {
                    continue;
                }
                match &grandparent {
                    Some(name) => delta::compact(&dir, name),
                    None => delta::expand(&dir),
                }
                .map_err(failed(&dir))?;
            }
        }
        let mut file = self.file.clone();
        let (removed, kept): (Vec<Version>, Vec<Version>) =
            file.versions.into_iter().partition(|v| doomed.contains(&v.number));
        file.versions = kept;
        self.write(&file)?;
        self.file = file;
        for v in &removed {
            let dir = folder(v.number);
            std::fs::remove_dir_all(&dir).map_err(|source| VersionsError::Io {
                action: "remove",
                path: dir,
                source,
            })?;
        }
        Ok(removed)
    }

    /// Makes `to` the current model. Nothing is deleted: later versions stay listed and can be
    /// made current again.
    pub fn roll_back(&mut self, to: VersionRef) -> Result<(), VersionsError> {
        self.reload()?;
        if let VersionRef::Number(n) = to {
            if !self.file.versions.iter().any(|v| v.number == n) {
                return Err(VersionsError::NoSuchVersion { version: to, path: self.list_path() });
            }
        }
        let mut file = self.file.clone();
        file.current = to.to_string();
        self.write(&file)?;
        self.file = file;
        self.current = to;
        Ok(())
    }

    /// Reads `versions.json` again (another process may have accepted a version).
    pub fn reload(&mut self) -> Result<(), VersionsError> {
        let path = self.list_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.file = VersionsFile::default();
                self.current = VersionRef::Base;
                return Ok(());
            }
            Err(source) => return Err(VersionsError::Io { action: "read", path, source }),
        };
        let (file, current) =
            parse(&text).map_err(|reason| VersionsError::Corrupt { path, reason })?;
        self.file = file;
        self.current = current;
        Ok(())
    }

    fn list_path(&self) -> PathBuf {
        self.root.join(VERSIONS_FILE)
    }

    fn create_root(&self) -> Result<(), VersionsError> {
        std::fs::create_dir_all(&self.root).map_err(|source| VersionsError::Io {
            action: "create the folder",
            path: self.root.clone(),
            source,
        })
    }

    /// One more than any version listed or any `v<n>` folder present (a folder left by a
    /// crash between its rename and the list's update is never reused).
    fn next_number(&self) -> Result<u32, VersionsError> {
        let listed = self.file.versions.iter().map(|v| v.number).max().unwrap_or(0);
        let entries = std::fs::read_dir(&self.root).map_err(|source| VersionsError::Io {
            action: "list",
            path: self.root.clone(),
            source,
        })?;
        let on_disk = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                match name.strip_prefix('v')?.parse::<VersionRef>().ok()? {
                    VersionRef::Number(n) => Some(n),
                    VersionRef::Base => None,
                }
            })
            .max()
            .unwrap_or(0);
        Ok(listed.max(on_disk) + 1)
    }

    fn write(&self, file: &VersionsFile) -> Result<(), VersionsError> {
        let path = self.list_path();
        let text = serde_json::to_string_pretty(file).map_err(|e| VersionsError::Corrupt {
            path: path.clone(),
            reason: format!("cannot serialise the list: {e}"),
        })?;
        write_atomic(&path, text.as_bytes())?;
        Ok(())
    }
}

/// Stores the weights of a candidate about to become a version as changes to its parent
/// (`vN` of this folder, or the base model's path, made absolute), when it can: a candidate
/// that cannot be made compact is kept whole, which only costs disk space.
fn compact_candidate(candidate: &Path, parent: &str) {
    if !candidate.join(super::checkpoint::WEIGHTS_FILE).is_file() {
        return;
    }
    let parent = match parent.parse::<VersionRef>() {
        Ok(v @ VersionRef::Number(_)) if parent.starts_with('v') => v.to_string(),
        _ => match std::fs::canonicalize(parent) {
            Ok(path) => path.display().to_string(),
            Err(_) => return,
        },
    };
    if let Err(e) = delta::compact(candidate, &parent) {
        tracing::warn!("model version kept whole: {e}");
    }
}

/// The process id in a candidate's name ([`CANDIDATE_PREFIX`], [`Versions::work_dir`]).
fn candidate_pid(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix(CANDIDATE_PREFIX)?.split('-');
    let (_stamp, pid, n) = (parts.next()?, parts.next()?, parts.next()?);
    n.parse::<u32>().ok()?;
    if parts.next().is_some() {
        return None;
    }
    pid.parse().ok()
}

/// Whether the candidate at `path`, made by process `pid`, has no process left to decide on it:
/// untouched for a day and its process gone, or untouched for a week where processes cannot be
/// looked up (no `/proc`). The day covers a documents folder shared between machines, where a
/// process of another machine is not in this one's `/proc`.
fn abandoned(pid: u32, path: &Path) -> bool {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let age =
        std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    let Some(age) = age else {
        return false;
    };
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        age > DAY && !proc.join(pid.to_string()).exists()
    } else {
        age > 7 * DAY
    }
}

/// Parses and checks `versions.json`: ours, a known format version, a current that is listed.
fn parse(text: &str) -> Result<(VersionsFile, VersionRef), String> {
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if raw.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
        return Err(format!("it has no \"format\": \"{FORMAT}\""));
    }
    let file: VersionsFile = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} (this spanscope reads version {FORMAT_VERSION})",
            file.version
        ));
    }
    let current: VersionRef = file.current.parse().map_err(|e: BadVersionRef| e.to_string())?;
    if let VersionRef::Number(n) = current {
        if !file.versions.iter().any(|v| v.number == n) {
            return Err(format!("the current model {current} is not in the list"));
        }
    }
    Ok((file, current))
}

/// Moves directory `from` to `to` (which must not exist): a rename, or, across file systems,
/// a copy into a temporary sibling of `to`, renamed into place, then `from` removed.
fn move_dir(from: &Path, to: &Path) -> Result<(), VersionsError> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = to.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let copied = copy_dir(from, &tmp).and_then(|()| {
        std::fs::rename(&tmp, to).map_err(|source| VersionsError::Io {
            action: "rename into place",
            path: to.to_path_buf(),
            source,
        })
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // The version is safe in place; a candidate left behind only costs disk space.
    let _ = std::fs::remove_dir_all(from);
    Ok(())
}

/// Copies the files of directory `from` (a checkpoint: no subfolders) into a new `to`, synced.
fn copy_dir(from: &Path, to: &Path) -> Result<(), VersionsError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| VersionsError::Io { action, path, source }
    };
    std::fs::create_dir(to).map_err(io("create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("list", from))? {
        let entry = entry.map_err(io("list", from))?;
        let source = entry.path();
        if !entry.file_type().map_err(io("inspect", &source))?.is_file() {
            continue;
        }
        let target = to.join(entry.file_name());
        std::fs::copy(&source, &target).map_err(io("copy", &source))?;
        std::fs::File::open(&target).and_then(|f| f.sync_all()).map_err(io("sync", &target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_refs_parse_and_print() {
        assert_eq!("base".parse::<VersionRef>().unwrap(), VersionRef::Base);
        assert_eq!("v3".parse::<VersionRef>().unwrap(), VersionRef::Number(3));
        assert_eq!("12".parse::<VersionRef>().unwrap(), VersionRef::Number(12));
        for bad in ["v0", "v", "x1", "v-1", "v+2", ""] {
            assert!(bad.parse::<VersionRef>().is_err(), "{bad}");
        }
        assert_eq!(VersionRef::Number(7).to_string(), "v7");
    }

    #[test]
    fn candidates_of_gone_processes_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let versions = Versions::open_folder(dir.path()).unwrap();
        let mine = versions.work_dir().unwrap();
        let gone = dir.path().join(format!(".candidate-20261201T000000Z-{}-0", u32::MAX));
        // Gone too, but touched an hour ago: on a shared folder its process may live elsewhere.
        let recent = format!(".candidate-20261201T000000Z-{}-1", u32::MAX);
        let kept = ["v1", ".candidate-odd", ".candidate-20261201T000000Z-1-x", recent.as_str()];
        for d in [&mine, &gone] {
            std::fs::create_dir_all(d.join("inner")).unwrap();
        }
        for k in kept {
            std::fs::create_dir_all(dir.path().join(k)).unwrap();
        }
        let ago = |hours: u64| SystemTime::now() - Duration::from_secs(hours * 3600);
        let touch = |path: &Path, when| std::fs::File::open(path).unwrap().set_modified(when);
        touch(&gone, ago(30)).unwrap();
        touch(&mine, ago(30)).unwrap();
        touch(&dir.path().join(&recent), ago(1)).unwrap();
        let removed = versions.remove_abandoned_candidates();
        assert!(mine.is_dir(), "this process may still be deciding on its candidate");
        for k in kept {
            assert!(dir.path().join(k).is_dir(), "{k} is not a candidate's name");
        }
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, vec![gone.clone()]);
            assert!(!gone.exists());
        } else {
            assert!(removed.is_empty(), "a fresh candidate of an unknown process stays");
        }
        assert_eq!(
            candidate_pid(&mine.file_name().unwrap().to_string_lossy()),
            Some(std::process::id())
        );
    }

    #[test]
    fn a_current_version_missing_from_the_list_is_corruption() {
        let text =
            r#"{"format":"spanscope-model-versions","version":1,"current":"v2","versions":[]}"#;
        assert!(parse(text).unwrap_err().contains("v2 is not in the list"));
        assert!(parse("{}").unwrap_err().contains("format"));
    }
}
