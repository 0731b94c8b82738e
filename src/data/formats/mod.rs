//! Other tools' annotation formats, to and from SpERT records: brat standoff, DyGIE/SciERC
//! JSON lines, CoNLL BIO/BILOU, the original CoNLL04 columns, doccano, Label Studio and
//! spaCy/Prodigy. One file per format; [`standoff`] is the shared step from character offsets
//! in a text to word tokens and back.
//!
//! Every conversion returns a [`LossReport`]: whatever the target cannot represent is named
//! there, with a count and the first examples, so nothing is dropped silently.

pub mod brat;
pub mod conll;
pub mod conll04;
pub mod doccano;
pub mod dygie;
pub mod label_studio;
mod loss;
pub mod spacy;
pub mod standoff;

use std::path::Path;

pub use loss::{Loss, LossKind, LossReport};

use super::document::Sentence;
use super::io::{read_bytes, read_file, write_sentences, DataError, ErrorKind, Format, Place};
use super::{origin, provenance};

/// The sentence extra key naming the document a sentence belongs to (DyGIE's `doc_key`; brat
/// writes one `.txt`/`.ann` pair per document).
pub const DOC_KEY: &str = "doc_key";

/// A dataset format `spanscope convert` reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interchange {
    /// SpERT JSON (`.json`) or JSON Lines (`.jsonl`), spanscope's own.
    Spert(Format),
    /// brat standoff: a folder (or one `.ann` file) of `.txt` + `.ann` pairs.
    Brat,
    /// DyGIE++/SciERC JSON lines, one document per line.
    Dygie,
    /// CoNLL columns with BIO (IOB2) tags.
    Bio,
    /// CoNLL columns with BILOU tags.
    Bilou,
    /// The original CoNLL04 column format of Roth & Yih (read only).
    Conll04,
    /// doccano JSON lines (relation-extraction or sequence-labelling projects).
    Doccano,
    /// Label Studio JSON tasks (annotations, predictions, relations).
    LabelStudio,
    /// spaCy/Prodigy JSON lines with `tokens`, `spans` and `relations` (write only).
    Spacy,
}

/// The names `--from`/`--to` accept, with their formats.
pub const NAMES: &[(&str, Interchange)] = &[
    ("spert", Interchange::Spert(Format::Json)),
    ("spert-jsonl", Interchange::Spert(Format::JsonLines)),
    ("brat", Interchange::Brat),
    ("dygie", Interchange::Dygie),
    ("bio", Interchange::Bio),
    ("bilou", Interchange::Bilou),
    ("conll04", Interchange::Conll04),
    ("doccano", Interchange::Doccano),
    ("label-studio", Interchange::LabelStudio),
    ("spacy", Interchange::Spacy),
];

/// The names of [`NAMES`], comma-separated, for messages.
fn known_names() -> String {
    NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl Interchange {
    /// The format named `name`, or a message listing the names there are.
    pub fn parse_name(name: &str) -> Result<Interchange, String> {
        Interchange::from_name(name)
            .ok_or_else(|| format!("unknown format {name:?}; known: {}", known_names()))
    }

    /// The format `path`'s name says, or a message asking for `hint` (the flag or argument
    /// that names one).
    pub fn for_path(path: &Path, hint: &str) -> Result<Interchange, String> {
        Interchange::from_path(path).ok_or_else(|| {
            format!(
                "{}: cannot tell the format from the name; give {hint} (one of: {})",
                path.display(),
                known_names()
            )
        })
    }

    /// The format named `name` (see [`NAMES`]).
    pub fn from_name(name: &str) -> Option<Interchange> {
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, f)| *f)
    }

    /// The format's name in [`NAMES`].
    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(_, f)| *f == self).map_or("spert", |(n, _)| n)
    }

    /// The format a path says it is in, from its extension (or a folder: brat). `.json` is
    /// SpERT and `.jsonl` SpERT JSON Lines: other JSON formats need `--from`/`--to`.
    pub fn from_path(path: &Path) -> Option<Interchange> {
        if path.is_dir() {
            return Some(Interchange::Brat);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Interchange::Spert(Format::Json)),
            "jsonl" => Some(Interchange::Spert(Format::JsonLines)),
            "ann" => Some(Interchange::Brat),
            "bio" | "iob" | "conll" => Some(Interchange::Bio),
            "bilou" | "biluo" => Some(Interchange::Bilou),
            "corp" => Some(Interchange::Conll04),
            _ => None,
        }
    }

    /// Whether the format holds relations (and so round-trips SpERT records whole).
    pub fn carries_relations(self) -> bool {
        !matches!(self, Interchange::Bio | Interchange::Bilou)
    }
}

