//! Relation rules in the real workbench (tmux, no model): the relation picker offers only the
//! types whose rules allow the pair, and a flip that would break a rule asks first.

use crate::tmux::{wait_for_file, Tmux};
use serde_json::{json, Value};

#[test]
fn the_relation_picker_follows_the_rules_and_a_breaking_flip_asks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let doc = json!([{"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 5},
                     {"type": "Loc", "start": 6, "end": 7}],
        "relations": []}]);
    std::fs::write(d.join("doc.json"), doc.to_string()).unwrap();
    let types = json!({
        "entities": {"Peop": {"short": "Peop", "verbose": "People"},
                     "Org": {"short": "Org", "verbose": "Organization"},
                     "Loc": {"short": "Loc", "verbose": "Location"}},
        "relations": {
            "Located_In": {"short": "LocIn", "verbose": "Located in", "symmetric": false,
                           "head": ["Org"], "tail": ["Loc"]},
            "Work_For": {"short": "Work", "verbose": "Work for", "symmetric": false,
                         "head": ["Peop"], "tail": ["Org"]}}});
    std::fs::write(d.join("types.json"), types.to_string()).unwrap();
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let command = format!(
        "cd {p} && env -u SPANSCOPE_MODEL -u NO_COLOR HOME={p} {bin} annotate --no-model {p}; \
         echo $? > {p}/exit.txt.tmp; mv {p}/exit.txt.tmp {p}/exit.txt; sleep 30",
        p = d.display()
    );
    let tmux = Tmux::start(&command, 100, 32);
    tmux.wait_for("Acme");

    // John Smith (Peop) to Acme (Org): only Work_For is offered, not Located_In.
    tmux.keys(&["Tab", "R", "Enter"]);
    let picker = tmux.wait_for("Work_For");
    assert!(!picker.contains("Located_In"), "Located_In needs Org -> Loc:\n{picker}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("add relation");
    // Flipping it would make Acme work for John: the workbench asks first; no keeps it.
    tmux.keys(&["]", "f"]);
    let asked = tmux.wait_for("Break a relation rule?");
    assert!(asked.contains("Work_For from Org to Peop"), "{asked}");
    tmux.keys(&["n"]);
    tmux.wait_for("left as it was");
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote doc.json");
    tmux.keys(&["q"]);
    let exit = wait_for_file(&d.join("exit.txt"), &tmux);
    assert_eq!(exit.trim(), "0");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("doc.json")).unwrap()).unwrap();
    let relations = saved[0]["relations"].as_array().unwrap();
    assert_eq!(relations.len(), 1, "{saved}");
    assert_eq!(
        (&relations[0]["type"], &relations[0]["head"], &relations[0]["tail"]),
        (&json!("Work_For"), &json!(0), &json!(1))
    );
}
