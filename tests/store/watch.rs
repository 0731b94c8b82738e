//! The folder watcher (`store::watch`) reports changes to document files, and nothing else.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use spanscope::store::watch::{canonical_form, FileEvent, FolderWatcher};

const WAIT: Duration = Duration::from_secs(5);

struct Watched {
    dir: tempfile::TempDir,
    events: Receiver<FileEvent>,
    _watcher: FolderWatcher,
}

impl Watched {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (sender, events) = mpsc::channel();
        let watcher = FolderWatcher::new(&[dir.path().to_path_buf()], move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        Watched { dir, events, _watcher: watcher }
    }

    /// A path in the watched folder, in the form events report it.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().canonicalize().unwrap().join(name)
    }

    /// Waits until every event so far has arrived (a sentinel file's creation is reported after
    /// them), and drops them.
    fn settle(&self, sentinel: &str) {
        fs::write(self.path(sentinel), "").unwrap();
        self.expect(&changed(self.path(sentinel)));
        while self.events.try_recv().is_ok() {}
    }

    /// Waits for `wanted`, returning every event that came before it.
    fn expect(&self, wanted: &FileEvent) -> Vec<FileEvent> {
        let mut before = Vec::new();
        loop {
            match self.events.recv_timeout(WAIT) {
                Ok(event) if event == *wanted => return before,
                Ok(event) => before.push(event),
                Err(e) => panic!("no {wanted:?} within {WAIT:?} ({e}); got {before:?}"),
            }
        }
    }
}

fn changed(path: PathBuf) -> FileEvent {
    FileEvent::Changed(path)
}

#[test]
fn a_created_file_is_reported_in_canonical_form() {
    let w = Watched::new();
    fs::write(w.dir.path().join("new.json"), "[]").unwrap();
    w.expect(&changed(w.path("new.json")));
    assert_eq!(canonical_form(&w.dir.path().join("new.json")), w.path("new.json"));
}

#[test]
fn a_modified_file_is_reported() {
    let w = Watched::new();
    let path = w.path("d.jsonl");
    fs::write(&path, "").unwrap();
    w.settle("sentinel.txt");
    fs::write(&path, "{\"tokens\":[\"a\"]}\n").unwrap();
    w.expect(&changed(path));
}

#[test]
fn a_rename_over_a_file_reports_the_target_changed() {
    let w = Watched::new();
    let path = w.path("d.json");
    fs::write(&path, "[]").unwrap();
    w.settle("first.txt");

    let temp = w.path(".d.json.4242.0.tmp");
    fs::write(&temp, "[ ]").unwrap();
    fs::rename(&temp, &path).unwrap();
    let before = w.expect(&changed(path.clone()));
    assert!(before.is_empty(), "the temporary file was reported: {before:?}");
    // Nothing says the target went away.
    fs::write(w.path("second.txt"), "x").unwrap();
    let rest = w.expect(&changed(w.path("second.txt")));
    assert!(!rest.contains(&FileEvent::Removed(path)), "{rest:?}");
}

#[test]
fn a_deleted_or_renamed_away_file_is_reported_removed() {
    let w = Watched::new();
    let (a, b) = (w.path("a.json"), w.path("b.txt"));
    fs::write(&a, "[]").unwrap();
    fs::write(&b, "text").unwrap();
    w.expect(&changed(b.clone()));
    fs::remove_file(&a).unwrap();
    w.expect(&FileEvent::Removed(a));
    fs::rename(&b, w.path("b.bak")).unwrap();
    w.expect(&FileEvent::Removed(b));
}

#[test]
fn our_own_folder_temporary_and_other_files_are_ignored() {
    let w = Watched::new();
    let ours = w.path(".spanscope/recovery");
    fs::create_dir_all(&ours).unwrap();
    fs::write(ours.join("d.json.journal.jsonl"), "{}\n").unwrap();
    fs::write(w.path(".spanscope/d.json"), "[]").unwrap();
    fs::write(w.path(".d.json.1.0.tmp"), "[]").unwrap();
    fs::write(w.path(".hidden.json"), "[]").unwrap();
    fs::write(w.path("notes.md"), "#").unwrap();
    fs::create_dir(w.path("sub")).unwrap();
    fs::write(w.path("sub/deep.json"), "[]").unwrap();
    fs::write(w.path("sentinel.json"), "[]").unwrap();
    let before = w.expect(&changed(w.path("sentinel.json")));
    assert!(before.is_empty(), "{before:?}");
}

#[test]
fn a_missing_folder_is_an_error_naming_it() {
    let missing = Path::new("/nonexistent/spanscope-watch");
    let err = FolderWatcher::new(&[missing.to_path_buf()], |_| {}).unwrap_err();
    assert_eq!(err.folder, missing);
    assert!(err.to_string().starts_with("/nonexistent/spanscope-watch: could not watch"), "{err}");
}
