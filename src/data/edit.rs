//! Every edit a reviewer can make to one sentence, as a pure function from the sentence before
//! to the sentence after. The workbench records the pair, so undo and redo are exact.

use serde_json::Value;
use thiserror::Error;

use super::annotation::{entity_source, relation_source, Source, REVIEWED_KEY};
use super::provenance;
use crate::data::{Entity, Relation, Sentence};

/// Why an edit cannot be made; the text is shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    /// A word span outside the sentence, or empty.
    #[error("words {start}..{end} are not a span of this {len}-word sentence")]
    BadSpan {
        /// First word.
        start: usize,
        /// One past the last word.
        end: usize,
        /// Words in the sentence.
        len: usize,
    },
    /// The same span with the same type is already an entity.
    #[error("\"{0}\" is already an entity of that type")]
    DuplicateEntity(String),
    /// The same relation already exists.
    #[error("that relation already exists")]
    DuplicateRelation,
    /// A relation from an entity to itself.
    #[error("a relation needs two different entities")]
    SelfRelation,
    /// No entity or relation with that index.
    #[error("there is no such {0}")]
    Missing(&'static str),
    /// The item is not a proposal, so there is nothing to accept.
    #[error("that is not a model proposal")]
    NotAProposal,
    /// The edit would change nothing.
    #[error("nothing to change")]
    NoChange,
    /// A split before the first word or past the last.
    #[error("a sentence splits before one of its words 2 to {len}, not word {}", at + 1)]
    BadSplit {
        /// The word the second sentence would start with (0-based).
        at: usize,
        /// Words in the sentence.
        len: usize,
    },
    /// A split inside an entity.
    #[error("the entity \"{0}\" spans the cut: shorten or delete it first")]
    EntityAcrossSplit(String),
    /// A merge of the last sentence.
    #[error("there is no next sentence to merge with")]
    NoNextSentence,
}

/// The result of an edit: the sentence after it.
pub type Edited = Result<Sentence, EditError>;

fn check_span(s: &Sentence, start: usize, end: usize) -> Result<(), EditError> {
    if start < end && end <= s.tokens.len() {
        Ok(())
    } else {
        Err(EditError::BadSpan { start, end, len: s.tokens.len() })
    }
}

fn entity(s: &Sentence, i: usize) -> Result<&Entity, EditError> {
    s.entities.get(i).ok_or(EditError::Missing("entity"))
}

fn relation(s: &Sentence, i: usize) -> Result<&Relation, EditError> {
    s.relations.get(i).ok_or(EditError::Missing("relation"))
}

fn duplicate_entity(s: &Sentence, skip: Option<usize>, start: usize, end: usize, ty: &str) -> bool {
    s.entities
        .iter()
        .enumerate()
        .any(|(i, e)| Some(i) != skip && e.start == start && e.end == end && e.entity_type == ty)
}

fn span_text(s: &Sentence, start: usize, end: usize) -> String {
    s.tokens[start..end].join(" ")
}

/// Adds an entity a person typed over words `[start, end)`.
pub fn add_entity(s: &Sentence, start: usize, end: usize, ty: &str) -> Edited {
    check_span(s, start, end)?;
    if duplicate_entity(s, None, start, end, ty) {
        return Err(EditError::DuplicateEntity(span_text(s, start, end)));
    }
    let mut out = s.clone();
    let mut e = Entity::new(ty, start, end);
    Source::Manual.set(&mut e.extra);
    out.entities.push(e);
    Ok(out)
}

/// Gives entity `i` the type `ty`.
pub fn set_entity_type(s: &Sentence, i: usize, ty: &str) -> Edited {
    let e = entity(s, i)?;
    if e.entity_type == ty {
        return Err(EditError::NoChange);
    }
    if duplicate_entity(s, Some(i), e.start, e.end, ty) {
        return Err(EditError::DuplicateEntity(span_text(s, e.start, e.end)));
    }
    let mut out = s.clone();
    provenance::keep_entity_proposal(&mut out, i);
    let e = &mut out.entities[i];
    e.entity_type = ty.to_string();
    entity_source(e).corrected().set(&mut e.extra);
    Ok(out)
}

/// Moves the boundaries of entity `i` to `[start, end)`.
pub fn set_entity_span(s: &Sentence, i: usize, start: usize, end: usize) -> Edited {
    let e = entity(s, i)?;
    check_span(s, start, end)?;
    if (e.start, e.end) == (start, end) {
        return Err(EditError::NoChange);
    }
    if duplicate_entity(s, Some(i), start, end, &e.entity_type) {
        return Err(EditError::DuplicateEntity(span_text(s, start, end)));
    }
    let mut out = s.clone();
    provenance::keep_entity_proposal(&mut out, i);
    let e = &mut out.entities[i];
    (e.start, e.end) = (start, end);
    entity_source(e).corrected().set(&mut e.extra);
    Ok(out)
}

/// Removes entity `i` and every relation that uses it; later relations' indices follow.
/// Proposals among them are recorded as rejected ([`provenance::note_rejected_entity`]).
pub fn delete_entity(s: &Sentence, i: usize) -> Edited {
    entity(s, i)?;
    let mut out = s.clone();
    for r in
        (0..s.relations.len()).filter(|&r| s.relations[r].head == i || s.relations[r].tail == i)
    {
        provenance::note_rejected_relation(&mut out, r);
    }
    provenance::note_rejected_entity(&mut out, i);
    out.entities.remove(i);
    out.relations.retain(|r| r.head != i && r.tail != i);
    for r in &mut out.relations {
        r.head -= usize::from(r.head > i);
        r.tail -= usize::from(r.tail > i);
    }
    Ok(out)
}

