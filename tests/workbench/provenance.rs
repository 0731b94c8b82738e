//! Provenance at the state level and through the store: rejections kept and not proposed
//! again, corrections keeping the proposal and getting the model's current score (a relation's
//! from the bundled model on its worker thread), who and when on every edit, stable sentence
//! ids, and a `.txt` that grew after its `.json` was saved.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};
use spanscope::data::annotation::{reviewed_sentences, Item};
use spanscope::data::Sentence;
use spanscope::explain::prediction::{Explainer, Target, Words};
use spanscope::explain::Contribution;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;
use spanscope::store::files::{self, DocumentSource};
use spanscope::workbench::state::{App, ModelStatus};
use spanscope::workbench::update::{self, update, Effect, Msg};
use spanscope::worker::model::{InferenceReply, InferenceWorker, Inspection, ModelInfo};
use spanscope::worker::store::StoreReply;

fn info() -> ModelInfo {
    ModelInfo {
        name: "tiny-v2".into(),
        dir: PathBuf::from("tiny-v2"),
        device: "cpu".into(),
        types: types(),
        entity_types: vec!["Peop".into(), "Org".into(), "Loc".into()],
        layers: 1,
        heads: 1,
        generation: 1,
    }
}

/// Presses `text` with every key at `at` (seconds since the Unix epoch).
fn press_at(app: &mut App, text: &str, at: u64) -> Vec<Effect> {
    keys(text).into_iter().flat_map(|k| update(app, Msg::Key(k, at))).collect()
}

/// The model's answer to the newest inspect request among `effects`, if there is one.
fn answer_inspect(app: &mut App, effects: &[Effect], probabilities: &[(&str, f32)]) -> Vec<Effect> {
    let Some((request, start, end)) = effects.iter().rev().find_map(|e| match e {
        Effect::Inspect { request, start, end, .. } => Some((*request, *start, *end)),
        _ => None,
    }) else {
        return Vec::new();
    };
    let inspection = Inspection {
        start,
        end,
        contribution: Contribution { layers: 1, heads: 1, values: vec![0.5] },
        probabilities: probabilities.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
    };
    update(app, Msg::Model(InferenceReply::Inspected { request, result: Ok(inspection) }))
}

fn predicted(sentence: usize, annotation: Sentence) -> Msg {
    Msg::Model(InferenceReply::Predicted {
        doc: 1,
        sentence,
        generation: 1,
        annotation,
        notes: Vec::new(),
    })
}

#[test]
fn a_rejected_proposal_is_kept_and_not_proposed_again() {
    let mut app = app_with(vec![proposed()]);
    app.annotator = "ada".into();
    press_at(&mut app, "<Tab>x", 1_700_000_000);
    let saved = sent(&app, 0).clone();
    assert_eq!(saved.entities.len(), 2, "Peop rejected");
    assert_eq!(
        saved.extra["rejected_entities"],
        json!([{"type": "Peop", "start": 0, "end": 2, "score": 0.95,
                "annotator": "ada", "time": "20231114T221320Z"}])
    );
    assert_eq!(saved.extra["rejected_relations"][0]["head"]["type"], json!("Peop"));

    // Reopened, the sentence has only proposals, so a new model renews them: not Peop.
    let mut app = app_with(vec![saved.clone()]);
    app.fine_tuning.renew_on_load = true;
    let effects = update(&mut app, Msg::Model(InferenceReply::Ready(info())));
    assert!(effects.iter().any(|e| matches!(e, Effect::Predict { .. })), "{effects:?}");
    update(&mut app, predicted(0, proposed()));
    let renewed: Vec<String> =
        sent(&app, 0).entities.iter().map(|e| e.entity_type.clone()).collect();
    assert_eq!(renewed, ["Loc", "Org"]);
    assert!(sent(&app, 0).relations.is_empty(), "the relation on Peop stays rejected");

    // Reviewed, the sentence trains on what was accepted, never on what was rejected.
    press(&mut app, "Ar");
    let gold = reviewed_sentences(app.docs[0].sentences.iter());
    let types: Vec<&str> = gold[0].entities.iter().map(|e| e.entity_type.as_str()).collect();
    assert_eq!(types, ["Loc", "Org"]);
}

