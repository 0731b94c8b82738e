//! The inspector's keys and requests, driven through `update` with no terminal and no model:
//! which explain requests each view sends, the head cursor, the set, the ablation keys and
//! the mode, the word cursor and the masked words, a failed request not asked again, and a
//! selected relation explained as a relation. Then the worker's side of word masking, with the
//! bundled model.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::support::{app_with, press, proposed, types};
use spanscope::explain::prediction::{Explainer, Mode as MaskMode, Reading, Target, Words};
use spanscope::explain::Head;
use spanscope::model::checkpoint;
use spanscope::workbench::state::{App, InspectorView, Mode, ModelStatus};
use spanscope::workbench::update::{update, Effect, Msg};
use spanscope::worker::explanation::{explain, Ablation, Explanation, Masked, Wanted, WordMasked};
use spanscope::worker::model::{InferenceReply, ModelInfo};

/// A workbench on the proposed sentence with a 6 x 12 model loaded.
fn ready() -> App {
    let mut app = app_with(vec![proposed()]);
    let info = ModelInfo {
        name: "tiny".into(),
        dir: PathBuf::from("tiny"),
        device: "cpu".into(),
        types: types(),
        entity_types: vec!["Peop".into(), "Org".into(), "Loc".into()],
        layers: 6,
        heads: 12,
        generation: 1,
    };
    update(&mut app, Msg::Model(InferenceReply::Ready(info)));
    app
}

/// The explain requests among `effects`: (request, target, wanted).
fn explains(effects: &[Effect]) -> Vec<(u64, Target, Wanted)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Explain { request, target, wanted, .. } => {
                Some((*request, target.clone(), wanted.clone()))
            }
            _ => None,
        })
        .collect()
}

fn reading(p: f32, predicted: &str) -> Reading {
    Reading { score: p.ln(), probability: p, predicted: predicted.into(), probabilities: vec![] }
}

/// An answer holding only the prediction.
fn answer(target: Target) -> Explanation {
    Explanation {
        target,
        label: "Peop".into(),
        prediction: reading(0.9, "Peop"),
        contributions: vec![],
        importance: None,
        words: None,
        sweep: None,
        flip: None,
        ablation: None,
        word_masking: None,
    }
}

#[test]
fn the_f_a_view_asks_nothing_more_and_the_importance_view_asks_importance_and_words() {
    let mut app = ready();
    let effects = press(&mut app, "<Tab>");
    assert!(explains(&effects).is_empty(), "f_a comes with the inspect request");
    assert!(effects.iter().any(|e| matches!(e, Effect::Inspect { start: 0, end: 2, .. })));
    let effects = press(&mut app, "e");
    assert_eq!(app.inspector.view, InspectorView::Importance);
    let asked = explains(&effects);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].1, Target::Entity { span: Words::new(0, 2) });
    assert!(asked[0].2.importance && asked[0].2.words && asked[0].2.sweep.is_none());
    // Nothing new while that request is in flight.
    assert!(explains(&update(&mut app, Msg::Model(InferenceReply::Idle))).is_empty());
}

#[test]
fn the_ablation_view_asks_the_sweep_and_the_flip_set_in_the_current_mode() {
    let mut app = ready();
    press(&mut app, "<Tab>");
    let asked = explains(&press(&mut app, "ee"));
    let last = &asked.last().unwrap().2;
    assert_eq!(last.sweep, Some(MaskMode::Encoder));
    assert_eq!(last.flip, Some(MaskMode::Encoder));
    let asked = explains(&press(&mut app, "im"));
    assert_eq!(app.inspector.mode, MaskMode::AttentionFeature);
    assert_eq!(asked.last().unwrap().2.sweep, Some(MaskMode::AttentionFeature));
}

