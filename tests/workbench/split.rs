//! Splitting a sentence at the cursor word (`-`) and merging it with the next (`+`): what
//! moves with the words, what is asked before it is dropped, undo and redo, and the journal
//! that recovers it.

use crate::support::*;
use proptest::prelude::*;
use serde_json::json;
use spanscope::data::Sentence;
use spanscope::store::journal::{replay, JournalEntry, Recovered};
use spanscope::workbench::state::{Mode, Question};
use spanscope::workbench::update::{update, Effect, Msg};
use spanscope::worker::store::{StoreReply, StoreRequest};

/// "Washington , D.C. Dr. Smith joined Acme ." read as one sentence: Loc, Peop, Org,
/// Work_For(Smith → Acme) and Located_In(Smith → Washington), which crosses the cut at word 4.
fn washington() -> Sentence {
    sentence(json!({
        "tokens": ["Washington", ",", "D.C.", "Dr.", "Smith", "joined", "Acme", "."],
        "entities": [
            {"type": "Loc", "start": 0, "end": 3},
            {"type": "Peop", "start": 3, "end": 5, "source": "manual"},
            {"type": "Org", "start": 6, "end": 7}
        ],
        "relations": [
            {"type": "Work_For", "head": 1, "tail": 2},
            {"type": "Located_In", "head": 1, "tail": 0}
        ],
        "orig_id": "w1",
        "reviewed": true
    }))
}

fn journal_entries(effects: &[Effect]) -> Vec<JournalEntry> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Store(StoreRequest::Journal { entry, .. }) => Some(entry.clone()),
            _ => None,
        })
        .collect()
}

fn words(app: &App) -> Vec<String> {
    app.docs[0].sentences.iter().map(|s| s.tokens.join(" ")).collect()
}

use spanscope::workbench::state::App;

#[test]
fn a_split_that_drops_a_relation_asks_first_names_it_and_undo_brings_it_back() {
    let original = vec![washington(), plain()];
    let mut app = app_with(original.clone());
    press(&mut app, "lll");
    let effects = press(&mut app, "-");
    assert!(effects.is_empty(), "nothing is done before the answer");
    let Mode::Confirm(Question::Restructure { losses, .. }) = &app.mode else {
        panic!("a split that drops a relation asks first, not {:?}", app.mode)
    };
    assert_eq!(losses, &["drops the relation Located_In: \"Dr. Smith\" → \"Washington , D.C.\""]);
    press(&mut app, "n");
    assert_eq!(app.docs[0].sentences, original, "answering no leaves the sentence");

    let mut effects = press(&mut app, "-y");
    assert_eq!(words(&app), ["Washington , D.C.", "Dr. Smith joined Acme .", &words_of(&plain())]);
    assert_eq!((app.cursor.sentence, app.cursor.token), (1, 0), "the cursor stays on its word");
    assert_eq!(entities(&app, 0), vec![("Loc".into(), 0, 3, None)]);
    assert_eq!(
        entities(&app, 1),
        vec![("Peop".into(), 0, 2, Some("manual".into())), ("Org".into(), 3, 4, None)]
    );
    assert_eq!(relations(&app, 1), vec![("Work_For".into(), 0, 1)]);
    for half in [sent(&app, 0), sent(&app, 1)] {
        assert_eq!(half.extra.get("orig_id"), Some(&json!("w1")), "record keys go to both");
        assert!(!half.extra.contains_key("reviewed"), "the new sentences must be reviewed");
    }
    assert!(app.docs[0].is_dirty());
    assert_eq!(app.docs[0].sentences.edited().collect::<Vec<_>>(), vec![0, 1]);

    effects.extend(press(&mut app, "u"));
    assert_eq!(app.docs[0].sentences, original, "undo puts back the sentence and its relation");
    assert!(!app.docs[0].is_dirty());
    effects.extend(press(&mut app, "<C-r>"));
    assert_eq!(app.docs[0].sentences.len(), 3, "redo splits again");

    // Replaying what was journaled gives the document as it is now: a crash loses nothing.
    let mut replayed = original;
    replay(&mut replayed, &journal_entries(&effects)).unwrap();
    assert_eq!(app.docs[0].sentences, replayed);
}

