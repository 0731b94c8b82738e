//! Crafted inputs for every line of the conversion loss report: each says what was dropped or
//! changed, how often, and where.

use std::path::Path;

use serde_json::json;
use spanscope::data::formats::{self, Interchange, LossKind, LossReport};
use spanscope::data::{Entity, Relation, Sentence};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn read(path: &Path, format: Interchange) -> (Vec<Sentence>, LossReport) {
    formats::read(path, format).unwrap()
}

fn counts(report: &LossReport) -> Vec<(LossKind, usize)> {
    let mut out: Vec<_> = report.losses.iter().map(|l| (l.kind, l.count)).collect();
    out.sort();
    out
}

#[test]
fn brat_lines_that_spert_cannot_hold() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "d.txt", "Ann met Bob in Rome. Carl left.\nDora  came.\n");
    let ann = write(
        tmp.path(),
        "d.ann",
        "T1\tPer 0 3\tAnn\n\
         T2\tPer 8 11\tBob\n\
         T3\tLoc 15 19;21 22\tRome C\n\
         T4\tPer 21 25\tCarl\n\
         T5\tPer 32 38\tDora \n\
         T6\tPer 37 38\t \n\
         T7\tPer 0 3\tAnn\n\
         T8\tPer 90 95\tnope\n\
         T9\tVerb 4 5\tm\n\
         E1\tMeet:T9 A:T1 B:T2\n\
         R1\tMet Arg1:T1 Arg2:T2\n\
         R2\tKnows Arg1:T1 Arg2:T5\n\
         R3\tDid Arg1:E1 Arg2:T2\n\
         A1\tNeg E1\n\
         M1\tSpec E1\n\
         #1\tAnnotatorNotes T1\tfirst\n\
         N1\tReference T1 Wikidata:Q1\tAnn\n\
         *\tEquiv T1 T7\n\
         X1\twhat is this\n",
    );
    let (sentences, report) = read(&ann, Interchange::Brat);
    assert_eq!(
        counts(&report),
        [
            (LossKind::TokenSplit, 2),
            (LossKind::SpanTrimmed, 1),
            (LossKind::EmptySpan, 1),
            (LossKind::SpanOutOfText, 1),
            (LossKind::SentencesJoined, 1),
            (LossKind::RelationAcrossSentences, 1),
            (LossKind::RelationArgumentMissing, 1),
            (LossKind::DuplicateEntity, 1),
            (LossKind::DiscontinuousEntity, 1),
            (LossKind::Event, 1),
            (LossKind::Attribute, 2),
            (LossKind::Note, 1),
            (LossKind::Normalization, 1),
            (LossKind::Equivalence, 1),
            (LossKind::UnknownLine, 1),
        ],
        "{report}"
    );
    // "Rome. C" (split out of "Carl") crosses the first sentence's end: the two sentences are one.
    assert_eq!(sentences.len(), 2);
    assert_eq!(sentences[0].tokens[..3], ["Ann", "m", "et"]);
    assert_eq!(sentences[0].relations, [Relation::new("Met", 0, 1)]);
    let text = report.to_string();
    assert!(text.contains("e.g. d.ann line 8: T8\tPer 90 95\tnope"), "{text}");
    assert!(text.contains("relation across sentences, dropped"), "{text}");
}

fn sentence(tokens: &[&str], entities: Vec<Entity>, relations: Vec<Relation>) -> Sentence {
    Sentence {
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        entities,
        relations,
        ..Sentence::default()
    }
}

#[test]
fn tags_cannot_hold_relations_nesting_or_extra_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = sentence(
        &["New", "York", "City", "mayor"],
        vec![Entity::new("Loc", 0, 3), Entity::new("Loc", 0, 2), Entity::new("Role", 3, 4)],
        vec![Relation::new("In", 2, 0)],
    );
    s.extra.insert("orig_id".into(), json!(7));
    s.entities[2].extra.insert("score".into(), json!(0.5));
    let report = formats::write(&tmp.path().join("out.bio"), Interchange::Bio, &[s]).unwrap();
    assert_eq!(
        counts(&report),
        [
            (LossKind::RelationNotCarried, 1),
            (LossKind::OverlappingEntity, 1),
            (LossKind::ExtraKey, 2)
        ],
        "{report}"
    );
    let written = std::fs::read_to_string(tmp.path().join("out.bio")).unwrap();
    assert_eq!(written, "New\tB-Loc\nYork\tI-Loc\nCity\tI-Loc\nmayor\tB-Role\n\n");

    let tags = write(tmp.path(), "in.bio", "a\tI-X\nb\tO\n\nlonely\n");
    let (sentences, report) = read(&tags, Interchange::Bio);
    assert_eq!(counts(&report), [(LossKind::UnknownLine, 1), (LossKind::TagWithoutBegin, 1)]);
    assert_eq!(sentences[0].entities, [Entity::new("X", 0, 1)]);
}

