//! Reading and writing SpERT datasets: JSON arrays (`.json`), JSON Lines (`.jsonl`) and plain
//! text (`.txt`, split into sentences and words on load).
//!
//! Loading is lenient: a record that is not a valid record is reported with file, record index
//! and reason, and every other record still loads. Writing is atomic: a temporary file in the
//! target's directory is written, synced and renamed over the target, then the directory is
//! synced, so a crash leaves either the old file or the new one.
//!
//! Indices in messages are 0-based like JSON array positions (`record 0` is the first record,
//! `entity 2` is what a relation's `head: 2` points at); lines and columns are 1-based like an
//! editor's.

use std::borrow::Borrow;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use thiserror::Error;

use super::document::Sentence;
use super::origin::sentences_from_text;
use super::record::parse_record;

/// What went wrong with a data file, and where: the file, a place inside it, and the reason.
///
/// Displayed as `FILE: reason`, `FILE: record N: reason`, `FILE: record N: entity E: reason`,
/// `FILE: line L, column C: reason` or `FILE: byte B: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: {place}{reason}", file.display())]
pub struct DataError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file.
    pub place: Place,
    /// What kind of problem, for code that reacts to it.
    pub kind: ErrorKind,
    /// The reason, in words, for the user.
    pub reason: String,
}

/// Where in a file a [`DataError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The file as a whole.
    File,
    /// A position in the text (1-based line and column), for unparsable JSON.
    Line {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A byte offset, for bytes that are not UTF-8.
    Byte {
        /// 0-based byte offset of the first bad byte.
        offset: usize,
    },
    /// A record (0-based) and, where it applies, a part of it.
    Record {
        /// 0-based record index (in JSON Lines: among the non-blank lines).
        index: usize,
        /// 1-based line of the record, in JSON Lines files.
        line: Option<usize>,
        /// The entity, relation or token the problem is about, if any.
        part: Option<Part>,
    },
}

/// A part of a record a problem is about (0-based indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// An element of `tokens`.
    Token(usize),
    /// An element of `entities`.
    Entity(usize),
    /// An element of `relations`.
    Relation(usize),
}

/// The kind of a [`DataError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read or written.
    Io,
    /// The bytes are not UTF-8.
    Utf8,
    /// The text is not JSON.
    Syntax,
    /// JSON, but not the shape a dataset, record or types file must have.
    Structure,
    /// Well-formed, but the content is inconsistent (spans, indices, types, duplicates).
    Content,
    /// The file name does not say which format it is in.
    Format,
    /// A tokenizer could not be loaded or used.
    Tokenizer,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File => Ok(()),
            Place::Line { line, column } => write!(f, "line {line}, column {column}: "),
            Place::Byte { offset } => write!(f, "byte {offset}: "),
            Place::Record { index, line, part } => {
                match line {
                    Some(line) => write!(f, "record {index} (line {line}): ")?,
                    None => write!(f, "record {index}: ")?,
                }
                match part {
                    None => Ok(()),
                    Some(Part::Token(i)) => write!(f, "token {i}: "),
                    Some(Part::Entity(i)) => write!(f, "entity {i}: "),
                    Some(Part::Relation(i)) => write!(f, "relation {i}: "),
                }
            }
        }
    }
}

impl DataError {
    /// A problem at `place` in `file`.
    pub fn new(file: &Path, place: Place, kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), place, kind, reason: reason.into() }
    }

    /// A problem with a record (or a part of it, see [`Part`]).
    pub fn record(
        file: &Path,
        index: usize,
        part: Option<Part>,
        kind: ErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        Self::new(file, Place::Record { index, line: None, part }, kind, reason)
    }

    /// An I/O failure on `file`; `doing` says what we tried ("read", "write", ...).
    pub fn io(file: &Path, doing: &str, err: &std::io::Error) -> Self {
        Self::new(file, Place::File, ErrorKind::Io, format!("could not {doing}: {err}"))
    }

    /// A JSON syntax error, placed at serde_json's line and column.
    pub(crate) fn syntax(file: &Path, err: &serde_json::Error) -> Self {
        let place = Place::Line { line: err.line(), column: err.column() };
        Self::new(file, place, ErrorKind::Syntax, syntax_reason(err))
    }

    /// Bytes that are not UTF-8, starting at `offset`.
    pub(crate) fn utf8(file: &Path, offset: usize) -> Self {
        Self::new(file, Place::Byte { offset }, ErrorKind::Utf8, "invalid UTF-8")
    }
}

