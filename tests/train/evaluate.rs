//! The SpERT evaluation protocol on crafted cases whose scores are worked out by hand, and
//! `spanscope eval` as a user runs it.

use crate::tiny_model;

use crate::binary::{path, spanscope, stderr, stdout};
use std::path::Path;

use candle_core::DType;
use serde_json::Value;
use spanscope::data::{Entity, Relation, Sentence, Types};
use spanscope::model::checkpoint;
use spanscope::train::evaluate::{evaluate, EvalError, Prf, Report};

const TYPES: &str = r#"{"entities": {"Peop": {"short": "Peop", "verbose": "People"}, "Loc": {"short": "Loc", "verbose": "Location"}, "Org": {"short": "Org", "verbose": "Organization"}},
 "relations": {"Live_In": {"short": "Live", "verbose": "Live in", "symmetric": false}, "Near": {"short": "Near", "verbose": "Near", "symmetric": true}}}"#;

fn types() -> Types {
    Types::from_json_str(TYPES).unwrap()
}

/// A sentence of ten tokens `w0 .. w9` with the given entities and relations.
fn sentence(entities: &[(&str, usize, usize)], relations: &[(&str, usize, usize)]) -> Sentence {
    let mut s = Sentence::from_tokens((0..10).map(|i| format!("w{i}")).collect());
    s.entities = entities.iter().map(|&(t, a, b)| Entity::new(t, a, b)).collect();
    s.relations = relations.iter().map(|&(t, h, r)| Relation::new(t, h, r)).collect();
    s
}

fn assert_prf(what: &str, p: &Prf, expected: (f64, f64, f64, usize)) {
    let (precision, recall, f1, support) = expected;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(
        close(p.precision, precision)
            && close(p.recall, recall)
            && close(p.f1, f1)
            && p.support == support,
        "{what}: got {p:?}, expected {expected:?}"
    );
}

