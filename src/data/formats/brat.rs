//! brat standoff: a `.txt` with the text and a `.ann` beside it with one annotation per line
//! (`T` entities with character offsets, `R` relations), plus an `annotation.conf` declaring
//! the types. See <https://brat.nlplab.org/standoff.html>.
//!
//! Read: `T` and `R` lines become entities and relations of the text's sentences (see
//! [`super::standoff`]); events, attributes, notes, normalizations and equivalences are
//! reported and dropped, discontinuous entities kept as the span over their fragments.
//! Written: one document per `doc_key`, one sentence per line, and an `annotation.conf` that
//! declares every type and each relation's argument types as seen.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::loss::{LossKind, LossReport};
use super::standoff::{CharIndex, Link, Span, Standoff};
use super::{accepted_only, note_extras, DOC_KEY};
use crate::data::document::Sentence;
use crate::data::io::{write_atomic, DataError, ErrorKind, Place};

/// Reads a brat folder (every `.ann` in it, by name), or one `.ann` (or `.txt`) file.
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let mut sentences = Vec::new();
    for ann in annotation_files(path)? {
        sentences.extend(read_document(&ann, report)?);
    }
    Ok(sentences)
}

/// The `.ann` files `path` names, in name order.
fn annotation_files(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    if !path.is_dir() {
        return Ok(vec![path.with_extension("ann")]);
    }
    let entries = fs::read_dir(path).map_err(|e| DataError::io(path, "list", &e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ann"))
        .collect();
    files.sort();
    if files.is_empty() {
        let reason =
            "no .ann files in this folder (brat standoff is a .txt and a .ann per document)";
        return Err(DataError::new(path, Place::File, ErrorKind::Format, reason));
    }
    Ok(files)
}

/// The sentences of one `.txt` + `.ann` pair, each with the document's name as `doc_key`.
pub fn read_document(ann: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let txt = ann.with_extension("txt");
    let text = fs::read_to_string(&txt).map_err(|e| {
        let doing = format!("read the text of {} (brat keeps it beside the .ann)", ann.display());
        DataError::io(&txt, &doing, &e)
    })?;
    let lines = fs::read_to_string(ann).map_err(|e| DataError::io(ann, "read", &e))?;
    document(ann, &text, &lines, report)
}

/// The sentences of the `.ann` at `ann` whose lines are `lines`, over its text `text`, each
/// with the document's name as `doc_key`.
pub fn document(
    ann: &Path,
    text: &str,
    lines: &str,
    report: &mut LossReport,
) -> Result<Vec<Sentence>, DataError> {
    let name = ann.file_stem().and_then(|s| s.to_str()).unwrap_or("document").to_string();
    let doc = parse(ann, text, lines, report)?;
    let mut sentences = doc.to_sentences(None, &name, report);
    for sentence in &mut sentences {
        sentence.extra.insert(DOC_KEY.into(), Value::from(name.clone()));
    }
    Ok(sentences)
}

/// The `T` and `R` lines of an `.ann` over `text`; everything else reported.
pub fn parse(
    ann: &Path,
    text: &str,
    lines: &str,
    report: &mut LossReport,
) -> Result<Standoff, DataError> {
    let chars = CharIndex::new(text);
    let name = ann.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string();
    let mut doc = Standoff { text: text.to_string(), ..Standoff::default() };
    let mut span_ids: Vec<String> = Vec::new();
    // Relations may name entities defined further down (BioNLP files do), so resolve later.
    let mut relations: Vec<(String, String, String, String)> = Vec::new();
    for (number, line) in lines.lines().enumerate() {
        let place = || format!("{name} line {}: {}", number + 1, line.trim_end());
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let id = fields.next().unwrap_or("");
        let body = fields.next().unwrap_or("").trim();
        match id.chars().next() {
            Some('T') => match entity(body, &chars) {
                Some((label, range, fragments)) => {
                    if fragments > 1 {
                        report.note(LossKind::DiscontinuousEntity, place);
                    }
                    span_ids.push(id.to_string());
                    doc.spans.push(Span { label, range, name: id.to_string(), extra: Map::new() });
                }
                None => report.note(LossKind::SpanOutOfText, place),
            },
            Some('R') => {
                let mut parts = body.split_whitespace();
                let label = parts.next().unwrap_or("").to_string();
                let args: Vec<&str> =
                    parts.map(|a| a.split_once(':').map_or(a, |(_, id)| id)).collect();
                match args.as_slice() {
                    [head, tail] => {
                        relations.push((id.to_string(), label, head.to_string(), tail.to_string()))
                    }
                    _ => report.note(LossKind::UnknownLine, place),
                }
            }
            Some('E') => report.note(LossKind::Event, place),
            Some('A') | Some('M') => report.note(LossKind::Attribute, place),
            Some('#') => report.note(LossKind::Note, place),
            Some('N') => report.note(LossKind::Normalization, place),
            Some('*') => report.note(LossKind::Equivalence, place),
            _ => report.note(LossKind::UnknownLine, place),
        }
    }
    for (id, label, head, tail) in relations {
        let find = |arg: &str| span_ids.iter().position(|s| s == arg);
        match (find(&head), find(&tail)) {
            (Some(head), Some(tail)) => {
                doc.links.push(Link { label, head, tail, name: id, extra: Map::new() })
            }
            _ => report.note(LossKind::RelationArgumentMissing, || {
                format!("{name}: {id} {label} {head} {tail}")
            }),
        }
    }
    Ok(doc)
}

/// A `T` line's `TYPE START END[;START END]...`: the type, the byte range from the first
/// fragment's start to the last's end, and the number of fragments.
fn entity(body: &str, chars: &CharIndex) -> Option<(String, std::ops::Range<usize>, usize)> {
    let (label, offsets) = body.split_once(' ')?;
    let mut bounds = Vec::new();
    for fragment in offsets.split(';') {
        let mut numbers = fragment.split_whitespace().map(|n| n.parse::<usize>().ok());
        let (Some(Some(start)), Some(Some(end)), None) =
            (numbers.next(), numbers.next(), numbers.next())
        else {
            return None;
        };
        bounds.push((start, end));
    }
    let start = bounds.iter().map(|b| b.0).min()?;
    let end = bounds.iter().map(|b| b.1).max()?;
    Some((label.to_string(), chars.byte(start)?..chars.byte(end)?, bounds.len()))
}

/// Writes brat standoff: into the folder `out` (made when missing), or as the pair
/// `out.txt`/`out.ann` when `out` ends in `.ann`; `annotation.conf` goes beside them.
pub fn write(out: &Path, sentences: &[Sentence], report: &mut LossReport) -> Result<(), DataError> {
    let is_file = out.extension().is_some_and(|e| e == "ann");
    let dir = if is_file {
        out.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        out.to_path_buf()
    };
    if !dir.as_os_str().is_empty() {
        fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, "create the folder", &e))?;
    }
    let fallback = if is_file {
        out.file_stem().and_then(|s| s.to_str()).unwrap_or("document").to_string()
    } else {
        "document".to_string()
    };
    let documents = documents(sentences, &fallback);
    if is_file && documents.len() > 1 {
        let reason = format!(
            "the records belong to {} documents (`doc_key`); give a folder to write one .ann each",
            documents.len()
        );
        return Err(DataError::new(out, Place::File, ErrorKind::Format, reason));
    }
    note_extras(sentences, &[DOC_KEY], report);
    let mut conf = Conf::default();
    let mut stems = std::collections::HashSet::new();
    for (name, records) in &documents {
        let (doc, _) = Standoff::from_sentences(records);
        let ann = ann_lines(&doc);
        for span in &doc.spans {
            conf.entities.insert(brat_name(&span.label));
        }
        for link in &doc.links {
            conf.note_relation(
                brat_name(&link.label),
                brat_name(&doc.spans[link.head].label),
                brat_name(&doc.spans[link.tail].label),
            );
        }
        let mut stem = if is_file { fallback.clone() } else { file_name(name) };
        // Two documents whose names clean to one file name ("a/b", "a_b") must not overwrite
        // each other: the later one gets a number, and the report says so.
        if !stems.insert(stem.to_ascii_lowercase()) {
            let base = stem.clone();
            let mut n = 2;
            while !stems.insert(format!("{base}-{n}").to_ascii_lowercase()) {
                n += 1;
            }
            stem = format!("{base}-{n}");
            report.note(LossKind::DocumentRenamed, || format!("{name:?} written as {stem}.ann"));
        }
        let mut text = doc.text;
        text.push('\n');
        write_atomic(&dir.join(format!("{stem}.txt")), text.as_bytes())?;
        write_atomic(&dir.join(format!("{stem}.ann")), ann.as_bytes())?;
    }
    write_atomic(&dir.join("annotation.conf"), conf.to_string().as_bytes())
}

