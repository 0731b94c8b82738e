//! What a conversion could not carry over, counted by kind, with the first examples.

use std::fmt;

/// How many examples a [`Loss`] keeps.
const EXAMPLES: usize = 3;

/// A kind of thing a conversion drops or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LossKind {
    /// A token was split in two because an entity begins or ends inside it (kept).
    TokenSplit,
    /// A span began or ended in white space and was trimmed to its words (kept).
    SpanTrimmed,
    /// A span covers no word (white space only, or outside the text): dropped.
    EmptySpan,
    /// A span's offsets are past the end of the text or reversed: dropped.
    SpanOutOfText,
    /// Sentences the splitter made were joined because an entity crosses them (kept).
    SentencesJoined,
    /// A relation between entities of different sentences: dropped.
    RelationAcrossSentences,
    /// A relation whose argument is not an entity of the file: dropped.
    RelationArgumentMissing,
    /// The same span with the same type twice: kept once.
    DuplicateEntity,
    /// A discontinuous entity: kept as the span from its first fragment to its last.
    DiscontinuousEntity,
    /// A brat event (`E` line): its trigger stays an entity, the event is dropped.
    Event,
    /// A brat attribute or modifier (`A`/`M` line): dropped.
    Attribute,
    /// A brat note (`#` line): dropped.
    Note,
    /// A brat normalization (`N` line): dropped.
    Normalization,
    /// A brat equivalence (`*` line): dropped.
    Equivalence,
    /// A line or record that is not in the format: skipped.
    UnknownLine,
    /// Coreference clusters (DyGIE `clusters`): dropped.
    Cluster,
    /// Relations: the target format has no place for them.
    RelationNotCarried,
    /// An entity overlapping or nested in another: the tag scheme cannot carry it.
    OverlappingEntity,
    /// A tag `I-`/`L-` that continues nothing: read as the start of an entity.
    TagWithoutBegin,
    /// A key the target format has no place for (extras such as `orig_id`, scores).
    ExtraKey,
    /// Two entities a format cannot tell apart as relation arguments: the same span (DyGIE),
    /// or the same first token (spaCy names an argument by its head token); the relation
    /// goes to the first.
    SameSpanEntities,
    /// A record with no text: skipped.
    NoText,
    /// A region with several labels: the first is kept.
    MultipleLabels,
    /// Further annotations of the same task (Label Studio, doccano users): only the first
    /// is read.
    OtherAnnotation,
    /// A cancelled annotation (Label Studio `was_cancelled`): skipped.
    Cancelled,
    /// A document whose name, made a file name, is another's (brat): written under a
    /// numbered name instead of over it.
    DocumentRenamed,
    /// A model proposal that a reviewed relation uses as an argument (Label Studio): a
    /// reviewed annotation can only name its own regions, so the proposal is written as
    /// reviewed.
    ProposalWrittenAsGold,
    /// A model proposal nobody accepted, in a format with no place for proposals (brat,
    /// DyGIE, written back by the workbench): not written.
    ProposalNotWritten,
    /// Provenance the format has no place for (rejected proposals, the proposal a correction
    /// replaced, annotator and time, sentence id, offsets into the source text): dropped.
    Provenance,
}

impl LossKind {
    /// The kind's name in snake case (`relation_not_carried`), as the Python API gives it.
    pub fn name(self) -> String {
        crate::data::text::snake_case(&format!("{self:?}"))
    }

