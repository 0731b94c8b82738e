//! Which documents a set of inputs holds, loading them, and saving them without losing anyone's
//! work.
//!
//! A save never overwrites a file that changed on disk since we loaded or last saved it unless
//! the user insists ([`save`] with `force`), and then the disk version is first copied to
//! `<dir>/.spanscope/conflicts/`. Files are compared by [`Fingerprint`] (length and FNV-1a hash
//! of the bytes), which is stable across runs and so can be kept in recovery journals.

use std::borrow::Borrow;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::document::Sentence;
use crate::data::formats::{self, brat, dygie, Interchange, LossReport};
use crate::data::io::utf8_text;
use crate::data::io::{
    encode_sentences, open_regular, read_bytes, read_file, write_atomic, DataError, ErrorKind,
    Format, Place,
};
use crate::data::layout::encode_like;
use crate::data::origin::{bring_in_text, made_from, TextUpdate};
use crate::data::time::utc_stamp;

/// Where a document is read from and where its annotations are saved.
///
/// For `.json` and `.jsonl` both are the same file. A `.txt` document holds no annotations, so
/// they are saved to the `.json` of the same stem beside it; once that exists, it is what is read.
/// Other tools' documents are read and saved in their own format: a brat `.ann` (with the
/// `.txt` beside it, which is never written) and DyGIE JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSource {
    /// The file the sentences are read from.
    pub read_path: PathBuf,
    /// The file annotations are saved to.
    pub save_path: PathBuf,
    /// The format of `read_path`.
    pub read_format: Format,
    /// The format of `save_path` (never [`Format::Text`]).
    pub save_format: Format,
    /// The other tool's format the document is kept in ([`Interchange::Brat`] or
    /// [`Interchange::Dygie`]), read and saved through its converter; `None` for SpERT JSON,
    /// JSON Lines and text. The two formats above are then unused.
    pub interchange: Option<Interchange>,
}

impl DocumentSource {
    /// The source for a `.json`, `.jsonl` or `.txt` file; `None` for any other extension.
    /// `X.txt` reads `X.json` instead when that exists.
    pub fn for_path(path: &Path) -> Option<Self> {
        if is_brat(path) {
            return Some(Self::other_tool(path, Interchange::Brat));
        }
        let format = Format::from_path(path)?;
        if format != Format::Text {
            if is_dygie(path) {
                return Some(Self::other_tool(path, Interchange::Dygie));
            }
            return Some(Self::same(path, format));
        }
        // A brat document's text: the document is its `.ann`.
        let ann = path.with_extension("ann");
        if ann.is_file() {
            return Some(Self::other_tool(&ann, Interchange::Brat));
        }
        let json = path.with_extension("json");
        if json.exists() {
            return Some(Self::same(&json, Format::Json));
        }
        Some(Self {
            read_path: path.to_path_buf(),
            save_path: json,
            read_format: Format::Text,
            save_format: Format::Json,
            interchange: None,
        })
    }

    fn same(path: &Path, format: Format) -> Self {
        Self {
            read_path: path.to_path_buf(),
            save_path: path.to_path_buf(),
            read_format: format,
            save_format: format,
            interchange: None,
        }
    }

    fn other_tool(path: &Path, interchange: Interchange) -> Self {
        Self { interchange: Some(interchange), ..Self::same(path, Format::JsonLines) }
    }

    /// The file name to show the user (of `read_path`).
    pub fn display_name(&self) -> String {
        file_name(&self.read_path)
    }
}

/// What [`discover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The documents, in input order (a folder's files sorted by name), each once.
    pub documents: Vec<DocumentSource>,
    /// The types file, if any input was one.
    pub types: Option<PathBuf>,
    /// Files that were left out, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Finds the documents and types file among `inputs` (files and folders).
