//! The real `spanscope` binary in a real terminal (tmux): keys go in with send-keys, the
//! screen comes back with capture-pane, and the files it wrote are checked.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tmux::{wait_for_file, Tmux};
use serde_json::{json, Value};

/// Waits until the document and the bundled model are both loaded: the model's name is shown
/// and nothing says "loading" (the inspector names the model while it loads, so its name alone
/// comes too early on a busy machine).
fn wait_ready(tmux: &Tmux) -> String {
    tmux.wait_until("the document and the model", |screen| {
        screen.contains("conll04-aspert-minilm") && !screen.contains("loading")
    })
}

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// A folder with doc.json (one gold sentence, one unannotated) and the CoNLL04 types.
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let doc = json!([
            {"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
             "entities": [{"type": "Org", "start": 4, "end": 5}], "relations": [],
             "orig_id": "s1"},
            {"tokens": ["Mary", "Jones", "lives", "in", "Berlin", "."], "orig_id": "s2"}
        ]);
        std::fs::write(dir.path().join("doc.json"), serde_json::to_string_pretty(&doc).unwrap())
            .unwrap();
        std::fs::copy("sample_docs/types.json", dir.path().join("types.json")).unwrap();
        Workspace { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The shell command that runs the workbench on the folder, then records how it ended
    /// and the terminal's settings afterwards.
    fn command(&self) -> String {
        self.command_with("")
    }

    /// [`Self::command`] with more `annotate` flags.
    fn command_with(&self, flags: &str) -> String {
        let bin = env!("CARGO_BIN_EXE_spanscope");
        let d = self.dir.path().display();
        format!(
            "cd {d} && env -u SPANSCOPE_MODEL -u NO_COLOR HOME={d} {bin} annotate {d} {flags}; \
             echo $? > {d}/exit.txt.tmp; stty -a > {d}/stty.txt; mv {d}/exit.txt.tmp {d}/exit.txt; \
             sleep 30"
        )
    }

    /// Kills the workbench with SIGKILL as soon as its first journal entry is on disk (the
    /// store worker writes it), and waits for the wrapping shell to record the exit.
    fn kill_9_once_journaled(&self, tmux: &Tmux) {
        let journal = self.path(".spanscope/recovery/doc.json.journal.jsonl");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 2 {
            assert!(Instant::now() < deadline, "no journal entry written");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Anchored at the start, so the wrapping shell (whose command line holds the same
        // words) survives to record the exit.
        let pattern =
            format!("^{} annotate {}", env!("CARGO_BIN_EXE_spanscope"), self.dir.path().display());
        let killed = Command::new("pkill").args(["-9", "-f", &pattern]).status().unwrap();
        assert!(killed.success());
        wait_for_file(&self.path("exit.txt"), tmux);
    }

    /// Starts the workbench again, recovers the journal it offers, saves and quits.
    fn recover_save_and_quit(&self) {
        std::fs::remove_file(self.path("exit.txt")).unwrap();
        let tmux = Tmux::start(&self.command(), 100, 32);
        tmux.wait_for("Recover");
        tmux.keys(&["y"]);
        tmux.wait_for("recovered");
        tmux.keys(&["C-s"]);
        tmux.wait_for("wrote doc.json");
        tmux.keys(&["q"]);
        wait_for_file(&self.path("exit.txt"), &tmux);
    }

    fn doc(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("doc.json")).unwrap()).unwrap()
    }
}

#[test]
fn a_reviewer_adds_and_retypes_an_entity_adds_a_relation_saves_and_quits() {
    let ws = Workspace::new();
    let tmux = Tmux::start(&ws.command(), 100, 32);
    let first = wait_ready(&tmux);
    assert!(first.contains("doc.json"), "the document list shows the file:\n{first}");
    assert!(first.contains("Org"), "the gold entity's type is shown:\n{first}");

    // "John Smith" as Org (types file order: Loc, Org, Peop, Other), then retyped to Peop
    // with the picker.
    tmux.keys(&["v", "l", "2"]);
    tmux.wait_for("add entity");
    tmux.keys(&["t"]);
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("retype entity");
    // John Smith works for Acme: Work_For is the first relation type.
    tmux.keys(&["R", "Enter", "1"]);
    tmux.wait_for("add relation");
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote doc.json");
    tmux.keys(&["q"]);
    let exit = wait_for_file(&ws.path("exit.txt"), &tmux);
    assert_eq!(exit.trim(), "0");

    let doc = ws.doc();
    let s = &doc[0];
    assert_eq!(s["orig_id"], "s1", "extra keys are kept");
    let entities = s["entities"].as_array().unwrap();
    let john = entities.iter().position(|e| e["start"] == 0 && e["end"] == 2).expect("John Smith");
    let acme = entities.iter().position(|e| e["start"] == 4).expect("Acme");
    assert_eq!(entities[john]["type"], "Peop");
    assert_eq!(entities[john]["source"], "manual");
    assert_eq!(entities[acme], json!({"type": "Org", "start": 4, "end": 5}), "gold untouched");
    let relations = s["relations"].as_array().unwrap();
    assert_eq!(relations.len(), 1);
    assert_eq!(
        (relations[0]["head"].as_u64(), relations[0]["tail"].as_u64()),
        (Some(john as u64), Some(acme as u64))
    );
    assert_eq!(relations[0]["type"], "Work_For");
    // The second sentence holds only what the model proposed, marked as such.
    for e in doc[1]["entities"].as_array().into_iter().flatten() {
        assert_eq!(e["source"], "model");
    }
    let stty = std::fs::read_to_string(ws.path("stty.txt")).unwrap();
    assert!(stty.contains(" icanon") && stty.contains(" echo "), "terminal restored:\n{stty}");
}

