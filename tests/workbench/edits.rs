//! Every edit of the workbench, driven by its keys, with its undo and redo; saving, quitting,
//! predictions, recovery and changes on disk at the state level (no terminal, model or disk).

use crate::support::*;
use proptest::prelude::*;
use serde_json::json;
use spanscope::data::annotation::Item;
use spanscope::store::files::{Fingerprint, SaveError};
use spanscope::store::journal::{JournalEntry, Recovered};
use spanscope::workbench::state::{Disk, Mode, Question};
use spanscope::workbench::update::{update, Effect, Msg};
use spanscope::worker::model::InferenceReply;
use spanscope::worker::store::{StoreReply, StoreRequest};

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn journaled(effects: &[Effect]) -> Vec<usize> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Store(StoreRequest::Journal { entry, .. }) => Some(entry.sentence),
            _ => None,
        })
        .collect()
}

/// An edit is journaled with the time its key message carries: `update` reads no clock.
#[test]
fn an_edit_is_journaled_at_the_time_of_its_key() {
    let mut app = app_with(vec![plain()]);
    let mut effects = Vec::new();
    for (i, key) in keys("v1").into_iter().enumerate() {
        effects.extend(update(&mut app, Msg::Key(key, 1_700_000_000 + i as u64)));
    }
    let times: Vec<u64> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Store(StoreRequest::Journal { entry, .. }) => Some(entry.at),
            _ => None,
        })
        .collect();
    assert_eq!(times, [1_700_000_001], "the digit that made the entity, not the clock");
}

#[test]
fn a_word_range_gets_a_type_by_digit_and_undo_redo_restore_it() {
    let mut app = app_with(vec![plain(), plain()]);
    let effects = press(&mut app, "vl1");
    assert_eq!(entities(&app, 0), vec![("Peop".into(), 0, 2, some("manual"))]);
    assert!(matches!(effects[0], Effect::Store(StoreRequest::StartJournal { .. })));
    assert_eq!(journaled(&effects), vec![0]);
    assert!(app.docs[0].is_dirty());
    assert_eq!(app.cursor.item, Some(Item::Entity(0)));

    let effects = press(&mut app, "ju");
    assert_eq!(app.cursor.sentence, 0, "undo goes back to the sentence it changes");
    assert_eq!(*sent(&app, 0), plain());
    assert!(!app.docs[0].is_dirty(), "undoing every edit leaves nothing unsaved");
    assert_eq!(journaled(&effects), vec![0], "undo is journaled too");

    press(&mut app, "<C-r>");
    assert_eq!(entities(&app, 0), vec![("Peop".into(), 0, 2, some("manual"))]);
    assert_eq!(app.history.redo_len(), 0);
}

#[test]
fn the_type_picker_gives_the_chosen_type() {
    let mut app = app_with(vec![plain()]);
    press(&mut app, "llll");
    press(&mut app, "t");
    assert!(matches!(app.mode, Mode::Pick(_)));
    press(&mut app, "j<Enter>");
    assert_eq!(entities(&app, 0), vec![("Org".into(), 4, 5, some("manual"))]);
    assert!(matches!(app.mode, Mode::Normal));
    press(&mut app, "<Esc>t<Esc>");
    assert_eq!(entities(&app, 0).len(), 1, "a cancelled picker changes nothing");
}

#[test]
fn retyping_and_moving_boundaries_mark_gold_as_corrected() {
    let mut app = app_with(vec![gold()]);
    press(&mut app, "<Tab>2");
    assert_eq!(entities(&app, 0)[0], ("Org".into(), 0, 2, some("corrected")));
    press(&mut app, "(}");
    assert_eq!(
        entities(&app, 0)[0],
        ("Org".into(), 0, 1, some("corrected")),
        "start cannot pass the end"
    );
    press(&mut app, "uu");
    assert_eq!(*sent(&app, 0), gold());
}

#[test]
fn boundaries_move_one_word_at_a_time_and_keep_the_span_valid() {
    let mut app = app_with(vec![gold()]);
    press(&mut app, "<Tab>))");
    assert_eq!((entities(&app, 0)[0].1, entities(&app, 0)[0].2), (0, 4));
    press(&mut app, "}(");
    assert_eq!((entities(&app, 0)[0].1, entities(&app, 0)[0].2), (1, 3));
    press(&mut app, "{{");
    assert_eq!(entities(&app, 0)[0].1, 0, "the start stops at the first word");
    press(&mut app, "uuuuu");
    assert_eq!(*sent(&app, 0), gold());
}

