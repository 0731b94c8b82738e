//! Adjudication (`annotate --compare OTHER`) through the real binary: take theirs, undo,
//! keep mine, save; the other annotations are only read.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::formats::command;
use crate::tmux::{wait_for_file, Tmux};

/// Two annotators' versions of one sentence: mine says Acme is an Org, theirs a Loc, and they
/// also marked Paris.
fn adjudication_folder(dir: &Path) {
    let tokens = json!(["John", "Smith", "works", "for", "Acme", "in", "Paris", "."]);
    let mine = json!([{"tokens": tokens, "entities": [
        {"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 5}
    ], "relations": []}]);
    let theirs = json!([{"tokens": tokens, "entities": [
        {"type": "Peop", "start": 0, "end": 2}, {"type": "Loc", "start": 4, "end": 5},
        {"type": "Loc", "start": 6, "end": 7}
    ], "relations": []}]);
    for (folder, doc) in [("mine", mine), ("theirs", theirs)] {
        fs::create_dir(dir.join(folder)).unwrap();
        fs::write(dir.join(folder).join("doc.json"), doc.to_string()).unwrap();
    }
}

#[test]
fn adjudication_takes_theirs_keeps_mine_and_undoes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    adjudication_folder(d);
    let tmux = Tmux::start(&command(d, "mine --compare theirs"), 100, 32);
    let screen = tmux.wait_for("Theirs: theirs");
    assert!(screen.contains("2 open here · 2 open of 2"), "{screen}");

    // Acme: take theirs (Loc), then undo, then keep mine.
    tmux.keys(&["c", "o"]);
    tmux.wait_for("1 open of 1");
    tmux.keys(&["u"]);
    tmux.wait_for("undo take theirs");
    tmux.wait_for("2 open of 2");
    tmux.keys(&["c", "w"]);
    tmux.wait_for("1 open of 2");
    // Paris: take theirs.
    tmux.keys(&["o"]);
    tmux.wait_for("0 open of 1");
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote doc.json");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&d.join("exit.txt"), &tmux).trim(), "0");

    let saved: Value =
        serde_json::from_str(&fs::read_to_string(d.join("mine/doc.json")).unwrap()).unwrap();
    let entities: Vec<(String, u64)> = saved[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["start"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        entities,
        [("Peop".to_string(), 0), ("Org".to_string(), 4), ("Loc".to_string(), 6)],
        "mine kept for Acme, theirs taken for Paris"
    );
    assert_eq!(saved[0]["kept_mine"], json!([[4, 5]]));
    let theirs = fs::read_to_string(d.join("theirs/doc.json")).unwrap();
    assert!(theirs.contains("\"Loc\""), "the other annotations are only read");
}
