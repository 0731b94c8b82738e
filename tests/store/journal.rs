//! The recovery journal (`store::journal`): start, append, read, replay, set aside.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use spanscope::data::document::{Entity, Sentence};
use spanscope::store::files::Fingerprint;
use spanscope::store::journal::{replay, Journal, JournalEntry, JournalError, ReplayError};

fn sentences() -> Vec<Sentence> {
    ["Ann sleeps", "Bob runs fast"]
        .iter()
        .map(|s| Sentence::from_tokens(s.split(' ').map(String::from).collect()))
        .collect()
}

fn entry(sentence: usize, entity: (&str, usize, usize), label: &str) -> JournalEntry {
    let mut after = sentences()[sentence].clone();
    after.entities.push(Entity::new(entity.0, entity.1, entity.2));
    JournalEntry::new(sentence, after, label, 1_700_000_000)
}

fn save_path(dir: &Path) -> PathBuf {
    dir.join("d.json")
}

const BASE: Fingerprint = Fingerprint { len: 12, hash: 0x1234 };

#[test]
fn the_journal_lives_in_the_recovery_folder() {
    assert_eq!(
        Journal::path_for(Path::new("/data/d.json")),
        Path::new("/data/.spanscope/recovery/d.json.journal.jsonl")
    );
    assert_eq!(
        Journal::path_for(Path::new("d.json")),
        Path::new("./.spanscope/recovery/d.json.journal.jsonl")
    );
}

#[test]
fn entries_appended_are_read_back_and_replay_the_edits() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    assert_eq!(Journal::read(&doc).unwrap(), None);

    let mut journal = Journal::start(&doc, Some(BASE)).unwrap();
    let header = fs::read_to_string(journal.path()).unwrap();
    assert_eq!(
        header,
        "{\"spanscope_journal\":1,\"file\":\"d.json\",\"base\":{\"len\":12,\"hash\":4660}}\n"
    );
    let edits = [entry(0, ("Peop", 0, 1), "add entity"), entry(1, ("Peop", 0, 1), "add entity")];
    let undo = JournalEntry::new(1, sentences()[1].clone(), "undo", 1);
    for e in edits.iter().chain([&undo]) {
        journal.append(e).unwrap();
    }
    let line = fs::read_to_string(journal.path()).unwrap().lines().nth(1).unwrap().to_string();
    assert_eq!(
        line,
        r#"{"sentence":0,"after":{"tokens":["Ann","sleeps"],"entities":[{"type":"Peop","start":0,"end":1}],"relations":[]},"label":"add entity","at":1700000000}"#
    );

    let recovered = Journal::read(&doc).unwrap().unwrap();
    assert_eq!(recovered.path, Journal::path_for(&doc));
    assert_eq!(recovered.base, Some(BASE));
    assert_eq!(recovered.entries, vec![edits[0].clone(), edits[1].clone(), undo]);

    let mut document = sentences();
    replay(&mut document, &recovered.entries).unwrap();
    assert_eq!(document[0], edits[0].after);
    assert_eq!(document[1], sentences()[1]);
}

#[test]
fn starting_again_replaces_the_old_journal() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    let mut journal = Journal::start(&doc, None).unwrap();
    journal.append(&entry(0, ("Peop", 0, 1), "add entity")).unwrap();
    drop(journal);
    Journal::start(&doc, Some(BASE)).unwrap();
    let recovered = Journal::read(&doc).unwrap().unwrap();
    assert!(recovered.entries.is_empty());
    assert_eq!(recovered.base, Some(BASE));
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    let first = entry(0, ("Peop", 0, 1), "add entity");
    let mut journal = Journal::start(&doc, None).unwrap();
    journal.append(&first).unwrap();
    drop(journal);
    let mut file = OpenOptions::new().append(true).open(Journal::path_for(&doc)).unwrap();
    file.write_all(br#"{"sentence":1,"after":{"tokens":["Bo"#).unwrap();
    drop(file);

    assert_eq!(Journal::read(&doc).unwrap().unwrap().entries, vec![first.clone()]);

    let second = entry(1, ("Peop", 0, 1), "add entity");
    let mut journal = Journal::open(&doc, Some(BASE)).unwrap();
    journal.append(&second).unwrap();
    let recovered = Journal::read(&doc).unwrap().unwrap();
    assert_eq!(recovered.entries, vec![first, second]);
    assert_eq!(recovered.base, None, "reopening keeps the journal's own base");
}