///
/// A file is taken as given; an extension other than `.json`, `.jsonl` or `.txt` is an error.
/// A folder contributes its `.json`, `.jsonl` and `.txt` files (not its subfolders), sorted by
/// name, hidden files left out. A `.json` file whose top level is an object is a types file: the
/// first named `types.json`, or else the first, becomes [`Discovered::types`]; others are
/// skipped. A `.txt` whose `.json` twin exists is represented once, by the `.json`. A missing
/// input is an error naming it.
pub fn discover(inputs: &[PathBuf]) -> Result<Discovered, DataError> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| DataError::io(input, "read", &e))?;
        if meta.is_dir() {
            files.extend(folder_files(input)?);
        } else {
            if !is_brat(input) {
                Format::of(input)?;
            }
            if !meta.is_file() {
                open_regular(input)?; // says what it is instead, without waiting on it
            }
            files.push(input.clone());
        }
    }
    let mut found = Discovered::default();
    let mut type_files = Vec::new();
    for file in files {
        if is_types_file(&file)? {
            if !type_files.contains(&file) {
                type_files.push(file);
            }
            continue;
        }
        let Some(source) = DocumentSource::for_path(&file) else { continue };
        if source.read_format == Format::Json && source.read_path != file {
            // X.txt read as X.json: refuse to treat a types file as its annotations.
            if is_types_file(&source.read_path)? {
                let why = format!(
                    "its annotations would go to {}, a types file",
                    file_name(&source.read_path)
                );
                found.skipped.push((file, why));
                continue;
            }
        }
        if !found.documents.iter().any(|d| d.read_path == source.read_path) {
            found.documents.push(source);
        }
    }
    let chosen = type_files.iter().position(|p| file_name(p) == "types.json").unwrap_or(0);
    if let Some(types) = type_files.get(chosen).cloned() {
        let why = format!("a types file; {} is the one in use", file_name(&types));
        let others = type_files.into_iter().filter(|p| *p != types);
        found.skipped.extend(others.map(|p| (p, why.clone())));
        found.types = Some(types);
    }
    Ok(found)
}

/// The `.json`, `.jsonl`, `.txt` and `.ann` files of `folder`, not hidden, sorted by name.
fn folder_files(folder: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = fs::read_dir(folder).map_err(|e| DataError::io(folder, "list", &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(folder, "list", &e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let known = Format::from_path(&path).is_some() || is_brat(&path);
        if hidden || !known || !path.is_file() {
            continue;
        }
        files.push(path);
    }
    files.sort();
    Ok(files)
}

/// Whether `path` is a brat annotation file (`.ann`).
fn is_brat(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ann"))
}

/// Whether `path` (`.json` or `.jsonl`) holds DyGIE JSON lines: its first line is an object
/// with `sentences` (lists of words) and no `tokens`, which SpERT records have. SciERC's
/// files end in `.json`, so both extensions are looked into.
fn is_dygie(path: &Path) -> bool {
    use std::io::BufRead;
    if !matches!(Format::from_path(path), Some(Format::Json | Format::JsonLines)) {
        return false;
    }
    let Ok(file) = open_regular(path) else { return false };
    // A DyGIE line is a whole document: allow a long one, but not an unbounded read, and
    // none at all for a file that does not open with an object (a SpERT array).
    let mut reader = std::io::BufReader::new(file.take(64 << 20));
    let Ok(head) = reader.fill_buf() else { return false };
    if head.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return false;
    }
    let mut line = Vec::new();
    while line.iter().all(u8::is_ascii_whitespace) {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_or(true, |n| n == 0) {
            return false;
        }
    }
    let Ok(serde_json::Value::Object(first)) = serde_json::from_slice(&line) else {
        return false;
    };
    first.get("sentences").is_some_and(serde_json::Value::is_array) && !first.contains_key("tokens")
}

/// Whether `path` is a `.json` file whose first JSON character opens an object (and that is
/// not DyGIE JSON lines).
fn is_types_file(path: &Path) -> Result<bool, DataError> {
    if Format::from_path(path) != Some(Format::Json) || is_dygie(path) {
        return Ok(false);
    }
    let mut head = Vec::with_capacity(4096);
    open_regular(path)?
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, "read", &e))?;
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&head);
    Ok(head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'))
}