/// serde_json's message without its trailing " at line L column C" (we show the place first).
pub(crate) fn syntax_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("invalid JSON: {}", &text[..at]),
        None => format!("invalid JSON: {text}"),
    }
}

/// The file formats we read and write, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of records (`.json`), the format SpERT reads.
    Json,
    /// One JSON record per line (`.jsonl`); blank lines are ignored.
    JsonLines,
    /// Plain text (`.txt`), split into sentences and word tokens on load; read only.
    Text,
}

impl Format {
    /// The format a path's extension names (`.json`, `.jsonl`, `.txt`, any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "jsonl" => Some(Format::JsonLines),
            "txt" => Some(Format::Text),
            _ => None,
        }
    }

    /// The format of `path`, or an error naming the extensions we know.
    pub(crate) fn of(path: &Path) -> Result<Format, DataError> {
        Format::from_path(path).ok_or_else(|| {
            DataError::new(
                path,
                Place::File,
                ErrorKind::Format,
                "unknown file type: expected a .json, .jsonl or .txt file",
            )
        })
    }
}

/// The result of a lenient load: the sentences that loaded, and what was wrong with the rest.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every valid record, in file order.
    pub sentences: Vec<Sentence>,
    /// One entry per problem found; a record with a problem is not in `sentences`.
    pub problems: Vec<DataError>,
    /// What `validate`'s content checks find in records that did load (an empty token, a
    /// duplicate entity, a self-relation), at their records' places; they stay loaded.
    pub notes: Vec<DataError>,
}

/// Reads a dataset leniently; the format comes from the extension (see [`Format`]).
///
/// `Err` only when nothing can be read: the file is missing or unreadable, not UTF-8 (JSON
/// array and text), not JSON at all, or not an array. Bad records are reported in
/// [`Loaded::problems`] and skipped; every other record loads.
pub fn read_sentences(path: &Path) -> Result<Loaded, DataError> {
    let format = Format::of(path)?;
    let bytes = read_file(path)?;
    read_bytes(path, &bytes, format)
}

/// The largest file we read whole (4 GiB): anything bigger is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Opens `path` for reading if it is a regular file (a symbolic link to one is fine).
///
/// The open does not block (a FIFO has no writer to wait for) and anything but a regular file
/// is refused with its kind named: a FIFO, device or socket would block or never end.
pub fn open_regular(path: &Path) -> Result<File, DataError> {
    let refuse = |kind: &fs::FileType| {
        let reason = format!("{}; only regular files are read", special_kind(kind));
        DataError::new(path, Place::File, ErrorKind::Io, reason)
    };
    // A socket cannot even be opened: say what it is before trying.
    if let Ok(meta) = fs::metadata(path) {
        if !meta.is_file() {
            return Err(refuse(&meta.file_type()));
        }
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| DataError::io(path, "read", &e))?;
    // Checked again on what was opened: the path may have been replaced in between.
    let meta = file.metadata().map_err(|e| DataError::io(path, "read", &e))?;
    if !meta.is_file() {
        return Err(refuse(&meta.file_type()));
    }
    Ok(file)
}

/// What a file that is not a regular file is, for messages.
fn special_kind(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO), not a file";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device, not a file";
        }
        if kind.is_socket() {
            return "a socket, not a file";
        }
    }
    if kind.is_dir() {
        "a folder, not a file"
    } else {
        "not a regular file"
    }
}

