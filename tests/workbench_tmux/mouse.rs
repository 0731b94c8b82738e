//! The mouse in the real binary in tmux: SGR mouse reports written to the pane as the terminal
//! would send them (a click on a word, a drag over two, a click on a bracket), and the keys
//! that act on what they selected. `ui.mouse = false` leaves the terminal's mouse alone.

use std::path::Path;

use crate::tmux::{wait_for_file, Tmux};
use serde_json::{json, Value};

/// A folder with doc.json (two sentences, Acme gold Org in the first: the types offered are
/// the document's) and a config file holding `config`.
pub(crate) fn workspace(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let doc = json!([
        {"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
         "entities": [{"type": "Org", "start": 4, "end": 5}], "relations": [], "orig_id": "s1"},
        {"tokens": ["Ana", "Weiß", "left", "."], "entities": [], "relations": []}
    ]);
    std::fs::write(dir.path().join("doc.json"), doc.to_string()).unwrap();
    let config_dir = dir.path().join(".config/spanscope");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("config.toml"), config).unwrap();
    dir
}

pub(crate) fn command(dir: &Path) -> String {
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let d = dir.display();
    format!(
        "cd {d} && env -u SPANSCOPE_MODEL -u NO_COLOR -u XDG_CONFIG_HOME HOME={d} {bin} annotate \
         --no-model {d}/doc.json; echo $? > {d}/exit.txt.tmp; mv {d}/exit.txt.tmp {d}/exit.txt; \
         sleep 30"
    )
}

/// The 1-based column and row where `word` starts on the first row of `screen` that holds
/// `row_text`.
fn cell(screen: &str, row_text: &str, word: &str) -> (usize, usize) {
    let (y, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(row_text))
        .unwrap_or_else(|| panic!("no row with {row_text:?}:\n{screen}"));
    let byte = line.find(word).unwrap();
    (line[..byte].chars().count() + 1, y + 1)
}

/// Writes an SGR mouse report (`ESC [ < button ; x ; y M`, `m` for a release) to the pane.
fn report(tmux: &Tmux, button: u8, (x, y): (usize, usize), release: bool) {
    let end = if release { 'm' } else { 'M' };
    let bytes = format!("\x1b[<{button};{x};{y}{end}");
    assert!(tmux.run(&["send-keys", "-t", "0", "-l", &bytes]).status.success());
}

fn click(tmux: &Tmux, at: (usize, usize)) {
    report(tmux, 0, at, false);
    report(tmux, 0, at, true);
}

#[test]
fn clicks_and_a_drag_select_what_the_keys_then_act_on() {
    let dir = workspace("");
    let tmux = Tmux::start(&command(dir.path()), 120, 30);
    let screen = tmux.wait_for("John Smith works");
    let flag = tmux.run(&["display-message", "-p", "-t", "0", "#{mouse_any_flag}"]);
    assert_eq!(String::from_utf8_lossy(&flag.stdout).trim(), "1", "the workbench reads the mouse");

    // Drag from John to Smith, then type 1.
    let (john, smith) = (cell(&screen, "John Smith", "John"), cell(&screen, "John Smith", "Smith"));
    report(&tmux, 0, john, false);
    report(&tmux, 32, smith, false);
    report(&tmux, 0, smith, true);
    tmux.wait_for("end range");
    tmux.keys(&["1"]);
    tmux.wait_until("a bracket under John", |s| bracket_at(s, john, "┗└"));

    // Click Paris, then v and 1 type the one word (the types are the document's: Org).
    let paris = cell(&screen, "John Smith", "Paris");
    click(&tmux, paris);
    tmux.keys(&["v", "1"]);
    tmux.wait_until("a bracket under Paris", |s| bracket_at(s, paris, "┗└"));

    // Click the bracket under Acme: it is selected (heavy), and x deletes it.
    let acme = cell(&screen, "John Smith", "Acme");
    click(&tmux, (acme.0, acme.1 + 1));
    tmux.wait_until("Acme selected", |s| bracket_at(s, acme, "┗"));
    tmux.keys(&["x"]);
    tmux.wait_until("Acme deleted", |s| !bracket_at(s, acme, "┗└"));
    tmux.keys(&["C-s"]);
    tmux.wait_for("wrote doc.json");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&dir.path().join("exit.txt"), &tmux).trim(), "0");

    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("doc.json")).unwrap())
            .unwrap();
    let spans: Vec<(u64, u64)> = doc[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap()))
        .collect();
    assert_eq!(spans, vec![(0, 2), (6, 7)], "John Smith and Paris typed, Acme gone");
}

/// Whether the cell under the word at `(x, y)` (1-based) starts a bracket drawn with one of
/// `corners`.
fn bracket_at(screen: &str, (x, y): (usize, usize), corners: &str) -> bool {
    let under = screen.lines().nth(y).and_then(|l| l.chars().nth(x - 1));
    under.is_some_and(|c| corners.contains(c))
}

#[test]
fn with_the_mouse_off_the_terminal_keeps_it() {
    let dir = workspace("[ui]\nmouse = false\n");
    let tmux = Tmux::start(&command(dir.path()), 120, 30);
    tmux.wait_for("John Smith works");
    let flag = tmux.run(&["display-message", "-p", "-t", "0", "#{mouse_any_flag}"]);
    assert_eq!(String::from_utf8_lossy(&flag.stdout).trim(), "0");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&dir.path().join("exit.txt"), &tmux).trim(), "0");
}
