//! Labelled character spans over a text, and relations between them, as brat, doccano and
//! Label Studio hold annotations: to SpERT's sentences of word tokens and back.
//!
//! The text is split into sentences and words by [`crate::data::text`], a line break always
//! ending a sentence; a token is split
//! further wherever a span begins or ends inside it, so every entity falls on token
//! boundaries (the split is reported), and sentences an entity crosses are joined. What still
//! cannot be carried (a relation across sentences, a span of white space) is reported.

use std::collections::BTreeSet;
use std::ops::Range;

use serde_json::{Map, Value};

use super::loss::{LossKind, LossReport};
use crate::data::document::{Entity, Relation, Sentence};
use crate::data::text::split_text;

/// A text with labelled spans and relations, offsets in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standoff {
    /// The source text.
    pub text: String,
    /// Labelled spans (entities).
    pub spans: Vec<Span>,
    /// Relations between `spans`.
    pub links: Vec<Link>,
}

/// A labelled span of a [`Standoff`] text.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The entity type.
    pub label: String,
    /// Byte range in the text.
    pub range: Range<usize>,
    /// How the source names it (`T3`, `entity 2`), for the loss report.
    pub name: String,
    /// Keys to keep on the SpERT entity (a score, a source).
    pub extra: Map<String, Value>,
}

/// A relation between two spans of a [`Standoff`].
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The relation type.
    pub label: String,
    /// Index of the head in [`Standoff::spans`].
    pub head: usize,
    /// Index of the tail in [`Standoff::spans`].
    pub tail: usize,
    /// How the source names it, for the loss report.
    pub name: String,
    /// Keys to keep on the SpERT relation.
    pub extra: Map<String, Value>,
}

/// Character (Unicode scalar) offsets to byte offsets and back, for one text: brat, doccano,
/// Label Studio and Prodigy count characters, Rust strings count bytes.
pub struct CharIndex {
    /// Byte offset of every character, then the text's length.
    starts: Vec<usize>,
}

impl CharIndex {
    /// The index of `text`.
    pub fn new(text: &str) -> Self {
        let mut starts: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        starts.push(text.len());
        Self { starts }
    }

    /// The byte offset of character `char_offset` (the text's length for one past the end).
    pub fn byte(&self, char_offset: usize) -> Option<usize> {
        self.starts.get(char_offset).copied()
    }

    /// The character offset of byte `byte_offset`, which must start a character.
    pub fn char(&self, byte_offset: usize) -> usize {
        self.starts.partition_point(|&b| b < byte_offset)
    }
}

/// A token of the text: its byte range and its sentence (as the splitter made them).
struct Token {
    range: Range<usize>,
    sentence: usize,
}

