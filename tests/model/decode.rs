//! Decoding (`none`, α, symmetric relations), prediction and explanations.

use crate::tiny_model::*;
use candle_core::Device;
use spanscope::data::Entity;
use spanscope::explain::Fusion;
use spanscope::model::candidates::SpanCandidate;
use spanscope::model::decode::{
    decode_entities, decode_relations, explain_span, explain_span_with_encoder, predict,
    predict_relations_between_annotated, PredictedEntity, SentencePrediction, MODEL_SOURCE,
};
use spanscope::model::windows::best_window;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn entity(start: usize, end: usize) -> PredictedEntity {
    PredictedEntity { start, end, entity_type: "Peop".into(), score: 0.9, probabilities: vec![] }
}

#[test]
fn spans_whose_argmax_is_none_are_dropped() {
    let cands: Vec<SpanCandidate> = [(0, 1), (0, 2), (1, 2), (2, 3)]
        .iter()
        .map(|&(start, end)| SpanCandidate { start, end, pieces: start + 1..end + 1 })
        .collect();
    let probs = vec![
        vec![0.5, 0.3, 0.2],   // none wins
        vec![0.2, 0.3, 0.5],   // Loc
        vec![0.1, 0.8, 0.1],   // Peop
        vec![0.4, 0.35, 0.25], // none, even though the types sum to more
    ];
    let found = decode_entities(&cands, &probs, &names(&["Peop", "Loc"]));
    let got: Vec<_> =
        found.iter().map(|(i, e)| (*i, e.start, e.end, e.entity_type.as_str(), e.score)).collect();
    assert_eq!(got, vec![(1, 0, 2, "Loc", 0.5), (2, 1, 2, "Peop", 0.8)]);
    assert_eq!(found[0].1.probabilities, probs[1]);
}

#[test]
fn relations_fire_above_alpha_and_symmetric_ones_keep_one_direction() {
    let entities = vec![entity(0, 1), entity(2, 3), entity(5, 6)];
    let types = names(&["Work_For", "Near"]);
    let symmetric = [false, true];
    let pairs = vec![(0, 1), (1, 0), (2, 0), (0, 2)];
    let probs = vec![
        vec![0.41, 0.30], // Work_For fires (just above α)
        vec![0.40, 0.70], // Work_For does not (= α); Near fires, reversed to 0 → 1
        vec![0.90, 0.55], // Work_For 2 → 0 fires; Near 2 → 0 becomes 0 → 2
        vec![0.10, 0.60], // Near 0 → 2 again: merged, higher score kept
    ];
    let rels = decode_relations(&entities, &pairs, &probs, &types, &symmetric, 0.4);
    let got: Vec<_> =
        rels.iter().map(|r| (r.head, r.tail, r.relation_type.as_str(), r.score)).collect();
    assert_eq!(
        got,
        vec![
            (0, 1, "Work_For", 0.41),
            (0, 1, "Near", 0.7),
            (0, 2, "Near", 0.6),
            (2, 0, "Work_For", 0.9)
        ]
    );
}

