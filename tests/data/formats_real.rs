//! Files written by other tools (../shared/data/interop, see its README), read as they are:
//! counts the README states, entity texts against the source offsets, and round trips back.
//! Without the shared data the tests print a note and pass.

use std::collections::BTreeMap;
use std::path::Path;

use crate::interop::interop;
use serde_json::Value;
use spanscope::data::formats::{self, Interchange, LossKind};
use spanscope::data::Sentence;

fn counts<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for name in names {
        *out.entry(name.to_string()).or_insert(0) += 1;
    }
    out
}

fn entity_types(sentences: &[Sentence]) -> BTreeMap<String, usize> {
    counts(sentences.iter().flat_map(|s| s.entities.iter().map(|e| e.entity_type.as_str())))
}

fn relation_types(sentences: &[Sentence]) -> BTreeMap<String, usize> {
    counts(sentences.iter().flat_map(|s| s.relations.iter().map(|r| r.relation_type.as_str())))
}

fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn words(sentence: &Sentence, start: usize, end: usize) -> String {
    sentence.tokens[start..end].concat()
}

#[test]
fn conll04_columns_give_the_readme_counts() {
    let Some(dir) = interop() else { return };
    let path = dir.join("conll/conll04-roth-yih/conll04.first53sent.corp");
    let (sentences, report) = formats::read(&path, Interchange::Conll04).unwrap();
    assert!(report.is_empty(), "{report}");
    assert_eq!(sentences.len(), 53);
    assert_eq!(
        entity_types(&sentences),
        map(&[("Loc", 38), ("Org", 15), ("Other", 38), ("Peop", 31)])
    );
    assert_eq!(
        relation_types(&sentences),
        map(&[("Live_In", 4), ("Located_In", 7), ("OrgBased_In", 7), ("Work_For", 3)])
    );
    let press = &sentences[2];
    assert_eq!(press.tokens[..3], ["Associated", "Press", "Writer"]);
    assert_eq!((press.entities[0].start, press.entities[0].end), (0, 2));
    assert_eq!(press.extra["orig_id"], 2);
    assert!(sentences[3].tokens.contains(&",".to_string()), "COMMA is a comma");
}