/// The `T` and `R` lines of `doc`, numbered in order, offsets in characters.
fn ann_lines(doc: &Standoff) -> String {
    let chars = CharIndex::new(&doc.text);
    let mut ann = String::new();
    for (i, span) in doc.spans.iter().enumerate() {
        let (start, end) = (chars.char(span.range.start), chars.char(span.range.end));
        let label = brat_name(&span.label);
        let covered = &doc.text[span.range.clone()];
        ann.push_str(&format!("T{}\t{label} {start} {end}\t{covered}\n", i + 1));
    }
    for (i, link) in doc.links.iter().enumerate() {
        let label = brat_name(&link.label);
        let (head, tail) = (link.head + 1, link.tail + 1);
        ann.push_str(&format!("R{}\t{label} Arg1:T{head} Arg2:T{tail}\n", i + 1));
    }
    ann
}

/// The `.ann` of `sentences` over the unchanged `text` they were read from (the workbench
/// saving a brat document back: its `.txt` is never written). Each sentence's words are found
/// in the text in order, so offsets point into it; model proposals nobody accepted are not
/// written, and keys brat has no place for are reported.
pub fn annotations(
    ann: &Path,
    text: &str,
    sentences: &[Sentence],
    report: &mut LossReport,
) -> Result<String, DataError> {
    let sentences = &accepted_only(sentences, report);
    note_extras(sentences, &[DOC_KEY], report);
    let mut doc = Standoff { text: text.to_string(), ..Standoff::default() };
    let mut at = 0;
    for (i, sentence) in sentences.iter().enumerate() {
        let mut words = Vec::with_capacity(sentence.tokens.len());
        for token in &sentence.tokens {
            let Some(found) = text[at..].find(token.as_str()) else {
                let reason =
                    format!("record {i}: the word {token:?} is not in the text (in order)");
                let txt = ann.with_extension("txt");
                return Err(DataError::new(&txt, Place::File, ErrorKind::Format, reason));
            };
            words.push(at + found..at + found + token.len());
            at += found + token.len();
        }
        let first_span = doc.spans.len();
        for (e, entity) in sentence.entities.iter().enumerate() {
            let (Some(first), Some(last)) = (words.get(entity.start), words.get(entity.end - 1))
            else {
                let reason = format!("record {i} entity {e}: outside the sentence");
                return Err(DataError::new(ann, Place::File, ErrorKind::Structure, reason));
            };
            doc.spans.push(Span {
                label: entity.entity_type.clone(),
                range: first.start..last.end,
                name: format!("record {i} entity {e}"),
                extra: Map::new(),
            });
        }
        for (r, relation) in sentence.relations.iter().enumerate() {
            doc.links.push(Link {
                label: relation.relation_type.clone(),
                head: first_span + relation.head,
                tail: first_span + relation.tail,
                name: format!("record {i} relation {r}"),
                extra: Map::new(),
            });
        }
    }
    Ok(ann_lines(&doc))
}