fn words_of(s: &Sentence) -> String {
    s.tokens.join(" ")
}

#[test]
fn a_split_inside_an_entity_or_before_the_first_word_is_refused() {
    let mut app = app_with(vec![washington()]);
    press(&mut app, "l");
    assert!(press(&mut app, "-").is_empty());
    let message = app.message.clone().unwrap().1;
    assert!(message.contains("\"Washington , D.C.\" spans the cut"), "{message}");
    press(&mut app, "0-");
    assert!(app.message.clone().unwrap().1.contains("splits before one of its words 2 to 8"));
    assert_eq!(app.docs[0].sentences, vec![washington()]);
    assert_eq!(app.history.undo_len(), 0);
}

#[test]
fn a_merge_joins_the_next_sentence_and_asks_when_their_record_keys_disagree() {
    let mut first = plain();
    first.tokens.truncate(2);
    first.entities.push(spanscope::data::Entity::new("Peop", 0, 2));
    let (second, third) = (gold(), plain());
    let original = vec![first.clone(), second, third];
    let mut app = app_with(original.clone());
    // No keys to disagree on: merged at once, the second's entities and relation shifted.
    let effects = press(&mut app, "+");
    assert_eq!(app.docs[0].sentences.len(), 2);
    assert_eq!(sent(&app, 0).tokens.len(), 10);
    assert_eq!(
        entities(&app, 0),
        vec![("Peop".into(), 0, 2, None), ("Peop".into(), 2, 4, None), ("Org".into(), 6, 7, None)]
    );
    assert_eq!(relations(&app, 0), vec![("Work_For".into(), 1, 2)]);
    assert_eq!(sent(&app, 0).extra.get("orig_id"), Some(&json!("s1")), "only the second had it");
    let entries = journal_entries(&effects);
    assert_eq!((entries[0].sentence, entries[0].replaces), (0, 2));

    press(&mut app, "u");
    assert_eq!(app.docs[0].sentences, original);

    // Two records with their own ids: merging keeps the first's, after asking.
    let mut second = gold();
    second.extra.insert("orig_id".into(), json!("s2"));
    let mut app = app_with(vec![gold(), second]);
    press(&mut app, "+");
    let Mode::Confirm(Question::Restructure { losses, .. }) = &app.mode else {
        panic!("a merge that loses a key asks first")
    };
    assert_eq!(losses, &["keeps the first sentence's orig_id: \"s1\", not \"s2\""]);
    press(&mut app, "y");
    assert_eq!(app.docs[0].sentences.len(), 1);
    assert_eq!(sent(&app, 0).extra.get("orig_id"), Some(&json!("s1")));

    press(&mut app, "+");
    assert!(app.message.clone().unwrap().1.contains("no next sentence"));
}

#[test]
fn a_journaled_split_is_offered_back_after_a_crash_and_undoable() {
    let original = vec![washington(), plain()];
    let mut app = app_with(original.clone());
    let effects = press(&mut app, "lll-y");
    let entries = journal_entries(&effects);
    assert_eq!((entries[0].replaces, entries[0].following.len()), (1, 1));
    // The journal line, as the store worker writes it, reads back the same.
    let line = serde_json::to_string(&entries[0]).unwrap();
    assert_eq!(serde_json::from_str::<JournalEntry>(&line).unwrap(), entries[0]);
    let split = app.docs[0].sentences.clone();

    // A fresh workbench loads the file as it was on disk, with the journal beside it.
    let mut app = app_with(original.clone());
    let recovery = Recovered {
        path: "/nowhere/.spanscope/recovery/doc.json.journal.jsonl".into(),
        base: Some(base()),
        entries,
        modified: std::time::SystemTime::UNIX_EPOCH,
    };
    let Msg::Store(StoreReply::Loaded { doc, result, .. }) = loaded(original.clone()) else {
        unreachable!()
    };
    update(&mut app, Msg::Store(StoreReply::Loaded { doc, result, recovery: Some(recovery) }));
    press(&mut app, "y");
    assert_eq!(app.docs[0].sentences, split);
    assert!(app.docs[0].is_dirty());
    press(&mut app, "u");
    assert_eq!(app.docs[0].sentences, original);
}