/// A file's identity by content: its length and the 64-bit FNV-1a hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Length in bytes.
    pub len: u64,
    /// 64-bit FNV-1a hash of the bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self { len: bytes.len() as u64, hash }
    }
}

/// The fingerprint of the file at `path`, or `None` when there is no file there.
pub fn fingerprint(path: &Path) -> Result<Option<Fingerprint>, DataError> {
    Ok(read_if_present(path)?.map(|bytes| Fingerprint::of(&bytes)))
}

/// The bytes of `path`, or `None` when it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, DataError> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_file(path).map(Some),
    }
}

/// A document as loaded: its sentences, the problems of records that did not load, and the
/// fingerprint of the file a save would replace.
#[derive(Debug)]
pub struct LoadedDocument {
    /// Where it came from and goes to.
    pub source: DocumentSource,
    /// Every record that loaded, in file order.
    pub sentences: Vec<Sentence>,
    /// Records that did not load (they are not in `sentences`).
    pub problems: Vec<DataError>,
    /// What `spanscope validate` reports about records that did load (an empty token, a
    /// duplicate entity, a self-relation): they can be edited, and the expert is told.
    pub notes: Vec<DataError>,
    /// The fingerprint of `save_path` as read; `None` for a `.txt` whose annotations were never
    /// saved (a save then expects no file at `save_path`).
    pub fingerprint: Option<Fingerprint>,
    /// Why it must not be edited here, when it must not (another workbench holds its folder,
    /// see [`super::lock`]).
    pub read_only: Option<String>,
    /// What an other tool's file holds that the workbench cannot show, and so a save would not
    /// write back (brat events, DyGIE clusters, ...); empty for SpERT and text.
    pub losses: LossReport,
    /// What came in from the `.txt` the annotations were made from, when it changed since
    /// ([`bring_in_text`]); the sentences already hold it, the file does once saved.
    pub text_update: Option<Box<TextUpdate>>,
}

/// Loads a document; the fingerprint is of exactly the bytes parsed. Annotations made from
/// `X.txt` bring in what changed in `X.txt` since ([`bring_in_text`]).
pub fn load(source: &DocumentSource) -> Result<LoadedDocument, DataError> {
    let path = &source.read_path;
    let bytes = read_file(path)?;
    if let Some(format) = source.interchange {
        let mut losses = LossReport::default();
        let sentences = read_other_tool(source, format, &bytes, &mut losses)?;
        return Ok(LoadedDocument {
            source: source.clone(),
            sentences,
            problems: Vec::new(),
            notes: Vec::new(),
            fingerprint: Some(Fingerprint::of(&bytes)),
            read_only: None,
            losses,
            text_update: None,
        });
    }
    let mut loaded = read_bytes(path, &bytes, source.read_format)?;
    // A .txt read is not the file a save replaces: we expect none there yet.
    let fingerprint = (source.read_path == source.save_path).then(|| Fingerprint::of(&bytes));
    let text_update = match source.read_format {
        Format::Text => None,
        _ => changed_text(path, &mut loaded.sentences)?,
    };
    Ok(LoadedDocument {
        source: source.clone(),
        sentences: loaded.sentences,
        problems: loaded.problems,
        notes: loaded.notes,
        fingerprint,
        read_only: None,
        losses: LossReport::default(),
        text_update,
    })
}

/// Brings into `sentences`, the annotations in `path`, what changed in the `.txt` of the same
/// stem they were made from; `None` when there is no such text or it did not change.
fn changed_text(
    path: &Path,
    sentences: &mut Vec<Sentence>,
) -> Result<Option<Box<TextUpdate>>, DataError> {
    let text_path = path.with_extension("txt");
    let name = file_name(&text_path);
    if !made_from(sentences, &name) {
        return Ok(None);
    }
    let Some(bytes) = read_if_present(&text_path)? else { return Ok(None) };
    let text = utf8_text(&text_path, &bytes)?;
    Ok(bring_in_text(sentences, &name, text).map(|(merged, update)| {
        *sentences = merged;
        Box::new(update)
    }))
}