fn type_names(report: &Report) -> Vec<&str> {
    report.per_type.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn perfect_prediction_is_100_everywhere() {
    let gold = vec![
        sentence(&[("Peop", 0, 1), ("Loc", 3, 5)], &[("Live_In", 0, 1)]),
        sentence(&[("Loc", 0, 1), ("Loc", 2, 3)], &[("Near", 1, 0)]),
    ];
    let e = evaluate(&gold, &gold, &types()).unwrap();
    assert_eq!(e.sentences, 2);
    assert_prf("entities micro", &e.entities.micro, (100.0, 100.0, 100.0, 4));
    assert_prf("entities macro", &e.entities.macro_, (100.0, 100.0, 100.0, 4));
    for r in [&e.relations_strict, &e.relations_boundaries] {
        assert_prf("relations micro", &r.micro, (100.0, 100.0, 100.0, 2));
        assert_prf("relations macro", &r.macro_, (100.0, 100.0, 100.0, 2));
    }
}

#[test]
fn empty_prediction_scores_0_not_nan() {
    // Nothing predicted: precision 0/0 is 0 by convention (sklearn's and so SpERT's), recall
    // 0/3, F1 0.
    let gold = vec![sentence(&[("Peop", 0, 1), ("Loc", 3, 5)], &[("Live_In", 0, 1)])];
    let e = evaluate(&gold, &[sentence(&[], &[])], &types()).unwrap();
    assert_prf("entities micro", &e.entities.micro, (0.0, 0.0, 0.0, 2));
    assert_prf("entities macro", &e.entities.macro_, (0.0, 0.0, 0.0, 2));
    assert_prf("strict micro", &e.relations_strict.micro, (0.0, 0.0, 0.0, 1));
    assert_eq!(type_names(&e.entities), ["Peop", "Loc"]);
}

#[test]
fn a_right_span_with_the_wrong_type_is_a_false_positive_and_a_false_negative() {
    // Gold Peop(0,1) Loc(3,5); predicted Org(0,1) Loc(3,5).
    // Micro: 1 right of 2 predicted and 2 gold: 50 / 50 / 50.
    // Per type: Peop 0/0/0 (1 gold), Loc 100/100/100 (1), Org 0/0/0 (0 gold, 1 predicted).
    // Macro: (0 + 100 + 0) / 3 = 33.33 for P, R and F1.
    let gold = vec![sentence(&[("Peop", 0, 1), ("Loc", 3, 5)], &[])];
    let predicted = vec![sentence(&[("Org", 0, 1), ("Loc", 3, 5)], &[])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("micro", &e.entities.micro, (50.0, 50.0, 50.0, 2));
    let third = 100.0 / 3.0;
    assert_prf("macro", &e.entities.macro_, (third, third, third, 2));
    assert_eq!(type_names(&e.entities), ["Peop", "Loc", "Org"]);
    assert_prf("Org", &e.entities.per_type[2].score, (0.0, 0.0, 0.0, 0));
}

#[test]
fn a_wrong_entity_type_fails_strict_but_passes_boundaries_only() {
    // The relation's head is predicted as Org instead of Peop, spans and relation type right.
    // Strict: 0 right of 1 predicted, 1 gold. Boundaries only: 1 of 1.
    let gold = vec![sentence(&[("Peop", 0, 1), ("Loc", 3, 5)], &[("Live_In", 0, 1)])];
    let predicted = vec![sentence(&[("Org", 0, 1), ("Loc", 3, 5)], &[("Live_In", 0, 1)])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("strict", &e.relations_strict.micro, (0.0, 0.0, 0.0, 1));
    assert_prf("boundaries", &e.relations_boundaries.micro, (100.0, 100.0, 100.0, 1));
    // A wrong span fails both.
    let predicted = vec![sentence(&[("Peop", 0, 2), ("Loc", 3, 5)], &[("Live_In", 0, 1)])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("strict, wrong span", &e.relations_strict.micro, (0.0, 0.0, 0.0, 1));
    assert_prf("boundaries, wrong span", &e.relations_boundaries.micro, (0.0, 0.0, 0.0, 1));
}

#[test]
fn symmetric_relations_count_in_either_direction_asymmetric_ones_do_not() {
    let entities = [("Loc", 0, 1), ("Loc", 4, 6)];
    // Near is symmetric: gold 0 → 1, predicted 1 → 0 is right.
    let gold = vec![sentence(&entities, &[("Near", 0, 1)])];
    let predicted = vec![sentence(&entities, &[("Near", 1, 0)])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("symmetric strict", &e.relations_strict.micro, (100.0, 100.0, 100.0, 1));
    assert_prf("symmetric boundaries", &e.relations_boundaries.micro, (100.0, 100.0, 100.0, 1));
    // Live_In is not: the reversed relation is one false positive and one false negative.
    let gold = vec![sentence(&entities, &[("Live_In", 0, 1)])];
    let predicted = vec![sentence(&entities, &[("Live_In", 1, 0)])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("asymmetric strict", &e.relations_strict.micro, (0.0, 0.0, 0.0, 1));
    assert_prf("asymmetric boundaries", &e.relations_boundaries.micro, (0.0, 0.0, 0.0, 1));
}

#[test]
fn duplicates_after_symmetric_normalisation_count_once() {
    // Gold lists Near both ways (one relation after normalisation, support 1); the prediction
    // lists it both ways too, plus an exact duplicate: 1 right of 1 distinct prediction.
    let entities = [("Loc", 0, 1), ("Loc", 4, 6)];
    let gold = vec![sentence(&entities, &[("Near", 0, 1), ("Near", 1, 0)])];
    let predicted = vec![sentence(&entities, &[("Near", 1, 0), ("Near", 0, 1), ("Near", 0, 1)])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("strict", &e.relations_strict.micro, (100.0, 100.0, 100.0, 1));
    // Duplicate entities count once as well.
    let predicted = vec![sentence(&[("Loc", 0, 1), ("Loc", 0, 1), ("Loc", 4, 6)], &[])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    assert_prf("entities", &e.entities.micro, (100.0, 100.0, 100.0, 2));
}

#[test]
fn macro_averages_the_types_present_and_differs_from_micro() {
    // Types file: Peop, Loc, Org. Gold: Peop(0,1) Peop(2,3) Peop(4,5) Loc(6,7).
    // Predicted: Peop(0,1) Peop(2,3) Peop(5,6) — Loc has gold but no prediction, Org is in
    // neither and is left out.
    //   Peop: 2 right of 3 predicted, 3 gold → P = R = F1 = 66.67, support 3.
    //   Loc:  0 predicted, 1 gold             → P = R = F1 = 0, support 1 (included).
    //   Micro: 2 right, 3 predicted, 4 gold   → P = 66.67, R = 50,
    //          F1 = 2·(2/3)(1/2) / (2/3 + 1/2) = 4/7 = 57.14.
    //   Macro: (66.67 + 0) / 2 = 33.33 for P, R and F1 (with Org counted it would be 22.22).
    let gold =
        vec![sentence(&[("Peop", 0, 1), ("Peop", 2, 3), ("Peop", 4, 5), ("Loc", 6, 7)], &[])];
    let predicted = vec![sentence(&[("Peop", 0, 1), ("Peop", 2, 3), ("Peop", 5, 6)], &[])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    let two_thirds = 200.0 / 3.0;
    assert_prf("micro", &e.entities.micro, (two_thirds, 50.0, 400.0 / 7.0, 4));
    assert_prf("macro", &e.entities.macro_, (100.0 / 3.0, 100.0 / 3.0, 100.0 / 3.0, 4));
    assert_eq!(type_names(&e.entities), ["Peop", "Loc"]);
    assert_prf("Peop", &e.entities.per_type[0].score, (two_thirds, two_thirds, two_thirds, 3));
    assert_prf("Loc", &e.entities.per_type[1].score, (0.0, 0.0, 0.0, 1));
}

#[test]
fn macro_f1_is_the_mean_of_f1s_over_sentences_pooled() {
    // Two sentences, counts pooled before scoring. Peop: sentence 0 right, sentence 1 missed
    // → 1 right, 1 predicted, 2 gold: P 100, R 50, F1 66.67. Loc: 1 right, 2 predicted (one
    // spurious), 1 gold: P 50, R 100, F1 66.67. Macro P = R = 75, macro F1 = 66.67 (the mean
    // of the F1s, not the F1 of 75 and 75). Micro: 2 right, 3 predicted, 3 gold: 66.67.
    let gold =
        vec![sentence(&[("Peop", 0, 1), ("Loc", 2, 3)], &[]), sentence(&[("Peop", 0, 1)], &[])];
    let predicted =
        vec![sentence(&[("Peop", 0, 1), ("Loc", 2, 3)], &[]), sentence(&[("Loc", 5, 6)], &[])];
    let e = evaluate(&gold, &predicted, &types()).unwrap();
    let two_thirds = 200.0 / 3.0;
    assert_prf("macro", &e.entities.macro_, (75.0, 75.0, two_thirds, 3));
    assert_prf("micro", &e.entities.micro, (two_thirds, two_thirds, two_thirds, 3));
}

#[test]
fn mismatched_sentences_are_refused_with_the_sentence_named() {
    let gold = vec![sentence(&[], &[]), sentence(&[], &[])];
    let mut predicted = gold.clone();
    predicted[1].tokens.pop();
    let err = evaluate(&gold, &predicted, &types()).unwrap_err();
    assert!(matches!(err, EvalError::Tokens { sentence: 1, token: 9, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "sentence 1: the predicted tokens are not the gold ones (10 gold, 9 predicted; first \
         difference at token 9: gold \"w9\", predicted none)"
    );
    let err = evaluate(&gold, &predicted[..1], &types()).unwrap_err();
    assert_eq!(err.to_string(), "the gold data has 2 sentence(s) but the predictions have 1");
}

// ---- the command line ----

/// Writes the gold data and the types file into `dir`.
fn gold_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let gold = vec![
        sentence(&[("Peop", 0, 1), ("Loc", 3, 5)], &[("Live_In", 0, 1)]),
        sentence(&[("Loc", 0, 1), ("Loc", 2, 3)], &[("Near", 1, 0)]),
    ];
    let gold_path = dir.join("gold.json");
    std::fs::write(&gold_path, serde_json::to_string(&gold).unwrap()).unwrap();
    let types_path = dir.join("types.json");
    std::fs::write(&types_path, TYPES).unwrap();
    (gold_path, types_path)
}

#[test]
fn cli_scores_gold_against_itself_as_100() {
    let dir = tempfile::tempdir().unwrap();
    let (gold, types) = gold_files(dir.path());
    let out = spanscope(&[
        "eval",
        "--dataset",
        path(&gold),
        "--predictions",
        path(&gold),
        "--types",
        path(&types),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for heading in ["--- Entities (NER) ---", "Without NER", "With NER"] {
        assert!(text.contains(heading), "{text}");
    }
    let micro_rows: Vec<&str> =
        text.lines().filter(|l| l.trim_start().starts_with("micro")).collect();
    assert_eq!(micro_rows.len(), 3, "{text}");
    for row in micro_rows {
        assert_eq!(row.split_whitespace().nth(3), Some("100.00"), "{row}");
    }
}

#[test]
fn cli_json_has_the_three_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (gold, types) = gold_files(dir.path());
    let args = ["eval", "--dataset", path(&gold), "--predictions", path(&gold)];
    let out = spanscope(&[&args[..], &["--types", path(&types), "--json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(v["sentences"], 2);
    for key in ["entities", "relations_strict", "relations_boundaries"] {
        for average in ["micro", "macro"] {
            for field in ["precision", "recall", "f1"] {
                assert_eq!(v[key][average][field], 100.0, "{key}.{average}.{field}");
            }
        }
    }
    assert_eq!(v["entities"]["micro"]["support"], 4);
    assert_eq!(v["entities"]["per_type"][0]["type"], "Peop");
    assert_eq!(v["entities"]["per_type"][1]["support"], 3);
    assert_eq!(v["relations_strict"]["per_type"].as_array().unwrap().len(), 2);
    // Without --types the types come from the gold data and a note says so.
    let out = spanscope(&[&args[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no --types given"), "{}", stderr(&out));
}

#[test]
fn cli_names_the_sentence_whose_tokens_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (gold, types) = gold_files(dir.path());
    let mut predicted = vec![sentence(&[], &[]), sentence(&[], &[])];
    predicted[1].tokens[2] = "other".into();
    let predicted_path = dir.path().join("predicted.json");
    std::fs::write(&predicted_path, serde_json::to_string(&predicted).unwrap()).unwrap();
    let out = spanscope(&[
        "eval",
        "--dataset",
        path(&gold),
        "--predictions",
        path(&predicted_path),
        "--types",
        path(&types),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("sentence 1: the predicted tokens are not the gold ones"), "{err}");
    assert!(err.contains("token 2: gold \"w2\", predicted \"other\""), "{err}");
}

#[test]
fn cli_refuses_a_dataset_with_unreadable_records() {
    let dir = tempfile::tempdir().unwrap();
    let gold = dir.path().join("gold.json");
    std::fs::write(&gold, r#"[{"tokens": ["a"]}, {"tokens": 3}]"#).unwrap();
    let out = spanscope(&["eval", "--dataset", path(&gold), "--predictions", path(&gold)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("record 1"), "{err}");
    assert!(err.contains("nothing was scored"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn cli_model_predictions_written_score_the_same_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = dir.path().join("vocab");
    std::fs::create_dir_all(&vocab).unwrap();
    let cfg = tiny_model::aspert_config();
    let mut model = tiny_model::model(&cfg, &vocab, 7);
    tiny_model::favour_class(&mut model, 1, 8.0);
    let model_dir = dir.path().join("model");
    checkpoint::save(
        &model_dir,
        &model.varmap,
        &cfg,
        &tiny_model::types(),
        &model.pieces,
        DType::F32,
    )
    .unwrap();
    let mut gold = tiny_model::sentences();
    gold[0].entities = vec![Entity::new("Peop", 0, 2), Entity::new("Org", 4, 5)];
    gold[0].relations = vec![Relation::new("Work_For", 0, 1)];
    let gold_path = dir.path().join("gold.json");
    std::fs::write(&gold_path, serde_json::to_string(&gold).unwrap()).unwrap();
    let written = dir.path().join("predicted.jsonl");

    let out = spanscope(&[
        "eval",
        "--dataset",
        path(&gold_path),
        "--model",
        path(&model_dir),
        "--output-predictions",
        path(&written),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_model: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(from_model["sentences"], 4);
    assert_eq!(from_model["entities"]["micro"]["support"], 2);

    // The written predictions, scored with the checkpoint's types, give the same numbers.
    let types_path = dir.path().join("types.json");
    tiny_model::types().write(&types_path).unwrap();
    let out = spanscope(&[
        "eval",
        "--dataset",
        path(&gold_path),
        "--predictions",
        path(&written),
        "--types",
        path(&types_path),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_file: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(from_file, from_model);
}
