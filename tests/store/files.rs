//! Discovery, loading and conflict-checked saving of documents (`store::files`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use spanscope::data::document::{Entity, Sentence};
use spanscope::data::io::{ErrorKind, Format};
use spanscope::store::files::{
    discover, fingerprint, keep_copy, load, save, DocumentSource, Fingerprint, SaveError,
};

const DOC: &str = r#"[{"tokens":["Ann","sleeps"],"entities":[{"type":"Peop","start":0,"end":1,"who":"me"}],"relations":[],"orig_id":7}]"#;
const TYPES: &str = r#"{"entities": {}, "relations": {}}"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn conflicts(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir.join(".spanscope/conflicts")) {
        Ok(entries) => {
            let mut names: Vec<String> =
                entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}

fn edited(sentences: &[Sentence]) -> Vec<Sentence> {
    let mut out = sentences.to_vec();
    out[0].entities.push(Entity::new("Other", 1, 2));
    out
}

#[test]
fn a_folder_gives_its_documents_sorted_with_txt_json_pairs_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "b.json", DOC);
    write(d, "b.txt", "Ann sleeps.");
    write(d, "a.txt", "Bob runs.");
    write(d, "c.jsonl", "");
    write(d, ".hidden.json", DOC);
    write(d, ".b.json.1.0.tmp", DOC);
    write(d, "notes.md", "#");
    fs::create_dir(d.join("sub")).unwrap();
    write(&d.join("sub"), "deep.json", DOC);

    let found = discover(&[d.to_path_buf()]).unwrap();
    let names: Vec<String> = found.documents.iter().map(|s| s.display_name()).collect();
    assert_eq!(names, ["a.txt", "b.json", "c.jsonl"]);
    let a = &found.documents[0];
    assert_eq!((a.read_path.clone(), a.read_format), (d.join("a.txt"), Format::Text));
    assert_eq!((a.save_path.clone(), a.save_format), (d.join("a.json"), Format::Json));
    assert_eq!(found.documents[1].save_path, d.join("b.json"));
    assert!(found.types.is_none() && found.skipped.is_empty());
}

#[test]
fn a_txt_with_an_existing_json_reads_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "x.txt", "Ann sleeps.");
    assert_eq!(DocumentSource::for_path(&txt).unwrap().read_path, txt);
    let json = write(dir.path(), "x.json", DOC);
    let source = DocumentSource::for_path(&txt).unwrap();
    assert_eq!((source.read_path, source.read_format), (json.clone(), Format::Json));
    assert_eq!(source.save_path, json);
    assert!(DocumentSource::for_path(Path::new("x.csv")).is_none());
}

#[test]
fn json_objects_are_types_files_and_types_json_wins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a_types.json", TYPES);
    write(d, "types.json", &format!("\u{feff}  \n{TYPES}"));
    write(d, "doc.json", DOC);
    let found = discover(&[d.to_path_buf(), d.join("types.json")]).unwrap();
    assert_eq!(found.types, Some(d.join("types.json")));
    assert_eq!(found.documents.len(), 1);
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert_eq!(found.skipped[0].0, d.join("a_types.json"));
    assert!(found.skipped[0].1.contains("types.json is the one in use"), "{:?}", found.skipped);
}

#[test]
fn the_first_types_file_is_used_when_none_is_named_types_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = write(d, "b.json", TYPES);
    let second = write(d, "a.json", TYPES);
    let found = discover(&[first.clone(), second.clone()]).unwrap();
    assert_eq!(found.types, Some(first));
    assert_eq!(found.skipped.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), [second]);
}

#[test]
fn a_txt_whose_json_twin_is_a_types_file_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "types.txt", "Some text.");
    write(dir.path(), "types.json", TYPES);
    let found = discover(std::slice::from_ref(&txt)).unwrap();
    assert!(found.documents.is_empty());
    assert_eq!(found.skipped[0].0, txt);
}

#[test]
fn files_are_taken_as_given_even_hidden_but_not_of_unknown_type() {
    let dir = tempfile::tempdir().unwrap();
    let hidden = write(dir.path(), ".h.jsonl", "");
    let found = discover(std::slice::from_ref(&hidden)).unwrap();
    assert_eq!(found.documents[0].read_path, hidden);

    let csv = write(dir.path(), "d.csv", "");
    let err = discover(std::slice::from_ref(&csv)).unwrap_err();
    assert_eq!((err.file, err.kind), (csv, ErrorKind::Format));
}