/// The sentences of an other tool's file whose bytes are `bytes`.
fn read_other_tool(
    source: &DocumentSource,
    format: Interchange,
    bytes: &[u8],
    losses: &mut LossReport,
) -> Result<Vec<Sentence>, DataError> {
    let path = &source.read_path;
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::utf8(path, e.valid_up_to()))?;
    match format {
        Interchange::Brat => brat::document(path, &brat_text(path)?, text, losses),
        Interchange::Dygie => dygie::parse(path, text, losses),
        other => {
            let reason = format!("the workbench does not open {} files", other.name());
            Err(DataError::new(path, Place::File, ErrorKind::Format, reason))
        }
    }
}

/// The text of the brat document `ann` (the `.txt` beside it).
fn brat_text(ann: &Path) -> Result<String, DataError> {
    let txt = ann.with_extension("txt");
    fs::read_to_string(&txt).map_err(|e| {
        let doing = format!("read the text of {} (brat keeps it beside the .ann)", ann.display());
        DataError::io(&txt, &doing, &e)
    })
}

/// The bytes of an other tool's file holding `sentences`, and what they cannot carry.
fn encode_other_tool(
    source: &DocumentSource,
    format: Interchange,
    sentences: &[Sentence],
    losses: &mut LossReport,
) -> Result<Vec<u8>, DataError> {
    let path = &source.save_path;
    match format {
        Interchange::Brat => {
            brat::annotations(path, &brat_text(path)?, sentences, losses).map(String::into_bytes)
        }
        _ => {
            let kept = formats::accepted_only(sentences, losses);
            Ok(formats::json_lines_bytes(&dygie::encode(&kept, losses)))
        }
    }
}

/// Whether the other tool's file `disk` already says what `ours` would: then saving would
/// only lose what the file holds that we do not show, and nothing is written.
fn says_the_same(source: &DocumentSource, format: Interchange, disk: &[u8], ours: &[u8]) -> bool {
    let mut ignored = LossReport::default();
    read_other_tool(source, format, disk, &mut ignored)
        .and_then(|theirs| encode_other_tool(source, format, &theirs, &mut ignored))
        .is_ok_and(|theirs| theirs == ours)
}

/// Why a save did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaveError {
    /// The file on disk is not the version we loaded or last saved; nothing was written.
    #[error(
        "{}: changed on disk by another program since it was loaded; not saved (saving anyway \
         keeps the disk version in .spanscope/conflicts)",
        path.display()
    )]
    Conflict {
        /// The file that changed.
        path: PathBuf,
        /// What is on disk now (`None`: it was removed).
        disk: Option<Fingerprint>,
    },
    /// Encoding or writing failed; the file on disk is untouched.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Saves `sentences` to `source.save_path` atomically; returns the fingerprint of the bytes now
