//! A document held once (issue 22, docs/RELIABILITY.md): what is unsaved is what differs from
//! the file, a save shares the sentences with the store instead of copying them, and what it
//! writes keeps every record nobody edited byte for byte.

use std::path::Path;

use serde_json::Value;
use spanscope::data::Sentence;
use spanscope::store::files::{self, DocumentSource};
use spanscope::workbench::commands::commit;
use spanscope::workbench::state::{App, ModelStatus};
use spanscope::workbench::update::{self, update, Effect, Msg};
use spanscope::worker::store::{StoreReply, StoreRequest};

use crate::support::*;

/// A workbench with the file at `path` loaded as document 1, no model.
fn open(path: &Path) -> (App, DocumentSource) {
    let source = DocumentSource::for_path(path).unwrap();
    let loaded = files::load(&source).unwrap();
    let mut app = App::new(types(), true, ModelStatus::Failed("no model".into()));
    update::open(&mut app, vec![source.clone()]);
    update(&mut app, Msg::Store(StoreReply::Loaded { doc: 1, result: Ok(loaded), recovery: None }));
    (app, source)
}

/// Does what the store worker does with a save the effects ask for, and answers the workbench.
fn save(app: &mut App, effects: Vec<Effect>) {
    let save = effects.into_iter().find_map(|e| match e {
        Effect::Store(request @ StoreRequest::Save { .. }) => Some(request),
        _ => None,
    });
    let Some(StoreRequest::Save { doc, source, sentences, expected, force }) = save else {
        panic!("no save asked for")
    };
    let result = files::save(&source, &sentences, expected, force);
    assert!(result.is_ok(), "{result:?}");
    update(app, Msg::Store(StoreReply::Saved { doc, result }));
}

fn reviewed(mut s: Sentence) -> Sentence {
    s.extra.insert("reviewed".into(), Value::Bool(true));
    s
}

/// Records laid out as no serializer of ours would write them (spaces, key order), so any
/// record written anew shows.
fn record(i: usize) -> String {
    format!(
        "{{ \"orig_id\" : {i}, \"tokens\" : [\"John\", \"Smith\", \"works\", \"for\", \"Acme\", \
         \"{i}\", \".\"], \"entities\" : [ {{\"start\": 0, \"end\": 2, \"type\": \"Peop\"}} ], \
         \"relations\" : [] }}"
    )
}

#[test]
fn an_edit_undone_is_not_unsaved_and_its_record_is_written_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.jsonl");
    let original: Vec<String> = (0..3).map(record).collect();
    std::fs::write(&path, original.join("\n") + "\n").unwrap();
    let (mut app, _) = open(&path);

    press(&mut app, "r");
    assert!(app.docs[0].sentences.is_edited(0));
    press(&mut app, "u");
    assert!(!app.docs[0].is_dirty(), "an edit undone is no unsaved edit");
    press(&mut app, "jrru");
    assert_eq!(app.docs[0].sentences.edited().collect::<Vec<_>>(), [1], "r, r, undo: one edit");
    assert_eq!(app.docs[0].reviewed_count(), 1);

    let effects = press(&mut app, "<C-s>");
    save(&mut app, effects);
    assert!(!app.docs[0].is_dirty());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!((lines[0], lines[2]), (original[0].as_str(), original[2].as_str()));
    assert_ne!(lines[1], original[1], "the reviewed record is written anew");
    assert!(lines[1].contains("\"reviewed\":true"), "{}", lines[1]);
}

#[test]
fn a_large_document_saves_exactly_the_edited_records_anew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.jsonl");
    let n = 20_000;
    let original: Vec<String> = (0..n).map(record).collect();
    std::fs::write(&path, original.join("\n") + "\n").unwrap();
    let (mut app, _) = open(&path);
    assert_eq!((app.docs[0].sentences.len(), app.docs[0].reviewed_count()), (n, 0));

    let edited = [0, 4_321, n - 1];
    for i in edited {
        let after = reviewed(app.docs[0].sentences[i].clone());
        commit(&mut app, 0, i, after, "reviewed");
    }
    let effects = press(&mut app, "<C-s>");
    // An edit made while the store writes is not in the file, so it stays unsaved.
    let late = reviewed(app.docs[0].sentences[7].clone());
    commit(&mut app, 0, 7, late, "reviewed");
    save(&mut app, effects);
    assert_eq!(app.docs[0].sentences.edited().collect::<Vec<_>>(), [7]);
    assert_eq!(app.docs[0].reviewed_count(), 4);

    // What the file should hold: every other record as it was, the edited ones compact.
    let mut expected = String::new();
    for (i, line) in original.iter().enumerate() {
        if edited.contains(&i) {
            expected += &serde_json::to_string(&app.docs[0].sentences[i]).unwrap();
        } else {
            expected += line;
        }
        expected.push('\n');
    }
    assert!(std::fs::read_to_string(&path).unwrap() == expected, "the file differs");
    let again = files::load(&DocumentSource::for_path(&path).unwrap()).unwrap();
    let mut written = app.docs[0].sentences.to_vec();
    written[7] = again.sentences[7].clone();
    assert!(again.sentences == written, "the file reads back as what was saved");
}
