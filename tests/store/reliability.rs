//! The store under faults: two workbenches on one folder, damaged journals, kills between a
//! save and its journal's removal, special files (issue 22, docs/RELIABILITY.md).

use std::fs;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use spanscope::data::document::{Entity, Sentence};
use spanscope::data::io::write_atomic;
use spanscope::store::files::{discover, fingerprint, DocumentSource, SaveError};
use spanscope::store::journal::{Journal, JournalEntry};
use spanscope::worker::store::{StoreReply, StoreRequest, StoreWorker};

const DOC: &str =
    "[\n{\"tokens\":[\"Ann\",\"sleeps\"],\"entities\":[],\"relations\":[],\"orig_id\":1}\n]\n";

fn start() -> (StoreWorker, Receiver<StoreReply>) {
    let (sender, replies) = mpsc::channel();
    let worker = StoreWorker::spawn(move |reply| {
        let _ = sender.send(reply);
    });
    (worker, replies)
}

fn next(replies: &Receiver<StoreReply>) -> StoreReply {
    replies.recv_timeout(Duration::from_secs(10)).expect("no reply from the store worker")
}

fn edit(sentence: &Sentence) -> JournalEntry {
    let mut after = sentence.clone();
    after.entities.push(Entity::new("Peop", 0, 1));
    JournalEntry::new(0, after, "add entity", 1_700_000_000)
}

fn source(dir: &Path) -> DocumentSource {
    let path = dir.join("d.json");
    fs::write(&path, DOC).unwrap();
    DocumentSource::for_path(&path).unwrap()
}

/// Loads document 1 and returns its sentences and whether it is read-only (and why).
fn load(
    worker: &StoreWorker,
    replies: &Receiver<StoreReply>,
    source: &DocumentSource,
) -> (Vec<Sentence>, Option<String>) {
    worker.send(StoreRequest::Load { doc: 1, source: source.clone() });
    let StoreReply::Loaded { result: Ok(loaded), .. } = next(replies) else {
        panic!("expected a load")
    };
    (loaded.sentences, loaded.read_only)
}

/// A request whose reply says every earlier request was handled.
fn settle(worker: &StoreWorker, replies: &Receiver<StoreReply>, source: &DocumentSource) {
    worker.send(StoreRequest::Check { doc: 1, source: source.clone(), known: None });
    assert!(matches!(next(replies), StoreReply::Checked { .. }));
}

#[test]
fn a_second_workbench_on_a_folder_is_read_only_and_keeps_the_first_ones_journal() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let save_path = source.save_path.clone();
    let (first, first_replies) = start();
    let (sentences, read_only) = load(&first, &first_replies, &source);
    assert_eq!(read_only, None);
    let entry = edit(&sentences[0]);
    first.send(StoreRequest::Journal {
        doc: 1,
        save_path: save_path.clone(),
        entry: entry.clone(),
    });
    settle(&first, &first_replies, &source);

    let (second, second_replies) = start();
    let (_, read_only) = load(&second, &second_replies, &source);
    let why = read_only.expect("the second workbench is read-only");
    assert!(why.contains("another spanscope workbench") && why.contains("read-only"), "{why}");
    // Whatever the second one is asked, it neither journals nor saves there.
    second.send(StoreRequest::StartJournal { doc: 1, save_path: save_path.clone(), base: None });
    let StoreReply::JournalFailed { error, .. } = next(&second_replies) else {
        panic!("a journal start must be refused")
    };
    assert!(error.contains("another spanscope workbench"), "{error}");
    second.send(StoreRequest::Save {
        doc: 1,
        source: source.clone(),
        sentences: [std::sync::Arc::new(entry.after.clone())].into(),
        expected: fingerprint(&save_path).unwrap(),
        force: true,
    });
    let StoreReply::Saved { result: Err(SaveError::Data(_)), .. } = next(&second_replies) else {
        panic!("a save must be refused")
    };
    assert_eq!(fs::read_to_string(&save_path).unwrap(), DOC);
    let journal = Journal::read(&save_path).unwrap().unwrap();
    assert_eq!(journal.entries, vec![entry]);

    // Once the first one is gone (as after a kill -9), the folder is free again.
    drop(first);
    drop(second);
    let (third, third_replies) = start();
    assert_eq!(load(&third, &third_replies, &source).1, None);
}

