//! The safe keys and the config file in the real binary in tmux: a stray digit creates
//! nothing, `Esc 0` typed at once (which the terminal sends as the bytes of Alt-0) still drops
//! the selection, a key remapped in the config file is the one that works, and accept and
//! reject move on by themselves while `A` accepts what remains.

use crate::mouse::command;
use crate::tmux::{wait_for_file, Tmux};
use serde_json::{json, Value};

/// A folder with doc.json (one sentence, Acme gold Org), the CoNLL04 types and a config file
/// that moves quit from `q` to `Q`.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let doc = json!([
        {"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
         "entities": [{"type": "Org", "start": 4, "end": 5}], "relations": [], "orig_id": "s1"}
    ]);
    std::fs::write(dir.path().join("doc.json"), doc.to_string()).unwrap();
    std::fs::copy("sample_docs/types.json", dir.path().join("types.json")).unwrap();
    let config = dir.path().join(".config/spanscope");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[keys]\nquit = \"Q\"\n").unwrap();
    dir
}

#[test]
fn stray_digits_and_a_quick_escape_change_nothing_and_the_config_remaps_quit() {
    let dir = workspace();
    let tmux = Tmux::start(&command(dir.path()), 200, 30);
    tmux.wait_for("doc.json");

    tmux.keys_at_once(&["l", "l", "3"]);
    tmux.wait_for("nothing selected for type 3");

    // Select Acme, then Escape and 0 in one write: the bytes of Alt-0. Were the Escape lost,
    // Acme would stay selected and x would delete it.
    tmux.keys_at_once(&["Tab"]);
    tmux.wait_for("relate");
    tmux.keys_at_once(&["Escape", "0"]);
    tmux.keys_at_once(&["x"]);
    tmux.wait_for("select an entity (Tab) or a relation (]) first");

    tmux.keys_at_once(&["q"]);
    tmux.keys_at_once(&["C-s"]);
    tmux.wait_for("nothing to save");
    assert!(!dir.path().join("exit.txt").exists(), "q no longer quits");
    tmux.keys_at_once(&["Q"]);
    let exit = wait_for_file(&dir.path().join("exit.txt"), &tmux);
    assert_eq!(exit.trim(), "0");

    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("doc.json")).unwrap())
            .unwrap();
    assert_eq!(doc[0]["entities"].as_array().unwrap().len(), 1, "Acme is still there");
}

/// The review keys in the real binary: Enter refuses while proposals are open, accept and
/// reject move on to the next open proposal by themselves, `A` accepts what remains and says
/// how many, and only then does Enter mark the sentence reviewed.
#[test]
fn accept_and_reject_move_on_and_accepting_what_remains_is_its_own_key() {
    let dir = workspace();
    let doc = json!([
        {"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
         "entities": [
            {"type": "Peop", "start": 0, "end": 2, "score": 0.95, "source": "model"},
            {"type": "Loc", "start": 6, "end": 7, "score": 0.40, "source": "model"},
            {"type": "Org", "start": 4, "end": 5, "score": 0.9, "source": "model"},
            {"type": "Loc", "start": 2, "end": 3, "score": 0.30, "source": "model"}],
         "relations": [], "orig_id": "s1"},
        {"tokens": ["It", "rained", "."], "entities": [], "relations": [], "orig_id": "s2"}
    ]);
    std::fs::write(dir.path().join("doc.json"), doc.to_string()).unwrap();
    let tmux = Tmux::start(&command(dir.path()), 200, 30);
    tmux.wait_for("doc.json");

    tmux.keys(&["Enter"]);
    tmux.wait_for("4 proposal(s) still open");
    // Enter selected John Smith; a accepts it and selects the next open one (reading order).
    tmux.keys(&["a"]);
    tmux.wait_for("3 open left, next selected");
    tmux.keys(&["x"]);
    tmux.wait_for("2 open left, next selected");
    tmux.keys(&["A"]);
    tmux.wait_for("accepted 2 open proposal(s)");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Sentence 2/2");
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote doc.json");
    tmux.keys(&["Q"]);
    wait_for_file(&dir.path().join("exit.txt"), &tmux);

    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("doc.json")).unwrap())
            .unwrap();
    let sources: Vec<&str> = doc[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap_or("gold"))
        .collect();
    assert_eq!(sources, ["accepted"; 3], "one rejected, three accepted: {doc}");
    assert_eq!(doc[0]["reviewed"], json!(true));
}