#[test]
fn span_named_formats_report_entities_sharing_a_span() {
    let tmp = tempfile::tempdir().unwrap();
    let s = sentence(
        &["Acme", "Inc"],
        vec![Entity::new("Org", 0, 2), Entity::new("Company", 0, 2)],
        vec![Relation::new("Same", 1, 0)],
    );
    for (format, name) in
        [(Interchange::Dygie, "out.jsonl"), (Interchange::Spacy, "out.spacy.jsonl")]
    {
        let report =
            formats::write(&tmp.path().join(name), format, std::slice::from_ref(&s)).unwrap();
        assert_eq!(counts(&report), [(LossKind::SameSpanEntities, 1)], "{format:?}: {report}");
    }
    let dygie = write(
        tmp.path(),
        "in.json",
        r#"{"doc_key": "d", "sentences": [["a", "b"]], "ner": [[[0, 0, "X"], [1, 5, "Y"]]], "relations": [[[0, 0, 1, 1, "R"]]], "clusters": [[[0, 0], [1, 1]]], "events": [[]], "weird": 1}"#,
    );
    let (_, report) = read(&dygie, Interchange::Dygie);
    assert_eq!(
        counts(&report),
        [
            (LossKind::SpanOutOfText, 1),
            (LossKind::RelationArgumentMissing, 1),
            (LossKind::Cluster, 1),
            (LossKind::ExtraKey, 1)
        ],
        "{report}"
    );
}

#[test]
fn task_formats_report_cancelled_extra_and_multi_label_results() {
    let tmp = tempfile::tempdir().unwrap();
    let region = |id: &str, start: usize, end: usize, labels: &[&str]| {
        json!({"id": id, "type": "labels", "from_name": "l", "to_name": "text",
               "value": {"start": start, "end": end, "labels": labels}})
    };
    let tasks = json!([
        {"data": {"text": "Ann met Bob"},
         "annotations": [
            {"was_cancelled": true, "result": []},
            {"result": [region("a", 0, 3, &["Per", "Name"]), region("b", 8, 11, &["Per"]),
                        {"type": "relation", "from_id": "b", "to_id": "a", "direction": "left", "labels": ["Met"]},
                        {"type": "relation", "from_id": "b", "to_id": "zz", "labels": ["Met"]}]},
            {"result": []}],
         "predictions": [
            {"model_version": "m2", "score": 0.5,
             "result": [region("p", 0, 3, &["Per"]), region("q", 4, 7, &["Verb"]),
                        region("r", 8, 11, &["Per"]),
                        {"type": "relation", "from_id": "r", "to_id": "p", "direction": "left", "labels": ["Met"]}]},
            {"result": []}]},
        {"data": {"number": 3}}
    ]);
    let path = write(tmp.path(), "ls.json", &tasks.to_string());
    let (sentences, report) = read(&path, Interchange::LabelStudio);
    assert_eq!(
        counts(&report),
        [
            (LossKind::RelationArgumentMissing, 1),
            (LossKind::NoText, 1),
            (LossKind::MultipleLabels, 1),
            (LossKind::OtherAnnotation, 2),
            (LossKind::Cancelled, 1)
        ],
        "{report}"
    );
    let s = &sentences[0];
    // `left`: the arrow points from `to_id` to `from_id`. The predicted Met repeats the gold
    // one: it is that relation, not a second one marked as the model's.
    assert_eq!(s.relations, [Relation::new("Met", 0, 2)]);
    // The prediction repeating a gold region is that region; the other one is a proposal.
    assert_eq!(s.entities.len(), 3);
    assert_eq!(
        serde_json::to_value(&s.entities[1].extra).unwrap(),
        json!({"source": "model", "score": 0.5, "model": "m2"})
    );

    let mut proposal = sentence(&["Ann"], vec![Entity::new("Per", 0, 1)], vec![]);
    proposal.entities[0].extra =
        json!({"source": "accepted", "note": 1}).as_object().unwrap().clone();
    let report =
        formats::write(&tmp.path().join("out.json"), Interchange::LabelStudio, &[proposal])
            .unwrap();
    assert_eq!(counts(&report), [(LossKind::ExtraKey, 2)]);

    // A reviewed relation whose argument is still a proposal: the annotation must hold the
    // region it names, so the proposal is written (and read back) as reviewed.
    let model = json!({"source": "model", "score": 0.9}).as_object().unwrap().clone();
    let mut mixed = sentence(
        &["Ann", "met", "Bob"],
        vec![Entity::new("Per", 0, 1), Entity::new("Per", 2, 3)],
        vec![Relation::new("Met", 0, 1)],
    );
    mixed.entities[1].extra = model;
    let out = tmp.path().join("mixed.json");
    let report = formats::write(&out, Interchange::LabelStudio, &[mixed]).unwrap();
    assert_eq!(counts(&report), [(LossKind::ProposalWrittenAsGold, 1)], "{report}");
    let (back, report) = read(&out, Interchange::LabelStudio);
    assert!(report.is_empty(), "{report}");
    assert_eq!(back[0].relations, [Relation::new("Met", 0, 1)]);
    assert!(back[0].entities.iter().all(|e| e.extra.is_empty()));
}