#[test]
fn the_cursor_moves_within_the_grid_and_toggles_heads_into_the_set() {
    let mut app = ready();
    press(&mut app, "<Tab>i");
    assert!(matches!(app.mode, Mode::Inspect));
    press(&mut app, "jjl<Right>");
    assert_eq!(app.inspector.head, Head { layer: 2, head: 2 });
    press(&mut app, "kkkkkhhhhh");
    assert_eq!(app.inspector.head, Head { layer: 0, head: 0 });
    press(&mut app, &"l".repeat(20));
    assert_eq!(app.inspector.head.head, 11, "the cursor stops at the last head");
    press(&mut app, " h ");
    let want = BTreeSet::from([Head { layer: 0, head: 11 }, Head { layer: 0, head: 10 }]);
    assert_eq!(app.inspector.chosen, want);
    press(&mut app, "l ");
    assert_eq!(app.inspector.chosen, BTreeSet::from([Head { layer: 0, head: 10 }]));
    press(&mut app, "x");
    assert!(app.inspector.chosen.is_empty());
    // While the inspector has the keys, j is not "next sentence" and the sentence stays.
    assert_eq!(app.cursor.sentence, 0);
    press(&mut app, "<Esc>");
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn each_ablation_key_asks_its_heads_in_the_current_mode() {
    let mut app = ready();
    press(&mut app, "<Tab>i");
    let ablation = |effects: &[Effect]| explains(effects).last().and_then(|e| e.2.ablation.clone());
    let head = Head { layer: 1, head: 3 };
    let asked = ablation(&press(&mut app, "jlllc"));
    assert_eq!(
        asked,
        Some(Ablation { masked: Masked::Heads(vec![head]), mode: MaskMode::Encoder })
    );
    assert_eq!(app.inspector.view, InspectorView::Importance, "where the result is shown");
    let asked = ablation(&press(&mut app, "L")).unwrap();
    assert_eq!(asked.masked, Masked::Heads((0..12).map(|h| Head { layer: 1, head: h }).collect()));
    let asked = ablation(&press(&mut app, "3")).unwrap();
    assert_eq!(asked.masked, Masked::Top(3));
    press(&mut app, "<Enter>");
    assert!(app.message.as_ref().is_some_and(|m| m.1.contains("the set is empty")));
    let asked = ablation(&press(&mut app, " l <Enter>")).unwrap();
    let set = vec![head, Head { layer: 1, head: 4 }];
    assert_eq!(asked.masked, Masked::Heads(set.clone()));
    // The mode key asks the same set again, masked on f_a only.
    let asked = ablation(&press(&mut app, "m")).unwrap();
    assert_eq!(asked, Ablation { masked: Masked::Heads(set), mode: MaskMode::AttentionFeature });
    let flip = explains(&press(&mut app, "f"));
    assert_eq!(flip.last().unwrap().2.flip, Some(MaskMode::AttentionFeature));
}

#[test]
fn a_selected_relation_is_explained_as_a_relation_and_answers_are_merged() {
    let mut app = ready();
    let effects = press(&mut app, "]");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Inspect { .. })), "no entity's view");
    let asked = explains(&effects);
    let target = Target::Relation {
        head: Words::new(0, 2),
        tail: Words::new(4, 5),
        relation: Some("Work_For".into()),
    };
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].1, target);
    assert!(asked[0].2.prediction);
    let first = asked[0].0;
    // The importance view asks while the first answer is out; both answers are kept.
    let second = explains(&press(&mut app, "e"))[0].0;
    let mut with_importance = answer(target.clone());
    with_importance.importance =
        Some(spanscope::explain::HeadGrid { layers: 6, heads: 12, values: vec![0.5; 72] });
    with_importance.words = Some(spanscope::explain::WordAttributions {
        words: vec![],
        baseline_score: 0.0,
        steps: 16,
    });
    update(
        &mut app,
        Msg::Model(InferenceReply::Explained {
            request: second,
            result: Ok(Box::new(with_importance)),
        }),
    );
    update(
        &mut app,
        Msg::Model(InferenceReply::Explained {
            request: first,
            result: Ok(Box::new(answer(target))),
        }),
    );
    let known = app.inspector.explanation.as_ref().unwrap();
    assert!(known.importance.is_some(), "an older answer does not drop a newer part");
    assert_eq!(app.inspector.asked, Wanted::default(), "nothing is awaited");
}

