//! Adjudication (`annotate --compare OTHER`): another annotator's annotations of the same
//! sentences, shown as a second layer. Where they differ from the reviewer's, the reviewer
//! takes theirs or keeps their own, one disagreement or a whole sentence at a time.
//!
//! Disagreements are found as `spanscope compare` finds them
//! ([`crate::train::agreement::disputes`]): per entity span and per pair of argument spans.
//! Documents are matched by name (file name without its extension; with one document on each
//! side, those two), sentences by position, or else by their words. Keeping one's own is an
//! edit like taking theirs: it is recorded in the sentence ([`KEPT_KEY`]), so it is undone,
//! journaled and saved like every other edit.

use std::path::Path;

use serde_json::Value;

use super::commands::{edit_sentence, goto};
use super::state::{App, Level};
use super::update::Effect;
use crate::data::annotation::Item;
use crate::data::edit::{self, EditError, Edited};
use crate::data::{Sentence, Types};
use crate::train::agreement::{disputes, relation_key, Dispute, ItemKey, SpanKey};

/// The sentence key listing the disagreements whose reviewer kept their own annotation: each
/// an entity's `[start, end]` or a relation's `[head start, head end, tail start, tail end]`.
pub const KEPT_KEY: &str = "kept_mine";

/// The other annotator's documents, and the disagreement selected.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// What the other annotations are called (their file or folder name).
    pub name: String,
    /// Each document's name ([`document_name`]) and sentences.
    pub documents: Vec<(String, Vec<Sentence>)>,
    /// The selected disagreement: document id, sentence index, item.
    pub selected: Option<(u64, usize, ItemKey)>,
}

/// A document's name for matching: its file name without the extension.
pub fn document_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The disagreements of one sentence the reviewer already settled by keeping their own.
pub fn kept(sentence: &Sentence) -> Vec<ItemKey> {
    let Some(Value::Array(items)) = sentence.extra.get(KEPT_KEY) else { return Vec::new() };
    items.iter().filter_map(key_of).collect()
}

fn key_of(value: &Value) -> Option<ItemKey> {
    let numbers: Vec<usize> =
        value.as_array()?.iter().map(|n| n.as_u64().map(|n| n as usize)).collect::<Option<_>>()?;
    match numbers[..] {
        [s, e] => Some(ItemKey::Entity((s, e))),
        [hs, he, ts, te] => Some(ItemKey::Relation((hs, he), (ts, te))),
        _ => None,
    }
}

fn key_value(key: ItemKey) -> Value {
    match key {
        ItemKey::Entity((s, e)) => Value::from(vec![s, e]),
        ItemKey::Relation((hs, he), (ts, te)) => Value::from(vec![hs, he, ts, te]),
    }
}

/// `sentence` with `key` added to (or taken from) its kept disagreements.
fn set_kept(sentence: &mut Sentence, key: ItemKey, keep: bool) {
    let mut keys = kept(sentence);
    keys.retain(|k| *k != key);
    if keep {
        keys.push(key);
    }
    if keys.is_empty() {
        sentence.extra.shift_remove(KEPT_KEY);
    } else {
        let values = keys.into_iter().map(key_value).collect();
        sentence.extra.insert(KEPT_KEY.into(), Value::Array(values));
    }
}

/// The disagreements of `mine` with `theirs` not yet settled.
pub fn open_disputes(mine: &Sentence, theirs: &Sentence, types: &Types) -> Vec<Dispute> {
    let kept = kept(mine);
    disputes(mine, theirs, types).into_iter().filter(|d| !kept.contains(&d.key)).collect()
}

/// Keeps the reviewer's annotation at `key`: the disagreement is settled.
pub fn keep_mine(mine: &Sentence, key: ItemKey) -> Edited {
    if kept(mine).contains(&key) {
        return Err(EditError::NoChange);
    }
    let mut out = mine.clone();
    set_kept(&mut out, key, true);
    Ok(out)
}

