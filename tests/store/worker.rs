//! The store worker (`store::worker`) does loads, journal writes and saves in order.

use std::fs;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use spanscope::data::document::{Entity, Sentence};
use spanscope::store::files::{fingerprint, DocumentSource, SaveError};
use spanscope::store::journal::{replay, Journal, JournalEntry};
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

#[test]
fn load_journal_save_replies_in_order_and_empties_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let save_path = source.save_path.clone();
    let (worker, replies) = start();

    worker.send(StoreRequest::Load { doc: 1, source: source.clone() });
    let StoreReply::Loaded { doc: 1, result: Ok(loaded), recovery: None } = next(&replies) else {
        panic!("expected a load of document 1")
    };
    assert_eq!(loaded.fingerprint, fingerprint(&save_path).unwrap());

    let entry = edit(&loaded.sentences[0]);
    worker.send(StoreRequest::Journal {
        doc: 1,
        save_path: save_path.clone(),
        entry: entry.clone(),
    });
    worker.send(StoreRequest::Check { doc: 1, source: source.clone(), known: loaded.fingerprint });
    let StoreReply::Checked { doc: 1, disk: Ok(disk) } = next(&replies) else {
        panic!("expected a check (a journal append succeeds silently)")
    };
    assert_eq!(disk, loaded.fingerprint);
    let journal = Journal::read(&save_path).unwrap().unwrap();
    assert_eq!((journal.base, journal.entries.clone()), (loaded.fingerprint, vec![entry.clone()]));

    worker.send(StoreRequest::Save {
        doc: 1,
        source: source.clone(),
        sentences: [std::sync::Arc::new(entry.after.clone())].into(),
        expected: loaded.fingerprint,
        force: false,
    });
    let StoreReply::Saved { doc: 1, result: Ok(saved) } = next(&replies) else {
        panic!("expected a save")
    };
    assert_eq!(fingerprint(&save_path).unwrap(), Some(saved));
    let journal = Journal::read(&save_path).unwrap().unwrap();
    assert!(journal.entries.is_empty());
    assert_eq!(journal.base, Some(saved));

    drop(worker);
    assert!(replies.try_recv().is_err(), "an unexpected extra reply");
}

#[test]
fn a_journal_left_by_a_crash_comes_back_with_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let save_path = source.save_path.clone();
    let (worker, replies) = start();
    worker.send(StoreRequest::Load { doc: 3, source: source.clone() });
    let StoreReply::Loaded { result: Ok(loaded), recovery: None, .. } = next(&replies) else {
        panic!("expected a load")
    };
    let entry = edit(&loaded.sentences[0]);
    // Appends without StartJournal open the journal lazily, with the loaded base.
    worker.send(StoreRequest::Journal { doc: 3, save_path: save_path.clone(), entry });
    drop(worker); // finishes the append first

    let (worker, replies) = start();
    worker.send(StoreRequest::Load { doc: 4, source });
    let StoreReply::Loaded { doc: 4, result: Ok(again), recovery: Some(recovery) } = next(&replies)
    else {
        panic!("expected a load with a recovery journal")
    };
    assert_eq!(recovery.base, again.fingerprint);
    let mut sentences = again.sentences.clone();
    replay(&mut sentences, &recovery.entries).unwrap();
    assert_eq!(sentences[0].entities.len(), 1);

    worker.send(StoreRequest::SetAsideJournal {
        doc: 4,
        save_path: save_path.clone(),
        why: "declined".into(),
    });
    let StoreReply::SetAside { doc: 4, path: Some(aside) } = next(&replies) else {
        panic!("expected the journal set aside")
    };
    assert!(aside.exists());
    assert_eq!(Journal::read(&save_path).unwrap(), None);
}

#[test]
fn conflicts_copies_and_journal_failures_are_replied() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let (worker, replies) = start();
    let sentences: Vec<Sentence> = serde_json::from_str(DOC).unwrap();

    worker.send(StoreRequest::Save {
        doc: 7,
        source: source.clone(),
        sentences: [std::sync::Arc::new(edit(&sentences[0]).after)].into(),
        expected: None,
        force: false,
    });
    worker.send(StoreRequest::KeepCopy {
        doc: 7,
        source: source.clone(),
        sentences: sentences.iter().cloned().map(std::sync::Arc::new).collect(),
        tag: "mine".into(),
    });
    // A file where the journal's folder should be.
    let blocked = dir.path().join("blocked").join("d.json");
    fs::create_dir_all(blocked.parent().unwrap()).unwrap();
    fs::write(dir.path().join("blocked/.spanscope"), "").unwrap();
    worker.send(StoreRequest::StartJournal { doc: 8, save_path: blocked.clone(), base: None });
    drop(worker);

    let replies: Vec<StoreReply> = replies.try_iter().collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        matches!(
            &replies[0],
            StoreReply::Saved { doc: 7, result: Err(SaveError::Conflict { .. }) }
        ),
        "{replies:?}"
    );
    assert_eq!(fs::read_to_string(&source.save_path).unwrap(), DOC);
    let StoreReply::CopyKept { doc: 7, result: Ok(copy) } = &replies[1] else {
        panic!("expected a kept copy: {replies:?}")
    };
    assert!(copy.starts_with(dir.path().join(".spanscope/conflicts")));
    let StoreReply::JournalFailed { doc: 8, error } = &replies[2] else {
        panic!("expected a journal failure: {replies:?}")
    };
    assert!(error.contains("blocked/.spanscope"), "{error}");
}