#[test]
fn brat_entities_cover_the_text_their_lines_quote() {
    let Some(dir) = interop() else { return };
    let mut checked = 0;
    for folder in std::fs::read_dir(dir.join("brat")).unwrap() {
        let folder = folder.unwrap().path();
        for ann in std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()) {
            if ann.extension().is_none_or(|e| e != "ann") || !ann.with_extension("txt").is_file() {
                continue;
            }
            let mut report = formats::LossReport::default();
            let sentences = formats::brat::read_document(&ann, &mut report).unwrap();
            // Continuous T lines: the words of the entity spell the quoted text.
            let mut quoted: Vec<(String, String)> = std::fs::read_to_string(&ann)
                .unwrap()
                .lines()
                .filter(|l| l.starts_with('T') && !l.contains(';'))
                .filter_map(|l| {
                    let mut fields = l.split('\t');
                    let (_, body, text) = (fields.next()?, fields.next()?, fields.next()?);
                    let label = body.split(' ').next()?.to_string();
                    Some((label, text.split_whitespace().collect::<String>()))
                })
                .collect();
            quoted.sort();
            quoted.dedup();
            let mut found: Vec<(String, String)> = sentences
                .iter()
                .flat_map(|s| {
                    s.entities
                        .iter()
                        .map(move |e| (e.entity_type.clone(), words(s, e.start, e.end)))
                })
                .filter(|(_, text)| !text.is_empty())
                .collect();
            found.sort();
            found.dedup();
            for q in &quoted {
                assert!(found.contains(q), "{}: {q:?} missing", ann.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} brat documents");
}

#[test]
fn brat_relations_and_everything_else_are_counted() {
    let Some(dir) = interop() else { return };
    let (sentences, report) =
        formats::read(&dir.join("brat/pie-datasets/2.ann"), Interchange::Brat).unwrap();
    // "Seattle is a rainy city." and "Jenny Durkan is the city's mayor." are two sentences:
    // SpERT relations live inside one, so mayor_of is reported, not kept.
    assert_eq!(sentences.len(), 2);
    assert_eq!(relation_types(&sentences), map(&[]));
    assert_eq!(report.count(LossKind::RelationAcrossSentences), 1, "{report}");
    let s = &sentences[1];
    assert_eq!(words(s, s.entities[0].start, s.entities[0].end), "JennyDurkan");
    assert_eq!(report.count(LossKind::Attribute), 2);
    assert_eq!(s.extra["doc_key"], "2");

    // BioNLP-ST GE: events and modifiers named; relations whose argument comes later resolve.
    let ge = dir.join("brat/nlplab-bionlp-st-2011-ge/PMID-10438913.ann");
    let (_, report) = formats::read(&ge, Interchange::Brat).unwrap();
    assert_eq!(report.count(LossKind::Event), 6);
    assert_eq!(report.count(LossKind::Attribute), 3);

    let rel = dir.join("brat/nlplab-bionlp-st-2011-rel/PMID-10438731.ann");
    let (sentences, report) = formats::read(&rel, Interchange::Brat).unwrap();
    let kept = relation_types(&sentences).values().sum::<usize>();
    assert_eq!(kept + report.count(LossKind::RelationAcrossSentences), 12, "{report}");
    assert_eq!(report.count(LossKind::Equivalence), 1);
    assert_eq!(
        entity_types(&sentences).values().sum::<usize>() + report.count(LossKind::DuplicateEntity),
        50
    );

    // Discontinuous, non-ASCII: offsets count characters, not bytes.
    let medkit = dir.join("brat/medkit/doc_01.ann");
    let (_, report) = formats::read(&medkit, Interchange::Brat).unwrap();
    assert_eq!(report.count(LossKind::DiscontinuousEntity), 1);

    let missing_text = dir.join("brat/medkit/2_augmented_entities.ann");
    let err = formats::read(&missing_text, Interchange::Brat).unwrap_err();
    assert!(err.to_string().contains("2_augmented_entities.txt"), "{err}");
}

#[test]
fn brat_folder_round_trips_through_spert() {
    let Some(dir) = interop() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (sentences, _) = formats::read(&dir.join("brat/nerel"), Interchange::Brat).unwrap();
    assert_eq!(
        sentences
            .iter()
            .map(|s| s.extra["doc_key"].as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2
    );
    let out = tmp.path().join("out");
    let report = formats::write(&out, Interchange::Brat, &sentences).unwrap();
    assert!(report.is_empty(), "{report}");
    assert!(out.join("192856_text.ann").is_file() && out.join("annotation.conf").is_file());
    let conf = std::fs::read_to_string(out.join("annotation.conf")).unwrap();
    assert!(conf.contains("[relations]") && conf.contains("LOCATED_IN\tArg1:"), "{conf}");
    let (again, report) = formats::read(&out, Interchange::Brat).unwrap();
    assert!(report.is_empty(), "{report}");
    assert_eq!(again, sentences);
}

/// The DyGIE keys that carry annotation, of every line.
fn dygie_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            serde_json::json!({"doc_key": v["doc_key"], "sentences": v["sentences"], "ner": v["ner"], "relations": v["relations"]})
        })
        .collect()
}

#[test]
fn dygie_scierc_round_trips_and_names_clusters() {
    let Some(dir) = interop() else { return };
    let path = dir.join("dygie/dygiepp/scierc_article.json");
    let (sentences, report) = formats::read(&path, Interchange::Dygie).unwrap();
    assert_eq!(sentences.len(), 8);
    assert_eq!(entity_types(&sentences).values().sum::<usize>(), 25);
    assert_eq!(relation_types(&sentences).values().sum::<usize>(), 15);
    assert_eq!(report.count(LossKind::Cluster), 4);
    assert_eq!(sentences[0].extra["dataset"], "scierc");

    let dev = dir.join("dygie/dygiepp/collate_scierc_dev.json");
    let (sentences, report) = formats::read(&dev, Interchange::Dygie).unwrap();
    assert_eq!((sentences.len(), report.count(LossKind::Cluster)), (52, 25));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dev.jsonl");
    let written = formats::write(&out, Interchange::Dygie, &sentences).unwrap();
    assert!(written.is_empty(), "{written}");
    assert_eq!(dygie_lines(&out), dygie_lines(&dev));
}

