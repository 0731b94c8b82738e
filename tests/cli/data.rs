//! `spanscope compare` and `spanscope stats` as a user runs them, on crafted files whose numbers
//! are worked out by hand below, and on CoNLL04 dev.

use crate::shared_data::conll04_dev;

use std::path::{Path, PathBuf};

use crate::binary::{path, spanscope, stderr, stdout};
use serde_json::Value;

/// Writes `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// Runs the command, expects success, parses its JSON output.
fn json(args: &[&str]) -> Value {
    let out = spanscope(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("the output is JSON")
}

fn assert_close(value: &Value, expected: f64) {
    let got = value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((got - expected).abs() < 1e-9, "got {got}, expected {expected}");
}

/// Checks micro precision, recall and F1 of one report.
fn assert_micro(report: &Value, p: f64, r: f64, f1: f64) {
    assert_close(&report["micro"]["precision"], p);
    assert_close(&report["micro"]["recall"], r);
    assert_close(&report["micro"]["f1"], f1);
}

// A, the reference: two sentences, 7 + 5 = 12 words.
const A: &str = r#"[
 {"tokens": ["Ann", "Lee", "works", "for", "Acme", "in", "Oslo"],
  "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 5}, {"type": "Loc", "start": 6, "end": 7}],
  "relations": [{"type": "Work_For", "head": 0, "tail": 1}, {"type": "OrgBased_In", "head": 1, "tail": 2}]},
 {"tokens": ["Bob", "visited", "New", "York", "."],
  "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 2, "end": 4}],
  "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}
]"#;

// B: "Acme" typed Loc (and so Work_For's tail is a Loc), OrgBased_In and Live_In left out,
// "New York" cut to "York".
const B: &str = r#"[
 {"tokens": ["Ann", "Lee", "works", "for", "Acme", "in", "Oslo"],
  "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Loc", "start": 4, "end": 5}, {"type": "Loc", "start": 6, "end": 7}],
  "relations": [{"type": "Work_For", "head": 0, "tail": 1}]},
 {"tokens": ["Bob", "visited", "New", "York", "."],
  "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
  "relations": []}
]"#;