#[test]
fn a_sentence_whose_proposals_were_all_rejected_gets_none_of_them_back() {
    let mut app = app_with(vec![proposed()]);
    press(&mut app, "X");
    let saved = sent(&app, 0).clone();
    assert!(saved.entities.is_empty());
    let mut app = app_with(vec![saved.clone()]);
    app.model = ModelStatus::Loading("tiny".into());
    let effects = update(&mut app, loaded(vec![saved]));
    assert!(matches!(effects.first(), Some(Effect::Predict { .. })), "{effects:?}");
    update(&mut app, predicted(0, proposed()));
    assert!(sent(&app, 0).entities.is_empty() && sent(&app, 0).relations.is_empty());
}

#[test]
fn a_correction_keeps_the_proposal_and_gets_the_current_score() {
    let mut app = app_with(vec![proposed()]);
    update(&mut app, Msg::Model(InferenceReply::Ready(info())));
    let p = [("none", 0.05), ("Peop", 0.6), ("Org", 0.3), ("Loc", 0.05)];
    let effects = press(&mut app, "<Tab>");
    answer_inspect(&mut app, &effects, &p);
    press(&mut app, "2");
    let e = &sent(&app, 0).entities[0];
    assert_eq!(e.entity_type, "Org");
    assert_eq!(e.extra["source"], json!("corrected"));
    assert_eq!(e.extra["proposal"], json!({"type": "Peop", "start": 0, "end": 2, "score": 0.95}));
    assert_eq!(e.extra["score"], json!(0.3), "the model's score for Org on this span");
    assert_eq!(e.extra["model"], json!("tiny-v2"));

    // A new boundary is a new span: its score comes with the inspector's next answer.
    let effects = press(&mut app, ")");
    let e = &sent(&app, 0).entities[0];
    assert_eq!((e.start, e.end), (0, 3));
    assert!(!e.extra.contains_key("score"), "no score until the model has spoken");
    let journal = answer_inspect(&mut app, &effects, &[("none", 0.7), ("Org", 0.2)]);
    let e = &sent(&app, 0).entities[0];
    assert_eq!(e.extra["score"], json!(0.2));
    assert_eq!(e.extra["proposal"]["type"], json!("Peop"), "the first proposal stays");
    assert!(!journal.is_empty(), "the score is journaled with the edit");
}

/// The bundled model on its worker thread, answering the workbench's requests one at a time
/// (so that none is superseded and every one gets its reply).
struct Bundled {
    worker: InferenceWorker,
    replies: Receiver<InferenceReply>,
}

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm")
}

impl Bundled {
    /// Starts the worker and gives `app` the model it loaded.
    fn start(app: &mut App) -> Self {
        let (tx, replies) = channel();
        let worker = InferenceWorker::spawn(bundled_dir(), DeviceSpec::Cpu, move |reply| {
            let _ = tx.send(reply);
        });
        let bundled = Bundled { worker, replies };
        let ready = bundled.next();
        assert!(matches!(ready, InferenceReply::Ready(_)), "{ready:?}");
        update(app, Msg::Model(ready));
        bundled
    }

    fn next(&self) -> InferenceReply {
        self.replies.recv_timeout(Duration::from_secs(120)).expect("the model worker replies")
    }

    /// Serves the inspect and explain requests among `effects`, and those their answers
    /// bring, until none is left.
    fn serve(&self, app: &mut App, effects: Vec<Effect>) {
        let mut pending: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = pending.pop_front() {
            let asked = match effect {
                Effect::Inspect { request, tokens, start, end } => {
                    self.worker.inspect(request, tokens, start, end);
                    request
                }
                Effect::Explain { request, tokens, target, wanted } => {
                    self.worker.explain(request, tokens, target, wanted);
                    request
                }
                _ => continue,
            };
            let reply = loop {
                match self.next() {
                    InferenceReply::Inspected { request, .. }
                    | InferenceReply::Explained { request, .. }
                        if request != asked =>
                    {
                        panic!("request {request} answered while {asked} was asked")
                    }
                    InferenceReply::Idle => continue,
                    reply => break reply,
                }
            };
            pending.extend(update(app, Msg::Model(reply)));
        }
    }
}

/// The bundled model's score (as `spanscope explain --relation` reports it, rounded as files
/// keep it) of `relation` from words `head` to words `tail` of `s`.
fn relation_score(s: &Sentence, head: (usize, usize), tail: (usize, usize), relation: &str) -> f64 {
    let (model, _, pieces, _) =
        checkpoint::load(&bundled_dir(), &candle_core::Device::Cpu, candle_core::DType::F32)
            .expect("bundled model");
    let target = Target::Relation {
        head: Words::new(head.0, head.1),
        tail: Words::new(tail.0, tail.1),
        relation: Some(relation.into()),
    };
    let explainer = Explainer::new(&model, &pieces, &s.tokens, target).unwrap();
    (f64::from(explainer.prediction().probability) * 10_000.0).round() / 10_000.0
}

