//! Adjudication (`annotate --compare OTHER`) at the state level: the other annotator's
//! disagreements counted and visited, taking theirs and keeping mine (one or a sentence's),
//! each undoable and journaled.

use serde_json::json;
use spanscope::data::Sentence;
use spanscope::workbench::adjudication::{counts, Comparison, KEPT_KEY};
use spanscope::workbench::state::App;
use spanscope::workbench::update::Effect;
use spanscope::worker::store::StoreRequest;

use crate::support::*;

/// The other annotator's version of [`gold`]: Acme is a Loc for them, they have Paris too, and
/// their Work_For goes to Acme as well.
fn theirs() -> Sentence {
    sentence(json!({
        "tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
        "entities": [
            {"type": "Peop", "start": 0, "end": 2},
            {"type": "Loc", "start": 4, "end": 5},
            {"type": "Loc", "start": 6, "end": 7}
        ],
        "relations": [{"type": "Work_For", "head": 0, "tail": 1}]
    }))
}

/// Document 1 (`doc.json`) holding [`gold`] and a plain sentence, against [`theirs`].
fn adjudicating() -> App {
    let mut app = app_with(vec![gold(), plain()]);
    let other = vec![theirs(), plain()];
    app.compare = Some(Comparison {
        name: "bob.json".into(),
        documents: vec![("doc".into(), other)],
        ..Default::default()
    });
    app
}

fn journaled(effects: &[Effect]) -> usize {
    effects.iter().filter(|e| matches!(e, Effect::Store(StoreRequest::Journal { .. }))).count()
}

#[test]
fn disagreements_are_counted_and_visited_in_order() {
    let mut app = adjudicating();
    // Acme's type and Paris (theirs only); Work_For joins the same spans on both sides.
    assert_eq!(counts(&app), (2, 2), "Acme Org/Loc and Paris —/Loc");
    press(&mut app, "c");
    let selected = app.compare.as_ref().unwrap().selected;
    assert_eq!(selected.map(|(_, s, _)| s), Some(0));
    assert_eq!(app.cursor.item, Some(spanscope::data::annotation::Item::Entity(1)), "mine: Acme");
    press(&mut app, "c");
    assert_eq!(app.cursor.item, None, "Paris: nothing of mine there");
    // Round again to the first.
    press(&mut app, "c");
    assert_eq!(app.cursor.item, Some(spanscope::data::annotation::Item::Entity(1)));
    press(&mut app, "C");
    assert_eq!(app.cursor.item, None);
}

#[test]
fn taking_theirs_and_keeping_mine_are_edits_undone_one_by_one() {
    let mut app = adjudicating();
    let before = sent(&app, 0).clone();
    let effects = press(&mut app, "co");
    assert_eq!(journaled(&effects), 1, "one journaled edit");
    assert_eq!(entities(&app, 0)[1], ("Loc".into(), 4, 5, Some("corrected".into())));
    assert_eq!(counts(&app), (1, 1));
    assert!(app.docs[0].is_dirty());
    // The next open one is selected: Paris; keep mine (nothing there).
    let effects = press(&mut app, "w");
    assert_eq!(journaled(&effects), 1);
    assert_eq!(counts(&app), (0, 1), "settled, still a disagreement");
    assert_eq!(sent(&app, 0).extra[KEPT_KEY], json!([[6, 7]]));
    press(&mut app, "u");
    assert_eq!(counts(&app), (1, 1));
    assert!(!sent(&app, 0).extra.contains_key(KEPT_KEY));
    press(&mut app, "u");
    assert_eq!(sent(&app, 0), &before, "both undone");
    assert_eq!(counts(&app), (2, 2));
    assert!(!app.docs[0].is_dirty(), "nothing left unsaved");
    press(&mut app, "<C-r>");
    assert_eq!(counts(&app), (1, 1), "redone");
}

#[test]
fn a_whole_sentence_is_taken_or_kept_at_once() {
    let mut app = adjudicating();
    press(&mut app, "O");
    assert_eq!(counts(&app), (0, 0), "theirs, all of it");
    let mine: Vec<_> = entities(&app, 0).into_iter().map(|(t, s, e, _)| (t, s, e)).collect();
    assert_eq!(mine, [("Peop".into(), 0, 2), ("Loc".into(), 4, 5), ("Loc".into(), 6, 7)]);
    assert_eq!(relations(&app, 0), [("Work_For".into(), 0, 1)], "the relation kept its arguments");
    press(&mut app, "u");
    press(&mut app, "W");
    assert_eq!(counts(&app), (0, 2));
    assert_eq!(sent(&app, 0).entities, gold().entities, "mine unchanged");
    // Nothing left to settle here.
    press(&mut app, "o");
    assert!(app.message.as_ref().unwrap().1.contains("no open disagreement"));
}

#[test]
fn without_other_annotations_the_keys_say_how_to_get_them() {
    let mut app = app_with(vec![gold()]);
    let effects = press(&mut app, "oc");
    assert!(effects.is_empty());
    assert!(app.message.as_ref().unwrap().1.contains("--compare"));
}

#[test]
fn sentences_are_matched_by_their_words_when_positions_differ() {
    let rained = sentence(json!({"tokens": ["It", "rained", "."]}));
    let mut app = app_with(vec![rained, gold()]);
    app.compare = Some(Comparison {
        name: "bob".into(),
        documents: vec![("doc".into(), vec![theirs()])],
        ..Default::default()
    });
    assert_eq!(counts(&app), (2, 2), "my sentence 1 is their sentence 0");
}