/// Gives `mine` at `key` exactly `theirs`'s labels: entities retyped, removed or added (a
/// removed entity takes its relations along), relations removed or added with B's direction
/// (their arguments added where `mine` lacks them).
pub fn take_theirs(mine: &Sentence, theirs: &Sentence, key: ItemKey, types: &Types) -> Edited {
    let mut out = mine.clone();
    set_kept(&mut out, key, false);
    match key {
        ItemKey::Entity(span) => {
            let wanted = labels_at(&theirs.entities, span);
            let have = labels_at(&out.entities, span);
            let mut missing = wanted.iter().filter(|t| !have.contains(t)).cloned();
            let at: Vec<usize> = indices_at(&out, span);
            for i in at.into_iter().rev() {
                if wanted.contains(&out.entities[i].entity_type) {
                    continue;
                }
                out = match missing.next() {
                    Some(ty) => edit::set_entity_type(&out, i, &ty)?,
                    None => edit::delete_entity(&out, i)?,
                };
            }
            for ty in missing {
                out = edit::add_entity(&out, span.0, span.1, &ty)?;
            }
        }
        ItemKey::Relation(head, tail) => {
            let at = |s: &Sentence| -> Vec<usize> {
                (0..s.relations.len())
                    .filter(|&r| relation_key(s, &s.relations[r], types) == Some((head, tail)))
                    .collect()
            };
            let wanted: Vec<usize> = at(theirs);
            let wanted_labels: Vec<&str> =
                wanted.iter().map(|&r| theirs.relations[r].relation_type.as_str()).collect();
            for r in at(&out).into_iter().rev() {
                if !wanted_labels.contains(&out.relations[r].relation_type.as_str()) {
                    out = edit::delete_relation(&out, r)?;
                }
            }
            for r in wanted {
                let relation = &theirs.relations[r];
                if at(&out)
                    .iter()
                    .any(|&o| out.relations[o].relation_type == relation.relation_type)
                {
                    continue;
                }
                let (h, t) = (&theirs.entities[relation.head], &theirs.entities[relation.tail]);
                let (h_at, next) = entity_for(out, (h.start, h.end), &h.entity_type, None)?;
                let (t_at, next) = entity_for(next, (t.start, t.end), &t.entity_type, Some(h_at))?;
                out = edit::add_relation(&next, h_at, t_at, &relation.relation_type)?;
            }
        }
    }
    if out == *mine {
        return Err(EditError::NoChange);
    }
    Ok(out)
}

/// The entity of `s` over `span` a relation should use (of type `ty` if there is one, else
/// any but `not`), added with type `ty` when there is none.
fn entity_for(
    s: Sentence,
    span: SpanKey,
    ty: &str,
    not: Option<usize>,
) -> Result<(usize, Sentence), EditError> {
    let at = indices_at(&s, span);
    let typed = at.iter().copied().find(|&i| s.entities[i].entity_type == ty && Some(i) != not);
    if let Some(i) = typed.or_else(|| at.iter().copied().find(|&i| Some(i) != not)) {
        return Ok((i, s));
    }
    let out = edit::add_entity(&s, span.0, span.1, ty)?;
    Ok((out.entities.len() - 1, out))
}

fn indices_at(s: &Sentence, span: SpanKey) -> Vec<usize> {
    (0..s.entities.len()).filter(|&i| (s.entities[i].start, s.entities[i].end) == span).collect()
}

fn labels_at(entities: &[crate::data::Entity], span: SpanKey) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in entities.iter().filter(|e| (e.start, e.end) == span) {
        if !out.contains(&e.entity_type) {
            out.push(e.entity_type.clone());
        }
    }
    out
}

/// The other annotator's sentence for sentence `s` of document `d` (list indices).
pub fn theirs_of(app: &App, d: usize, s: usize) -> Option<&Sentence> {
    let comparison = app.compare.as_ref()?;
    let doc = app.docs.get(d)?;
    let mine = doc.sentences.get(s)?;
    let name = document_name(&doc.source.read_path);
    let sole = comparison.documents.len() == 1 && app.docs.len() == 1;
    let (_, sentences) = comparison
        .documents
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| comparison.documents.first().filter(|_| sole))?;
    match sentences.get(s) {
        Some(theirs) if theirs.tokens == mine.tokens => Some(theirs),
        _ => sentences.iter().find(|t| t.tokens == mine.tokens),
    }
}

/// Every disagreement of sentence `s` of document `d`, settled ones included, with whether
/// each is still open.
pub fn disputes_at(app: &App, d: usize, s: usize) -> Vec<(Dispute, bool)> {
    let (Some(theirs), Some(mine)) =
        (theirs_of(app, d, s), app.docs.get(d).and_then(|doc| doc.sentences.get(s)))
    else {
        return Vec::new();
    };
    let kept = kept(mine);
    disputes(mine, theirs, &app.types)
        .into_iter()
        .map(|d| {
            let open = !kept.contains(&d.key);
            (d, open)
        })
        .collect()
}