/// Sentences grouped by `doc_key` in order of first appearance (`fallback` for none).
pub(crate) fn documents(sentences: &[Sentence], fallback: &str) -> Vec<(String, Vec<Sentence>)> {
    let mut out: Vec<(String, Vec<Sentence>)> = Vec::new();
    for sentence in sentences {
        let key = sentence.extra.get(DOC_KEY).map_or_else(
            || fallback.to_string(),
            |v| v.as_str().map_or_else(|| v.to_string(), str::to_string),
        );
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(sentence.clone()),
            None => out.push((key, vec![sentence.clone()])),
        }
    }
    out
}

/// brat type names cannot hold white space; it becomes `_`.
fn brat_name(label: &str) -> String {
    label.split_whitespace().collect::<Vec<_>>().join("_")
}

/// A document name as a file name: path separators and odd characters become `_`.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect();
    match safe.trim_start_matches('.') {
        "" => "document".to_string(),
        s => s.to_string(),
    }
}

/// The `annotation.conf` of the written documents.
#[derive(Default)]
struct Conf {
    entities: BTreeSet<String>,
    /// Relation type, head types, tail types.
    relations: Vec<(String, BTreeSet<String>, BTreeSet<String>)>,
}

impl Conf {
    fn note_relation(&mut self, label: String, head: String, tail: String) {
        match self.relations.iter_mut().find(|(l, _, _)| *l == label) {
            Some((_, heads, tails)) => {
                heads.insert(head);
                tails.insert(tail);
            }
            None => self.relations.push((label, [head].into(), [tail].into())),
        }
    }
}

impl std::fmt::Display for Conf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "# Written by spanscope convert: the types of these documents.\n")?;
        writeln!(f, "[entities]\n")?;
        for entity in &self.entities {
            writeln!(f, "{entity}")?;
        }
        writeln!(f, "\n[relations]\n")?;
        let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join("|");
        for (label, heads, tails) in &self.relations {
            writeln!(f, "{label}\tArg1:{}, Arg2:{}", join(heads), join(tails))?;
        }
        writeln!(f, "\n[events]\n\n[attributes]")
    }
}