#[test]
fn a_missing_input_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = discover(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!((err.file.clone(), err.kind), (missing, ErrorKind::Io));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn load_then_save_round_trips_bytes_and_extra_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.json");
    let source = DocumentSource::for_path(&path).unwrap();
    let original = vec![serde_json::from_str::<Vec<Sentence>>(DOC).unwrap().remove(0)];
    let first = save(&source, &original, None, false).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(fingerprint(&path).unwrap(), Some(first));

    let loaded = load(&source).unwrap();
    assert!(loaded.problems.is_empty());
    assert_eq!(loaded.sentences, original);
    assert_eq!(loaded.sentences[0].extra["orig_id"], json!(7));
    assert_eq!(loaded.sentences[0].entities[0].extra["who"], json!("me"));
    assert_eq!(loaded.fingerprint, Some(first));

    let again = save(&source, &loaded.sentences, loaded.fingerprint, false).unwrap();
    assert_eq!(again, first);
    assert_eq!(fs::read(&path).unwrap(), bytes);

    let jsonl = DocumentSource::for_path(&dir.path().join("d.jsonl")).unwrap();
    let print = save(&jsonl, &original, None, false).unwrap();
    assert_eq!(load(&jsonl).unwrap().sentences, original);
    assert_eq!(load(&jsonl).unwrap().fingerprint, Some(print));
}

#[test]
fn a_txt_document_saves_to_its_json_twin() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "t.txt", "Ann sleeps. Bob runs.");
    let source = DocumentSource::for_path(&txt).unwrap();
    let loaded = load(&source).unwrap();
    assert_eq!(loaded.sentences.len(), 2);
    assert_eq!(loaded.fingerprint, None);
    let print = save(&source, &edited(&loaded.sentences), loaded.fingerprint, false).unwrap();
    assert_eq!(fingerprint(&dir.path().join("t.json")).unwrap(), Some(print));
    assert_eq!(fs::read_to_string(&txt).unwrap(), "Ann sleeps. Bob runs.");
    let reread = load(&DocumentSource::for_path(&txt).unwrap()).unwrap();
    assert_eq!(reread.sentences, edited(&loaded.sentences));
}

#[test]
fn a_file_changed_on_disk_is_a_conflict_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.json", DOC);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    let theirs = DOC.replace("sleeps", "snores");
    fs::write(&path, &theirs).unwrap();

    let err = save(&source, &edited(&loaded.sentences), loaded.fingerprint, false).unwrap_err();
    let disk = Some(Fingerprint::of(theirs.as_bytes()));
    assert_eq!(err, SaveError::Conflict { path: path.clone(), disk });
    assert!(err.to_string().contains("d.json"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
    assert!(conflicts(dir.path()).is_empty());
}

#[test]
fn a_file_created_or_removed_by_someone_else_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "t.txt", "Ann sleeps.");
    let source = DocumentSource::for_path(&txt).unwrap();
    let loaded = load(&source).unwrap();
    write(dir.path(), "t.json", DOC);
    let err = save(&source, &loaded.sentences, None, false).unwrap_err();
    assert!(matches!(err, SaveError::Conflict { disk: Some(_), .. }), "{err:?}");

    let path = write(dir.path(), "d.json", DOC);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    fs::remove_file(&path).unwrap();
    let err = save(&source, &loaded.sentences, loaded.fingerprint, false).unwrap_err();
    assert_eq!(err, SaveError::Conflict { path: path.clone(), disk: None });
    assert!(!path.exists());
}

#[test]
fn forcing_a_save_keeps_their_version_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.json", DOC);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    let theirs = DOC.replace("sleeps", "snores");
    fs::write(&path, &theirs).unwrap();

    let ours = edited(&loaded.sentences);
    let print = save(&source, &ours, loaded.fingerprint, true).unwrap();
    assert_eq!(fingerprint(&path).unwrap(), Some(print));
    assert_eq!(load(&source).unwrap().sentences, ours);
    let kept = conflicts(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with("d.json.") && kept[0].ends_with(".theirs.json"), "{kept:?}");
    let copy = dir.path().join(".spanscope/conflicts").join(&kept[0]);
    assert_eq!(fs::read_to_string(copy).unwrap(), theirs);

    // A second forced save in the same second gets a new name, not the old copy's.
    fs::write(&path, &theirs).unwrap();
    save(&source, &ours, Some(print), true).unwrap();
    assert_eq!(conflicts(dir.path()).len(), 2);
}

#[test]
fn a_forced_save_that_cannot_keep_their_version_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.json", DOC);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    let theirs = DOC.replace("sleeps", "snores");
    fs::write(&path, &theirs).unwrap();
    write(dir.path(), ".spanscope", "a file where our folder should be");

    let err = save(&source, &edited(&loaded.sentences), loaded.fingerprint, true).unwrap_err();
    let SaveError::Data(err) = err else { panic!("expected a data error, got {err:?}") };
    assert_eq!(err.kind, ErrorKind::Io);
    assert!(err.file.ends_with(".spanscope/conflicts"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), theirs);
}