/// Reads `path` in `format` into SpERT records, with what could not be represented.
pub fn read(path: &Path, format: Interchange) -> Result<(Vec<Sentence>, LossReport), DataError> {
    let mut report = LossReport::default();
    let sentences = match format {
        Interchange::Spert(format) => {
            // The format named, not the extension: `--from spert-jsonl` on a `.txt` is JSON
            // Lines.
            let bytes = read_file(path)?;
            let loaded = read_bytes(path, &bytes, format)?;
            if let Some(problem) = loaded.problems.into_iter().next() {
                return Err(problem);
            }
            loaded.sentences
        }
        Interchange::Brat => brat::read(path, &mut report)?,
        Interchange::Dygie => dygie::read(path, &mut report)?,
        Interchange::Bio | Interchange::Bilou => conll::read(path, &mut report)?,
        Interchange::Conll04 => conll04::read(path, &mut report)?,
        Interchange::Doccano => doccano::read(path, &mut report)?,
        Interchange::LabelStudio => label_studio::read(path, &mut report)?,
        Interchange::Spacy => return Err(read_only(path, "spacy", "written, not read")),
    };
    Ok((sentences, report))
}

/// Writes SpERT records to `path` in `format` (atomically), and says what was lost.
pub fn write(
    path: &Path,
    format: Interchange,
    sentences: &[Sentence],
) -> Result<LossReport, DataError> {
    let mut report = LossReport::default();
    match format {
        Interchange::Spert(format) => write_sentences(path, sentences, format)?,
        Interchange::Brat => brat::write(path, sentences, &mut report)?,
        Interchange::Dygie => dygie::write(path, sentences, &mut report)?,
        Interchange::Bio => conll::write(path, sentences, conll::Scheme::Bio, &mut report)?,
        Interchange::Bilou => conll::write(path, sentences, conll::Scheme::Bilou, &mut report)?,
        Interchange::Conll04 => return Err(read_only(path, "conll04", "read, not written")),
        Interchange::Doccano => doccano::write(path, sentences, &mut report)?,
        Interchange::LabelStudio => label_studio::write(path, sentences, &mut report)?,
        Interchange::Spacy => spacy::write(path, sentences, &mut report)?,
    }
    Ok(report)
}

fn read_only(path: &Path, name: &str, how: &str) -> DataError {
    let reason = format!("the {name} format is only {how} by spanscope");
    DataError::new(path, Place::File, ErrorKind::Format, reason)
}

/// What saving `sentences` back in `format` (the workbench saving a brat or DyGIE document)
/// cannot carry: proposals nobody accepted, and keys the format has no place for.
pub fn write_losses(format: Interchange, sentences: &[Sentence]) -> LossReport {
    let mut report = LossReport::default();
    let kept = accepted_only(sentences, &mut report);
    match format {
        Interchange::Dygie => {
            dygie::encode(&kept, &mut report);
        }
        _ => note_extras(&kept, &[DOC_KEY], &mut report),
    }
    report
}

/// The sentences without the model proposals nobody accepted (each reported), for a format
/// that has no place for a proposal; relations keep their arguments.
pub fn accepted_only(sentences: &[Sentence], report: &mut LossReport) -> Vec<Sentence> {
    use super::annotation::{entity_source, relation_source, Source};
    let mut out = Vec::with_capacity(sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let mut kept = sentence.clone();
        let mut index = Vec::with_capacity(sentence.entities.len());
        kept.entities.clear();
        for (e, entity) in sentence.entities.iter().enumerate() {
            if entity_source(entity) == Source::Model {
                report.note(LossKind::ProposalNotWritten, || format!("record {i} entity {e}"));
                index.push(None);
            } else {
                index.push(Some(kept.entities.len()));
                kept.entities.push(entity.clone());
            }
        }
        kept.relations.clear();
        for (r, relation) in sentence.relations.iter().enumerate() {
            let ends = (index.get(relation.head).copied(), index.get(relation.tail).copied());
            match ends {
                (Some(Some(head)), Some(Some(tail)))
                    if relation_source(relation) != Source::Model =>
                {
                    let mut relation = relation.clone();
                    (relation.head, relation.tail) = (head, tail);
                    kept.relations.push(relation);
                }
                _ => {
                    report.note(LossKind::ProposalNotWritten, || format!("record {i} relation {r}"))
                }
            }
        }
        out.push(kept);
    }
    out
}