#[test]
fn an_edit_after_a_split_keeps_its_sentence_and_saving_leaves_nothing_unsaved() {
    let mut app = app_with(vec![washington(), plain()]);
    press(&mut app, "lll-yjlv1");
    assert_eq!(entities(&app, 2), vec![("Peop".into(), 1, 2, Some("manual".into()))]);
    let effects = press(&mut app, "<C-s>");
    let Some(Effect::Store(StoreRequest::Save { sentences, .. })) = effects.first() else {
        panic!("a save")
    };
    assert_eq!(sentences.len(), 3);
    let saved = StoreReply::Saved { doc: 1, result: Ok(base()) };
    update(&mut app, Msg::Store(saved));
    assert!(!app.docs[0].is_dirty(), "the saved split is the new baseline");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Splits, merges and edits in any order, answered yes, then undone: the documents are
    /// as they were; the journal replays to the edited state.
    #[test]
    fn splits_and_merges_undo_and_replay_exactly(keys in proptest::collection::vec(
        prop::sample::select(vec!["j", "k", "l", "h", "-", "+", "1", "x", "<Tab>", "u", "<C-r>"]),
        0..30,
    )) {
        let original = vec![washington(), gold(), proposed()];
        let mut app = app_with(original.clone());
        let mut effects = Vec::new();
        for k in &keys {
            effects.extend(press(&mut app, k));
            if matches!(app.mode, Mode::Confirm(_)) {
                effects.extend(press(&mut app, "y"));
            }
        }
        let edited = app.docs[0].sentences.clone();
        let mut replayed = original.clone();
        replay(&mut replayed, &journal_entries(&effects)).unwrap();
        prop_assert_eq!(&edited, &replayed);
        for _ in 0..app.history.undo_len() {
            press(&mut app, "u");
        }
        prop_assert_eq!(&app.docs[0].sentences, &original);
        prop_assert!(!app.docs[0].is_dirty());
    }
}

/// A sentence past a split is one place further than its twin on disk: the model's proposals
/// for it fill both, so they are still no edit; a reply for a sentence whose index a split
/// moved (asked before it) is dropped, not put in the wrong sentence.
#[test]
fn proposals_for_a_sentence_past_a_split_fill_it_and_are_no_edit() {
    use spanscope::worker::model::InferenceReply;
    let mut app = app_with(vec![washington(), plain()]);
    press(&mut app, "lll-y");
    app.docs[0].predicting.insert(2);
    let annotation = proposed();
    let reply = InferenceReply::Predicted {
        doc: 1,
        sentence: 2,
        generation: 1,
        annotation,
        notes: Vec::new(),
    };
    update(&mut app, Msg::Model(reply));
    assert_eq!(*sent(&app, 2), proposed());
    assert_eq!(app.docs[0].sentences.edited().collect::<Vec<_>>(), vec![0, 1]);

    // Asked for sentence 1 before the split; the split moved it to 2, and 1 is a half now.
    let mut app = app_with(vec![washington(), plain()]);
    app.docs[0].predicting.insert(1);
    press(&mut app, "lll-y");
    let reply = InferenceReply::Predicted {
        doc: 1,
        sentence: 1,
        generation: 1,
        annotation: proposed(),
        notes: Vec::new(),
    };
    update(&mut app, Msg::Model(reply));
    assert_eq!(*sent(&app, 2), plain(), "the reply is dropped");
    assert_eq!(sent(&app, 1).tokens, ["Dr.", "Smith", "joined", "Acme", "."]);
}