/// The bytes of the regular file `path` (see [`open_regular`]), at most [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = open_regular(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let too_big = || {
        let reason = format!(
            "the file is larger than {} GiB; split it into smaller files",
            MAX_FILE_BYTES >> 30
        );
        DataError::new(path, Place::File, ErrorKind::Io, reason)
    };
    if len > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` also bounds a file that keeps growing while we read it.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, "read", &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Reads a dataset strictly: the first problem is the error.
pub fn read_sentences_strict(path: &Path) -> Result<Vec<Sentence>, DataError> {
    let mut loaded = read_sentences(path)?;
    if loaded.problems.is_empty() {
        Ok(loaded.sentences)
    } else {
        Err(loaded.problems.swap_remove(0))
    }
}

/// Parses the bytes of a file named `path` in `format` (the file is not touched).
pub fn read_bytes(path: &Path, bytes: &[u8], format: Format) -> Result<Loaded, DataError> {
    let mut loaded = Loaded::default();
    match format {
        Format::Json => {
            for record in &parse_json_array(path, bytes)? {
                loaded.take(path, record);
            }
        }
        Format::JsonLines => {
            // Each line's JSON tree is dropped once its sentence is built: holding a million
            // trees at once took several times the memory of the sentences.
            let mut problems = Vec::new();
            each_json_line(path, bytes, &mut problems, |record| loaded.take(path, &record));
            // Lines that are no JSON first, then the records' problems, as before.
            let records = std::mem::replace(&mut loaded.problems, problems);
            loaded.problems.extend(records);
        }
        Format::Text => {
            let text = utf8_text(path, bytes)?;
            let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            loaded.sentences = sentences_from_text(&name, text);
        }
    }
    Ok(loaded)
}

impl Loaded {
    /// Parses one record into a sentence (with `validate`'s content notes), or its problems.
    fn take(&mut self, path: &Path, record: &RawRecord) {
        match record.parse(path) {
            Ok(sentence) => {
                let notes = super::validate::check_content(path, record.index, &sentence);
                self.notes.extend(record.locate(notes));
                self.sentences.push(sentence);
            }
            Err(problems) => self.problems.extend(record.locate(problems)),
        }
    }
}

/// A record as parsed JSON, with where it was in the file.
pub(crate) struct RawRecord {
    /// 0-based record index.
    pub index: usize,
    /// 1-based line, for JSON Lines.
    pub line: Option<usize>,
    /// The record's JSON.
    pub value: Value,
    /// A key that one of the record's objects has twice, if any: the JSON parser kept only
    /// the last value, so the record cannot be read or written back as it is.
    pub duplicate_key: Option<String>,
}

impl RawRecord {
    /// The record as a sentence, or its problems; a duplicated key is one.
    pub fn parse(&self, path: &Path) -> Result<Sentence, Vec<DataError>> {
        if let Some(key) = &self.duplicate_key {
            let reason = duplicate_reason(key);
            return Err(vec![DataError::record(
                path,
                self.index,
                None,
                ErrorKind::Structure,
                reason,
            )]);
        }
        parse_record(path, self.index, &self.value)
    }

    /// Adds this record's line to problems placed at it.
    pub fn locate(&self, mut problems: Vec<DataError>) -> Vec<DataError> {
        for problem in &mut problems {
            if let Place::Record { line, .. } = &mut problem.place {
                *line = self.line;
            }
        }
        problems
    }
}

/// The bytes as text, without a leading byte-order mark.
pub(crate) fn utf8_text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::utf8(path, e.valid_up_to()))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Parses a whole file that must be a JSON array; returns its elements.
pub(crate) fn parse_json_array(path: &Path, bytes: &[u8]) -> Result<Vec<RawRecord>, DataError> {
    let mut records = Vec::new();
    each_json_array_record(path, bytes, |record| records.push(record))?;
    Ok(records)
}

/// Hands each element of a file that must be a JSON array to `each`, in order, one at a time:
/// only one record's JSON is in memory at once, whatever the file's size.
pub(crate) fn each_json_array_record(
    path: &Path,
    bytes: &[u8],
    mut each: impl FnMut(RawRecord),
) -> Result<(), DataError> {
    let text = utf8_text(path, bytes)?;
    if !text.trim_start().starts_with('[') {
        // Not an array: parse it whole for the message that says what it is instead.
        let value = serde_json::from_str::<Value>(text).map_err(|e| DataError::syntax(path, &e))?;
        return Err(DataError::new(
            path,
            Place::File,
            ErrorKind::Structure,
            format!("the top level must be a JSON array of records, found {}", kind_of(&value)),
        ));
    }
    // A first pass finds the records with a key twice (serde_json keeps the last silently);
    // it builds nothing, so it costs a fraction of the parse.
    let duplicates = array_duplicate_keys(text);
    let mut index = 0;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let visitor = EachRecord(&mut |value: Value| {
        let duplicate_key = duplicates.get(&index).cloned();
        each(RawRecord { index, line: None, value, duplicate_key });
        index += 1;
    });
    serde::Deserializer::deserialize_seq(&mut deserializer, visitor)
        .and_then(|()| deserializer.end())
        .map_err(|e| DataError::syntax(path, &e))
}

/// The reason given for a record with a key twice.
pub(crate) fn duplicate_reason(key: &str) -> String {
    format!(
        "the key {} appears twice in one object; only one value can be kept",
        Value::String(key.to_string())
    )
}

/// The first key that an object of the JSON `text` (one value) has twice.
pub(crate) fn duplicate_key(text: &str) -> Option<String> {
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let _ = serde::Deserializer::deserialize_any(&mut deserializer, KeyScan(&mut found));
    found
}

/// For a JSON array `text`, the first duplicated key of each element that has one.
fn array_duplicate_keys(text: &str) -> std::collections::HashMap<usize, String> {
    struct Elements<'a>(&'a mut std::collections::HashMap<usize, String>);
    impl<'de> serde::de::Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            loop {
                let mut found = None;
                if seq.next_element_seed(KeySeed(&mut found))?.is_none() {
                    return Ok(());
                }
                if let Some(key) = found {
                    self.0.insert(index, key);
                }
                index += 1;
            }
        }
    }
    let mut out = std::collections::HashMap::new();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Syntax errors are the real parse's to report.
    let _ = serde::Deserializer::deserialize_seq(&mut deserializer, Elements(&mut out));
    out
}

/// Walks a JSON value without building it, noting the first key an object has twice.
struct KeyScan<'a>(&'a mut Option<String>);

/// [`KeyScan`] as a seed, for the elements and values inside.
struct KeySeed<'a>(&'a mut Option<String>);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(KeyScan(self.0))
    }
}

impl<'de> serde::de::Visitor<'de> for KeyScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(KeySeed(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.is_none() && !keys.insert(key.clone()) {
                *self.0 = Some(key);
            }
            map.next_value_seed(KeySeed(self.0))?;
        }
        Ok(())
    }
}

/// A serde visitor that hands each element of a JSON array to a closure.
struct EachRecord<'a>(&'a mut dyn FnMut(Value));

impl<'de> serde::de::Visitor<'de> for EachRecord<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            (self.0)(value);
        }
        Ok(())
    }
}

/// The records of JSON Lines, one value per non-blank line, each handed to `each` as it is
/// parsed. A line that is not UTF-8 or not JSON goes to `problems` (with its byte offset or
/// line and column) and still counts as a record, so record indices are those of the
/// non-blank lines.
pub(crate) fn each_json_line(
    path: &Path,
    bytes: &[u8],
    problems: &mut Vec<DataError>,
    mut each: impl FnMut(RawRecord),
) {
    let mut index = 0;
    let mut offset = 0;
    for (line_index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_start = offset;
        offset += line.len() + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        index += 1;
        let text = match std::str::from_utf8(line) {
            Ok(text) if line_index == 0 => text.strip_prefix('\u{feff}').unwrap_or(text),
            Ok(text) => text,
            Err(e) => {
                problems.push(DataError::utf8(path, line_start + e.valid_up_to()));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue; // only a byte-order mark or Unicode spaces
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) => each(RawRecord {
                index: index - 1,
                line: Some(line_index + 1),
                value,
                duplicate_key: duplicate_key(text),
            }),
            Err(e) => {
                let place = Place::Line { line: line_index + 1, column: e.column() };
                problems.push(DataError::new(path, place, ErrorKind::Syntax, syntax_reason(&e)));
            }
        }
    }
}

/// A JSON value's kind, for messages ("found string \"3\"").
pub(crate) fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a string".to_string(),
        Value::String(s) => format!("string {}", Value::String(s.clone())),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Writes sentences as SpERT JSON (an array, one record per line) or JSON Lines, atomically.
///
/// Keys come out as `tokens`, `entities`, `relations`, then the extra keys as read; entities as
/// `type`, `start`, `end`, extras; relations as `type`, `head`, `tail`, extras.
/// [`Format::Text`] is refused: plain text cannot hold annotations.
pub fn write_sentences(
    path: &Path,
    sentences: &[Sentence],
    format: Format,
) -> Result<(), DataError> {
    let bytes = encode_sentences(path, sentences, format)?;
    write_atomic(path, &bytes)
}

/// The bytes [`write_sentences`] writes (`path` only names the file in errors).
pub fn encode_sentences<S: Borrow<Sentence>>(
    path: &Path,
    sentences: &[S],
    format: Format,
) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    let lines = sentences
        .iter()
        .map(|s| serde_json::to_string(s.borrow()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| DataError::new(path, Place::File, ErrorKind::Structure, e.to_string()))?;
    match format {
        Format::Json if lines.is_empty() => out.extend_from_slice(b"[]\n"),
        Format::Json => {
            out.extend_from_slice(b"[\n");
            out.extend_from_slice(lines.join(",\n").as_bytes());
            out.extend_from_slice(b"\n]\n");
        }
        Format::JsonLines => {
            for line in &lines {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        Format::Text => {
            return Err(DataError::new(
                path,
                Place::File,
                ErrorKind::Format,
                "cannot write annotations as plain text; use .json or .jsonl",
            ))
        }
    }
    Ok(out)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` atomically: temp file beside it, fsync, rename, fsync the