#[test]
fn edits_survive_kill_9_and_are_offered_back() {
    let ws = Workspace::new();
    let before = std::fs::read(ws.path("doc.json")).unwrap();
    let tmux = Tmux::start(&ws.command(), 100, 32);
    wait_ready(&tmux);
    tmux.keys(&["v", "l", "3"]);
    tmux.wait_for("add entity");
    ws.kill_9_once_journaled(&tmux);
    assert_eq!(std::fs::read(ws.path("doc.json")).unwrap(), before, "the file was never written");
    drop(tmux);
    ws.recover_save_and_quit();
    let entities = ws.doc()[0]["entities"].clone();
    assert!(
        entities
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "Peop" && e["start"] == 0 && e["end"] == 2),
        "{entities}"
    );
}

#[test]
fn quitting_with_unsaved_edits_asks_first() {
    let ws = Workspace::new();
    let before = std::fs::read(ws.path("doc.json")).unwrap();
    let tmux = Tmux::start(&ws.command(), 80, 24);
    wait_ready(&tmux);
    tmux.keys(&["v", "l", "3"]);
    tmux.wait_for("add entity");
    tmux.keys(&["q"]);
    tmux.wait_for("unsaved");
    tmux.keys(&["n"]);
    tmux.keys(&["q"]);
    tmux.wait_for("unsaved");
    tmux.keys(&["y"]);
    wait_for_file(&ws.path("exit.txt"), &tmux);
    assert_eq!(
        std::fs::read(ws.path("doc.json")).unwrap(),
        before,
        "quit without saving writes nothing"
    );
}

#[test]
fn the_inspector_masks_the_most_important_head_and_shows_before_and_after() {
    let ws = Workspace::new();
    let tmux = Tmux::start(&ws.command(), 100, 32);
    wait_ready(&tmux);
    // "John Smith" as a range, the inspector given the keys, its importance view.
    tmux.keys(&["v", "l", "i", "e"]);
    let importance = tmux.wait_for("|∂s/∂ξ| 0");
    assert!(importance.contains("top heads"), "the top heads are listed:\n{importance}");
    // Mask the most important head.
    tmux.keys(&["1"]);
    let screen = tmux.wait_until("the ablation's result", |s| s.contains("what if · masked L"));
    eprintln!("{importance}\n{screen}");
    let line = screen.lines().find(|l| l.contains("what if · masked L")).unwrap();
    let (before, after) = line.split_once(" → ").expect("before → after");
    let decimal = |t: &str| t.starts_with('.') || t.starts_with("1.");
    assert!(before.contains("(encoder): P("), "{line}");
    assert!(decimal(before.rsplit(' ').next().unwrap()), "{line}");
    assert!(decimal(after), "{line}");
    assert!(after.contains("flips") || after.contains("stays"), "{line}");
}

#[test]
fn the_inspector_masks_a_word_and_shows_before_and_after() {
    let ws = Workspace::new();
    let tmux = Tmux::start(&ws.command(), 100, 32);
    wait_ready(&tmux);
    // "John Smith" as a range, the inspector given the keys, its importance view.
    tmux.keys(&["v", "l", "i", "e"]);
    tmux.wait_for("no word masked");
    // The word cursor starts on "John": one word right, then mask "Smith".
    tmux.keys(&["]", "w"]);
    let screen = tmux.wait_until("the masked word's result", |s| {
        s.lines().any(|l| l.contains("masked words «Smith» ·") && l.contains(" → "))
    });
    eprintln!("{screen}");
    let line = screen.lines().find(|l| l.contains("masked words «Smith» ·")).unwrap();
    let (before, after) = line.split_once(" → ").expect("before → after");
    let decimal = |t: &str| t.starts_with('.') || t.starts_with("1.");
    assert!(before.contains("· P("), "{line}");
    assert!(decimal(before.rsplit(' ').next().unwrap()), "{line}");
    assert!(decimal(after), "{line}");
    assert!(after.contains("flips") || after.contains("stays"), "{line}");
    // w again unmasks it.
    tmux.keys(&["w"]);
    tmux.wait_for("no word masked");
}

