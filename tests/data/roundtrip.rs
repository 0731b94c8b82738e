//! Property: any sentences, with arbitrary Unicode tokens and extra keys on records, entities
//! and relations, come back identical after write → read, in both output formats.

use proptest::prelude::*;
use serde_json::{Map, Value};
use spanscope::data::{read_sentences, write_sentences, Entity, Format, Relation, Sentence};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Extra keys: any names except the ones SpERT reserves for that object.
fn extra(reserved: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((any::<String>(), json_value()), 0..3).prop_map(move |kv| {
        kv.into_iter().filter(|(k, _)| !reserved.contains(&k.as_str())).collect()
    })
}

fn sentence() -> impl Strategy<Value = Sentence> {
    (1usize..8)
        .prop_flat_map(|n| {
            let entity = (0..n, 1usize..4, any::<String>(), extra(&["type", "start", "end"]))
                .prop_map(move |(start, w, t, extra)| Entity {
                    entity_type: t,
                    start,
                    end: (start + w).min(n),
                    extra,
                });
            (
                prop::collection::vec(any::<String>(), n),
                prop::collection::vec(entity, 0..4),
                prop::collection::vec(
                    (any::<String>(), 0usize..4, 0usize..4, extra(&["type", "head", "tail"])),
                    0..3,
                ),
                extra(&["tokens", "entities", "relations"]),
            )
        })
        .prop_map(|(tokens, entities, relations, extra)| {
            let n = entities.len();
            let relations = relations
                .into_iter()
                .filter(|(_, h, t, _)| *h < n && *t < n)
                .map(|(relation_type, head, tail, extra)| Relation {
                    relation_type,
                    head,
                    tail,
                    extra,
                })
                .collect();
            Sentence { tokens, entities, relations, extra }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn write_then_read_gives_back_the_same_sentences(sentences in prop::collection::vec(sentence(), 0..5)) {
        let dir = tempfile::tempdir().unwrap();
        for (name, format) in [("d.json", Format::Json), ("d.jsonl", Format::JsonLines)] {
            let path = dir.path().join(name);
            write_sentences(&path, &sentences, format).unwrap();
            let loaded = read_sentences(&path).unwrap();
            prop_assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
            prop_assert_eq!(&loaded.sentences, &sentences);
        }
    }
}