/// A structure error at a record of `file` (a line of JSON lines, a document, a task).
pub(crate) fn bad_record(file: &Path, index: usize, reason: impl Into<String>) -> DataError {
    DataError::record(file, index, None, ErrorKind::Structure, reason)
}

/// Reports every extra key of sentences (but `keep`), entities and relations, for formats
/// that have no place for them; the workbench's provenance keys as [`LossKind::Provenance`],
/// a list of rejected proposals with its length.
pub(crate) fn note_extras(sentences: &[Sentence], keep: &[&str], report: &mut LossReport) {
    for (i, sentence) in sentences.iter().enumerate() {
        for (key, value) in sentence.extra.iter().filter(|(k, _)| !keep.contains(&k.as_str())) {
            let listed = value.as_array().map(Vec::len).filter(|_| key.starts_with("rejected_"));
            match (kind_of_key(key, SENTENCE_PROVENANCE), listed) {
                (kind, Some(n)) => report.note(kind, || format!("record {i}: `{key}` ({n})")),
                (kind, None) => report.note(kind, || format!("record {i}: `{key}`")),
            }
        }
        for (e, entity) in sentence.entities.iter().enumerate() {
            for key in entity.extra.keys() {
                let kind = kind_of_key(key, ITEM_PROVENANCE);
                report.note(kind, || format!("record {i} entity {e}: `{key}`"));
            }
        }
        for (r, relation) in sentence.relations.iter().enumerate() {
            for key in relation.extra.keys() {
                let kind = kind_of_key(key, ITEM_PROVENANCE);
                report.note(kind, || format!("record {i} relation {r}: `{key}`"));
            }
        }
    }
}

/// The sentence keys of provenance and text positions (docs/DATA.md).
const SENTENCE_PROVENANCE: &[&str] = &[
    provenance::REJECTED_ENTITIES_KEY,
    provenance::REJECTED_RELATIONS_KEY,
    provenance::ID_KEY,
    provenance::ANNOTATOR_KEY,
    provenance::TIME_KEY,
    origin::ORIGIN_KEY,
    origin::OFFSETS_KEY,
];

/// The entity and relation keys of provenance beyond `source`, `score` and `model`.
const ITEM_PROVENANCE: &[&str] =
    &[provenance::PROPOSAL_KEY, provenance::ANNOTATOR_KEY, provenance::TIME_KEY];

fn kind_of_key(key: &str, provenance: &[&str]) -> LossKind {
    if provenance.contains(&key) {
        LossKind::Provenance
    } else {
        LossKind::ExtraKey
    }
}

/// The non-blank lines of a JSON lines file, parsed, with their 1-based line numbers.
pub(crate) fn json_lines(path: &Path) -> Result<Vec<(usize, serde_json::Value)>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    json_lines_of(path, &text)
}

/// The non-blank lines of `text`, read from `path`, parsed, with their 1-based line numbers.
pub(crate) fn json_lines_of(
    path: &Path,
    text: &str,
) -> Result<Vec<(usize, serde_json::Value)>, DataError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| {
            let place = Place::Line { line: i + 1, column: e.column() };
            DataError::new(path, place, ErrorKind::Syntax, format!("invalid JSON line: {e}"))
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// Writes one JSON value per line, atomically.
pub(crate) fn write_json_lines(path: &Path, values: &[serde_json::Value]) -> Result<(), DataError> {
    super::io::write_atomic(path, &json_lines_bytes(values))
}

/// One JSON value per line.
pub fn json_lines_bytes(values: &[serde_json::Value]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for value in values {
        bytes.extend_from_slice(value.to_string().as_bytes());
        bytes.push(b'\n');
    }
    bytes
}
