//! The expert's schema from the command line: `types` edits a types file, its relation rules
//! make `predict --constrain-relations` drop what they forbid, and `eval --only-types` scores
//! the types of one file alone.

use std::path::Path;

use crate::binary::{path, spanscope, stderr};
use serde_json::Value;

/// `(type, head type, tail type)` of every relation of a SpERT file.
fn relations(file: &Path) -> Vec<(String, String, String)> {
    let sentences: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let mut out = Vec::new();
    for s in sentences.as_array().unwrap() {
        let ty = |i: &Value| {
            s["entities"][i.as_u64().unwrap() as usize]["type"].as_str().unwrap().to_string()
        };
        for r in s["relations"].as_array().unwrap() {
            out.push((r["type"].as_str().unwrap().into(), ty(&r["head"]), ty(&r["tail"])));
        }
    }
    out
}

#[test]
fn a_rule_set_with_types_makes_constrain_relations_drop_what_it_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("types.json");
    std::fs::copy("sample_docs/types.json", &types).unwrap();
    for args in [
        &["types", "add", path(&types), "entity", "Chemical"][..],
        &["types", "rule", path(&types), "OrgBased_In", "--head", "Peop", "--tail", "Peop"],
    ] {
        let out = spanscope(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let written: Value = serde_json::from_slice(&std::fs::read(&types).unwrap()).unwrap();
    assert!(written["entities"]["Chemical"].is_object());
    assert_eq!(written["relations"]["OrgBased_In"]["head"], serde_json::json!(["Peop"]));

    let predict = |output: &Path, constrained: bool| {
        let mut args = vec!["predict", "--input", "sample_docs/observatory.txt"];
        args.extend(["--output", path(output)]);
        if constrained {
            args.extend(["--constrain-relations", "--types", path(&types)]);
        }
        let out = spanscope(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        relations(output)
    };
    let free = predict(&dir.path().join("free.json"), false);
    let constrained = predict(&dir.path().join("constrained.json"), true);
    assert!(free.iter().any(|r| r.0 == "OrgBased_In"), "the bundled model finds one: {free:?}");
    let kept: Vec<_> = free.iter().filter(|r| r.0 != "OrgBased_In").cloned().collect();
    assert_eq!(constrained, kept, "only what the rule forbids is dropped");
}

#[test]
fn eval_only_types_leaves_the_other_types_out_of_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.json");
    let predicted = dir.path().join("predicted.json");
    std::fs::write(
        &gold,
        r#"[{"tokens": ["Ann", "left", "Acme", "with", "aspirin"],
             "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 2, "end": 3},
                          {"type": "Chemical", "start": 4, "end": 5}],
             "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}]"#,
    )
    .unwrap();
    // Right on the CoNLL04 types, wrong on Chemical (a Gene instead) and one relation more.
    std::fs::write(
        &predicted,
        r#"[{"tokens": ["Ann", "left", "Acme", "with", "aspirin"],
             "entities": [{"type": "Gene", "start": 4, "end": 5}, {"type": "Peop", "start": 0, "end": 1},
                          {"type": "Org", "start": 2, "end": 3}],
             "relations": [{"type": "Work_For", "head": 1, "tail": 2},
                           {"type": "Binds", "head": 0, "tail": 1}]}]"#,
    )
    .unwrap();
    let eval = |only: bool| -> Value {
        let mut args = vec!["eval", "--dataset", path(&gold), "--predictions", path(&predicted)];
        if only {
            args.extend(["--only-types", "sample_docs/types.json"]);
        }
        args.push("--json");
        let out = spanscope(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let f1 = |report: &Value, what: &str| report[what]["micro"]["f1"].as_f64().unwrap();
    let all = eval(false);
    assert!(f1(&all, "entities") < 100.0 && f1(&all, "relations_strict") < 100.0);
    let old = eval(true);
    assert_eq!((f1(&old, "entities"), f1(&old, "relations_strict")), (100.0, 100.0));
    assert_eq!(old["entities"]["micro"]["support"], 2, "Chemical left out of the gold");
}