#[test]
fn predict_returns_sorted_entities_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = model(&aspert_config(), dir.path(), 11);
    favour_class(&mut t, 1, 8.0);
    set_relation_bias(&mut t, 0.0);
    let sentences = sentences();
    let preds = predict(&t.model, &t.pieces, &sentences, 3, &Device::Cpu).unwrap();
    assert_eq!(preds.len(), sentences.len());
    let mut relations = 0;
    for (p, s) in preds.iter().zip(&sentences) {
        assert!(!p.entities.is_empty(), "the favoured class is found");
        assert!(p.entities.windows(2).all(|w| (w[0].start, w[0].end) < (w[1].start, w[1].end)));
        for e in &p.entities {
            assert!(e.end <= s.tokens.len() && e.end - e.start <= 4);
            assert_eq!(e.probabilities.len(), 4);
            assert!((e.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert_eq!(e.entity_type, "Peop");
        }
        for r in &p.relations {
            assert!(r.head != r.tail && r.head < p.entities.len() && r.tail < p.entities.len());
            assert!(r.score > 0.4);
            if r.relation_type == "Near" {
                let (h, t) = (&p.entities[r.head], &p.entities[r.tail]);
                assert!((h.start, h.end) <= (t.start, t.end), "symmetric relations head first");
            }
        }
        relations += p.relations.len();
        let out = p.to_sentence(&s.tokens);
        assert_eq!(out.tokens, s.tokens);
        assert_eq!(out.entities.len(), p.entities.len());
        assert_eq!(out.entities[0].extra["source"], MODEL_SOURCE);
        assert!(out.entities[0].extra["score"].as_f64().unwrap() > 0.0);
        assert_eq!(out.relations.len(), p.relations.len());
    }
    assert!(relations > 0, "random relation weights fire somewhere");
    // Batch size does not change predictions.
    let one_by_one = predict(&t.model, &t.pieces, &sentences, 1, &Device::Cpu).unwrap();
    assert_same(&preds, &one_by_one);
}

#[test]
fn relation_chunks_do_not_change_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = aspert_config();
    let mut t = model(&cfg, dir.path(), 12);
    favour_class(&mut t, 2, 8.0);
    let whole = predict(&t.model, &t.pieces, &sentences(), 4, &Device::Cpu).unwrap();
    cfg.max_pairs = 7;
    let mut small = model(&cfg, dir.path(), 12);
    favour_class(&mut small, 2, 8.0);
    let chunked = predict(&small.model, &small.pieces, &sentences(), 4, &Device::Cpu).unwrap();
    assert_same(&whole, &chunked);
}

#[test]
fn batches_by_length_give_each_sentence_its_own_prediction_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = model(&aspert_config(), dir.path(), 14);
    favour_class(&mut t, 1, 8.0);
    set_relation_bias(&mut t, 0.0);
    // Lengths 7, 3, 14, 1, 7, 3: grouping by length reorders them, and equal lengths differ.
    let mut sentences = sentences();
    sentences.push(sentence("Mary works for the big dogs ."));
    sentences.push(sentence("John runs ."));
    let alone: Vec<SentencePrediction> = sentences
        .iter()
        .map(|s| predict(&t.model, &t.pieces, std::slice::from_ref(s), 1, &Device::Cpu))
        .map(|p| p.unwrap().remove(0))
        .collect();
    assert!(alone.iter().filter(|p| !p.entities.is_empty()).count() >= 5);
    assert!(alone[0].entities != alone[4].entities, "two sentences of 7 words differ");
    for batch_size in [2, 4, 6, 100] {
        let batched = predict(&t.model, &t.pieces, &sentences, batch_size, &Device::Cpu).unwrap();
        assert_same(&batched, &alone);
    }
}

#[test]
fn relations_between_annotated_entities_take_the_annotations_as_the_entities() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = model(&aspert_config(), dir.path(), 15);
    set_relation_bias(&mut t, 0.0);
    let mut sentences = sentences();
    // Out of order, one wider than the model's 4 words, one typed as the model never would.
    sentences[0].entities = vec![
        Entity::new("Loc", 6, 7),
        Entity::new("Peop", 0, 2),
        Entity::new("Org", 0, 6),
        Entity::new("Org", 4, 5),
    ];
    sentences[2].entities = vec![Entity::new("Peop", 0, 1), Entity::new("Loc", 3, 6)];
    let preds =
        predict_relations_between_annotated(&t.model, &t.pieces, &sentences, 3, &Device::Cpu)
            .unwrap();
    fn spans(p: &SentencePrediction) -> Vec<(usize, usize, &str)> {
        p.entities.iter().map(|e| (e.start, e.end, e.entity_type.as_str())).collect()
    }
    assert_eq!(spans(&preds[0]), [(0, 2, "Peop"), (4, 5, "Org"), (6, 7, "Loc")]);
    assert_eq!(spans(&preds[2]), [(0, 1, "Peop"), (3, 6, "Loc")]);
    assert!(preds[1].entities.is_empty() && preds[1].relations.is_empty());
    let e = &preds[0].entities[1];
    assert_eq!(e.probabilities.len(), 4);
    assert_eq!(e.score, e.probabilities[3], "the score is the annotated type's probability");
    assert!(!preds[0].relations.is_empty(), "relation biases at 0 fire on some of 6 pairs");
    for r in preds.iter().flat_map(|p| &p.relations) {
        assert!(r.head != r.tail && r.head < 3 && r.tail < 3);
    }
    let one_by_one =
        predict_relations_between_annotated(&t.model, &t.pieces, &sentences, 1, &Device::Cpu)
            .unwrap();
    assert_same(&preds, &one_by_one);
}

