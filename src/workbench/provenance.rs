//! Provenance of the reviewer's edits (docs/DATA.md, "Provenance and text positions"): who
//! and when on what an edit changed, and the model's current score for what the reviewer
//! wrote, taken from the answers the inspector gets anyway: the inspection of the selected
//! entity's span (P of each type), and the explanation of the selected relation (its head
//! and tail, each relation type's score). No request is made for provenance alone.

use std::time::{Duration, UNIX_EPOCH};

use super::commands::journal;
use super::state::{App, ModelStatus};
use super::update::Effect;
use crate::data::provenance::{set_current_relation_scores, set_current_scores, stamp_edit, Stamp};
use crate::data::time::utc_stamp;
use crate::data::Sentence;
use crate::explain::prediction::Target;

/// Who edits, and the time of the key being applied.
pub fn stamp(app: &App) -> Stamp {
    Stamp {
        annotator: app.annotator.clone(),
        time: utc_stamp(UNIX_EPOCH + Duration::from_secs(app.now)),
    }
}

/// Makes `after`, the new state of sentence `index` of document `doc` (list indices), carry
/// the edit's provenance: stamps, the sentence's id, and current scores the inspector knows.
pub fn mark_edit(app: &App, doc: usize, index: usize, after: &mut Sentence) {
    let d = &app.docs[doc];
    let seed = format!("{}:{index}", d.name());
    stamp_edit(&d.sentences[index], after, &stamp(app), &seed);
    written_scores(app, doc, index, after);
}

/// Gives what the reviewer wrote in `s` (sentence `index` of document `doc`) the model's
/// current score where an answer the inspector holds is about it: entities of the inspected
/// span, relations of the explained pair. Whether any got one.
fn written_scores(app: &App, doc: usize, index: usize, s: &mut Sentence) -> bool {
    let ModelStatus::Ready(info) = &app.model else { return false };
    let id = app.docs[doc].id;
    let mut changed = false;
    if let (Some(key), Some(Ok(found))) = (&app.inspector.key, &app.inspector.result) {
        let about = key.doc == id
            && key.sentence == index
            && key.tokens == s.tokens
            && (found.start, found.end) == (key.start, key.end);
        changed |= about
            && set_current_scores(s, (found.start, found.end), &found.probabilities, &info.name);
    }
    if let (Some(key), Some(found)) = (&app.inspector.explain_key, &app.inspector.explanation) {
        let about = key.doc == id && key.sentence == index && key.tokens == s.tokens;
        if let (true, Target::Relation { head, tail, .. }) = (about, &found.target) {
            let scores = &found.prediction.probabilities;
            let (head, tail) = ((head.start, head.end), (tail.start, tail.end));
            changed |= set_current_relation_scores(s, head, tail, scores, &info.name);
        }
    }
    changed
}

/// After an inspector answer about sentence `index` of document `id`: what the reviewer just
/// wrote there (in a sentence with unsaved edits, so looking at old work changes nothing) gets
/// its score, and the journal hears of it.
pub fn score_answered(app: &mut App, id: u64, index: usize) -> Vec<Effect> {
    let Some(doc) = app.doc_index(id) else { return Vec::new() };
    if !app.docs[doc].sentences.is_edited(index) {
        return Vec::new();
    }
    let Some(mut s) = app.docs[doc].sentences.get(index).cloned() else { return Vec::new() };
    if !written_scores(app, doc, index, &mut s) {
        return Vec::new();
    }
    app.docs[doc].sentences.edit(index, s);
    journal(app, doc, index, 1, 1, "current score")
}