/// Open disagreements of sentence `s` of document `d`.
fn open_at(app: &App, d: usize, s: usize) -> Vec<ItemKey> {
    disputes_at(app, d, s).into_iter().filter(|(_, open)| *open).map(|(d, _)| d.key).collect()
}

/// Open disagreements in every open document, and all of them (settled ones too).
pub fn counts(app: &App) -> (usize, usize) {
    let (mut open, mut all) = (0, 0);
    for d in 0..app.docs.len() {
        for s in 0..app.docs[d].sentences.len() {
            for (_, is_open) in disputes_at(app, d, s) {
                all += 1;
                open += usize::from(is_open);
            }
        }
    }
    (open, all)
}

/// The selected disagreement, when it is one of the cursor's sentence.
pub fn selected(app: &App) -> Option<ItemKey> {
    let (doc, sentence, key) = app.compare.as_ref()?.selected?;
    let here = app.doc().map(|d| d.id) == Some(doc) && app.cursor.sentence == sentence;
    here.then_some(key)
}

/// Selects `key` in the cursor's sentence, and the reviewer's own item there, if any.
fn select(app: &mut App, key: Option<ItemKey>) {
    let (Some(doc), sentence) = (app.doc().map(|d| d.id), app.cursor.sentence) else { return };
    let item = key.and_then(|key| {
        let s = app.sentence()?;
        match key {
            ItemKey::Entity(span) => indices_at(s, span).first().map(|&i| Item::Entity(i)),
            ItemKey::Relation(h, t) => (0..s.relations.len())
                .find(|&r| relation_key(s, &s.relations[r], &app.types) == Some((h, t)))
                .map(Item::Relation),
        }
    });
    if let Some(comparison) = &mut app.compare {
        comparison.selected = key.map(|key| (doc, sentence, key));
    }
    app.cursor.anchor = None;
    app.cursor.item = item;
}

/// Moves to the next (or previous) open disagreement, in this sentence after the selected
/// one, then in the following sentences and documents, round.
pub fn next(app: &mut App, forward: bool) {
    if app.compare.is_none() {
        app.say(Level::Warning, "no other annotations: open with annotate --compare OTHER");
        return;
    }
    let here = open_at(app, app.cursor.doc, app.cursor.sentence);
    let position = selected(app).and_then(|k| here.iter().position(|h| *h == k));
    let in_sentence = match (position, forward) {
        (Some(p), true) => here.get(p + 1).copied(),
        (Some(p), false) => p.checked_sub(1).and_then(|p| here.get(p).copied()),
        (None, true) => here.first().copied(),
        (None, false) => None,
    };
    if let Some(key) = in_sentence {
        select(app, Some(key));
        return;
    }
    let mut positions: Vec<(usize, usize)> = Vec::new();
    for d in 0..app.docs.len() {
        positions.extend((0..app.docs[d].sentences.len()).map(|s| (d, s)));
    }
    let Some(now) = positions.iter().position(|&p| p == (app.cursor.doc, app.cursor.sentence))
    else {
        return;
    };
    let n = positions.len();
    for step in 1..=n {
        let at = if forward { (now + step) % n } else { (now + n - step % n) % n };
        let (d, s) = positions[at];
        let open = open_at(app, d, s);
        let key = if forward { open.first() } else { open.last() };
        if let Some(&key) = key {
            goto(app, d, s);
            select(app, Some(key));
            let (open, _) = counts(app);
            app.say(Level::Info, format!("{open} open disagreement(s)"));
            return;
        }
    }
    app.say(Level::Info, "no open disagreement: every one is settled");
}

