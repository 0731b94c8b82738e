//! The bundled model's card states its CoNLL04 dev scores; `spanscope eval` on the CPU must
//! reproduce every figure of the card's table, so the card cannot drift from the model it
//! describes (issue 20).

use crate::binary::{path, spanscope, stderr, stdout};
use crate::shared_data::conll04_dev;

use serde_json::Value;

const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/conll04-aspert-minilm/README.md");

/// The card's score rows: `| entities | P | R | **F1** | macro F1 |` and the two relation
/// rows, as (row name, [micro P, micro R, micro F1, macro F1]).
fn card_rows(card: &str) -> Vec<(String, [f64; 4])> {
    let section = card
        .split("\n## ")
        .find(|s| s.starts_with("Scores, CoNLL04 dev"))
        .expect("the card has a 'Scores, CoNLL04 dev' section");
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> =
                line.trim().trim_matches('|').split('|').map(str::trim).collect();
            let numbers: Vec<f64> = cells
                .get(1..)?
                .iter()
                .map(|c| c.trim_matches('*').parse::<f64>())
                .collect::<Result<_, _>>()
                .ok()?;
            let numbers: [f64; 4] = numbers.try_into().ok()?;
            Some((cells[0].to_string(), numbers))
        })
        .collect()
}

#[test]
fn the_card_reads_three_score_rows() {
    let card = std::fs::read_to_string(CARD).unwrap();
    let rows = card_rows(&card);
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["entities", "relations, strict", "relations, boundaries only"]);
}

#[test]
fn eval_on_the_cpu_reproduces_the_model_cards_figures() {
    let dev = conll04_dev();
    let out = spanscope(&["eval", "--device", "cpu", "--dataset", path(&dev), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let eval: Value = serde_json::from_str(&stdout(&out)).expect("eval --json prints JSON");
    let card = std::fs::read_to_string(CARD).unwrap();
    for (row, figures) in card_rows(&card) {
        let key = match row.as_str() {
            "entities" => "entities",
            "relations, strict" => "relations_strict",
            "relations, boundaries only" => "relations_boundaries",
            other => panic!("unexpected row {other:?} in the card"),
        };
        let got = [
            eval[key]["micro"]["precision"].as_f64().unwrap(),
            eval[key]["micro"]["recall"].as_f64().unwrap(),
            eval[key]["micro"]["f1"].as_f64().unwrap(),
            eval[key]["macro"]["f1"].as_f64().unwrap(),
        ];
        for (stated, measured) in figures.iter().zip(got) {
            // The card rounds to two decimals.
            assert!(
                (stated - measured).abs() <= 0.005 + 1e-9,
                "{row}: the card says {figures:?}, eval gives {got:?}"
            );
        }
    }
}