/// Same entities and relations, scores within 1e-5; short messages (the lists are long).
fn assert_same(a: &[SentencePrediction], b: &[SentencePrediction]) {
    assert_eq!(a.len(), b.len());
    for (s, (x, y)) in a.iter().zip(b).enumerate() {
        let ents = |p: &SentencePrediction| {
            p.entities.iter().map(|e| (e.start, e.end, e.entity_type.clone())).collect::<Vec<_>>()
        };
        let rels = |p: &SentencePrediction| {
            p.relations
                .iter()
                .map(|r| (r.head, r.tail, r.relation_type.clone()))
                .collect::<Vec<_>>()
        };
        assert!(ents(x) == ents(y), "entities of sentence {s} differ");
        assert!(rels(x) == rels(y), "relations of sentence {s} differ");
        for (r, q) in x.relations.iter().zip(&y.relations) {
            assert!((r.score - q.score).abs() < 1e-5, "relation scores of sentence {s} differ");
        }
    }
}

#[test]
fn a_sentence_without_words_predicts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 13);
    let empty = vec![spanscope::data::Sentence::default()];
    let preds = predict(&t.model, &t.pieces, &empty, 8, &Device::Cpu).unwrap();
    assert_eq!(preds.len(), 1);
    assert!(preds[0].entities.is_empty() && preds[0].relations.is_empty());
}

#[test]
fn explanations_match_the_model_and_the_plain_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 14);
    let tokens = sentence("John Smith works for Acme in Paris .").tokens;
    let c = explain_span(&t.model, &t.pieces, &tokens, 0, 2).unwrap();
    assert_eq!((c.layers, c.heads, c.values.len()), (2, 4, 8));
    let plain =
        explain_span_with_encoder(t.model.encoder(), &t.pieces, &tokens, 0, 2, 0.05, Fusion::Mean)
            .unwrap();
    assert_eq!(c, plain);
    assert!(explain_span(&t.model, &t.pieces, &tokens, 3, 3).is_err());
    assert!(explain_span(&t.model, &t.pieces, &tokens, 7, 9).is_err());
    let top = c.top_heads(3);
    assert_eq!(top.len(), 3);
    assert!(top[0].2 >= top[1].2 && top[1].2 >= top[2].2);
}

/// The tiny encoder reads 64 pieces: `[CLS]`, 62 pieces of words, `[SEP]`.
const TINY_PIECES: usize = 64;

#[test]
fn windows_cover_a_long_sentence_in_overlapping_halves() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 16);
    // Words of one, two and three pieces ("dogs" is dog ##s, "runnings" run ##ing ##s).
    let words = ["the", "dogs", "runnings", "sat", "on", "a", "mat", "."];
    let tokens: Vec<String> = (0..120).map(|i| words[i % words.len()].to_string()).collect();
    let pieces_of =
        |range: std::ops::Range<usize>| t.pieces.encode(&tokens[range], usize::MAX).ids.len() - 2;
    assert!(pieces_of(0..tokens.len()) > 2 * TINY_PIECES, "the sentence takes several windows");
    let windows = t.pieces.encode_windows(&tokens, TINY_PIECES);
    assert!(windows.len() >= 4, "{} windows", windows.len());
    assert_eq!((windows[0].first, windows.last().unwrap().end()), (0, tokens.len()));
    for (w, window) in windows.iter().enumerate() {
        // Each window is its words encoded as a sentence, as many as fit.
        assert_eq!(window.encoded, t.pieces.encode(&tokens[window.first..], TINY_PIECES));
        if let Some(next) = windows.get(w + 1) {
            assert!(next.first > window.first && next.end() > window.end());
            assert!(next.first < window.end(), "windows {w} and {} overlap", w + 1);
            assert!(pieces_of(window.first..next.first) >= (TINY_PIECES - 2) / 2 - 2);
        }
    }
    // Every span of up to half a window lies whole in one, and the chosen one holds it.
    for start in 0..tokens.len() {
        for end in start + 1..=tokens.len() {
            if pieces_of(start..end) <= (TINY_PIECES - 2) / 2 {
                let w = best_window(&windows, start, end).expect("a window holds the span");
                assert!(windows[w].first <= start && end <= windows[w].end());
            }
        }
    }
    assert_eq!(best_window(&windows, 0, tokens.len()), None);
    // A sentence that fits is one window, its usual encoding.
    let short = &tokens[..10];
    let one = t.pieces.encode_windows(short, TINY_PIECES);
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].first, &one[0].encoded), (0, &t.pieces.encode(short, TINY_PIECES)));
}