/// directory. On failure the target is untouched and the temp file removed. When `path` is a
/// symbolic link, the file it points to is replaced and the link kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            resolved = fs::canonicalize(path).map_err(|e| DataError::io(path, "resolve", &e))?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}.{unique}.tmp", std::process::id()));
    let result = write_then_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(&dir).map_err(|e| DataError::io(path, "sync the directory of", &e))
}

/// Removes the temporary files [`write_atomic`] left in `dir` when its process was killed
/// between creating and renaming them; returns them. A file of a process still running is left
/// alone: it may be writing it right now.
pub fn remove_abandoned_temps(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else { continue };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && !process_is_running(pid) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// The process id in a temporary file name `.{name}.{pid}.{n}.tmp`, if it is one.
fn temp_owner(file_name: &str) -> Option<u32> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = inner.rsplitn(3, '.');
    let (counter, pid, name) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(counter) && !name.is_empty()).then_some(())?;
    digits(pid).then(|| pid.parse().ok()).flatten()
}

#[cfg(unix)]
fn process_is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // Signal 0 only checks; EPERM means it runs under another user.
    // SAFETY: kill with signal 0 sends nothing and touches no memory.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_is_running(_pid: u32) -> bool {
    true // we cannot tell, so we never remove
}

fn write_then_rename(temp: &Path, path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(|e| DataError::io(path, "create a temporary file for", &e))?;
    // A replaced file keeps its permissions (a read-only-for-others dataset stays so).
    if let Ok(metadata) = fs::metadata(path) {
        file.set_permissions(metadata.permissions())
            .map_err(|e| DataError::io(path, "copy the permissions of", &e))?;
    }
    file.write_all(bytes).map_err(|e| DataError::io(path, "write", &e))?;
    file.sync_all().map_err(|e| DataError::io(path, "sync", &e))?;
    drop(file);
    fs::rename(temp, path).map_err(|e| DataError::io(path, "replace", &e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for syncing on this platform; rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::document::{Entity, Relation};
    use serde_json::json;

    fn sample() -> Vec<Sentence> {
        let mut s =
            Sentence::from_tokens(vec!["Zoë".into(), "lives".into(), "in".into(), "東京".into()]);
        let mut e = Entity::new("Peop", 0, 1);
        e.extra.insert("source".into(), json!({"model": "v1", "score": 0.25}));
        s.entities = vec![e, Entity::new("Loc", 3, 4)];
        let mut r = Relation::new("Live_In", 0, 1);
        r.extra.insert("note".into(), json!("✓ 🙂"));
        s.relations = vec![r];
        s.extra.insert("orig_id".into(), json!(5178));
        s.extra.insert("reviewed".into(), json!(true));
        vec![s, Sentence::from_tokens(vec!["x".into()])]
    }

    #[test]
    fn json_round_trip_keeps_extras_and_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_sentences(&path, &sample(), Format::Json).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("[\n{\"tokens\":[\"Zoë\""), "{text}");
        assert!(text.contains(
            r#""entities":[{"type":"Peop","start":0,"end":1,"source":{"model":"v1","score":0.25}}"#
        ));
        assert!(text.contains(r#""relations":[{"type":"Live_In","head":0,"tail":1,"note":"✓ 🙂"}],"orig_id":5178,"reviewed":true}"#));
        let loaded = read_sentences(&path).unwrap();
        assert!(loaded.problems.is_empty());
        assert_eq!(loaded.sentences, sample());
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
    }

    #[test]
    fn jsonl_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        write_sentences(&path, &sample(), Format::JsonLines).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
        assert_eq!(read_sentences(&path).unwrap().sentences, sample());
    }

    #[test]
    fn empty_dataset_is_an_empty_array() {
        let bytes = encode_sentences::<Sentence>(Path::new("e.json"), &[], Format::Json).unwrap();
        assert_eq!(bytes, b"[]\n");
        let loaded = read_bytes(Path::new("e.json"), &bytes, Format::Json).unwrap();
        assert!(loaded.sentences.is_empty() && loaded.problems.is_empty());
    }

    #[test]
    fn bad_record_is_reported_and_the_rest_loads() {
        let bytes = br#"[{"tokens": ["a"], "entities": [], "relations": []},
            {"tokens": "a b", "entities": [], "relations": []},
            {"tokens": ["b"], "entities": [], "relations": []}]"#;
        let loaded = read_bytes(Path::new("d.json"), bytes, Format::Json).unwrap();
        assert_eq!(loaded.sentences.len(), 2);
        assert_eq!(loaded.problems.len(), 1);
        assert_eq!(
            loaded.problems[0].to_string(),
            "d.json: record 1: `tokens` must be an array of strings, found string \"a b\""
        );
    }

    #[test]
    fn jsonl_skips_blank_lines_and_reports_bad_lines() {
        let bytes = b"{\"tokens\": [\"a\"]}\n\n   \n{\"tokens\": [\nnot json\n\xff\xfe\n{\"tokens\": [\"b\"]}\n";
        let loaded = read_bytes(Path::new("d.jsonl"), bytes, Format::JsonLines).unwrap();
        assert_eq!(loaded.sentences.len(), 2);
        let messages: Vec<String> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages[0].starts_with("d.jsonl: line 4, column 12: invalid JSON: "),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("d.jsonl: line 5, column 2: invalid JSON: "),
            "{messages:?}"
        );
        assert_eq!(messages[2], "d.jsonl: byte 45: invalid UTF-8");
    }

    #[test]
    fn file_level_errors() {
        let err = read_bytes(Path::new("d.json"), b"[{\"tokens\": [}", Format::Json).unwrap_err();
        assert!(err.to_string().starts_with("d.json: line 1, column 14: invalid JSON: "), "{err}");
        let err = read_bytes(Path::new("d.json"), b"{}", Format::Json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.json: the top level must be a JSON array of records, found an object"
        );
        let err = read_bytes(Path::new("d.txt"), b"ok \xc3(", Format::Text).unwrap_err();
        assert_eq!(err.to_string(), "d.txt: byte 3: invalid UTF-8");
        let err = read_sentences(Path::new("/nonexistent/d.json")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Io);
        let err = read_sentences(Path::new("d.csv")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Format);
    }

    #[test]
    fn text_files_are_split_into_sentences() {
        let loaded =
            read_bytes(Path::new("d.txt"), "Hello there. Bye!\n\nNext".as_bytes(), Format::Text)
                .unwrap();
        let tokens: Vec<Vec<String>> = loaded.sentences.into_iter().map(|s| s.tokens).collect();
        assert_eq!(tokens, vec![vec!["Hello", "there", "."], vec!["Bye", "!"], vec!["Next"]]);
    }

    #[test]
    fn strict_read_fails_on_first_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        fs::write(&path, "{\"tokens\": [\"a\"]}\n{\"tokens\": []}\n").unwrap();
        let err = read_sentences_strict(&path).unwrap_err();
        assert!(err.to_string().ends_with("record 1 (line 2): `tokens` is empty"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn rewriting_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        fs::write(&path, "[]").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_sentences(&path, &sample(), Format::Json).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn writing_into_a_missing_directory_fails_cleanly() {
        let err = write_sentences(Path::new("/nonexistent/dir/o.json"), &sample(), Format::Json);
        assert_eq!(err.unwrap_err().kind, ErrorKind::Io);
    }

    #[cfg(unix)]
    #[test]
    fn writing_through_a_symbolic_link_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&target, "[]").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_sentences(&link, &sample(), Format::Json).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(read_sentences(&target).unwrap().sentences, sample());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_load_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            for format in [Format::Json, Format::JsonLines, Format::Text] {
                let _ = read_bytes(Path::new("p"), &bytes, format);
            }
        }

        #[test]
        fn json_shaped_text_loads_without_panicking(text in r#"[\[\]{}",:0-9a-z \n.-]{0,120}"#) {
            let wrapped = format!("[{{\"tokens\": [\"a\"], {text}");
            for candidate in [text.as_str(), wrapped.as_str()] {
                let _ = read_bytes(Path::new("p"), candidate.as_bytes(), Format::Json);
                let _ = read_bytes(Path::new("p"), candidate.as_bytes(), Format::JsonLines);
            }
        }
    }

    #[test]
    fn temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0x7fff_fffe: beyond the kernel's pid_max, so never a running process.
        let dead = dir.path().join(".d.json.2147483646.0.tmp");
        let ours = dir.path().join(format!(".d.json.{}.3.tmp", std::process::id()));
        let other = dir.path().join(".d.json.tmp");
        for path in [&dead, &ours, &other] {
            fs::write(path, "x").unwrap();
        }
        assert_eq!(remove_abandoned_temps(dir.path()), vec![dead.clone()]);
        assert!(!dead.exists() && ours.exists() && other.exists());
        assert_eq!(temp_owner(".a.b.json.12.7.tmp"), Some(12));
        assert_eq!(temp_owner(".json.12.tmp"), None);
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("new.json");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let err = read_sentences(&fifo).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: a named pipe (FIFO), not a file; only regular files are read",
                fifo.display()
            )
        );
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_sentences(&zero).unwrap_err();
        assert!(
            err.to_string().ends_with("a device, not a file; only regular files are read"),
            "{err}"
        );
        let folder = dir.path().join("folder.json");
        fs::create_dir(&folder).unwrap();
        assert!(read_sentences(&folder).is_err());
    }

    #[test]
    fn writing_text_is_refused() {
        let err = encode_sentences(Path::new("o.txt"), &sample(), Format::Text).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Format);
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let loaded = read_bytes(
            Path::new("b.json"),
            "\u{feff}[{\"tokens\":[\"a\"]}]".as_bytes(),
            Format::Json,
        )
        .unwrap();
        assert_eq!(loaded.sentences.len(), 1);
    }
}