#[test]
fn a_failed_save_names_the_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("docs");
    fs::create_dir(&folder).unwrap();
    let path = write(&folder, "d.json", DOC);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();

    // The save path itself became a folder.
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    write(&path, "inside", "x");
    let err = save(&source, &loaded.sentences, None, true).unwrap_err();
    assert!(matches!(&err, SaveError::Data(e) if e.file == path), "{err:?}");
    assert_eq!(fs::read_to_string(path.join("inside")).unwrap(), "x");
    assert_eq!(fs::read_dir(&folder).unwrap().count(), 1, "temp file left behind");

    // The folder is gone, replaced by a file.
    fs::remove_dir_all(&folder).unwrap();
    fs::write(&folder, "not a folder").unwrap();
    let err = save(&source, &loaded.sentences, loaded.fingerprint, true).unwrap_err();
    assert!(matches!(&err, SaveError::Data(e) if e.file == path), "{err:?}");
    assert!(err.to_string().contains("d.json"), "{err}");
    assert_eq!(fs::read_to_string(&folder).unwrap(), "not a folder");

    // The folder is gone altogether.
    fs::remove_file(&folder).unwrap();
    let err = save(&source, &loaded.sentences, None, false).unwrap_err();
    assert!(matches!(&err, SaveError::Data(e) if e.file == path), "{err:?}");
}

#[test]
fn keep_copy_writes_the_sentences_beside_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.jsonl", "");
    let source = DocumentSource::for_path(&path).unwrap();
    let ours = edited(&serde_json::from_str::<Vec<Sentence>>(DOC).unwrap());
    let copy = keep_copy(&source, &ours, "mine").unwrap();
    let name = copy.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("d.jsonl.") && name.ends_with(".mine.json"), "{name}");
    assert_eq!(copy.parent().unwrap(), dir.path().join(".spanscope/conflicts"));
    let kept = load(&DocumentSource::for_path(&copy).unwrap()).unwrap();
    assert_eq!(kept.sentences, ours);
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    let stamp = name.trim_start_matches("d.jsonl.").trim_end_matches(".mine.json");
    assert_eq!(stamp.len(), 16, "{stamp}");
    assert!(stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'), "{stamp}");
}

#[test]
fn fingerprint_of_a_missing_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fingerprint(&dir.path().join("none.json")).unwrap(), None);
    let path = write(dir.path(), "d.json", DOC);
    assert_eq!(fingerprint(&path).unwrap(), Some(Fingerprint::of(DOC.as_bytes())));
}

#[test]
fn what_validate_finds_in_loaded_records_comes_with_the_document_at_the_records_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        r#"{"tokens":["Ann","sleeps"]}"#,
        "\n",
        "not json\n",
        r#"{"tokens":["Bob",""],"entities":[{"type":"P","start":0,"end":1},{"type":"P","start":0,"end":1}]}"#,
        "\n",
    );
    let path = write(dir.path(), "d.jsonl", text);
    let loaded = load(&DocumentSource::for_path(&path).unwrap()).unwrap();
    assert_eq!(loaded.sentences.len(), 2);
    assert_eq!(loaded.problems.len(), 1);
    let notes: Vec<String> = loaded.notes.iter().map(ToString::to_string).collect();
    // Record 2 of the file (the unreadable line 2 is record 1), not the second sentence.
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("record 2") && notes[0].contains("token 1"), "{notes:?}");
    assert!(notes[1].contains("entity 1") && notes[1].contains("same span"), "{notes:?}");
    assert!(loaded.notes.iter().all(|n| n.kind == ErrorKind::Content));
}