#[test]
fn compare_scores_and_kappa_match_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", A);
    let b = write(dir.path(), "b.json", B);
    let v = json(&["compare", path(&a), path(&b), "--json"]);
    assert_eq!(v["sentences"], 2);
    assert_eq!(v["words"], 12);

    // Entities, strict. A: Peop[0,2) Org[4,5) Loc[6,7) | Peop[0,1) Loc[2,4): 5.
    // B: Peop[0,2) Loc[4,5) Loc[6,7) | Peop[0,1) Loc[3,4): 5. Shared: Peop[0,2), Loc[6,7),
    // Peop[0,1): 3. P = R = F1 = 3/5 = 60.
    let strict = &v["entities_strict"];
    assert_micro(strict, 60.0, 60.0, 60.0);
    // Per type, in order of first appearance (Peop, Org, Loc):
    // Peop 2 of 2 both ways: 100/100/100. Org: A 1, B 0: 0/0/0.
    // Loc: A 2, B 3, shared 1 (Loc[6,7)): P 1/3, R 1/2, F1 = 2·(1/3)(1/2)/(5/6) = 2/5 = 40.
    let names: Vec<&str> = strict["per_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Peop", "Org", "Loc"]);
    assert_close(&strict["per_type"][2]["precision"], 100.0 / 3.0);
    assert_close(&strict["per_type"][2]["recall"], 50.0);
    assert_close(&strict["per_type"][2]["f1"], 40.0);
    // Macro: P (100 + 0 + 33.3…)/3 = 44.4…, R (100 + 0 + 50)/3 = 50, F1 (100 + 0 + 40)/3.
    assert_close(&strict["macro"]["precision"], 400.0 / 9.0);
    assert_close(&strict["macro"]["recall"], 50.0);
    assert_close(&strict["macro"]["f1"], 140.0 / 3.0);

    // Entities, boundaries only: spans [0,2) [4,5) [6,7) [0,1) shared, [2,4) against [3,4):
    // 4 of 5 both ways, 80.
    assert_micro(&v["entities_boundaries"], 80.0, 80.0, 80.0);

    // Relations, strict: A has 3; B's one Work_For has a Loc tail where A's has an Org: 0 right.
    assert_micro(&v["relations_strict"], 0.0, 0.0, 0.0);
    // Boundaries only: B's Work_For([0,2) -> [4,5)) is A's: P 1/1, R 1/3, F1 2·(1/3)/(4/3) = 50.
    assert_micro(&v["relations_boundaries"], 100.0, 100.0 / 3.0, 50.0);

    // Kappa. Word labels, A: Peop Peop O O Org O Loc | Peop O Loc Loc O
    //                    B: Peop Peop O O Loc O Loc | Peop O O   Loc O
    // Agree on 10 of 12 (not "Acme", not "New"): p_o = 5/6.
    // A: Peop 3, O 5, Org 1, Loc 3; B: Peop 3, O 6, Org 0, Loc 3.
    // p_e = (3·3 + 5·6 + 1·0 + 3·3) / 144 = 48/144 = 1/3; kappa = (5/6 − 1/3)/(2/3) = 3/4.
    assert_close(&v["kappa"]["observed"], 5.0 / 6.0);
    assert_close(&v["kappa"]["expected"], 1.0 / 3.0);
    assert_close(&v["kappa"]["kappa"], 0.75);

    // Confusion over spans: [0,2) Peop/Peop, [4,5) Org/Loc, [6,7) Loc/Loc, [0,1) Peop/Peop,
    // [2,4) Loc/missing, [3,4) extra/Loc.
    let confusion = &v["confusion"];
    assert_eq!(confusion["rows"], serde_json::json!(["Peop", "Org", "Loc", "extra"]));
    assert_eq!(confusion["columns"], serde_json::json!(["Peop", "Org", "Loc", "missing"]));
    assert_eq!(
        confusion["counts"],
        serde_json::json!([[2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 1, 0]])
    );

    // Disagreements, sentence by sentence, entities by span, then relations.
    let rows: Vec<(u64, &str, &str, Value, Value)> = v["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let kind = d["kind"].as_str().unwrap();
            (
                d["sentence"].as_u64().unwrap(),
                kind,
                d["words"].as_str().unwrap(),
                d["a"].clone(),
                d["b"].clone(),
            )
        })
        .collect();
    let s = |t: &str| Value::from(t);
    assert_eq!(
        rows,
        [
            (0, "entity", "Acme", s("Org"), s("Loc")),
            (0, "relation", "Acme -> Oslo", s("OrgBased_In"), Value::Null),
            (1, "entity", "New York", s("Loc"), Value::Null),
            (1, "entity", "York", Value::Null, s("Loc")),
            (1, "relation", "Bob -> New York", s("Live_In"), Value::Null),
        ]
    );
}

#[test]
fn compare_swapped_keeps_f1_and_kappa() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", A);
    let b = write(dir.path(), "b.json", B);
    let v = json(&["compare", path(&b), path(&a), "--json"]);
    // Precision and recall trade places; F1 and kappa stay.
    assert_micro(&v["relations_boundaries"], 100.0 / 3.0, 100.0, 50.0);
    assert_close(&v["kappa"]["kappa"], 0.75);
    // The confusion turns over: types now in order Peop, Loc (the old B), Org. "Acme" is
    // Loc/Org, "York" Loc/missing, "New York" extra/Loc.
    assert_eq!(v["confusion"]["rows"], serde_json::json!(["Peop", "Loc", "Org", "extra"]));
    assert_eq!(
        v["confusion"]["counts"],
        serde_json::json!([[2, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0]])
    );
}