#[test]
fn a_journal_with_a_damaged_line_is_set_aside_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let save_path = source.save_path.clone();
    let print = fingerprint(&save_path).unwrap();
    let mut journal = Journal::start(&save_path, print).unwrap();
    let sentence: Sentence = serde_json::from_str(r#"{"tokens":["Ann","sleeps"]}"#).unwrap();
    journal.append(&edit(&sentence)).unwrap();
    drop(journal);
    let journal_path = Journal::path_for(&save_path);
    let mut damaged = fs::read(&journal_path).unwrap();
    damaged.extend_from_slice(b"{\"sentence\":0,\"aft\n");
    let good_line = fs::read_to_string(&journal_path).unwrap().lines().nth(1).unwrap().to_string();
    damaged.extend_from_slice(format!("{good_line}\n").as_bytes());
    fs::write(&journal_path, &damaged).unwrap();

    let (worker, replies) = start();
    worker.send(StoreRequest::Load { doc: 1, source: source.clone() });
    assert!(matches!(next(&replies), StoreReply::Loaded { recovery: None, .. }));
    let StoreReply::JournalFailed { error, .. } = next(&replies) else {
        panic!("a damaged journal must be reported")
    };
    assert!(error.contains("line 3") && error.contains("it is kept as"), "{error}");
    // The first edit of this session starts a new journal; the damaged one is still there.
    worker.send(StoreRequest::StartJournal { doc: 1, save_path: save_path.clone(), base: print });
    settle(&worker, &replies, &source);
    let recovery = dir.path().join(".spanscope").join("recovery");
    let kept: Vec<_> = fs::read_dir(&recovery)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".journal.damaged-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(fs::read(&kept[0]).unwrap(), damaged);
}

#[test]
fn a_kill_between_a_save_and_its_journal_removal_recovers_silently() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let save_path = source.save_path.clone();
    let print = fingerprint(&save_path).unwrap();
    // As the workbench journals it: the whole sentence, its extra keys too.
    let sentence: Sentence =
        serde_json::from_str(r#"{"tokens":["Ann","sleeps"],"orig_id":1}"#).unwrap();
    let entry = edit(&sentence);
    let mut journal = Journal::start(&save_path, print).unwrap();
    journal.append(&entry).unwrap();
    drop(journal);
    // The save's rename happened; the journal's removal did not.
    let saved =
        DOC.replace("\"entities\":[]", "\"entities\":[{\"type\":\"Peop\",\"start\":0,\"end\":1}]");
    write_atomic(&save_path, saved.as_bytes()).unwrap();

    let (worker, replies) = start();
    worker.send(StoreRequest::Load { doc: 1, source: source.clone() });
    let StoreReply::Loaded { result: Ok(loaded), recovery, .. } = next(&replies) else {
        panic!("expected a load")
    };
    assert_eq!(loaded.sentences[0].entities, entry.after.entities);
    assert!(recovery.is_none(), "nothing to recover: the edits are in the file");
    settle(&worker, &replies, &source);
    assert!(Journal::read(&save_path).unwrap().is_none());
}

#[test]
fn temporary_files_left_by_a_killed_writer_go_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    // Names as write_atomic makes them, of a process that no longer runs.
    let left = dir.path().join(".d.json.2147483646.4.tmp");
    fs::write(&left, "half a file").unwrap();
    let recovery = dir.path().join(".spanscope").join("recovery");
    fs::create_dir_all(&recovery).unwrap();
    let left_journal = recovery.join(".d.json.journal.jsonl.2147483646.0.tmp");
    fs::write(&left_journal, "{").unwrap();
    let (worker, replies) = start();
    load(&worker, &replies, &source);
    assert!(!left.exists() && !left_journal.exists());
}

#[cfg(unix)]
#[test]
fn a_fifo_or_device_among_the_inputs_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("new.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = dir.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    source(dir.path());
    // In a folder they are not documents; named one by one they are errors naming the file.
    let found = discover(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(found.documents.len(), 1);
    let err = discover(std::slice::from_ref(&fifo)).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: a named pipe", fifo.display())), "{err}");
    let err = discover(std::slice::from_ref(&zero)).unwrap_err();
    assert!(err.to_string().contains("a device, not a file"), "{err}");

    // A load of one (it appeared after discovery) does not block the worker.
    let (worker, replies) = start();
    worker.send(StoreRequest::Load { doc: 2, source: DocumentSource::for_path(&fifo).unwrap() });
    let StoreReply::Loaded { result: Err(err), .. } = next(&replies) else {
        panic!("loading a FIFO must fail")
    };
    assert!(err.to_string().contains("only regular files are read"), "{err}");
}