fn accept_entity_in_place(s: &mut Sentence, i: usize) {
    let e = &mut s.entities[i];
    if entity_source(e) == Source::Model {
        Source::Accepted.set(&mut e.extra);
    }
}

/// Accepts the proposed entity `i` as it is.
pub fn accept_entity(s: &Sentence, i: usize) -> Edited {
    if entity_source(entity(s, i)?) != Source::Model {
        return Err(EditError::NotAProposal);
    }
    let mut out = s.clone();
    accept_entity_in_place(&mut out, i);
    Ok(out)
}

/// Accepts the proposed relation `i`, and with it its two entities where they are proposals
/// (a relation cannot stand on entities that were not accepted).
pub fn accept_relation(s: &Sentence, i: usize) -> Edited {
    let r = relation(s, i)?;
    if relation_source(r) != Source::Model {
        return Err(EditError::NotAProposal);
    }
    let (head, tail) = (r.head, r.tail);
    let mut out = s.clone();
    Source::Accepted.set(&mut out.relations[i].extra);
    accept_entity_in_place(&mut out, head);
    accept_entity_in_place(&mut out, tail);
    Ok(out)
}

/// Accepts every proposal of the sentence.
pub fn accept_all(s: &Sentence) -> Edited {
    let mut out = s.clone();
    let mut changed = false;
    for e in &mut out.entities {
        if entity_source(e) == Source::Model {
            Source::Accepted.set(&mut e.extra);
            changed = true;
        }
    }
    for r in &mut out.relations {
        if relation_source(r) == Source::Model {
            Source::Accepted.set(&mut r.extra);
            changed = true;
        }
    }
    if changed {
        Ok(out)
    } else {
        Err(EditError::NoChange)
    }
}

/// Rejects every proposal of the sentence: proposed entities go, with every relation on them,
/// and proposed relations go.
pub fn reject_all(s: &Sentence) -> Edited {
    let mut out = s.clone();
    for r in 0..s.relations.len() {
        provenance::note_rejected_relation(&mut out, r);
    }
    out.relations.retain(|r| relation_source(r) != Source::Model);
    let mut i = out.entities.len();
    while i > 0 {
        i -= 1;
        if entity_source(&out.entities[i]) == Source::Model {
            out = delete_entity(&out, i)?;
        }
    }
    if out == *s {
        Err(EditError::NoChange)
    } else {
        Ok(out)
    }
}

/// Adds a relation a person drew from entity `head` to entity `tail`.
pub fn add_relation(s: &Sentence, head: usize, tail: usize, ty: &str) -> Edited {
    entity(s, head)?;
    entity(s, tail)?;
    if head == tail {
        return Err(EditError::SelfRelation);
    }
    if s.relations.iter().any(|r| r.head == head && r.tail == tail && r.relation_type == ty) {
        return Err(EditError::DuplicateRelation);
    }
    let mut out = s.clone();
    let mut r = Relation::new(ty, head, tail);
    Source::Manual.set(&mut r.extra);
    out.relations.push(r);
    Ok(out)
}

/// Gives relation `i` the type `ty`.
pub fn set_relation_type(s: &Sentence, i: usize, ty: &str) -> Edited {
    let r = relation(s, i)?;
    if r.relation_type == ty {
        return Err(EditError::NoChange);
    }
    if s.relations.iter().any(|o| o.head == r.head && o.tail == r.tail && o.relation_type == ty) {
        return Err(EditError::DuplicateRelation);
    }
    let mut out = s.clone();
    provenance::keep_relation_proposal(&mut out, i);
    let r = &mut out.relations[i];
    r.relation_type = ty.to_string();
    relation_source(r).corrected().set(&mut r.extra);
    Ok(out)
}

/// Swaps the head and tail of relation `i`.
pub fn flip_relation(s: &Sentence, i: usize) -> Edited {
    let r = relation(s, i)?;
    if s.relations
        .iter()
        .any(|o| o.head == r.tail && o.tail == r.head && o.relation_type == r.relation_type)
    {
        return Err(EditError::DuplicateRelation);
    }
    let mut out = s.clone();
    provenance::keep_relation_proposal(&mut out, i);
    let r = &mut out.relations[i];
    (r.head, r.tail) = (r.tail, r.head);
    relation_source(r).corrected().set(&mut r.extra);
    Ok(out)
}

/// Removes relation `i`; a proposal is recorded as rejected.
pub fn delete_relation(s: &Sentence, i: usize) -> Edited {
    relation(s, i)?;
    let mut out = s.clone();
    provenance::note_rejected_relation(&mut out, i);
    out.relations.remove(i);
    Ok(out)
}

/// Marks the sentence reviewed (what is shown is right: remaining proposals are accepted) or
/// not reviewed (the key is removed, so a file that never had it reads back the same).
pub fn set_reviewed(s: &Sentence, reviewed: bool) -> Edited {
    if super::annotation::is_reviewed(s) == reviewed {
        return Err(EditError::NoChange);
    }
    let mut out = if reviewed { accept_all(s).unwrap_or_else(|_| s.clone()) } else { s.clone() };
    if reviewed {
        out.extra.insert(REVIEWED_KEY.into(), Value::Bool(true));
    } else {
        out.extra.shift_remove(REVIEWED_KEY);
    }
    Ok(out)
}