#[test]
fn numbers_of_records_nobody_edited_keep_their_values_on_save() {
    let dir = tempfile::tempdir().unwrap();
    // One record per line and no spaces: the layout spanscope writes, so an unedited record's
    // line must come back as it was.
    let unedited = r#"{"tokens":["Bob","naps"],"entities":[],"relations":[],"big":123456789012345678901234567890,"z":-0,"f":0.1,"tiny":5e-324}"#;
    let text = format!(
        "[\n{},\n{unedited}\n]\n",
        r#"{"tokens":["Ann","sleeps"],"entities":[],"relations":[]}"#
    );
    let path = write(dir.path(), "d.json", &text);
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    save(&source, &edited(&loaded.sentences), loaded.fingerprint, false).unwrap();
    let saved = fs::read_to_string(&path).unwrap();
    assert!(saved.lines().any(|line| line == unedited), "{saved}");
    assert!(saved.contains(r#""type":"Other","start":1,"end":2"#), "{saved}");
}

#[test]
fn a_record_with_a_key_twice_does_not_load_and_says_which_key() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, place) in [
        ("d.json", "[\n{\"tokens\":[\"a\"]},\n{\"tokens\":[\"b\"],\"n\":1,\"n\":2}\n]\n", "record 1:"),
        ("d.jsonl", "{\"tokens\":[\"a\"]}\n{\"tokens\":[\"b\"],\"entities\":[{\"type\":\"P\",\"type\":\"Q\",\"start\":0,\"end\":1}]}\n", "record 1 (line 2):"),
    ] {
        let path = write(dir.path(), name, text);
        let loaded = load(&DocumentSource::for_path(&path).unwrap()).unwrap();
        assert_eq!(loaded.sentences.len(), 1, "{name}");
        let problem = loaded.problems.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(problem.len(), 1, "{name}: {problem:?}");
        assert!(problem[0].contains(place) && problem[0].contains("appears twice"), "{problem:?}");
    }
}

/// A SpERT file as another tool lays it out (Python's `json.dump(indent=2)`, with a byte-order
/// mark and key orders of its own): an edit re-writes its record only.
const PRETTY: &str = "\u{feff}[\n  {\n    \"tokens\": [\n      \"Ann\",\n      \"sleeps\"\n    ],\n    \"entities\": [],\n    \"relations\": [],\n    \"orig_id\": 1\n  },\n  {\n    \"orig_id\": 2,\n    \"tokens\": [\"Bob\", \"naps\"],\n    \"entities\": [{\"start\": 0, \"end\": 1, \"type\": \"Peop\"}],\n    \"relations\": [],\n    \"f\": 1.50\n  }  ,\n\n  {\"tokens\":[\"Cy\",\"runs\"],\"entities\":[],\"relations\":[]}\n]";

/// The byte ranges of `parts`, in order, in `text`.
fn slices(text: &str, parts: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut from = 0;
    parts
        .iter()
        .map(|part| {
            let at = from + text[from..].find(part).unwrap_or_else(|| panic!("{part} in {text}"));
            from = at + part.len();
            at..from
        })
        .collect()
}

#[test]
fn unedited_records_and_the_framing_of_any_layout_come_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let first = &PRETTY[..PRETTY.find("\n  },").unwrap() + 4];
    let first = &first[first.find("  {").unwrap() + 2..];
    let second_at = PRETTY.find("{\n    \"orig_id\": 2").unwrap();
    let second = &PRETTY[second_at..second_at + PRETTY[second_at..].find("\n  }").unwrap() + 4];
    let third = r#"{"tokens":["Cy","runs"],"entities":[],"relations":[]}"#;
    for (name, text) in [
        ("pretty.json", PRETTY.to_string()),
        (
            "lines.jsonl",
            format!(
                "{}\n\n{third}  \n{third}",
                r#"{"tokens": ["Ann", "sleeps"], "entities": [], "relations": [], "orig_id": 1}"#
            ),
        ),
    ] {
        let path = write(dir.path(), name, &text);
        let source = DocumentSource::for_path(&path).unwrap();
        let loaded = load(&source).unwrap();
        assert!(loaded.problems.is_empty(), "{name}: {:?}", loaded.problems);
        // Saving what was loaded writes nothing new.
        save(&source, &loaded.sentences, loaded.fingerprint, false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "{name}");

        let mut sentences = loaded.sentences.clone();
        sentences[0].entities.push(Entity::new("Other", 1, 2));
        save(&source, &sentences, loaded.fingerprint, false).unwrap();
        let saved = fs::read_to_string(&path).unwrap();
        assert_eq!(load(&source).unwrap().sentences, sentences, "{name}: {saved}");
        if name.ends_with(".json") {
            let kept = [second, third];
            let (old, new) = (slices(&text, &kept), slices(&saved, &kept));
            // The framing: what comes before the edited record and after it, between records.
            let old_first = slices(&text, &[first])[0].clone();
            assert_eq!(saved[..old_first.start], text[..old_first.start], "{saved}");
            assert_eq!(saved[new[0].start..], text[old[0].start..], "{saved}");
            // The edited record in the file's indentation.
            assert!(saved.contains("\n  {\n    \"tokens\": [\n      \"Ann\",\n"), "{saved}");
            assert!(saved.contains("\n      {\n        \"type\": \"Other\",\n"), "{saved}");
        } else {
            assert!(saved.ends_with(&format!("\n\n{third}  \n{third}")), "{saved}");
            assert!(
                saved.starts_with(r#"{"tokens":["Ann","sleeps"],"entities":[{"type":"Other""#),
                "{saved}"
            );
        }
    }
}