#[test]
fn deleting_an_entity_takes_its_relations_and_keeps_the_others_pointing_right() {
    let mut s = gold();
    s.entities.push(spanscope::data::Entity::new("Loc", 6, 7));
    s.relations.push(spanscope::data::Relation::new("Located_In", 1, 2));
    let mut app = app_with(vec![s.clone()]);
    press(&mut app, "<Tab>x");
    assert_eq!(entities(&app, 0).len(), 2);
    assert_eq!(relations(&app, 0), vec![("Located_In".into(), 0, 1)]);
    press(&mut app, "u");
    assert_eq!(*sent(&app, 0), s);
}

#[test]
fn proposals_are_accepted_and_rejected_one_by_one_or_all_at_once() {
    let mut app = app_with(vec![proposed()]);
    press(&mut app, "<Tab>a");
    assert_eq!(entities(&app, 0)[0].3, some("accepted"));
    assert!(sent(&app, 0).entities[0].extra.contains_key("score"), "the score is kept");
    assert_eq!(app.cursor.item, Some(Item::Entity(2)), "the next open proposal, Org, is selected");
    press(&mut app, "x");
    assert_eq!(entities(&app, 0).len(), 2, "rejected Org");
    assert!(relations(&app, 0).is_empty(), "its relation went with it");
    press(&mut app, "uu");
    assert_eq!(*sent(&app, 0), proposed());

    press(&mut app, "]a");
    let e = entities(&app, 0);
    assert_eq!(
        (e[0].3.clone(), e[2].3.clone(), e[1].3.clone()),
        (some("accepted"), some("accepted"), some("model")),
        "accepting a relation accepts its entities, not the others"
    );
    press(&mut app, "u");

    press(&mut app, "A");
    assert!(entities(&app, 0).iter().all(|e| e.3 == some("accepted")));
    press(&mut app, "uX");
    assert!(entities(&app, 0).is_empty() && relations(&app, 0).is_empty());
    press(&mut app, "u");
    assert_eq!(*sent(&app, 0), proposed());
}

#[test]
fn a_relation_is_drawn_by_picking_head_tail_and_type_then_flipped_and_retyped() {
    let mut app = app_with(vec![gold()]);
    press(&mut app, "<Tab>");
    press(&mut app, "R");
    assert!(matches!(app.mode, Mode::Link { head: 0, tail: 1 }));
    press(&mut app, "<Enter>2");
    assert_eq!(relations(&app, 0), vec![("Work_For".into(), 0, 1), ("Located_In".into(), 0, 1)]);
    assert_eq!(app.cursor.item, Some(Item::Relation(1)));
    press(&mut app, "f");
    assert_eq!(relations(&app, 0)[1], ("Located_In".into(), 1, 0));
    press(&mut app, "t<Up><Enter>");
    assert_eq!(relations(&app, 0)[1], ("Work_For".into(), 1, 0));
    press(&mut app, "uuu");
    assert_eq!(*sent(&app, 0), gold());
    press(&mut app, "<Tab>R<Enter>1");
    assert!(app.message.as_ref().unwrap().1.contains("already exists"), "no duplicate relation");
}

#[test]
fn reviewing_marks_the_sentence_once_its_proposals_are_settled_and_moves_on() {
    let mut app = app_with(vec![proposed(), plain(), gold()]);
    press(&mut app, "<Enter>");
    assert!(!sent(&app, 0).extra.contains_key("reviewed"), "proposals are still open");
    press(&mut app, "A<Enter>");
    assert_eq!(sent(&app, 0).extra.get("reviewed"), Some(&json!(true)));
    assert!(entities(&app, 0).iter().all(|e| e.3 == some("accepted")));
    assert_eq!(app.cursor.sentence, 1);
    press(&mut app, "r");
    assert_eq!(sent(&app, 1).extra.get("reviewed"), Some(&json!(true)));
    press(&mut app, ".");
    assert_eq!(app.cursor.sentence, 2, "the next unreviewed sentence");
    press(&mut app, "k");
    press(&mut app, "r");
    assert!(!sent(&app, 1).extra.contains_key("reviewed"), "unmarking removes the key");
    press(&mut app, "uuuuu");
    assert_eq!(app.docs[0].sentences, vec![proposed(), plain(), gold()]);
}

