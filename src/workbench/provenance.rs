//! Provenance of the reviewer's edits (docs/DATA.md, "Provenance and text positions"): who
//! and when on what an edit changed, and the model's current score for what the reviewer
//! wrote, taken from the inspector's answer for its span (the inspector asks about the
//! selected entity anyway).

use std::time::{Duration, UNIX_EPOCH};

use super::commands::journal;
use super::state::{App, ModelStatus};
use super::update::Effect;
use crate::data::provenance::{set_current_scores, stamp_edit, Stamp};
use crate::data::time::utc_stamp;
use crate::data::Sentence;

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

/// Gives the entities of `s` (sentence `index` of document `doc`) that the reviewer wrote the
/// model's current score, when the inspector's answer is about their span; whether any got one.
fn written_scores(app: &App, doc: usize, index: usize, s: &mut Sentence) -> bool {
    let ModelStatus::Ready(info) = &app.model else { return false };
    let (Some(key), Some(Ok(found))) = (&app.inspector.key, &app.inspector.result) else {
        return false;
    };
    let about = key.doc == app.docs[doc].id
        && key.sentence == index
        && key.tokens == s.tokens
        && (found.start, found.end) == (key.start, key.end);
    about && set_current_scores(s, (found.start, found.end), &found.probabilities, &info.name)
}

/// After an inspector answer: an entity the reviewer just wrote at the inspected span (in a
/// sentence with unsaved edits, so looking at old work changes nothing) gets its score, and
/// the journal hears of it.
pub fn score_inspected(app: &mut App) -> Vec<Effect> {
    let Some(key) = &app.inspector.key else { return Vec::new() };
    let (id, index) = (key.doc, key.sentence);
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