impl Standoff {
    /// The SpERT sentences of this text. `tokens`, when given (a format that also stores the
    /// words), are found in the text in order and make one sentence; otherwise the text is
    /// split. `place` names the document in examples.
    pub fn to_sentences(
        &self,
        tokens: Option<&[String]>,
        place: &str,
        report: &mut LossReport,
    ) -> Vec<Sentence> {
        let ranges: Vec<Option<Range<usize>>> =
            self.spans.iter().map(|s| self.checked_range(s, place, report)).collect();
        let cuts: BTreeSet<usize> =
            ranges.iter().flatten().flat_map(|r| [r.start, r.end]).collect();
        let tokens = self.cut_tokens(self.tokens(tokens), &cuts, place, report);

        // Where each span starts and ends, in tokens; sentences joined where spans cross.
        let mut joins_next = vec![false; tokens.last().map_or(0, |t| t.sentence + 1)];
        let mut token_spans: Vec<Option<Range<usize>>> = Vec::with_capacity(ranges.len());
        for (span, range) in self.spans.iter().zip(&ranges) {
            let token_span = range.as_ref().and_then(|r| {
                let first = tokens.partition_point(|t| t.range.end <= r.start);
                let end = tokens.partition_point(|t| t.range.start < r.end);
                (first < end).then_some(first..end)
            });
            match &token_span {
                Some(t) if tokens[t.start].sentence != tokens[t.end - 1].sentence => {
                    report.note(LossKind::SentencesJoined, || {
                        format!("{place}: {} \"{}\"", span.name, self.quote(span))
                    });
                    for joined in
                        &mut joins_next[tokens[t.start].sentence..tokens[t.end - 1].sentence]
                    {
                        *joined = true;
                    }
                }
                None if range.is_some() => report.note(LossKind::EmptySpan, || {
                    format!("{place}: {} {:?}", span.name, self.quote(span))
                }),
                _ => {}
            }
            token_spans.push(token_span);
        }

        // The sentences after joining, with each token's place in them.
        let mut sentence_of = Vec::with_capacity(joins_next.len());
        let mut next = 0;
        for joined in &joins_next {
            sentence_of.push(next);
            if !joined {
                next += 1;
            }
        }
        let mut sentences: Vec<Sentence> = vec![Sentence::default(); next];
        let mut place_of = Vec::with_capacity(tokens.len());
        for token in &tokens {
            let s = sentence_of[token.sentence];
            place_of.push((s, sentences[s].tokens.len()));
            sentences[s].tokens.push(self.text[token.range.clone()].to_string());
        }

        // Entities, once per span and type; each span's (sentence, entity index).
        let mut entity_of: Vec<Option<(usize, usize)>> = Vec::with_capacity(self.spans.len());
        for (span, token_span) in self.spans.iter().zip(&token_spans) {
            let Some(t) = token_span else {
                entity_of.push(None);
                continue;
            };
            let (s, start) = place_of[t.start];
            let end = place_of[t.end - 1].1 + 1;
            let entities = &mut sentences[s].entities;
            let same = entities
                .iter()
                .position(|e| e.start == start && e.end == end && e.entity_type == span.label);
            let index = match same {
                Some(i) => {
                    report.note(LossKind::DuplicateEntity, || {
                        format!("{place}: {} \"{}\" {}", span.name, self.quote(span), span.label)
                    });
                    i
                }
                None => {
                    let mut entity = Entity::new(span.label.clone(), start, end);
                    entity.extra = span.extra.clone();
                    entities.push(entity);
                    entities.len() - 1
                }
            };
            entity_of.push(Some((s, index)));
        }

        for link in &self.links {
            let ends = (
                entity_of.get(link.head).copied().flatten(),
                entity_of.get(link.tail).copied().flatten(),
            );
            match ends {
                (Some((s, head)), Some((t, tail))) if s == t => {
                    let mut relation = Relation::new(link.label.clone(), head, tail);
                    relation.extra = link.extra.clone();
                    sentences[s].relations.push(relation);
                }
                (Some(_), Some(_)) => report.note(LossKind::RelationAcrossSentences, || {
                    format!("{place}: {} {}", link.name, link.label)
                }),
                _ => report.note(LossKind::RelationArgumentMissing, || {
                    format!("{place}: {} {}", link.name, link.label)
                }),
            }
        }
        sentences.retain(|s| !s.tokens.is_empty());
        sentences
    }

    /// The span's byte range, trimmed of white space; `None` (reported) when unusable.
    fn checked_range(
        &self,
        span: &Span,
        place: &str,
        report: &mut LossReport,
    ) -> Option<Range<usize>> {
        let Range { start, end } = span.range;
        let valid = start <= end
            && end <= self.text.len()
            && self.text.is_char_boundary(start)
            && self.text.is_char_boundary(end);
        if !valid {
            report.note(LossKind::SpanOutOfText, || {
                format!(
                    "{place}: {} [{start}, {end}) in a text of {} bytes",
                    span.name,
                    self.text.len()
                )
            });
            return None;
        }
        let covered = &self.text[start..end];
        let trimmed_start = start + (covered.len() - covered.trim_start().len());
        let trimmed_end = end - (covered.len() - covered.trim_end().len());
        if trimmed_start >= trimmed_end {
            report.note(LossKind::EmptySpan, || format!("{place}: {} {covered:?}", span.name));
            return None;
        }
        if (trimmed_start, trimmed_end) != (start, end) {
            report.note(LossKind::SpanTrimmed, || format!("{place}: {} {covered:?}", span.name));
        }
        Some(trimmed_start..trimmed_end)
    }