#[test]
fn compare_table_limits_the_disagreements_listed() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", A);
    let b = write(dir.path(), "b.json", B);
    let out = spanscope(&["compare", path(&a), path(&b), "--limit-disagreements", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Cohen's kappa over word labels: 0.7500"), "{text}");
    assert!(text.contains("--- Disagreements: 5 (first 2 shown; --json lists all) ---"), "{text}");
    assert!(text.contains("Acme -> Oslo"), "{text}");
    assert!(!text.contains("New York"), "only the first two are listed: {text}");
    let out = spanscope(&["compare", path(&a), path(&b)]);
    assert!(stdout(&out).contains("--- Disagreements: 5 (all shown) ---"), "{}", stdout(&out));
}

#[test]
fn nested_entities_label_words_by_the_outermost() {
    // A nests Loc "b" in Org "a b c"; B has the Org only. Outermost labels: both
    // Org Org Org O, so p_o = 1; p_e = (3·3 + 1·1)/16 = 5/8; kappa = (1 − 5/8)/(3/8) = 1.
    // (Innermost labels would give A Org Loc Org O and kappa below 1.)
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.json",
        r#"[{"tokens": ["a", "b", "c", "d"], "entities": [{"type": "Loc", "start": 1, "end": 2}, {"type": "Org", "start": 0, "end": 3}]}]"#,
    );
    let b = write(
        dir.path(),
        "b.json",
        r#"[{"tokens": ["a", "b", "c", "d"], "entities": [{"type": "Org", "start": 0, "end": 3}]}]"#,
    );
    let v = json(&["compare", path(&a), path(&b), "--json"]);
    assert_close(&v["kappa"]["expected"], 5.0 / 8.0);
    assert_close(&v["kappa"]["kappa"], 1.0);
    // The nested Loc is still an entity B lacks: P 1/1, R 1/2, F1 2/3.
    assert_micro(&v["entities_strict"], 100.0, 50.0, 200.0 / 3.0);
}

#[test]
fn identical_files_agree_fully() {
    let dev = conll04_dev();
    let v = json(&["compare", path(&dev), path(&dev), "--json"]);
    assert_eq!(v["sentences"], 231);
    for report in
        ["entities_strict", "entities_boundaries", "relations_strict", "relations_boundaries"]
    {
        assert_micro(&v[report], 100.0, 100.0, 100.0);
        assert_close(&v[report]["macro"]["f1"], 100.0);
    }
    assert_close(&v["kappa"]["kappa"], 1.0);
    assert_eq!(v["disagreements"], serde_json::json!([]));
    let counts = v["confusion"]["counts"].as_array().unwrap();
    let off_diagonal: u64 = counts
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            row.as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(move |(j, _)| *j != i)
                .map(|(_, n)| n.as_u64().unwrap())
        })
        .sum();
    assert_eq!(off_diagonal, 0);
}

#[test]
fn compare_refuses_other_tokens_or_counts_naming_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", A);
    let b = write(dir.path(), "b.json", &B.replace("\"visited\"", "\"saw\""));
    let out = spanscope(&["compare", path(&a), path(&b)]);
    assert_eq!(out.status.code(), Some(1));
    let (fa, fb) = (path(&a), path(&b));
    assert!(
        stderr(&out).contains(&format!(
            "{fb}: record 1: the tokens are not those of record 1 of {fa} (5 tokens against 5; \
             first difference at token 1: \"saw\" against \"visited\")"
        )),
        "{}",
        stderr(&out)
    );

    let one: Value = serde_json::from_str(B).unwrap();
    let short = write(dir.path(), "short.json", &serde_json::to_string(&[&one[0]]).unwrap());
    let out = spanscope(&["compare", path(&a), path(&short)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "{}: 1 record(s), but {fa} has 2: compare needs the same sentences in the same order",
            path(&short)
        )),
        "{}",
        stderr(&out)
    );
}

// Two documents in a folder, beside a types.json and a hidden file that are not counted.
// one.json: 2 sentences (3 + 2 words), reviewed true and false; entities Peop (model),
// Loc (accepted), Peop (gold: no source); one Live_In Peop -> Loc (manual).
const ONE: &str = r#"[
 {"tokens": ["Ann", "in", "Oslo"], "reviewed": true,
  "entities": [{"type": "Peop", "start": 0, "end": 1, "source": "model", "score": 0.9}, {"type": "Loc", "start": 2, "end": 3, "source": "accepted"}],
  "relations": [{"type": "Live_In", "head": 0, "tail": 1, "source": "manual"}]},
 {"tokens": ["Bob", "."], "reviewed": false,
  "entities": [{"type": "Peop", "start": 0, "end": 1}]}
]"#;
// two.jsonl: 1 sentence (4 words), no review key; Org (corrected), Peop (rejected), a gold
// Work_For Peop -> Org.
const TWO: &str = r#"{"tokens": ["Cy", "joined", "Acme", "."], "entities": [{"type": "Peop", "start": 0, "end": 1, "source": "rejected"}, {"type": "Org", "start": 2, "end": 3, "source": "corrected"}], "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}
"#;