    /// What the kind means, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            LossKind::TokenSplit => "token split where an entity begins or ends inside it",
            LossKind::SpanTrimmed => "span trimmed of white space at its ends",
            LossKind::EmptySpan => "span covering no word, dropped",
            LossKind::SpanOutOfText => "span outside the text or reversed, dropped",
            LossKind::SentencesJoined => "sentences joined because an entity crosses them",
            LossKind::RelationAcrossSentences => "relation across sentences, dropped",
            LossKind::RelationArgumentMissing => "relation whose argument is no entity, dropped",
            LossKind::DuplicateEntity => "entity given twice (same span and type), kept once",
            LossKind::DiscontinuousEntity => {
                "discontinuous entity, kept as the span from its first to its last fragment"
            }
            LossKind::Event => "event, dropped (its trigger stays an entity)",
            LossKind::Attribute => "attribute or modifier, dropped",
            LossKind::Note => "note, dropped",
            LossKind::Normalization => "normalization (link to a knowledge base), dropped",
            LossKind::Equivalence => "equivalence, dropped",
            LossKind::UnknownLine => "line or record not in the format, skipped",
            LossKind::Cluster => "coreference cluster, dropped",
            LossKind::RelationNotCarried => "relation, dropped: the format cannot carry relations",
            LossKind::OverlappingEntity => {
                "entity overlapping another, dropped: the tags cannot carry it"
            }
            LossKind::TagWithoutBegin => "tag continuing no entity, read as its start",
            LossKind::ExtraKey => "key the format has no place for, dropped",
            LossKind::SameSpanEntities => {
                "relation argument the format cannot tell from an earlier entity (same span, \
                 or for spaCy the same first token): the relation goes to that entity"
            }
            LossKind::NoText => "record without text, skipped",
            LossKind::MultipleLabels => "region with several labels, first kept",
            LossKind::OtherAnnotation => "further annotation of a task, skipped (first read)",
            LossKind::Cancelled => "cancelled annotation, skipped",
            LossKind::DocumentRenamed => {
                "document whose file name another already had, written under a numbered name"
            }
            LossKind::ProposalWrittenAsGold => {
                "model proposal that a reviewed relation uses, written as reviewed"
            }
            LossKind::ProposalNotWritten => {
                "model proposal not accepted, not written: the format has no place for proposals"
            }
            LossKind::Provenance => {
                "provenance the format has no place for (rejected proposals, original \
                 proposals, annotator and time, sentence id, text offsets), dropped"
            }
        }
    }
}

/// One kind of loss: how often, and the first few examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// What was lost or changed.
    pub kind: LossKind,
    /// How many times.
    pub count: usize,
    /// The first examples, each saying where.
    pub examples: Vec<String>,
}

/// Everything a conversion lost or changed, in the order first met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossReport {
    /// One entry per kind.
    pub losses: Vec<Loss>,
}

impl LossReport {
    /// Records one occurrence of `kind`; `example` is only built for the first few.
    pub fn note(&mut self, kind: LossKind, example: impl FnOnce() -> String) {
        let at = match self.losses.iter().position(|l| l.kind == kind) {
            Some(at) => at,
            None => {
                self.losses.push(Loss { kind, count: 0, examples: Vec::new() });
                self.losses.len() - 1
            }
        };
        let loss = &mut self.losses[at];
        loss.count += 1;
        if loss.examples.len() < EXAMPLES {
            loss.examples.push(example());
        }
    }

    /// How many times `kind` was noted.
    pub fn count(&self, kind: LossKind) -> usize {
        self.losses.iter().find(|l| l.kind == kind).map_or(0, |l| l.count)
    }

    /// Whether nothing was lost or changed.
    pub fn is_empty(&self) -> bool {
        self.losses.is_empty()
    }

    /// Adds another report's entries (reading then writing).
    pub fn extend(&mut self, other: LossReport) {
        for loss in other.losses {
            match self.losses.iter_mut().find(|l| l.kind == loss.kind) {
                Some(mine) => {
                    mine.count += loss.count;
                    mine.examples.extend(loss.examples);
                    mine.examples.truncate(EXAMPLES);
                }
                None => self.losses.push(loss),
            }
        }
    }
}

impl fmt::Display for LossReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.losses.is_empty() {
            return writeln!(f, "nothing lost");
        }
        for loss in &self.losses {
            writeln!(f, "{:>6} × {}", loss.count, loss.kind.describe())?;
            for example in loss.examples.iter().filter(|e| !e.is_empty()) {
                writeln!(f, "         e.g. {example}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_note_and_keeps_the_first_examples() {
        let mut report = LossReport::default();
        for i in 0..5 {
            report.note(LossKind::Event, || format!("E{i}"));
        }
        report.note(LossKind::Note, || "#1".into());
        assert_eq!(report.count(LossKind::Event), 5);
        assert_eq!(report.losses[0].examples, ["E0", "E1", "E2"]);
        let text = report.to_string();
        assert!(text.starts_with("     5 × event, dropped"), "{text}");
        assert!(text.contains("e.g. #1"), "{text}");
        // The Python API's names of the kinds.
        assert_eq!(LossKind::RelationNotCarried.name(), "relation_not_carried");
        assert_eq!(LossKind::Event.name(), "event");
        let mut both = LossReport::default();
        both.extend(report.clone());
        assert_eq!(both, report);
    }
}