#[test]
fn search_and_low_confidence_jump_to_their_targets() {
    let mut app = app_with(vec![plain(), gold(), proposed()]);
    press(&mut app, "/ACMÉ<Enter>");
    assert_eq!((app.cursor.sentence, app.cursor.token), (0, 4), "case and accents fold");
    press(&mut app, "n");
    assert_eq!((app.cursor.sentence, app.cursor.token), (1, 4));
    assert!(app.message.as_ref().unwrap().1.contains("match 2 of 3"));
    press(&mut app, "nn");
    assert_eq!((app.cursor.sentence, app.cursor.token), (0, 4), "wraps round forward");
    press(&mut app, "N");
    assert_eq!((app.cursor.sentence, app.cursor.token), (2, 4), "and back");
    press(&mut app, "g!");
    assert_eq!(app.cursor.sentence, 2);
    assert_eq!(app.cursor.item, Some(Item::Entity(1)), "Loc .40 is the weak one");
    press(&mut app, "/zebra<Enter>");
    assert_eq!(app.cursor.sentence, 2, "a failed search stays put");
}

#[test]
fn saving_sends_the_sentences_and_a_successful_save_leaves_nothing_unsaved() {
    let mut app = app_with(vec![plain()]);
    assert!(press(&mut app, "<C-s>").is_empty(), "an unchanged document is not written");
    press(&mut app, "v1");
    let effects = press(&mut app, "<C-s>");
    let Some(Effect::Store(StoreRequest::Save { sentences, expected, force, .. })) =
        effects.first()
    else {
        panic!("no save: {effects:?}")
    };
    assert_eq!((sentences.len(), *expected, *force), (1, Some(base()), false));
    press(&mut app, "2");
    let written = Fingerprint::of(b"saved");
    update(&mut app, Msg::Store(StoreReply::Saved { doc: 1, result: Ok(written) }));
    assert_eq!(app.docs[0].fingerprint, Some(written));
    assert_eq!(
        app.docs[0].sentences.edited_count(),
        1,
        "the edit made during the save is still unsaved"
    );
}

#[test]
fn a_failed_save_keeps_the_edits_and_a_conflict_asks() {
    let mut app = app_with(vec![plain()]);
    press(&mut app, "v1<C-s>");
    let error = SaveError::Conflict { path: "/nowhere/doc.json".into(), disk: None };
    update(&mut app, Msg::Store(StoreReply::Saved { doc: 1, result: Err(error) }));
    assert!(app.docs[0].is_dirty());
    assert!(matches!(app.mode, Mode::Confirm(Question::SaveConflict { doc: 1 })));
    let effects = press(&mut app, "o");
    assert!(matches!(effects[0], Effect::Store(StoreRequest::Save { force: true, .. })));
    assert_eq!(app.docs[0].disk, Disk::Changed);
}

#[test]
fn quitting_asks_only_when_edits_are_unsaved() {
    let mut app = app_with(vec![plain()]);
    press(&mut app, "v1q");
    assert!(matches!(app.mode, Mode::Confirm(Question::Quit)) && !app.should_quit());
    press(&mut app, "n");
    assert!(!app.should_quit() && matches!(app.mode, Mode::Normal));
    press(&mut app, "<C-c>y");
    assert!(app.should_quit(), "Ctrl-c asks the same question");

    let mut app = app_with(vec![plain()]);
    press(&mut app, "v1qs");
    assert!(!app.should_quit(), "waits for the save");
    update(&mut app, Msg::Store(StoreReply::Saved { doc: 1, result: Ok(base()) }));
    assert!(app.should_quit());

    let mut app = app_with(vec![plain()]);
    press(&mut app, "q");
    assert!(app.should_quit());
}

#[test]
fn predictions_fill_only_unannotated_sentences_and_are_not_edits() {
    let mut app = app_with(vec![plain(), gold(), plain()]);
    app.model = spanscope::workbench::state::ModelStatus::Loading("m".into());
    let effects = update(&mut app, loaded(vec![plain(), gold(), plain()]));
    let Some(Effect::Predict { sentences, .. }) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(sentences.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 2]);

    press(&mut app, "jjv1");
    for i in [0, 1, 2] {
        let annotation = proposed();
        update(
            &mut app,
            Msg::Model(InferenceReply::Predicted {
                doc: 1,
                sentence: i,
                generation: 1,
                annotation,
                notes: Vec::new(),
            }),
        );
    }
    assert_eq!(*sent(&app, 0), proposed());
    assert_eq!(*sent(&app, 1), gold(), "gold is never overwritten");
    assert_eq!(entities(&app, 2).len(), 1, "the reviewer's edit stands");
    assert_eq!(app.docs[0].sentences.edited().collect::<Vec<_>>(), vec![2]);
}