#[test]
fn opening_without_a_journal_starts_one() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    Journal::open(&doc, Some(BASE)).unwrap();
    assert_eq!(Journal::read(&doc).unwrap().unwrap().base, Some(BASE));
}

#[test]
fn corruption_before_the_last_line_names_the_journal_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    let mut journal = Journal::start(&doc, None).unwrap();
    journal.append(&entry(0, ("Peop", 0, 1), "add entity")).unwrap();
    let path = journal.path().to_path_buf();
    drop(journal);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("garbage\n");
    text.push_str(&serde_json::to_string(&entry(1, ("Peop", 0, 1), "x")).unwrap());
    text.push('\n');
    fs::write(&path, text).unwrap();

    let err = Journal::read(&doc).unwrap_err();
    assert!(
        matches!(&err, JournalError::Corrupt { line: 3, path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("d.json.journal.jsonl: line 3: "), "{err}");

    fs::write(&path, "{\"spanscope_journal\":1,\"file\":\"other.json\",\"base\":null}\n").unwrap();
    let err = Journal::read(&doc).unwrap_err();
    assert!(err.to_string().contains("the journal is for other.json, not d.json"), "{err}");
}

#[test]
fn set_aside_renames_and_never_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    assert_eq!(Journal::set_aside(&doc, "declined").unwrap(), None);

    let mut journal = Journal::start(&doc, None).unwrap();
    journal.append(&entry(0, ("Peop", 0, 1), "add entity")).unwrap();
    let content = fs::read(journal.path()).unwrap();
    drop(journal);
    let first = Journal::set_aside(&doc, "declined").unwrap().unwrap();
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("d.json.journal.declined-") && name.ends_with("Z.jsonl"), "{name}");
    assert_eq!(first.parent(), Journal::path_for(&doc).parent());
    assert_eq!(fs::read(&first).unwrap(), content);
    assert_eq!(Journal::read(&doc).unwrap(), None);

    // A second one in the same second does not replace the first.
    Journal::start(&doc, None).unwrap();
    let second = Journal::set_aside(&doc, "stale base").unwrap().unwrap();
    assert_ne!(first, second);
    assert!(second.to_string_lossy().contains(".journal.stale-base-"), "{second:?}");
    assert!(first.exists() && second.exists());
    let third = {
        Journal::start(&doc, None).unwrap();
        Journal::set_aside(&doc, "declined").unwrap().unwrap()
    };
    assert!(first.exists() && third.exists() && first != third);
}

#[test]
fn discard_removes_only_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let doc = save_path(dir.path());
    fs::write(&doc, "[]").unwrap();
    Journal::discard(&doc).unwrap();
    Journal::start(&doc, None).unwrap();
    Journal::discard(&doc).unwrap();
    assert_eq!(Journal::read(&doc).unwrap(), None);
    assert_eq!(fs::read_to_string(&doc).unwrap(), "[]");
}

#[test]
fn replay_refuses_entries_of_another_file_and_changes_nothing() {
    let mut document = sentences();
    let good = entry(0, ("Peop", 0, 1), "add entity");
    let out_of_range = JournalEntry { sentence: 2, ..entry(1, ("Peop", 0, 1), "add entity") };
    let err = replay(&mut document, &[good.clone(), out_of_range]).unwrap_err();
    assert_eq!(
        err,
        ReplayError::OutOfRange { entry: 1, label: "add entity".into(), sentence: 2, count: 2 }
    );
    assert_eq!(document, sentences());

    let other_tokens = JournalEntry { sentence: 1, ..good.clone() };
    let err = replay(&mut document, &[good, other_tokens]).unwrap_err();
    assert!(matches!(err, ReplayError::TokensDiffer { entry: 1, sentence: 1, .. }), "{err:?}");
    assert!(err.to_string().starts_with("journal entry 1 (add entity): its tokens differ"));
    assert_eq!(document, sentences());
}