#[test]
fn without_a_model_the_inspector_does_not_take_the_keys() {
    let mut app = app_with(vec![proposed()]);
    assert!(matches!(app.model, ModelStatus::Failed(_)));
    press(&mut app, "i");
    assert!(matches!(app.mode, Mode::Normal));
    assert!(app.message.as_ref().is_some_and(|m| m.1.contains("no model")));
}

/// Answers explain request `request` with `answer`.
fn reply(app: &mut App, request: u64, answer: Explanation) -> Vec<Effect> {
    let result = Ok(Box::new(answer));
    update(app, Msg::Model(InferenceReply::Explained { request, result }))
}

/// An answer with importance, the words' attributions and `words` masked.
fn with_words(target: Target, words: Vec<usize>) -> Explanation {
    let mut known = answer(target);
    known.importance =
        Some(spanscope::explain::HeadGrid { layers: 6, heads: 12, values: vec![0.5; 72] });
    known.words = Some(spanscope::explain::WordAttributions {
        words: vec![],
        baseline_score: 0.0,
        steps: 16,
    });
    known.word_masking = Some(WordMasked { words, after: reading(0.2, "none"), flips: true });
    known
}

#[test]
fn the_word_cursor_moves_and_w_masks_the_set_of_words_at_once() {
    let mut app = ready();
    press(&mut app, "<Tab>i");
    assert_eq!(app.inspector.word, 0, "the word cursor starts on the span's first word");
    press(&mut app, "]]");
    assert_eq!(app.inspector.word, 2);
    press(&mut app, "[[[");
    assert_eq!(app.inspector.word, 0, "the cursor stops at the first word");
    press(&mut app, &"]".repeat(20));
    assert_eq!(app.inspector.word, 7, "and at the last");
    let target = app.inspector.explain_key.as_ref().map(|k| k.target.clone());
    assert_eq!(target, Some(Target::Entity { span: Words::new(0, 2) }), "[ ] select nothing");
    press(&mut app, &"[".repeat(6));
    assert_eq!(app.inspector.word, 1);

    // From the f_a view: the importance view shows what masking did, and asks it at once.
    let asked = explains(&press(&mut app, "w"));
    assert_eq!(app.inspector.view, InspectorView::Importance);
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1]));
    assert_eq!(asked.len(), 1);
    let (first, target, wanted) = asked[0].clone();
    assert_eq!(wanted.word_mask, Some(vec![1]));
    assert!(wanted.importance && wanted.words, "{wanted:?}");
    reply(&mut app, first, with_words(target.clone(), vec![1]));

    // More words: the set is asked sorted, and nothing else is asked again.
    let asked = explains(&press(&mut app, "]]w]]w"));
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1, 3, 5]));
    let wanted = &asked.last().unwrap().2;
    assert_eq!(*wanted, Wanted { word_mask: Some(vec![1, 3, 5]), ..Wanted::default() });
    // w again on a masked word takes it out, and the set left is asked.
    let asked = explains(&press(&mut app, "w"));
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1, 3]));
    assert_eq!(asked.last().and_then(|a| a.2.word_mask.clone()), Some(vec![1, 3]));
    // Back to the set already answered: nothing to ask.
    assert!(explains(&press(&mut app, "[[w")).is_empty());
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1]));
    // Taking the last word out masks nothing, and asks nothing.
    let asked = explains(&press(&mut app, "[[w"));
    assert_eq!(app.inspector.word, 1);
    assert!(app.inspector.masked_words.is_empty());
    assert!(asked.is_empty(), "an empty set is not asked: {asked:?}");
    // W empties the set at once.
    press(&mut app, "w]w");
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1, 2]));
    assert!(explains(&press(&mut app, "W")).is_empty());
    assert!(app.inspector.masked_words.is_empty());
}

