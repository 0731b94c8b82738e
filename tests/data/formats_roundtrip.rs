//! Property: SpERT records come back whole after SpERT -> X -> SpERT for every format that
//! carries relations (brat, DyGIE, doccano, Label Studio), with an empty loss report.
//!
//! Text formats (brat) re-split the text they hold, so their records use words the text
//! splitter gives back unchanged, one sentence per record; doccano and Label Studio store
//! the words themselves, so any words without white space come back. DyGIE names relation
//! arguments by span, so entities of a record have distinct spans.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use spanscope::data::formats::{self, Interchange};
use spanscope::data::{Entity, Relation, Sentence};

/// Words the text splitter keeps as they are (no sentence-ending punctuation).
fn plain_word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[A-Z][a-z]{0,6}",
        "[0-9]{1,4}",
        Just(",".to_string()),
        Just("Zürich".to_string()),
        Just("Ελλάδα".to_string()),
    ]
}

/// Any word without white space, where the format stores words.
fn any_word() -> impl Strategy<Value = String> {
    prop_oneof![plain_word(), "[^\\s]{1,6}"]
}

fn label() -> impl Strategy<Value = String> {
    "[A-Z][a-z_]{0,5}"
}

/// A record of `n` words with entities (distinct spans, in text order) and relations.
fn sentence(words: BoxedStrategy<String>) -> impl Strategy<Value = Sentence> {
    (1usize..10)
        .prop_flat_map(move |n| {
            let spans = prop::collection::btree_set((0..n, 1usize..4), 0..5);
            (prop::collection::vec(words.clone(), n), spans, prop::collection::vec(label(), 5))
        })
        .prop_flat_map(|(tokens, spans, labels)| {
            let n = tokens.len();
            let mut seen = std::collections::BTreeSet::new();
            let entities: Vec<Entity> = spans
                .into_iter()
                .map(|(start, w)| (start, (start + w).min(n)))
                .filter(|span| seen.insert(*span))
                .zip(labels.iter().cycle())
                .map(|((start, end), label)| Entity::new(label.clone(), start, end))
                .collect();
            let m = entities.len();
            let relations = if m == 0 {
                Just(Vec::new()).boxed()
            } else {
                // Distinct and ordered by arguments: Label Studio reads relations in that order.
                prop::collection::btree_map((0..m, 0..m), label(), 0..4)
                    .prop_map(|rs| {
                        rs.into_iter().map(|((h, tl), t)| Relation::new(t, h, tl)).collect()
                    })
                    .boxed()
            };
            (Just(tokens), Just(entities), relations)
        })
        .prop_map(|(tokens, entities, relations)| Sentence {
            tokens,
            entities,
            relations,
            extra: Map::new(),
        })
}

fn through(format: Interchange, name: &str, sentences: &[Sentence]) -> Vec<Sentence> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(name);
    let report = formats::write(&path, format, sentences).unwrap();
    assert!(report.is_empty(), "writing: {report}");
    let (back, report) = formats::read(&path, format).unwrap();
    assert!(report.is_empty(), "reading: {report}");
    back
}

/// Records as brat and DyGIE give them back: with the document key they group by.
fn in_document(sentences: &[Sentence], key: &str) -> Vec<Sentence> {
    let mut out = sentences.to_vec();
    for s in &mut out {
        s.extra.insert("doc_key".into(), Value::from(key));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn brat(sentences in prop::collection::vec(sentence(plain_word().boxed()), 1..4)) {
        let sentences = in_document(&sentences, "doc");
        prop_assert_eq!(through(Interchange::Brat, "out", &sentences), sentences);
    }

    #[test]
    fn dygie(sentences in prop::collection::vec(sentence(any_word().boxed()), 1..4)) {
        let sentences = in_document(&sentences, "doc");
        prop_assert_eq!(through(Interchange::Dygie, "out.jsonl", &sentences), sentences);
    }

    #[test]
    fn doccano(sentences in prop::collection::vec(sentence(any_word().boxed()), 1..4)) {
        prop_assert_eq!(through(Interchange::Doccano, "out.jsonl", &sentences), sentences);
    }

    #[test]
    fn label_studio(
        sentences in prop::collection::vec(sentence(any_word().boxed()), 1..4),
        proposed in prop::collection::vec(any::<bool>(), 16),
    ) {
        // Some entities and relations are model proposals with a score: they travel as
        // Label Studio predictions and come back as proposals.
        let mut sentences = sentences;
        let mut flags = proposed.iter().cycle();
        for s in &mut sentences {
            let marks = s.entities.iter_mut().map(|e| &mut e.extra).chain(s.relations.iter_mut().map(|r| &mut r.extra));
            for extra in marks {
                if *flags.next().unwrap() {
                    *extra = json!({"source": "model", "score": 0.75, "model": "v1"}).as_object().unwrap().clone();
                }
            }
            // A reviewed relation between proposals is written with its arguments reviewed
            // (and reported): keep the generated records free of that loss.
            let gold_args: Vec<usize> = s.relations.iter().filter(|r| r.extra.is_empty()).flat_map(|r| [r.head, r.tail]).collect();
            for e in gold_args {
                s.entities[e].extra.clear();
            }
        }
        prop_assert_eq!(through(Interchange::LabelStudio, "out.json", &sentences), sentences);
    }
}