    /// The tokens as given (found in order in the text), or as the text splitter makes them.
    fn tokens(&self, given: Option<&[String]>) -> Vec<Token> {
        if let Some(given) = given {
            let mut found = Vec::with_capacity(given.len());
            let mut at = 0;
            for token in given {
                let Some(offset) = self.text[at..].find(token.as_str()) else { break };
                let start = at + offset;
                at = start + token.len();
                found.push(Token { range: start..at, sentence: 0 });
            }
            if found.len() == given.len() && !given.iter().any(String::is_empty) {
                return found;
            }
        }
        // A line break ends a sentence, as in brat's own display and most standoff corpora.
        let mut out = Vec::new();
        let mut sentence = 0;
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            for s in split_text(line) {
                out.extend(s.tokens.into_iter().map(|t| Token {
                    range: t.range.start + offset..t.range.end + offset,
                    sentence,
                }));
                sentence += 1;
            }
            offset += line.len();
        }
        out
    }

    /// `tokens` split at every cut that falls inside one (reported once per token).
    fn cut_tokens(
        &self,
        tokens: Vec<Token>,
        cuts: &BTreeSet<usize>,
        place: &str,
        report: &mut LossReport,
    ) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        for token in tokens {
            let inside: Vec<usize> =
                cuts.range(token.range.start + 1..token.range.end).copied().collect();
            if inside.is_empty() {
                out.push(token);
                continue;
            }
            report.note(LossKind::TokenSplit, || {
                format!("{place}: \"{}\"", &self.text[token.range.clone()])
            });
            let mut start = token.range.start;
            for cut in inside.into_iter().chain([token.range.end]) {
                let piece = &self.text[start..cut];
                let lead = piece.len() - piece.trim_start().len();
                let trail = piece.len() - piece.trim_end().len();
                if lead + trail < piece.len() {
                    out.push(Token { range: start + lead..cut - trail, sentence: token.sentence });
                }
                start = cut;
            }
        }
        out
    }

    /// The span's text, shortened for examples.
    fn quote(&self, span: &Span) -> String {
        let text = self.text.get(span.range.clone()).unwrap_or("");
        text.chars().take(60).collect()
    }

    /// The sentences as one text: words joined by a space, sentences by a line break; every
    /// entity a span and every relation a link (spans numbered across sentences, in order).
    /// Also gives each sentence's byte range in the text.
    pub fn from_sentences(sentences: &[Sentence]) -> (Standoff, Vec<Range<usize>>) {
        let mut doc = Standoff::default();
        let mut lines = Vec::with_capacity(sentences.len());
        for (i, sentence) in sentences.iter().enumerate() {
            if i > 0 {
                doc.text.push('\n');
            }
            let line_start = doc.text.len();
            let mut token_ranges = Vec::with_capacity(sentence.tokens.len());
            for (t, token) in sentence.tokens.iter().enumerate() {
                if t > 0 {
                    doc.text.push(' ');
                }
                token_ranges.push(doc.text.len()..doc.text.len() + token.len());
                doc.text.push_str(token);
            }
            lines.push(line_start..doc.text.len());
            let first_span = doc.spans.len();
            for (e, entity) in sentence.entities.iter().enumerate() {
                let range = token_ranges[entity.start].start..token_ranges[entity.end - 1].end;
                let name = format!("record {i} entity {e}");
                doc.spans.push(Span {
                    label: entity.entity_type.clone(),
                    range,
                    name,
                    extra: entity.extra.clone(),
                });
            }
            for (r, relation) in sentence.relations.iter().enumerate() {
                doc.links.push(Link {
                    label: relation.relation_type.clone(),
                    head: first_span + relation.head,
                    tail: first_span + relation.tail,
                    name: format!("record {i} relation {r}"),
                    extra: relation.extra.clone(),
                });
            }
        }
        (doc, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(label: &str, range: Range<usize>) -> Span {
        Span { label: label.into(), range, name: "T".into(), extra: Map::new() }
    }

    #[test]
    fn splits_tokens_at_entity_boundaries_and_joins_crossed_sentences() {
        let text = "Smad-phosphorylation rose. It fell.";
        let doc = Standoff {
            text: text.into(),
            spans: vec![span("GGP", 0..4), span("X", 21..29)],
            links: vec![],
        };
        let mut report = LossReport::default();
        let sentences = doc.to_sentences(None, "doc", &mut report);
        assert_eq!(sentences.len(), 1, "{sentences:?}");
        assert_eq!(sentences[0].tokens[..3], ["Smad", "-phosphorylation", "rose"]);
        assert_eq!((sentences[0].entities[0].start, sentences[0].entities[0].end), (0, 1));
        assert_eq!(sentences[0].entities[1].entity_type, "X");
        assert_eq!(report.count(LossKind::TokenSplit), 1);
        assert_eq!(report.count(LossKind::SentencesJoined), 1);
    }

    #[test]
    fn reports_white_space_spans_and_relations_across_sentences() {
        let text = "Ann left. Bob  stayed.";
        let doc = Standoff {
            text: text.into(),
            spans: vec![span("P", 0..4), span("P", 10..13), span("P", 13..15)],
            links: vec![Link {
                label: "R".into(),
                head: 0,
                tail: 1,
                name: "R1".into(),
                extra: Map::new(),
            }],
        };
        let mut report = LossReport::default();
        let sentences = doc.to_sentences(None, "doc", &mut report);
        assert_eq!(sentences.len(), 2);
        assert_eq!(report.count(LossKind::SpanTrimmed), 1);
        assert_eq!(report.count(LossKind::EmptySpan), 1);
        assert_eq!(report.count(LossKind::RelationAcrossSentences), 1);
        assert!(sentences.iter().all(|s| s.relations.is_empty()));
    }

    #[test]
    fn char_index_counts_characters() {
        let index = CharIndex::new("é a");
        assert_eq!(index.byte(1), Some(2));
        assert_eq!(index.byte(3), Some(4));
        assert_eq!(index.byte(4), None);
        assert_eq!(index.char(2), 1);
    }
}