fn score_of(extra: &serde_json::Map<String, Value>) -> Option<f64> {
    extra.get("score").and_then(Value::as_f64)
}

/// The proposed sentence with the model's Located_In(Acme → Paris) and Live_In(Paris → John
/// Smith), and the types with two more for the reviewer to pick: OrgBased_In (3), Live_In (4).
fn relations_proposed() -> (Sentence, spanscope::data::types::Types) {
    let mut s = proposed();
    let relation = |ty: &str, head: usize, tail: usize| {
        let r = json!({"type": ty, "head": head, "tail": tail, "score": 0.8, "source": "model"});
        serde_json::from_value(r).unwrap()
    };
    s.relations = vec![relation("Located_In", 2, 1), relation("Live_In", 1, 0)];
    let mut types = types();
    for name in ["OrgBased_In", "Live_In"] {
        let mut more = types.relations[0].clone();
        (more.name, more.short, more.verbose) = (name.into(), name.into(), name.into());
        types.relations.push(more);
    }
    (s, types)
}

#[test]
fn a_relation_the_reviewer_writes_gets_the_models_score_for_it() {
    let (s, types) = relations_proposed();
    let mut bare = s.clone();
    bare.relations.clear();
    let mut app = app_with(vec![s.clone(), bare, s.clone()]);
    app.types = types;
    let bundled = Bundled::start(&mut app);
    let (peop, org, loc) = ((0, 2), (4, 5), (6, 7));
    let selected = |app: &App| match app.cursor.item {
        Some(Item::Relation(i)) => sent(app, app.cursor.sentence).relations[i].clone(),
        other => panic!("a relation is selected, not {other:?}"),
    };

    // Located_In(Acme → Paris), selected and explained, then retyped to OrgBased_In.
    let effects = press(&mut app, "]");
    assert_eq!(selected(&app).relation_type, "Located_In");
    bundled.serve(&mut app, effects);
    let effects = press(&mut app, "3");
    bundled.serve(&mut app, effects);
    let r = selected(&app);
    assert_eq!(r.relation_type, "OrgBased_In");
    assert_eq!(r.extra["source"], json!("corrected"));
    assert_eq!(r.extra["proposal"]["score"], json!(0.8), "the proposal keeps its own score");
    assert_eq!(r.extra["model"], json!("conll04-aspert-minilm"));
    let expected = relation_score(&s, org, loc, "OrgBased_In");
    let got = score_of(&r.extra).expect("the retyped relation has the model's current score");
    assert!((got - expected).abs() < 2e-4, "{got} vs explain --relation's {expected}");
    let before = relation_score(&s, org, loc, "Located_In");
    assert!((expected - before).abs() > 0.1, "the new type's score, not the old: {before}");

    // Live_In(Paris → John Smith) flipped: the score of John Smith → Paris, once explained.
    let effects = press(&mut app, "]");
    assert_eq!(selected(&app).relation_type, "Live_In");
    bundled.serve(&mut app, effects);
    let effects = press(&mut app, "f");
    assert!(score_of(&selected(&app).extra).is_none(), "Paris → John Smith's score is gone");
    bundled.serve(&mut app, effects);
    let expected = relation_score(&s, peop, loc, "Live_In");
    let got = score_of(&selected(&app).extra).expect("scored after the flip");
    assert!((got - expected).abs() < 2e-4, "{got} vs {expected}");
    assert!((expected - relation_score(&s, loc, peop, "Live_In")).abs() > 0.1, "direction");

    // A relation drawn by hand: Work_For from John Smith to the first tail offered.
    let effects = press(&mut app, "j<Tab>R<Enter>1");
    bundled.serve(&mut app, effects);
    let r = selected(&app);
    let ends = sent(&app, 1);
    let (head, tail) = (&ends.entities[r.head], &ends.entities[r.tail]);
    assert_eq!((r.relation_type.as_str(), (head.start, head.end)), ("Work_For", peop));
    let expected = relation_score(&s, peop, (tail.start, tail.end), "Work_For");
    let got = score_of(&r.extra).expect("the new relation has the model's score");
    assert!((got - expected).abs() < 2e-4, "{got} vs {expected}");
    assert_eq!(r.extra["source"], json!("manual"));

    // Looking at the relations of a sentence without unsaved edits changes nothing.
    let effects = press(&mut app, "j]");
    bundled.serve(&mut app, effects);
    assert_eq!(app.cursor.sentence, 2);
    assert!(app.inspector.explanation.is_some(), "it was explained");
    assert_eq!(*sent(&app, 2), s);
}