#[test]
fn a_new_selection_resets_the_word_cursor_and_the_masked_words() {
    let mut app = ready();
    press(&mut app, "<Tab>i]w");
    assert_eq!(app.inspector.masked_words, BTreeSet::from([1]));
    // The next entity: its first word, nothing masked, nothing masked asked.
    let asked = explains(&press(&mut app, "<Esc><Tab>"));
    let Some(Target::Entity { span }) = app.inspector.explain_key.as_ref().map(|k| &k.target)
    else {
        panic!("an entity is explained: {:?}", app.inspector.explain_key);
    };
    assert_ne!(span.start, 0, "another entity");
    assert_eq!(app.inspector.word, span.start);
    assert!(app.inspector.masked_words.is_empty());
    assert!(asked.iter().all(|a| a.2.word_mask.is_none()), "{asked:?}");
    // A relation: the word cursor starts on its head span.
    press(&mut app, "]");
    let Some(Target::Relation { head, .. }) = app.inspector.explain_key.as_ref().map(|k| &k.target)
    else {
        panic!("a relation is explained");
    };
    assert_eq!(app.inspector.word, head.start);
}

#[test]
fn a_failed_request_is_not_asked_again_until_the_view_wants_more() {
    let mut app = ready();
    let asked = explains(&press(&mut app, "<Tab>e"));
    let request = asked[0].0;
    let failed = Err("word 9 is beyond the 8 words the encoder sees".to_string());
    let effects =
        update(&mut app, Msg::Model(InferenceReply::Explained { request, result: failed }));
    assert!(explains(&effects).is_empty(), "the same request would fail again");
    assert!(explains(&update(&mut app, Msg::Model(InferenceReply::Idle))).is_empty());
    assert!(app.inspector.explain_error.is_some());
    // Something else wanted is asked.
    let asked = explains(&press(&mut app, "iw"));
    assert_eq!(asked.last().map(|a| a.2.word_mask.clone()), Some(Some(vec![0])));
    assert!(app.inspector.explain_error.is_none());
}

#[test]
fn the_worker_masks_the_words_asked_and_nothing_is_missing_after() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm");
    let (model, _, pieces, _) =
        checkpoint::load(&dir, &Device::Cpu, DType::F32).expect("bundled model");
    let tokens: Vec<String> =
        "Dr. Amara Okafor , who works for the Lagos Port Authority , lives in Ikoyi ."
            .split_whitespace()
            .map(String::from)
            .collect();
    let target = Target::Entity { span: Words::new(1, 3) };
    let wanted = Wanted { word_mask: Some(vec![2]), ..Wanted::default() };
    let found = explain(&model, &pieces, &tokens, target.clone(), &wanted).unwrap();
    let masked = found.word_masking.as_ref().expect("the words asked are masked");
    assert_eq!(masked.words, [2]);
    let explainer = Explainer::new(&model, &pieces, &tokens, target).unwrap();
    let direct = explainer.mask_words(&[vec![2]]).unwrap().remove(0);
    assert!((masked.after.probability - direct.probability).abs() < 1e-5, "{masked:?} {direct:?}");
    assert_eq!(masked.flips, explainer.flips(&direct));
    assert_ne!(masked.after.probability, found.prediction.probability, "masking «Okafor» moves P");
    assert!(found.importance.is_none() && found.ablation.is_none(), "only what was asked");
    assert!(wanted.missing(Some(&found)).is_empty());
    let more = Wanted { word_mask: Some(vec![1, 2]), ..Wanted::default() };
    assert_eq!(more.missing(Some(&found)), more, "another set is still missing");
}
