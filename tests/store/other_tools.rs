//! brat and DyGIE documents as the workbench keeps them: discovered in a folder, loaded with
//! what they hold that is not shown, saved back in their own format (a brat `.txt` never
//! written), and left alone when nothing they can carry changed. Real files from
//! ../shared/data/interop (see its README), copied to a temporary folder; without the shared
//! data the tests print a note and pass.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use spanscope::data::document::Entity;
use spanscope::data::formats::{Interchange, LossKind};
use spanscope::store::files::{discover, load, save, DocumentSource, Fingerprint};

use crate::interop::interop;

/// Copies `files` of `from` (under the interop folder) into `to`.
fn copy(interop: &Path, from: &str, files: &[&str], to: &Path) {
    for file in files {
        fs::copy(interop.join(from).join(file), to.join(file)).unwrap();
    }
}

#[test]
fn a_folder_lists_brat_pairs_once_and_dygie_lines_by_their_keys() {
    let Some(interop) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(&interop, "brat/medkit", &["1_example.ann", "1_example.txt", "doc_01.txt"], d);
    copy(&interop, "dygie/dygiepp", &["scierc_article.json"], d);
    fs::write(d.join("spert.jsonl"), "{\"tokens\": [\"Ann\"], \"entities\": []}\n").unwrap();

    let found = discover(&[d.to_path_buf()]).unwrap();
    let listed: Vec<(String, Option<Interchange>)> =
        found.documents.iter().map(|s| (s.display_name(), s.interchange)).collect();
    assert_eq!(
        listed,
        [
            ("1_example.ann".to_string(), Some(Interchange::Brat)),
            ("doc_01.txt".to_string(), None),
            ("scierc_article.json".to_string(), Some(Interchange::Dygie)),
            ("spert.jsonl".to_string(), None),
        ],
        "the .txt of a brat pair is not a document of its own; SciERC's .json is no types file"
    );
    assert!(found.types.is_none());
    let ann = &found.documents[0];
    assert_eq!(
        (&ann.read_path, &ann.save_path),
        (&d.join("1_example.ann"), &d.join("1_example.ann"))
    );
    // Named alone, the .txt of a pair is its .ann.
    let by_text = DocumentSource::for_path(&d.join("1_example.txt")).unwrap();
    assert_eq!(by_text.read_path, d.join("1_example.ann"));
}