fn recovered(base: Option<Fingerprint>) -> Recovered {
    let mut after = plain();
    after.entities.push(spanscope::data::Entity::new("Loc", 6, 7));
    Recovered {
        path: "/nowhere/.spanscope/recovery/doc.json.journal.jsonl".into(),
        base,
        entries: vec![JournalEntry::new(1, after, "add entity", 0)],
        modified: std::time::SystemTime::UNIX_EPOCH,
    }
}

fn loaded_with(recovery: Recovered) -> Msg {
    let Msg::Store(StoreReply::Loaded { doc, result, .. }) = loaded(vec![plain(), plain()]) else {
        unreachable!()
    };
    Msg::Store(StoreReply::Loaded { doc, result, recovery: Some(recovery) })
}

#[test]
fn a_journal_of_unsaved_edits_is_offered_back_and_undoable() {
    let mut app = app_with(vec![plain(), plain()]);
    update(&mut app, loaded_with(recovered(Some(base()))));
    assert!(matches!(app.mode, Mode::Confirm(Question::Recover { .. })));
    press(&mut app, "y");
    assert_eq!(entities(&app, 1), vec![("Loc".into(), 6, 7, None)]);
    assert!(app.docs[0].is_dirty());
    press(&mut app, "u");
    assert!(entities(&app, 1).is_empty());

    let mut app = app_with(vec![plain(), plain()]);
    update(&mut app, loaded_with(recovered(Some(base()))));
    let effects = press(&mut app, "n");
    assert!(
        matches!(&effects[0], Effect::Store(StoreRequest::SetAsideJournal { why, .. }) if why == "declined")
    );
    assert!(!app.docs[0].is_dirty());

    let mut app = app_with(vec![plain(), plain()]);
    let effects = update(&mut app, loaded_with(recovered(Some(Fingerprint::of(b"other")))));
    assert!(matches!(app.mode, Mode::Normal), "a journal of another version is not offered");
    assert!(
        matches!(&effects[0], Effect::Store(StoreRequest::SetAsideJournal { why, .. }) if why == "stale")
    );
}

#[test]
fn a_file_changed_on_disk_reloads_when_clean_and_asks_when_edited() {
    let mut app = app_with(vec![plain()]);
    let changed =
        Msg::Store(StoreReply::Checked { doc: 1, disk: Ok(Some(Fingerprint::of(b"new"))) });
    let effects = update(&mut app, changed);
    assert!(effects.iter().any(|e| matches!(e, Effect::Store(StoreRequest::Load { .. }))));

    let mut app = app_with(vec![plain()]);
    press(&mut app, "v1");
    let same = Msg::Store(StoreReply::Checked { doc: 1, disk: Ok(Some(base())) });
    assert!(update(&mut app, same).is_empty(), "our own save is not a change");
    let changed =
        Msg::Store(StoreReply::Checked { doc: 1, disk: Ok(Some(Fingerprint::of(b"new"))) });
    update(&mut app, changed);
    assert!(matches!(app.mode, Mode::Confirm(Question::DiskChanged { doc: 1 })));
    let effects = press(&mut app, "r");
    assert!(
        matches!(&effects[0], Effect::Store(StoreRequest::KeepCopy { tag, .. }) if tag == "mine")
    );
    assert!(matches!(effects.last(), Some(Effect::Store(StoreRequest::Load { .. }))));

    let mut app = app_with(vec![plain()]);
    press(&mut app, "v1");
    update(&mut app, Msg::Store(StoreReply::Checked { doc: 1, disk: Ok(None) }));
    assert_eq!(app.docs[0].disk, Disk::Removed);
    let effects = press(&mut app, "<C-s>");
    assert!(matches!(effects[0], Effect::Store(StoreRequest::Save { expected: None, .. })));
}