#[test]
fn every_edit_records_its_annotator_and_time() {
    let mut app = app_with(vec![gold(), plain()]);
    app.annotator = "maria".into();
    press_at(&mut app, "<Tab>3", 1_700_000_000);
    let s = sent(&app, 0);
    let stamped = |extra: &serde_json::Map<String, Value>| {
        (extra.get("annotator").cloned(), extra.get("time").cloned())
    };
    let expected = (Some(json!("maria")), Some(json!("20231114T221320Z")));
    assert_eq!(stamped(&s.entities[0].extra), expected);
    assert_eq!(stamped(&s.extra), expected, "and the sentence, with its last edit");
    assert_eq!(stamped(&s.entities[1].extra), (None, None), "what was not edited is not");
    assert_eq!(sent(&app, 1).extra.get("id"), None, "a sentence nobody edited gets no id");
}

#[test]
fn sentence_ids_are_kept_through_saves_and_an_unchanged_file_stays_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.json");
    let text = "[\n  {\"tokens\": [\"Anna\", \"left\"], \"entities\": []},\n  \
                {\"tokens\": [\"Bo\", \"stayed\"], \"entities\": [], \"orig_id\": 7}\n]\n";
    std::fs::write(&path, text).unwrap();
    let source = DocumentSource::for_path(&path).unwrap();

    let (mut app, print) = open(&source);
    press(&mut app, "v1");
    let id = sent(&app, 0).extra["id"].clone();
    let print = files::save(&source, app.docs[0].sentences.as_slice(), print, false).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved
        .ends_with("{\"tokens\": [\"Bo\", \"stayed\"], \"entities\": [], \"orig_id\": 7}\n]\n"));

    let (mut app, _) = open(&source);
    assert_eq!(sent(&app, 0).extra["id"], id);
    press(&mut app, "<Tab>2");
    assert_eq!(sent(&app, 0).extra["id"], id, "assigned once");
    files::save(&source, app.docs[0].sentences.as_slice(), Some(print), false).unwrap();

    let unchanged = std::fs::read(&path).unwrap();
    let (app, print) = open(&source);
    files::save(&source, app.docs[0].sentences.as_slice(), print, false).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), unchanged);
}

/// A workbench with the document at `source` loaded from disk, and its fingerprint.
fn open(source: &DocumentSource) -> (App, Option<files::Fingerprint>) {
    let mut app = App::new(types(), true, ModelStatus::Failed("no model".into()));
    update::open(&mut app, vec![source.clone()]);
    let loaded = files::load(source).unwrap();
    let print = loaded.fingerprint;
    update(&mut app, Msg::Store(StoreReply::Loaded { doc: 1, result: Ok(loaded), recovery: None }));
    (app, print)
}

#[test]
fn sentences_added_to_a_text_after_its_annotations_were_saved_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "Zoë met Ünal in Kraków. Bo stayed home.\n").unwrap();
    let (mut app, print) = open(&DocumentSource::for_path(&txt).unwrap());
    assert_eq!(sent(&app, 0).extra["offsets"][1], json!([4, 7]), "code points: \"met\" after ë");
    press(&mut app, "v1r");
    assert!(spanscope::data::annotation::is_reviewed(sent(&app, 0)));
    let source = app.docs[0].source.clone();
    files::save(&source, app.docs[0].sentences.as_slice(), print, false).unwrap();
    let reviewed = sent(&app, 0).clone();

    std::fs::write(&txt, "Zoë met Ünal in Kraków. Bo stayed home.\n\nCy came later.\n").unwrap();
    let source = DocumentSource::for_path(&txt).unwrap();
    assert_eq!(source.read_path, dir.path().join("notes.json"));
    let (app, _) = open(&source);
    let words: Vec<String> = app.docs[0].sentences.iter().map(|s| s.tokens.join(" ")).collect();
    assert_eq!(words, ["Zoë met Ünal in Kraków .", "Bo stayed home .", "Cy came later ."]);
    assert_eq!(*sent(&app, 0), reviewed, "the review of the unchanged sentence is kept");
    assert_eq!(sent(&app, 2).extra["origin"], json!({"file": "notes.txt", "start": 41, "end": 55}));
    let message = app.message.as_ref().map(|m| m.1.clone()).unwrap_or_default();
    assert!(
        message.contains("notes.txt changed: 1 new or changed sentence(s) came in"),
        "{message}"
    );
}