#[test]
fn doccano_relation_examples_read_in_all_three_shapes() {
    let Some(dir) = interop() else { return };
    for name in ["import", "tests", "export"] {
        let path = dir.join(format!("doccano/doccano/{name}_relation_extraction_example.jsonl"));
        let (sentences, report) = formats::read(&path, Interchange::Doccano).unwrap();
        assert_eq!(sentences.len(), 1, "{name}");
        let s = &sentences[0];
        let texts: Vec<String> =
            s.entities.iter().map(|e| s.tokens[e.start..e.end].join(" ")).collect();
        assert_eq!(texts, ["Google", "September 4 , 1998", "Larry Page", "Sergey Brin"], "{name}");
        assert_eq!(
            relation_types(&sentences),
            map(&[("foundedAt", 1), ("foundedBy", 2)]),
            "{name}"
        );
        assert!(report.is_empty(), "{name}: {report}");
    }
    let path = dir.join("doccano/doccano/tests_sequence_labeling_example.jsonl");
    let (sentences, report) = formats::read(&path, Interchange::Doccano).unwrap();
    assert_eq!(sentences.len(), 2);
    assert_eq!(report.count(LossKind::NoText), 1);
    assert_eq!(report.count(LossKind::TokenSplit), 1, "[0, 1] inside `exampleA`");

    // doccano 1.x: two annotators of the same spans; the first is read, the second named.
    let path = dir.join("doccano/doccano-transformer/labeling.jsonl");
    let (sentences, report) = formats::read(&path, Interchange::Doccano).unwrap();
    // The first record has users 1 and 2 (5 regions each), the second only user 2 (6).
    assert_eq!(entity_types(&sentences).values().sum::<usize>(), 11);
    assert_eq!(report.count(LossKind::OtherAnnotation), 5);
}

#[test]
fn label_studio_predictions_become_model_proposals() {
    let Some(dir) = interop() else { return };
    let path = dir.join("label-studio/lsf-named_entity/tasks.json");
    let (sentences, report) = formats::read(&path, Interchange::LabelStudio).unwrap();
    let proposals: Vec<_> = sentences.iter().flat_map(|s| &s.entities).collect();
    assert_eq!(proposals.len(), 1, "{report}");
    assert_eq!(proposals[0].extra["source"], "model");
    assert_eq!(proposals[0].extra["model"], "model 1");

    let path = dir.join("label-studio/lsf-named_entity/annotations_1.json");
    let (sentences, _) = formats::read(&path, Interchange::LabelStudio).unwrap();
    let gold: Vec<_> = sentences.iter().flat_map(|s| &s.entities).collect();
    assert_eq!(gold.len(), 1);
    assert!(gold[0].extra.is_empty());

    let legacy = dir.join("label-studio/converter-legacy-completions/348.json");
    let (sentences, report) = formats::read(&legacy, Interchange::LabelStudio).unwrap();
    let kept = sentences.iter().map(|s| s.entities.len()).sum::<usize>();
    assert_eq!(
        kept + report.count(LossKind::DuplicateEntity) + report.count(LossKind::EmptySpan),
        38,
        "{report}"
    );
    assert_eq!(entity_types(&sentences).keys().collect::<Vec<_>>(), ["INGREDIENT"]);
}

#[test]
fn conll_layouts_read_and_round_trip_as_bilou() {
    let Some(dir) = interop() else { return };
    let base = dir.join("conll/spacy-ner-example-data");
    let (reference, report) =
        formats::read(&base.join("ner-token-per-line-conll2003.iob"), Interchange::Bio).unwrap();
    assert!(report.is_empty(), "{report}");
    assert!(entity_types(&reference)["PERSON"] > 0);
    assert_eq!(reference[0].tokens[..3], ["When", "Sebastian", "Thrun"]);
    assert_eq!((reference[0].entities[0].start, reference[0].entities[0].end), (1, 3));
    for layout in
        ["ner-token-per-line.iob", "ner-token-per-line-with-pos.iob", "ner-sent-per-line.iob"]
    {
        let (sentences, report) = formats::read(&base.join(layout), Interchange::Bio).unwrap();
        assert!(report.is_empty(), "{layout}: {report}");
        // The token-per-line files have no blank line between their two sentences, so they
        // are one record; words and entities are the same once the records are laid end to end.
        let flat = |s: &[Sentence]| {
            let (mut tokens, mut entities) = (Vec::new(), Vec::new());
            for s in s {
                let at = tokens.len();
                entities.extend(
                    s.entities.iter().map(|e| (e.entity_type.clone(), e.start + at, e.end + at)),
                );
                tokens.extend(s.tokens.iter().cloned());
            }
            (tokens, entities)
        };
        assert_eq!(flat(&sentences), flat(&reference), "{layout}");
        let expected = if layout == "ner-sent-per-line.iob" { reference.len() } else { 1 };
        assert_eq!(sentences.len(), expected, "{layout}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.bilou");
    formats::write(&out, Interchange::Bilou, &reference).unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().contains("Thrun\tL-PERSON"));
    let (again, _) = formats::read(&out, Interchange::Bilou).unwrap();
    assert_eq!(again, reference);

    let doccano = dir.join("conll/doccano-transformer/labeling_text_label.conll2003.user0");
    let (sentences, report) = formats::read(&doccano, Interchange::Bio).unwrap();
    assert!(report.is_empty(), "{report}");
    assert!(entity_types(&sentences).contains_key("LOC"));
}