#[test]
fn stats_counts_each_file_and_the_total() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.json", ONE);
    write(dir.path(), "two.jsonl", TWO);
    write(dir.path(), "types.json", r#"{"entities": {}, "relations": {}}"#);
    write(dir.path(), ".hidden.json", "not json");
    let v = json(&["stats", path(dir.path()), "--json"]);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "types.json and hidden files are not datasets");
    let one = &files[0];
    assert!(one["file"].as_str().unwrap().ends_with("one.json"));
    assert_eq!(
        (&one["sentences"], &one["words"], &one["entities"], &one["relations"]),
        (&2.into(), &5.into(), &3.into(), &1.into())
    );
    assert_eq!(one["entity_types"], serde_json::json!({"Loc": 1, "Peop": 2}));
    assert_eq!((&one["with_review_key"], &one["reviewed"]), (&2.into(), &1.into()));
    assert_eq!(one["entity_sources"], serde_json::json!({"accepted": 1, "gold": 1, "model": 1}));
    assert_eq!(one["relation_sources"], serde_json::json!({"manual": 1}));
    assert_eq!(files[1]["with_review_key"], 0);

    let total = &v["total"];
    assert_eq!(
        (&total["sentences"], &total["words"], &total["entities"], &total["relations"]),
        (&3.into(), &9.into(), &5.into(), &2.into())
    );
    assert_eq!(total["entity_types"], serde_json::json!({"Loc": 1, "Org": 1, "Peop": 3}));
    assert_eq!(total["relation_types"], serde_json::json!({"Live_In": 1, "Work_For": 1}));
    assert_eq!((&total["with_review_key"], &total["reviewed"]), (&2.into(), &1.into()));
    assert_eq!(
        total["entity_sources"],
        serde_json::json!({"accepted": 1, "corrected": 1, "gold": 1, "model": 1, "rejected": 1})
    );
    assert_eq!(total["relation_sources"], serde_json::json!({"gold": 1, "manual": 1}));
    assert_eq!(
        total["signatures"],
        serde_json::json!([
            {"relation": "Live_In", "head": "Peop", "tail": "Loc", "count": 1},
            {"relation": "Work_For", "head": "Peop", "tail": "Org", "count": 1},
        ])
    );

    let out = spanscope(&["stats", path(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("reviewed:    1 of 2 sentences (50.0 %)"), "{text}");
    assert!(text.contains("reviewed:    not tracked"), "two.jsonl has no review key: {text}");
    assert!(text.contains("== total: 2 files =="), "{text}");
}

#[test]
fn stats_of_conll04_dev() {
    // Checked independently:
    //   python3 -c "import json, collections as c; d = json.load(open('conll04_dev.json'));
    //     print(len(d), sum(len(s['tokens']) for s in d), sum(len(s['entities']) for s in d),
    //     sum(len(s['relations']) for s in d), c.Counter(e['type'] for s in d for e in s['entities']),
    //     c.Counter((r['type'], s['entities'][r['head']]['type'], s['entities'][r['tail']]['type'])
    //     for s in d for r in s['relations']))"
    // 231 sentences, 6993 words, 893 entities (Loc 322, Peop 283, Org 170, Other 118), 343
    // relations, each type with one signature: Live_In Peop->Loc 91, OrgBased_In Org->Loc 76,
    // Work_For Peop->Org 69, Located_In Loc->Loc 65, Kill Peop->Peop 42.
    let dev = conll04_dev();
    let v = json(&["stats", path(&dev), "--json"]);
    let total = &v["total"];
    assert_eq!(
        (&total["sentences"], &total["words"], &total["entities"], &total["relations"]),
        (&231.into(), &6993.into(), &893.into(), &343.into())
    );
    assert_eq!(
        total["entity_types"],
        serde_json::json!({"Loc": 322, "Org": 170, "Other": 118, "Peop": 283})
    );
    assert_eq!(
        total["signatures"],
        serde_json::json!([
            {"relation": "Kill", "head": "Peop", "tail": "Peop", "count": 42},
            {"relation": "Live_In", "head": "Peop", "tail": "Loc", "count": 91},
            {"relation": "Located_In", "head": "Loc", "tail": "Loc", "count": 65},
            {"relation": "OrgBased_In", "head": "Org", "tail": "Loc", "count": 76},
            {"relation": "Work_For", "head": "Peop", "tail": "Org", "count": 69},
        ])
    );
    assert_eq!(total["with_review_key"], 0);
    assert_eq!(total["entity_sources"], serde_json::json!({"gold": 893}));
}

#[test]
fn stats_names_the_file_and_record_of_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.json", r#"[{"tokens": ["a"]}, {"tokens": []}]"#);
    let out = spanscope(&["stats", path(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{}: record 1: `tokens` is empty", path(&bad))),
        "{}",
        stderr(&out)
    );
}

// The same sentence annotated twice: in `KEPT` a person rejected a proposed Loc (and the
// relation on it) in the workbench, which keeps rejections on the sentence; in `INLINE`
// another tool kept the same rejections among the entities with `"source": "rejected"`.
const KEPT: &str = r#"[
 {"tokens": ["Ann", "works", "for", "Acme", "in", "Oslo"],
  "entities": [{"type": "Peop", "start": 0, "end": 1, "source": "accepted"}, {"type": "Org", "start": 3, "end": 4}],
  "relations": [{"type": "Work_For", "head": 0, "tail": 1}],
  "rejected_entities": [{"type": "Loc", "start": 5, "end": 6, "score": 0.4, "annotator": "ada", "time": "20261207T120000Z"}],
  "rejected_relations": [{"type": "OrgBased_In", "head": {"type": "Org", "start": 3, "end": 4}, "tail": {"type": "Loc", "start": 5, "end": 6}, "score": 0.3}]}
]"#;
const INLINE: &str = r#"[
 {"tokens": ["Ann", "works", "for", "Acme", "in", "Oslo"],
  "entities": [{"type": "Peop", "start": 0, "end": 1, "source": "accepted"}, {"type": "Loc", "start": 5, "end": 6, "source": "rejected"}, {"type": "Org", "start": 3, "end": 4}],
  "relations": [{"type": "Work_For", "head": 0, "tail": 2}, {"type": "OrgBased_In", "head": 2, "tail": 1, "source": "rejected"}]}
]"#;

