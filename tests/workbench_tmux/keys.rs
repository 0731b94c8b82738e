//! The safe keys and the config file in the real binary in tmux: a stray digit creates
//! nothing, `Esc 0` typed at once (which the terminal sends as the bytes of Alt-0) still drops
//! the selection, and a key remapped in the config file is the one that works.

use std::path::Path;

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

fn command(dir: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let d = dir.display();
    format!(
        "cd {d} && env -u SPANSCOPE_MODEL -u NO_COLOR -u XDG_CONFIG_HOME HOME={d} {bin} annotate \
         --no-model {d}/doc.json; echo $? > {d}/exit.txt.tmp; mv {d}/exit.txt.tmp {d}/exit.txt; \
         sleep 30"
    )
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
