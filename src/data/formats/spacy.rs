//! spaCy/Prodigy JSON lines as Prodigy's `rel.manual` writes them (and spaCy's relation
//! extraction tutorial reads): `text`, `tokens` (`text`, `start`, `end`, `id`, `ws`), `spans`
//! (`start`, `end`, `token_start`, `token_end` inclusive, `label`) and `relations` (`head`,
//! `child` the first token of each span, `head_span`, `child_span`, `label`), offsets in
//! characters. Written only. See <https://prodi.gy/docs/api-interfaces#relations>.

use std::path::Path;

use serde_json::{json, Value};

use super::loss::{LossKind, LossReport};
use super::standoff::{CharIndex, Standoff};
use super::{note_extras, write_json_lines};
use crate::data::document::Sentence;
use crate::data::io::DataError;

/// Writes Prodigy relation JSON lines, one task per sentence, `"answer": "accept"`.
pub fn write(
    path: &Path,
    sentences: &[Sentence],
    report: &mut LossReport,
) -> Result<(), DataError> {
    note_extras(sentences, &[], report);
    let mut lines = Vec::with_capacity(sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let (doc, _) = Standoff::from_sentences(std::slice::from_ref(sentence));
        let chars = CharIndex::new(&doc.text);
        let mut at = 0;
        let tokens: Vec<Value> = sentence
            .tokens
            .iter()
            .enumerate()
            .map(|(id, t)| {
                let start = chars.char(at);
                at += t.len() + 1;
                let end = start + t.chars().count();
                json!({"text": t, "start": start, "end": end, "id": id, "ws": id + 1 < sentence.tokens.len()})
            })
            .collect();
        let span = |e: usize| {
            let entity = &sentence.entities[e];
            let range = &doc.spans[e].range;
            json!({
                "text": &doc.text[range.clone()],
                "start": chars.char(range.start), "end": chars.char(range.end),
                "token_start": entity.start, "token_end": entity.end - 1, "label": entity.entity_type,
            })
        };
        let spans: Vec<Value> = (0..sentence.entities.len()).map(span).collect();
        let mut relations = Vec::with_capacity(sentence.relations.len());
        for (r, relation) in sentence.relations.iter().enumerate() {
            // Prodigy names a relation's arguments by their first token only.
            for e in [relation.head, relation.tail] {
                let first =
                    sentence.entities.iter().position(|o| o.start == sentence.entities[e].start);
                if first != Some(e) {
                    report.note(LossKind::SameSpanEntities, || format!("record {i} relation {r}"));
                }
            }
            relations.push(json!({
                "head": sentence.entities[relation.head].start,
                "child": sentence.entities[relation.tail].start,
                "head_span": span(relation.head),
                "child_span": span(relation.tail),
                "label": relation.relation_type,
            }));
        }
        lines.push(json!({
            "text": doc.text, "tokens": tokens, "spans": spans, "relations": relations,
            "answer": "accept",
        }));
    }
    write_json_lines(path, &lines)
}