#[test]
fn stats_counts_rejections_the_workbench_kept() {
    let dir = tempfile::tempdir().unwrap();
    let kept = write(dir.path(), "kept.json", KEPT);
    let v = json(&["stats", path(&kept), "--json"]);
    let file = &v["files"][0];
    assert_eq!((&file["entities"], &file["relations"]), (&2.into(), &1.into()));
    assert_eq!(
        file["entity_sources"],
        serde_json::json!({"accepted": 1, "gold": 1, "rejected": 1})
    );
    assert_eq!(file["relation_sources"], serde_json::json!({"gold": 1, "rejected": 1}));
    assert_eq!(file["entity_types"], serde_json::json!({"Org": 1, "Peop": 1}), "no Loc");
}

#[test]
fn compare_and_eval_take_no_rejected_proposal_as_an_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let kept = write(dir.path(), "kept.json", KEPT);
    let inline = write(dir.path(), "inline.json", INLINE);
    let v = json(&["compare", path(&kept), path(&inline), "--json"]);
    assert_micro(&v["entities_strict"], 100.0, 100.0, 100.0);
    assert_micro(&v["relations_strict"], 100.0, 100.0, 100.0);
    assert_eq!(v["disagreements"], serde_json::json!([]));
    let v = json(&["eval", "--dataset", path(&kept), "--predictions", path(&inline), "--json"]);
    assert_micro(&v["entities"], 100.0, 100.0, 100.0);
    assert_micro(&v["relations_strict"], 100.0, 100.0, 100.0);
}