#[test]
fn a_long_sentence_is_predicted_in_windows_to_its_last_word() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = model(&aspert_config(), dir.path(), 17);
    favour_class(&mut t, 1, 8.0);
    set_relation_bias(&mut t, 0.0);
    let short = sentence("John Smith works for Acme in Paris .");
    let n = short.tokens.len();
    let long = spanscope::data::Sentence::from_tokens(
        short.tokens.iter().cycle().take(12 * 8).cloned().collect(),
    );
    let alone = predict(&t.model, &t.pieces, std::slice::from_ref(&short), 4, &Device::Cpu)
        .unwrap()
        .remove(0);
    let whole = predict(&t.model, &t.pieces, std::slice::from_ref(&long), 4, &Device::Cpu)
        .unwrap()
        .remove(0);
    // Each span is classified once.
    let spans = |p: &SentencePrediction, from: usize, to: usize| -> Vec<(usize, usize, String)> {
        p.entities
            .iter()
            .filter(|e| e.start >= from && e.end <= to)
            .map(|e| (e.start - from, e.end - from, e.entity_type.clone()))
            .collect()
    };
    assert!(whole.entities.windows(2).all(|w| (w[0].start, w[0].end) < (w[1].start, w[1].end)));
    // The favoured class wins wherever a span is seen, so the last repetition, which only the
    // last window holds (and cut at the encoder's 64 pieces it got nothing), has the short
    // sentence's entities; scores differ with the context, which is why they are not compared.
    let tail = spans(&whole, 11 * n, 12 * n);
    assert!(!tail.is_empty());
    assert_eq!(tail, spans(&alone, 0, n));

    // Exactly: each entity is the one the window chosen for it predicts as a sentence alone.
    let windows = t.pieces.encode_windows(&long.tokens, TINY_PIECES);
    let parts: Vec<_> = windows
        .iter()
        .map(|w| spanscope::data::Sentence::from_tokens(long.tokens[w.first..w.end()].to_vec()))
        .collect();
    let by_window = predict(&t.model, &t.pieces, &parts, 4, &Device::Cpu).unwrap();
    for e in &whole.entities {
        let w = best_window(&windows, e.start, e.end).unwrap();
        let first = windows[w].first;
        let own = by_window[w]
            .entities
            .iter()
            .find(|x| (x.start + first, x.end + first) == (e.start, e.end))
            .unwrap_or_else(|| panic!("window {w} predicts {}..{}", e.start, e.end));
        assert_eq!(own.entity_type, e.entity_type);
        let diff = own.probabilities.iter().zip(&e.probabilities).map(|(a, b)| (a - b).abs());
        assert!(diff.fold(0.0, f32::max) < 1e-5, "{}..{}", e.start, e.end);
    }
    // Relations: between entities within a window of each other, and never further apart.
    assert!(!whole.relations.is_empty());
    for r in &whole.relations {
        let (h, t) = (&whole.entities[r.head], &whole.entities[r.tail]);
        let (start, end) = (h.start.min(t.start), h.end.max(t.end));
        assert!(best_window(&windows, start, end).is_some(), "{start}..{end}");
    }
    assert!(whole.relations.iter().any(|r| whole.entities[r.head].start >= 11 * n));
    // With the annotated entities, the same windows.
    let mut given = long.clone();
    given.entities = vec![Entity::new("Org", 0, 2), Entity::new("Loc", 12 * n - 2, 12 * n - 1)];
    let related = predict_relations_between_annotated(
        &t.model,
        &t.pieces,
        std::slice::from_ref(&given),
        4,
        &Device::Cpu,
    )
    .unwrap()
    .remove(0);
    assert_eq!(spans(&related, 0, 12 * n).len(), 2);
    assert!(related.relations.is_empty(), "the two are further apart than a window");
    assert!(related.notes.iter().any(|n| n.starts_with("2 of its 2 ordered entity pairs")));
    assert!(alone.notes.is_empty());
}