/// A sentence appended to a `.txt` after its annotations were saved comes in when the
/// document is opened again, and the reviewed sentence keeps its review.
#[test]
fn a_sentence_appended_to_a_saved_text_comes_in_and_the_review_stays() {
    let ws = Workspace::new();
    std::fs::remove_file(ws.path("doc.json")).unwrap();
    std::fs::write(ws.path("notes.txt"), "Zoë Ünal lives in Berlin.\n").unwrap();
    // No model: nothing is proposed while the keys go in.
    let tmux = Tmux::start(&ws.command_with("--no-model"), 100, 32);
    tmux.wait_for("Berlin");
    tmux.keys(&["r"]);
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote notes.json");
    tmux.keys(&["q"]);
    wait_for_file(&ws.path("exit.txt"), &tmux);
    drop(tmux);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("notes.json")).unwrap()).unwrap();
    assert_eq!(saved[0]["reviewed"], true);
    assert_eq!(saved[0]["offsets"][1], json!([4, 8]), "code points: Ünal after Zoë");

    std::fs::remove_file(ws.path("exit.txt")).unwrap();
    let mut text = std::fs::read_to_string(ws.path("notes.txt")).unwrap();
    text.push_str("\nMax Weber moved to Paris.\n");
    std::fs::write(ws.path("notes.txt"), text).unwrap();
    let tmux = Tmux::start(&ws.command_with("--no-model"), 160, 32);
    tmux.wait_for("notes.txt changed: 1 new or changed sentence(s) came in");
    tmux.keys(&["j"]);
    tmux.wait_for("Paris");
    tmux.keys(&["q"]);
    wait_for_file(&ws.path("exit.txt"), &tmux);
}

#[test]
fn a_split_survives_kill_9_and_is_saved_as_two_records() {
    let ws = Workspace::new();
    let tmux = Tmux::start(&ws.command(), 100, 32);
    wait_ready(&tmux);
    // "John Smith works for Acme | in Paris .": split before the sixth word.
    tmux.keys(&["l", "l", "l", "l", "l", "-"]);
    tmux.wait_for("split before word 6");
    ws.kill_9_once_journaled(&tmux);
    drop(tmux);
    ws.recover_save_and_quit();
    let doc = ws.doc();
    let records = doc.as_array().unwrap();
    assert_eq!(records.len(), 3, "{doc}");
    assert_eq!(records[0]["tokens"], json!(["John", "Smith", "works", "for", "Acme"]));
    assert_eq!(records[1]["tokens"], json!(["in", "Paris", "."]));
    assert_eq!(records[0]["entities"], json!([{"type": "Org", "start": 4, "end": 5}]));
    assert_eq!((&records[0]["orig_id"], &records[1]["orig_id"]), (&json!("s1"), &json!("s1")));
    assert_eq!(records[2]["orig_id"], "s2");
}

#[test]
fn a_sentence_appended_to_the_text_while_it_is_open_comes_in_and_no_edit_is_lost() {
    let ws = Workspace::new();
    std::fs::remove_file(ws.path("doc.json")).unwrap();
    std::fs::write(ws.path("notes.txt"), "Zoë Ünal lives in Berlin.\n").unwrap();
    let append = |sentence: &str| {
        let mut text = std::fs::read_to_string(ws.path("notes.txt")).unwrap();
        text.push_str(sentence);
        std::fs::write(ws.path("notes.txt"), text).unwrap();
    };
    let tmux = Tmux::start(&ws.command_with("--no-model"), 160, 32);
    tmux.wait_for("Berlin");
    tmux.keys(&["r"]);
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote notes.json");

    // Saved, nothing unsaved: the new sentence comes in at once.
    append("\nMax Weber moved to Paris.\n");
    tmux.wait_for("notes.txt changed: 1 new or changed sentence(s) came in");
    tmux.keys(&["j"]);
    tmux.wait_for("Paris");

    // With an unsaved edit (Paris's sentence reviewed), it waits for the save.
    tmux.keys(&["r"]);
    tmux.wait_for("mark reviewed");
    append("\nCy Lee works in Oslo.\n");
    tmux.wait_for("notes.txt changed: its new sentences come in once notes.json is saved");
    tmux.keys(&["C-s"]);
    tmux.wait_for("notes.txt changed: 1 new or changed sentence(s) came in");
    tmux.keys(&["j"]);
    tmux.wait_for("Oslo");
    tmux.keys(&["q"]);
    wait_for_file(&ws.path("exit.txt"), &tmux);
    drop(tmux);

    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("notes.json")).unwrap()).unwrap();
    let reviewed: Vec<&Value> = saved.as_array().unwrap().iter().map(|s| &s["reviewed"]).collect();
    assert_eq!(reviewed, [&json!(true), &json!(true)], "both reviews saved, none lost");
    assert_eq!(saved[1]["tokens"][4], json!("Paris"));
}
