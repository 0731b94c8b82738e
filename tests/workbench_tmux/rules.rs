//! Relation rules in the real workbench (tmux, no model): the relation picker offers only the
//! types whose rules allow the pair, and a flip that would break a rule asks first.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own with one pane running a command.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (run by sh) in a `width`×`height` pane.
    fn start(command: &str, width: u16, height: u16) -> Tmux {
        // The modules of this binary run in one process: each names its sockets apart.
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let socket = format!("spanscope-rules-{}-{n}", std::process::id());
        let tmux = Tmux { socket };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs (scripts/setup.sh installs it)")
    }

    /// Types keys: tmux key names ("Enter", "C-s", "Tab") or literal text.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.run(&["send-keys", "-t", "0", key]);
            assert!(out.status.success());
        }
    }

    /// The screen as text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    /// Waits until the screen shows `text`, or fails showing the screen.
    fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |screen| screen.contains(text))
    }

    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited 60 s for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Waits until `path` exists (the wrapper script writes it when spanscope has exited).
fn wait_for_file(path: &Path, tmux: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "spanscope did not exit ({} never appeared); the screen:\n{}",
            path.display(),
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    std::fs::read_to_string(path).unwrap()
}

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