#[test]
fn a_document_with_unreadable_records_is_read_only() {
    let mut app = app_with(vec![plain()]);
    app.docs[0].problems.push("record 3: bad".into());
    assert!(press(&mut app, "1vlt").is_empty());
    assert!(entities(&app, 0).is_empty());
    assert!(app.message.as_ref().unwrap().1.contains("read-only"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any sequence of keys, then undo until there is nothing left, gives back the documents
    /// as they were; redoing as many gives back the edited state.
    #[test]
    fn undoing_everything_restores_the_original(keys in proptest::collection::vec(
        prop::sample::select(vec![
            "j", "k", "l", "h", "<Tab>", "<S-Tab>", "]", "v", "1", "2", "3", "a", "x", "A", "X",
            "{", "}", "(", ")", "R", "<Enter>", "f", "r", "t", "<Esc>", ".", "!", "u", "<C-r>",
        ]),
        0..40,
    )) {
        let original = vec![proposed(), gold(), plain()];
        let mut app = app_with(original.clone());
        for k in &keys {
            press(&mut app, k);
            if matches!(app.mode, Mode::Confirm(_) | Mode::Help { .. }) {
                press(&mut app, "<Esc>");
            }
        }
        press(&mut app, "<Esc><Esc>");
        let edited = app.docs[0].sentences.clone();
        let done = app.history.undo_len();
        for _ in 0..done {
            press(&mut app, "u");
        }
        prop_assert_eq!(&app.docs[0].sentences, &original);
        prop_assert!(!app.docs[0].is_dirty());
        for _ in 0..done {
            press(&mut app, "<C-r>");
        }
        prop_assert_eq!(&app.docs[0].sentences, &edited);
    }
}

#[test]
fn a_new_file_in_a_watched_folder_opens_and_events_on_open_files_are_checked() {
    use spanscope::store::watch::FileEvent;
    let mut app = app_with(vec![plain()]);
    let effects = update(&mut app, Msg::File(FileEvent::Changed("/nowhere/new.txt".into())));
    assert_eq!(app.docs.len(), 2);
    assert!(matches!(&effects[0], Effect::Store(StoreRequest::Load { doc: 2, .. })));
    let effects = update(&mut app, Msg::File(FileEvent::Changed("/nowhere/types.json".into())));
    assert!(effects.is_empty() && app.docs.len() == 2, "a types file is not a document");
    let effects = update(&mut app, Msg::File(FileEvent::Changed("/nowhere/doc.json".into())));
    assert!(matches!(&effects[0], Effect::Store(StoreRequest::Check { doc: 1, .. })));
    let effects = update(&mut app, Msg::File(FileEvent::Rescan));
    assert_eq!(effects.len(), 2, "a rescan checks every document");
}

#[test]
fn a_new_file_written_in_steps_is_reported_as_new_not_as_changed() {
    use spanscope::store::watch::FileEvent;
    let mut app = app_with(vec![plain()]);
    update(&mut app, Msg::File(FileEvent::Changed("/nowhere/new.json".into())));
    let said = || app.message.as_ref().map(|m| m.1.clone()).unwrap_or_default();
    assert!(said().contains("new document: new.json"), "{}", said());
    // The writer is not done: a second event, checked before the first read came back.
    let effects = update(&mut app, Msg::File(FileEvent::Changed("/nowhere/new.json".into())));
    assert!(matches!(&effects[0], Effect::Store(StoreRequest::Check { doc: 2, .. })));
    let disk = Ok(Some(Fingerprint::of(b"written")));
    let effects = update(&mut app, Msg::Store(StoreReply::Checked { doc: 2, disk }));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Store(StoreRequest::Load { doc: 2, .. }))),
        "read again"
    );
    let said = app.message.as_ref().map(|m| m.1.clone()).unwrap_or_default();
    assert!(!said.contains("changed on disk"), "{said}");
}

#[test]
fn the_user_guide_lists_every_key() {
    use spanscope::workbench::keymap::{Key, NORMAL};
    let guide = std::fs::read_to_string("docs/WORKBENCH.md").unwrap();
    for binding in NORMAL {
        for key in binding.keys {
            let label = Key::label(key);
            assert!(
                guide.contains(&format!("`{label}`")),
                "docs/WORKBENCH.md does not list `{label}` ({})",
                binding.help
            );
        }
    }
}

#[test]
fn what_the_model_could_not_do_for_a_sentence_is_said_on_screen() {
    let mut app = app_with(vec![plain(), plain()]);
    app.docs[0].predicting.insert(1);
    let notes = vec!["12 of its 90 ordered entity pairs are further apart than the window".into()];
    update(
        &mut app,
        Msg::Model(InferenceReply::Predicted {
            doc: 1,
            sentence: 1,
            generation: 1,
            annotation: proposed(),
            notes,
        }),
    );
    let (level, text) = app.message.clone().expect("a message");
    assert_eq!(level, spanscope::workbench::state::Level::Warning);
    assert!(text.contains("sentence 2: 12 of its 90 ordered entity pairs"), "{text}");
    assert!(text.contains(&app.docs[0].name()), "names the document: {text}");
}