#[test]
fn a_brat_document_saves_its_ann_and_never_its_txt() {
    let Some(interop) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(&interop, "brat/medkit", &["1_example.ann", "1_example.txt"], d);
    let text_before = fs::read(d.join("1_example.txt")).unwrap();
    let ann_before = fs::read(d.join("1_example.ann")).unwrap();
    let source = DocumentSource::for_path(&d.join("1_example.ann")).unwrap();
    let loaded = load(&source).unwrap();
    assert_eq!(loaded.fingerprint, Some(Fingerprint::of(&ann_before)));
    // Notes, attributes and discontinuous spans are not shown: the load says so.
    for kind in [LossKind::Note, LossKind::Attribute, LossKind::DiscontinuousEntity] {
        assert!(loaded.losses.count(kind) > 0, "{kind:?} in {:?}", loaded.losses);
    }

    // Saving what was loaded (plus a mark brat cannot carry) writes nothing.
    let mut same = loaded.sentences.clone();
    same[0].extra.insert("reviewed".into(), Value::Bool(true));
    save(&source, &same, loaded.fingerprint, false).unwrap();
    assert_eq!(fs::read(d.join("1_example.ann")).unwrap(), ann_before, "unchanged: not rewritten");

    // Retype "Lisinopril", add "patient" as a manual entity, keep a model proposal open.
    let mut edited = loaded.sentences.clone();
    let first = &mut edited[0];
    let lisinopril = first.tokens.iter().position(|t| t == "Lisinopril").unwrap();
    let at = first.entities.iter().position(|e| e.start == lisinopril).unwrap();
    first.entities[at].entity_type = "drug".into();
    let patient = first.tokens[1].clone();
    first.entities.push(Entity::new("person", 1, 2));
    let mut proposal = Entity::new("person", 3, 4);
    proposal.extra.insert("source".into(), json!("model"));
    first.entities.push(proposal);
    let written = save(&source, &edited, loaded.fingerprint, false).unwrap();

    let ann = fs::read_to_string(d.join("1_example.ann")).unwrap();
    assert_eq!(written, Fingerprint::of(ann.as_bytes()));
    assert_eq!(fs::read(d.join("1_example.txt")).unwrap(), text_before, "the .txt is untouched");
    let text = String::from_utf8(text_before).unwrap();
    assert!(ann.lines().any(|l| l.ends_with("\tdrug 36 46\tLisinopril")), "{ann}");
    let person = format!("\tperson 4 {}\t{patient}", 4 + patient.chars().count());
    assert!(ann.lines().any(|l| l.ends_with(&person)), "{person:?} in\n{ann}");
    assert_eq!(ann.matches("\tperson ").count(), 1, "the open proposal is not written:\n{ann}");
    assert!(ann.lines().any(|l| l.starts_with('R') && l.contains("treats Arg1:")), "{ann}");
    // Every T line's offsets are characters of the original text.
    for line in ann.lines().filter(|l| l.starts_with('T')) {
        let fields: Vec<&str> = line.split('\t').collect();
        let offsets: Vec<usize> =
            fields[1].split(' ').skip(1).map(|n| n.parse().unwrap()).collect();
        let covered: String = text.chars().skip(offsets[0]).take(offsets[1] - offsets[0]).collect();
        assert_eq!(covered, fields[2], "{line}");
    }
    // Read back, the edit is there.
    let again = load(&DocumentSource::for_path(&d.join("1_example.ann")).unwrap()).unwrap();
    let types: Vec<&str> =
        again.sentences[0].entities.iter().map(|e| e.entity_type.as_str()).collect();
    assert!(types.contains(&"drug") && types.contains(&"person"), "{types:?}");
}

#[test]
fn a_dygie_document_saves_as_dygie_lines() {
    let Some(interop) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(&interop, "dygie/dygiepp", &["scierc_article.json"], d);
    let path = d.join("scierc_article.json");
    let before: Value =
        serde_json::from_str(fs::read_to_string(&path).unwrap().lines().next().unwrap()).unwrap();
    let source = DocumentSource::for_path(&path).unwrap();
    let loaded = load(&source).unwrap();
    assert_eq!(loaded.losses.count(LossKind::Cluster), 4, "the README's 4 clusters");
    save(&source, &loaded.sentences, loaded.fingerprint, false).unwrap();
    assert_eq!(
        Fingerprint::of(&fs::read(&path).unwrap()),
        loaded.fingerprint.unwrap(),
        "unchanged: not rewritten"
    );

    let mut edited = loaded.sentences.clone();
    let removed = edited[0].entities.remove(0);
    edited[0].relations.retain(|r| r.head != 0 && r.tail != 0);
    for r in &mut edited[0].relations {
        (r.head, r.tail) = (r.head - 1, r.tail - 1);
    }
    save(&source, &edited, loaded.fingerprint, false).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1, "one document, one line");
    let after: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(after["doc_key"], before["doc_key"]);
    assert_eq!(after["dataset"], before["dataset"]);
    assert_eq!(after["sentences"], before["sentences"]);
    let ner = |v: &Value| v["ner"][0].as_array().unwrap().clone();
    assert_eq!(ner(&after).len() + 1, ner(&before).len());
    let gone = json!([removed.start, removed.end - 1, removed.entity_type]);
    assert!(!ner(&after).contains(&gone), "{gone} removed");
    assert_eq!(after["ner"][1], before["ner"][1], "other sentences as they were");
    assert!(after.get("clusters").is_none(), "clusters are what the load reported lost");
}
