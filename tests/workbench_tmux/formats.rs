//! Other tools' files opened directly (brat, DyGIE) and saved back in their own format,
//! through the real binary. The files are real ones from ../shared/data/interop (see its
//! README), copied to a temporary folder; without the shared data the tests print a note and
//! pass.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::interop::interop;
use crate::tmux::{wait_for_file, Tmux};

/// The workbench without a model on `args`, run in `dir`; `exit.txt` holds its exit status.
pub(crate) fn command(dir: &Path, args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let d = dir.display();
    format!(
        "cd {d} && env -u SPANSCOPE_MODEL -u NO_COLOR HOME={d} {bin} annotate --no-model {args}; \
         echo $? > {d}/exit.txt.tmp; mv {d}/exit.txt.tmp {d}/exit.txt; sleep 30"
    )
}

#[test]
fn a_brat_document_is_edited_and_saved_back_as_brat() {
    let Some(interop) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("news");
    fs::create_dir(&d).unwrap();
    let from = interop.join("brat/nlplab-tutorial-news");
    for file in ["060-relation_annotation.ann", "060-relation_annotation.txt", "annotation.conf"] {
        fs::copy(from.join(file), d.join(file)).unwrap();
    }
    let text = fs::read(d.join("060-relation_annotation.txt")).unwrap();
    let tmux = Tmux::start(&command(dir.path(), &d.display().to_string()), 100, 32);
    tmux.wait_for("060-relation_annotation.ann");

    // "Terry Pratchett" (Person) becomes an Organization, annotation.conf's second type; its
    // Located relation then breaks the conf's rule (Arg1:Person), which is asked about.
    tmux.keys(&["/"]);
    tmux.keys(&["Pratchett", "Enter"]);
    tmux.wait_for("match 1 of 2");
    tmux.keys(&["Tab", "2"]);
    tmux.wait_for("Break a relation rule?");
    tmux.keys(&["y"]);
    tmux.wait_for("retype entity");
    // The equivalence line cannot be shown, so it cannot be written back: asked first.
    tmux.keys(&["C-s"]);
    let question = tmux.wait_for("Save without these?");
    assert!(question.contains("equivalence"), "the loss is named:\n{question}");
    tmux.keys(&["y"]);
    tmux.wait_for("wrote 060-relation_annotation.ann");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&dir.path().join("exit.txt"), &tmux).trim(), "0");

    assert_eq!(fs::read(d.join("060-relation_annotation.txt")).unwrap(), text, "never written");
    let ann = fs::read_to_string(d.join("060-relation_annotation.ann")).unwrap();
    let line = |covered: &str, at: &str| {
        ann.lines()
            .find(|l| l.ends_with(&format!("\t{covered}")) && l.contains(at))
            .unwrap_or_else(|| panic!("no T line for {covered} at {at}:\n{ann}"))
            .to_string()
    };
    assert!(line("Terry Pratchett", " 139 154").contains("\tOrganization 139 154\t"), "{ann}");
    assert!(line("Terry Pratchett", " 1225 1240").contains("\tPerson "), "the other one stays");
    assert!(line("England", " 164 171").contains("\tGPE "), "{ann}");
    let relation = ann.lines().find(|l| l.starts_with('R')).expect("the relation is written");
    // The ids are renumbered: the relation names the spans' new ones.
    let id = |at: &str| {
        ann.lines().find(|l| l.contains(at)).unwrap().split('\t').next().unwrap().to_string()
    };
    assert_eq!(
        relation,
        format!("R1\tLocated Arg1:{} Arg2:{}", id(" 139 154\t"), id(" 164 171\t"))
    );
    assert!(!ann.contains("Alias"), "the equivalence was reported, then dropped:\n{ann}");
    assert_eq!(ann.lines().filter(|l| l.starts_with('T')).count(), 10);
}

#[test]
fn a_dygie_document_is_edited_and_saved_back_as_dygie() {
    let Some(interop) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = d.join("scierc_article.json");
    fs::copy(interop.join("dygie/dygiepp/scierc_article.json"), &path).unwrap();
    let before: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let tmux = Tmux::start(&command(d, "scierc_article.json"), 100, 32);
    tmux.wait_for("scierc_article.json");

    // Delete the first sentence's first entity.
    tmux.keys(&["Tab", "x"]);
    tmux.wait_for("delete entity");
    tmux.keys(&["C-s"]);
    let question = tmux.wait_for("Save without these?");
    assert!(question.contains("coreference"), "the clusters are named:\n{question}");
    tmux.keys(&["y"]);
    tmux.wait_for("wrote scierc_article.json");
    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&d.join("exit.txt"), &tmux).trim(), "0");

    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    let after: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(after["doc_key"], before["doc_key"]);
    assert_eq!(after["sentences"], before["sentences"], "the words are as they were");
    // "method" ([6, 6]) is the first entity, and goes with the relation that uses it.
    assert_eq!(after["ner"][0], json!([[10, 12, "OtherScientificTerm"], [14, 16, "Task"]]));
    assert_eq!(after["relations"][0], json!([[10, 12, 14, 16, "USED-FOR"]]));
    let rest = |v: &Value, key: &str| v[key].as_array().unwrap()[1..].to_vec();
    assert_eq!(rest(&after, "ner"), rest(&before, "ner"), "other sentences as they were");
    assert_eq!(rest(&after, "relations"), rest(&before, "relations"));
}