/// Takes theirs (`take`) or keeps mine at the selected disagreement (the sentence's first
/// open one when none is selected), or at every open one of the sentence (`all`).
pub fn settle(app: &mut App, take: bool, all: bool) -> Vec<Effect> {
    let (d, s) = (app.cursor.doc, app.cursor.sentence);
    let Some(theirs) = theirs_of(app, d, s).cloned() else {
        let why = if app.compare.is_none() {
            "no other annotations: open with annotate --compare OTHER"
        } else {
            "the other annotations have no such sentence"
        };
        app.say(Level::Warning, why);
        return Vec::new();
    };
    let open = open_at(app, d, s);
    let keys: Vec<ItemKey> = if all {
        open.clone()
    } else {
        selected(app).filter(|k| open.contains(k)).or(open.first().copied()).into_iter().collect()
    };
    if keys.is_empty() {
        app.say(Level::Info, "no open disagreement in this sentence");
        return Vec::new();
    }
    let types = app.types.clone();
    let label = match (take, keys.len()) {
        (true, 1) => "take theirs".to_string(),
        (false, 1) => "keep mine".to_string(),
        (true, n) => format!("take theirs ({n} disagreements)"),
        (false, n) => format!("keep mine ({n} disagreements)"),
    };
    let effects = edit_sentence(app, &label, |mine| {
        let mut out = mine.clone();
        for &key in &keys {
            out =
                if take { take_theirs(&out, &theirs, key, &types)? } else { keep_mine(&out, key)? };
        }
        Ok(out)
    });
    let left = open_at(app, d, s);
    select(app, left.first().copied());
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Entity, Relation};

    fn sentence(entities: &[(&str, usize, usize)], relations: &[(&str, usize, usize)]) -> Sentence {
        let mut s = Sentence::from_tokens(
            ["Ann", "met", "Bob", "in", "Rome"].iter().map(|t| t.to_string()).collect(),
        );
        s.entities = entities.iter().map(|&(t, a, b)| Entity::new(t, a, b)).collect();
        s.relations = relations.iter().map(|&(t, h, tl)| Relation::new(t, h, tl)).collect();
        s
    }

    fn types_of(s: &Sentence) -> Vec<(String, usize, usize)> {
        s.entities.iter().map(|e| (e.entity_type.clone(), e.start, e.end)).collect()
    }

    #[test]
    fn taking_theirs_retypes_removes_and_adds_until_nothing_is_disputed() {
        let types = Types::default();
        let mine = sentence(&[("Peop", 0, 1), ("Org", 4, 5), ("Peop", 2, 3)], &[]);
        let theirs = sentence(&[("Peop", 0, 1), ("Loc", 4, 5)], &[("Meet", 0, 1)]);
        let open = open_disputes(&mine, &theirs, &types);
        assert_eq!(open.len(), 3, "{open:?}");
        let mut out = mine.clone();
        for d in &open {
            out = take_theirs(&out, &theirs, d.key, &types).unwrap();
        }
        assert!(open_disputes(&out, &theirs, &types).is_empty(), "{out:?}");
        assert_eq!(types_of(&out), [("Peop".into(), 0, 1), ("Loc".into(), 4, 5)]);
        assert_eq!(out.relations.len(), 1);
        // Already theirs: nothing to change.
        assert_eq!(take_theirs(&out, &theirs, open[0].key, &types), Err(EditError::NoChange));
    }

    #[test]
    fn a_relation_taken_brings_its_arguments() {
        let types = Types::default();
        let mine = sentence(&[("Peop", 0, 1)], &[]);
        let theirs = sentence(&[("Peop", 0, 1), ("Peop", 2, 3)], &[("Meet", 0, 1)]);
        let key = ItemKey::Relation((0, 1), (2, 3));
        let out = take_theirs(&mine, &theirs, key, &types).unwrap();
        assert_eq!(out.relations.len(), 1);
        let r = &out.relations[0];
        assert_eq!((out.entities[r.head].start, out.entities[r.tail].start), (0, 2));
    }

    #[test]
    fn keeping_mine_settles_a_dispute_and_is_written_in_the_sentence() {
        let types = Types::default();
        let mine = sentence(&[("Org", 4, 5)], &[]);
        let theirs = sentence(&[("Loc", 4, 5)], &[]);
        let key = ItemKey::Entity((4, 5));
        let kept = keep_mine(&mine, key).unwrap();
        assert!(open_disputes(&kept, &theirs, &types).is_empty());
        assert_eq!(kept.extra[KEPT_KEY], serde_json::json!([[4, 5]]));
        assert_eq!(keep_mine(&kept, key), Err(EditError::NoChange));
        // Taking theirs after all clears the mark.
        let taken = take_theirs(&kept, &theirs, key, &types).unwrap();
        assert!(!taken.extra.contains_key(KEPT_KEY));
        assert_eq!(types_of(&taken), [("Loc".into(), 4, 5)]);
    }
}