#[test]
fn brat_documents_whose_names_clean_alike_are_both_written() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sentences = Vec::new();
    for (key, word) in [("a/b", "Ann"), ("a_b", "Bob"), ("A_b", "Cy")] {
        let mut s = sentence(&[word, "sleeps"], vec![Entity::new("Peop", 0, 1)], vec![]);
        s.extra.insert("doc_key".into(), json!(key));
        sentences.push(s);
    }
    let out = tmp.path().join("out");
    let report = formats::write(&out, Interchange::Brat, &sentences).unwrap();
    assert_eq!(counts(&report), [(LossKind::DocumentRenamed, 2)], "{report}");
    let (back, _) = read(&out, Interchange::Brat);
    let mut words: Vec<&str> = back.iter().map(|s| s.tokens[0].as_str()).collect();
    words.sort();
    assert_eq!(words, ["Ann", "Bob", "Cy"]);
}

#[test]
fn dygie_relations_between_two_entities_of_one_span_keep_both_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let s = sentence(
        &["Aspirin", "works"],
        vec![Entity::new("Chemical", 0, 1), Entity::new("Drug", 0, 1)],
        vec![Relation::new("Same", 0, 1)],
    );
    let out = tmp.path().join("d.jsonl");
    formats::write(&out, Interchange::Dygie, &[s]).unwrap();
    let (back, _) = read(&out, Interchange::Dygie);
    let r = &back[0].relations[0];
    // Matched by span alone, both arguments were the first entity: a self-relation.
    assert_eq!((r.head, r.tail), (0, 1), "{:?}", back[0]);
}

#[test]
fn the_spert_format_named_is_read_whatever_the_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "export.txt", "{\"tokens\":[\"Ann\",\"sleeps\"]}\n");
    let (sentences, _) = read(&path, Interchange::Spert(spanscope::data::Format::JsonLines));
    assert_eq!(sentences[0].tokens, ["Ann", "sleeps"]);
    let err = formats::read(&path, Interchange::Spert(spanscope::data::Format::Json)).unwrap_err();
    assert!(err.to_string().contains("must be a JSON array"), "{err}");
}

#[test]
fn provenance_a_format_cannot_carry_is_named_with_the_rejections_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = sentence(&["Ann", "met", "Bob"], vec![Entity::new("Per", 0, 1)], vec![]);
    let rejected =
        json!([{"type": "Per", "start": 2, "end": 3}, {"type": "Loc", "start": 2, "end": 3}]);
    s.extra.insert("rejected_entities".into(), rejected);
    s.extra.insert("id".into(), "0123456789abcdef".into());
    s.entities[0].extra =
        json!({"source": "corrected", "proposal": {"type": "Loc", "start": 0, "end": 1}})
            .as_object()
            .unwrap()
            .clone();
    let report = formats::write(&tmp.path().join("out.jsonl"), Interchange::Doccano, &[s]).unwrap();
    assert_eq!(counts(&report), [(LossKind::ExtraKey, 1), (LossKind::Provenance, 3)]);
    let provenance = report.losses.iter().find(|l| l.kind == LossKind::Provenance).unwrap();
    assert_eq!(
        provenance.examples,
        ["record 0: `rejected_entities` (2)", "record 0: `id`", "record 0 entity 0: `proposal`"]
    );
}