/// on disk. A sentence equal to the disk's record at its place is written as that record's
/// bytes, in the disk's layout ([`encode_like`]): records nobody edited come back byte for byte.
///
/// `expected` is the fingerprint we last loaded or saved (`None`: no file expected). When the
/// disk differs, nothing is written and [`SaveError::Conflict`] is returned, unless `force`: then
/// the disk version is first copied to `.spanscope/conflicts/<name>.<time>.theirs<ext>`, and a
/// failure to copy it stops the save. When the disk already holds exactly the bytes we would
/// write, nothing is written (the file keeps its modification time). The check and the write
/// are not one atomic step: another program writing in between is not detected.
pub fn save<S: Borrow<Sentence>>(
    source: &DocumentSource,
    sentences: &[S],
    expected: Option<Fingerprint>,
    force: bool,
) -> Result<Fingerprint, SaveError> {
    let path = &source.save_path;
    let disk = read_if_present(path)?;
    // Records nobody edited keep their bytes, and the file its layout.
    let bytes = match (source.interchange, &disk) {
        (Some(format), _) => {
            // brat and DyGIE documents are written whole by their converters, from owned sentences.
            let owned: Vec<Sentence> = sentences.iter().map(|s| s.borrow().clone()).collect();
            let ours = encode_other_tool(source, format, &owned, &mut LossReport::default())?;
            if let Some(disk) = disk.as_deref().filter(|d| says_the_same(source, format, d, &ours))
            {
                return Ok(Fingerprint::of(disk));
            }
            ours
        }
        (None, Some(disk)) => encode_like(path, sentences, source.save_format, disk)?,
        (None, None) => encode_sentences(path, sentences, source.save_format)?,
    };
    let ours = Fingerprint::of(&bytes);
    let disk_print = disk.as_deref().map(Fingerprint::of);
    if disk.as_deref() == Some(bytes.as_slice()) {
        return Ok(ours);
    }
    if disk_print != expected {
        if !force {
            return Err(SaveError::Conflict { path: path.clone(), disk: disk_print });
        }
        if let Some(theirs) = &disk {
            let ext =
                path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            let copy = conflict_path(path, &format!("theirs{ext}"))?;
            write_atomic(&copy, theirs)?;
        }
    }
    write_atomic(path, &bytes)?;
    Ok(ours)
}

/// Writes `sentences` as SpERT JSON to `.spanscope/conflicts/<name>.<time>.<tag>.json` beside
/// `source.save_path` and returns that path; used to keep the user's edits when they reload a
/// file that changed on disk.
pub fn keep_copy<S: Borrow<Sentence>>(
    source: &DocumentSource,
    sentences: &[S],
    tag: &str,
) -> Result<PathBuf, DataError> {
    let copy = conflict_path(&source.save_path, &format!("{}.json", clean_tag(tag)))?;
    let bytes = encode_sentences(&copy, sentences, Format::Json)?;
    write_atomic(&copy, &bytes)?;
    Ok(copy)
}

/// The folder `.spanscope/<kind>` beside `file`, created if missing.
pub fn spanscope_folder(file: &Path, kind: &str) -> Result<PathBuf, DataError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = dir.join(".spanscope").join(kind);
    fs::create_dir_all(&folder).map_err(|e| DataError::io(&folder, "create the folder", &e))?;
    Ok(folder)
}

/// A new path `.spanscope/conflicts/<name>.<time>.<suffix>` beside `file`.
fn conflict_path(file: &Path, suffix: &str) -> Result<PathBuf, DataError> {
    let folder = spanscope_folder(file, "conflicts")?;
    let name = file_name(file);
    Ok(unused_path(&folder, |stamp| format!("{name}.{stamp}.{suffix}")))
}

/// `folder/name(stamp)` for the current UTC time stamp, with `-2`, `-3`, ... appended to the
/// stamp while that path already exists.
pub fn unused_path(folder: &Path, name: impl Fn(&str) -> String) -> PathBuf {
    let stamp = utc_stamp(SystemTime::now());
    let mut path = folder.join(name(&stamp));
    let mut n = 2;
    while fs::symlink_metadata(&path).is_ok() {
        path = folder.join(name(&format!("{stamp}-{n}")));
        n += 1;
    }
    path
}

/// A tag made safe for a file name: letters, digits, `-` and `_` kept, anything else `-`.
pub fn clean_tag(tag: &str) -> String {
    let clean: String =
        tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    if clean.is_empty() {
        "copy".to_string()
    } else {
        clean
    }
}

/// The last component of `path`, for names and messages.
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(Fingerprint::of(b"").hash, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fingerprint::of(b"a").hash, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fingerprint::of(b"foobar").hash, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn tags_are_cleaned() {
        assert_eq!(clean_tag("mine"), "mine");
        assert_eq!(clean_tag("a/b c"), "a-b-c");
        assert_eq!(clean_tag(""), "copy");
    }
}
