//! The pure parts of training: SpERT's negative sampling, the learning-rate schedule, gradient
//! clipping and the joint loss.

use std::collections::HashSet;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::SeedableRng;
use spanscope::data::types::{EntityType, RelationType, Types};
use spanscope::data::{Entity, Relation, Sentence};
use spanscope::train::loss::{bce_with_logits, joint_loss, LossTargets};
use spanscope::train::sampling::{
    GoldSentence, SampledPair, SampledSpan, SamplingConfig, TrainSample,
};
use spanscope::train::schedule::{clip_grad_norm, decays, LinearSchedule};

fn types() -> Types {
    let entity = |n: &str| EntityType {
        name: n.into(),
        short: n.into(),
        verbose: n.into(),
        ..EntityType::default()
    };
    let relation = |n: &str, symmetric| RelationType {
        name: n.into(),
        short: n.into(),
        verbose: n.into(),
        symmetric,
        ..RelationType::default()
    };
    Types {
        entities: vec![entity("Peop"), entity("Loc"), entity("Org")],
        relations: vec![
            relation("Work_For", false),
            relation("Live_In", false),
            relation("Near", true),
        ],
    }
}

/// 12 words; entities Peop 0..2, Org 4..5, Loc 6..7, Loc 9..12; relations Work_For and
/// Live_In on (0, 1), Near (2, 3).
fn sentence() -> Sentence {
    let mut s = Sentence::from_tokens((0..12).map(|i| format!("w{i}")).collect());
    s.entities = vec![
        Entity::new("Peop", 0, 2),
        Entity::new("Org", 4, 5),
        Entity::new("Loc", 6, 7),
        Entity::new("Loc", 9, 12),
    ];
    s.relations = vec![
        Relation::new("Work_For", 0, 1),
        Relation::new("Live_In", 0, 1),
        Relation::new("Near", 2, 3),
    ];
    s
}

fn config(neg_entities: usize, neg_relations: usize) -> SamplingConfig {
    SamplingConfig {
        neg_entity_count: neg_entities,
        neg_relation_count: neg_relations,
        max_span_width: 3,
    }
}

#[test]
fn gold_spans_come_first_with_their_classes() {
    let gold = GoldSentence::new(&sentence(), 0, 12, &types()).unwrap();
    let sample = gold.sample(&config(5, 5), &mut StdRng::seed_from_u64(1));
    let first: Vec<_> = sample.spans[..4].iter().map(|s| (s.start, s.end, s.label)).collect();
    assert_eq!(first, vec![(0, 2, 1), (4, 5, 3), (6, 7, 2), (9, 12, 2)]);
}

#[test]
fn negative_spans_respect_count_and_width_and_avoid_gold() {
    let gold = GoldSentence::new(&sentence(), 0, 12, &types()).unwrap();
    for count in [0, 1, 7, 20] {
        let sample = gold.sample(&config(count, 0), &mut StdRng::seed_from_u64(count as u64));
        let negatives = &sample.spans[4..];
        assert_eq!(negatives.len(), count);
        let mut seen = HashSet::new();
        for span in negatives {
            assert_eq!(span.label, 0);
            assert!(span.width() >= 1 && span.width() <= 3, "{span:?}");
            assert!(span.end <= 12);
            assert!(!gold.entities.iter().any(|g| (g.start, g.end) == (span.start, span.end)));
            assert!(seen.insert((span.start, span.end)), "drawn twice: {span:?}");
        }
    }
    // Width <= 3 over 12 words: 12 + 11 + 10 = 33 spans, 4 of them gold: 29 negatives at most.
    let all = gold.sample(&config(1000, 0), &mut StdRng::seed_from_u64(0));
    assert_eq!(all.spans.len() - 4, 29);
}

#[test]
fn relation_targets_are_multi_label_and_symmetric_relations_go_both_ways() {
    let gold = GoldSentence::new(&sentence(), 0, 12, &types()).unwrap();
    let sample = gold.sample(&config(0, 0), &mut StdRng::seed_from_u64(0));
    let pairs: HashSet<_> =
        sample.pairs.iter().map(|p| (p.head, p.tail, p.relation_types.clone())).collect();
    let expected: HashSet<_> =
        [(0, 1, vec![0, 1]), (2, 3, vec![2]), (3, 2, vec![2])].into_iter().collect();
    assert_eq!(pairs, expected);
}

#[test]
fn negative_pairs_are_unrelated_pairs_of_gold_entities() {
    let gold = GoldSentence::new(&sentence(), 0, 12, &types()).unwrap();
    // 4 entities: 12 ordered pairs, 3 related.
    let all = gold.sample(&config(3, 100), &mut StdRng::seed_from_u64(3));
    let negatives: Vec<&SampledPair> =
        all.pairs.iter().filter(|p| p.relation_types.is_empty()).collect();
    assert_eq!(negatives.len(), 9);
    for pair in &negatives {
        assert_ne!(pair.head, pair.tail);
        assert!(pair.head < 4 && pair.tail < 4, "pairs index gold spans only: {pair:?}");
        assert!(!gold.relations.contains_key(&(pair.head, pair.tail)));
    }
    let some = gold.sample(&config(3, 4), &mut StdRng::seed_from_u64(3));
    assert_eq!(some.pairs.iter().filter(|p| p.relation_types.is_empty()).count(), 4);
}

#[test]
fn sampling_is_deterministic_per_seed_and_fresh_per_draw() {
    let gold = GoldSentence::new(&sentence(), 0, 12, &types()).unwrap();
    let draw = |seed| gold.sample(&config(8, 4), &mut StdRng::seed_from_u64(seed));
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    let mut rng = StdRng::seed_from_u64(42);
    let (a, b) = (gold.sample(&config(8, 4), &mut rng), gold.sample(&config(8, 4), &mut rng));
    assert_ne!(a, b, "each epoch draws anew");
}

#[test]
fn gold_beyond_the_kept_words_is_dropped_and_unknown_types_are_errors() {
    let gold = GoldSentence::new(&sentence(), 0, 8, &types()).unwrap();
    assert_eq!(gold.entities.len(), 3);
    assert!(!gold.relations.contains_key(&(2, 3)));
    let sample = gold.sample(&config(1000, 100), &mut StdRng::seed_from_u64(0));
    assert!(sample.spans.iter().all(|s| s.end <= 8));

    let mut bad = sentence();
    bad.entities[1].entity_type = "Misc".into();
    let err = GoldSentence::new(&bad, 7, 12, &types()).unwrap_err();
    assert_eq!((err.sentence, err.kind, err.name.as_str()), (7, "entity", "Misc"));
}

#[test]
fn learning_rate_warms_up_then_decays_to_zero() {
    let s = LinearSchedule::new(1.0, 0.1, 100);
    assert_eq!(s.warmup_steps, 10);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    for (step, lr) in [(0, 0.0), (5, 0.5), (10, 1.0), (55, 0.5), (91, 0.1), (100, 0.0), (150, 0.0)]
    {
        assert!(close(s.lr_at(step), lr), "step {step}: {} != {lr}", s.lr_at(step));
    }
    let none = LinearSchedule::new(2.0, 0.0, 4);
    assert!(close(none.lr_at(0), 2.0) && close(none.lr_at(2), 1.0));
}

#[test]
fn weight_decay_skips_biases_and_layer_norms() {
    assert!(decays("bert.encoder.layer.0.attention.self.query.weight"));
    assert!(decays("span_classifier.out.weight"));
    assert!(!decays("relation_classifier.bias"));
    assert!(!decays("bert.encoder.layer.0.output.LayerNorm.weight"));
    assert!(!decays("bert.embeddings.LayerNorm.bias"));
}

#[test]
fn clipping_caps_the_global_norm() {
    let dev = Device::Cpu;
    let a = Var::from_tensor(&Tensor::zeros(4, DType::F32, &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::zeros((2, 2), DType::F32, &dev).unwrap()).unwrap();
    // d/da = 3 everywhere (4 values), d/db = 4 everywhere (4 values): norm sqrt(4·9 + 4·16) = 10.
    let loss = ((a.as_tensor() * 3.0).unwrap().sum_all().unwrap()
        + (b.as_tensor() * 4.0).unwrap().sum_all().unwrap())
    .unwrap();
    let vars = [a.clone(), b.clone()];
    let mut grads = loss.backward().unwrap();
    let norm = clip_grad_norm(&mut grads, &vars, 1.0).unwrap().to_scalar::<f32>().unwrap();
    assert!((norm - 10.0).abs() < 1e-4);
    let clipped: f32 = vars
        .iter()
        .map(|v| {
            grads.get(v).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap()
        })
        .sum::<f32>()
        .sqrt();
    assert!((clipped - 1.0).abs() < 1e-4, "clipped norm {clipped}");
    let ga = grads.get(&a).unwrap().to_vec1::<f32>().unwrap();
    assert!(ga.iter().all(|g| (g - 0.3).abs() < 1e-5), "direction kept: {ga:?}");

    // Below the threshold nothing changes.
    let mut grads = loss.backward().unwrap();
    clip_grad_norm(&mut grads, &vars, 100.0).unwrap();
    assert_eq!(grads.get(&a).unwrap().to_vec1::<f32>().unwrap(), vec![3.0; 4]);
}

#[test]
fn the_global_norm_counts_every_value_of_long_gradients() {
    let dev = Device::Cpu;
    // 1003 values: whole runs of 8 and a tail. d/da_i = i, norm² = Σ i² = n(n-1)(2n-1)/6.
    let n = 1003usize;
    let a = Var::from_tensor(&Tensor::zeros(n, DType::F32, &dev).unwrap()).unwrap();
    let c = Tensor::arange(0f32, n as f32, &dev).unwrap();
    let loss = (a.as_tensor() * &c).unwrap().sum_all().unwrap();
    let mut grads = loss.backward().unwrap();
    let norm = clip_grad_norm(&mut grads, std::slice::from_ref(&a), 1e9).unwrap();
    let want = ((n * (n - 1) * (2 * n - 1)) as f64 / 6.0).sqrt() as f32;
    let got = norm.to_scalar::<f32>().unwrap();
    assert!((got - want).abs() / want < 1e-6, "norm {got}, want {want}");
}

#[test]
fn bce_with_logits_is_stable_and_right() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[0.0f32, 2.0, -3.0, 100.0, -100.0], &dev).unwrap();
    let z = Tensor::new(&[1.0f32, 0.0, 1.0, 1.0, 1.0], &dev).unwrap();
    let got = bce_with_logits(&x, &z).unwrap().to_vec1::<f32>().unwrap();
    let naive = |x: f32, z: f32| {
        let p = 1.0 / (1.0 + (-x).exp());
        -(z * p.ln() + (1.0 - z) * (1.0 - p).ln())
    };
    for (i, (x, z)) in [(0.0, 1.0), (2.0, 0.0), (-3.0, 1.0)].into_iter().enumerate() {
        assert!((got[i] - naive(x, z)).abs() < 1e-5);
    }
    assert!(got[3].abs() < 1e-6 && (got[4] - 100.0).abs() < 1e-3);
}

fn span(label: u32) -> SampledSpan {
    SampledSpan { start: 0, end: 1, label }
}

#[test]
fn joint_loss_averages_real_rows_and_ignores_padding() {
    let dev = Device::Cpu;
    // Sentence 0: 2 spans, 1 pair; sentence 1: 1 span (one padding row), no pair.
    let samples = vec![
        TrainSample {
            spans: vec![span(1), span(0)],
            pairs: vec![SampledPair { head: 0, tail: 1, relation_types: vec![1] }],
        },
        TrainSample { spans: vec![span(2)], pairs: vec![] },
    ];
    let targets = LossTargets::new(&samples, 2, &dev).unwrap();
    assert_eq!((targets.span_count(), targets.pair_count()), (2 + 1, 1));
    let spans = |pad: f32| {
        Tensor::new(
            &[[[0.0f32, 1.0, 0.0], [2.0, 0.0, 0.0]], [[0.0, 0.0, 3.0], [pad, -pad, pad]]],
            &dev,
        )
        .unwrap()
    };
    let relations = |pad: f32| Tensor::new(&[[[1.0f32, -1.0]], [[pad, pad]]], &dev).unwrap();
    let loss = |pad, lambda| {
        joint_loss(&spans(pad), &relations(pad), &targets, lambda)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let ce = |logits: [f32; 3], label: usize| {
        let sum: f32 = logits.iter().map(|l| l.exp()).sum();
        sum.ln() - logits[label]
    };
    let span_loss =
        (ce([0.0, 1.0, 0.0], 1) + ce([2.0, 0.0, 0.0], 0) + ce([0.0, 0.0, 3.0], 2)) / 3.0;
    let softplus = |x: f32| (1.0 + x.exp()).ln();
    // Targets [0, 1]: -log(1 - σ(1)) = softplus(1), -log σ(-1) = softplus(1).
    let relation_loss = (softplus(1.0) + softplus(1.0)) / 2.0;
    assert!((loss(0.0, 1.0) - (span_loss + relation_loss)).abs() < 1e-5);
    assert!((loss(0.0, 2.0) - (2.0 * span_loss + relation_loss)).abs() < 1e-5);
    assert_eq!(loss(0.0, 1.0), loss(1e4, 1.0), "padding must not count");

    let no_pairs = LossTargets::new(&samples[1..], 2, &dev).unwrap();
    let only = joint_loss(
        &Tensor::new(&[[[0.0f32, 0.0, 3.0]]], &dev).unwrap(),
        &Tensor::zeros((1, 0, 2), DType::F32, &dev).unwrap(),
        &no_pairs,
        1.0,
    )
    .unwrap()
    .to_scalar::<f32>()
    .unwrap();
    assert!((only - ce([0.0, 0.0, 3.0], 2)).abs() < 1e-5);
}

#[test]
fn the_optimiser_matches_pytorch_adamw_with_decay_only_on_weights() {
    use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
    use spanscope::train::schedule::Optimiser;
    let dev = Device::Cpu;
    let start = |map: &VarMap| {
        for (name, values) in
            [("layer.weight", vec![0.5f32, -1.0, 2.0]), ("layer.bias", vec![0.1, 0.2, -0.3])]
        {
            map.data().lock().unwrap()[name].set(&Tensor::new(values, &dev).unwrap()).unwrap();
        }
    };
    let (ours, reference) = (VarMap::new(), VarMap::new());
    for map in [&ours, &reference] {
        let vb = candle_nn::VarBuilder::from_varmap(map, DType::F32, &dev);
        vb.get(3, "layer.weight").unwrap();
        vb.get(3, "layer.bias").unwrap();
        start(map);
    }
    let loss_of = |map: &VarMap| {
        let data = map.data().lock().unwrap();
        let (w, b) =
            (data["layer.weight"].as_tensor().clone(), data["layer.bias"].as_tensor().clone());
        (w.sqr().unwrap().sum_all().unwrap() + (b * 3.0).unwrap().sum_all().unwrap()).unwrap()
    };
    let schedule = LinearSchedule { peak: 0.1, warmup_steps: 0, total_steps: usize::MAX };
    let mut optimiser = Optimiser::new(&ours, schedule, 0.01, 1e9).unwrap();
    let params =
        |weight_decay| ParamsAdamW { lr: 0.1, eps: 1e-6, weight_decay, ..ParamsAdamW::default() };
    let var = |name: &str| reference.data().lock().unwrap()[name].clone();
    let mut decayed = AdamW::new(vec![var("layer.weight")], params(0.01)).unwrap();
    let mut plain = AdamW::new(vec![var("layer.bias")], params(0.0)).unwrap();
    for _ in 0..3 {
        optimiser.step(loss_of(&ours).backward().unwrap()).unwrap();
        let grads = loss_of(&reference).backward().unwrap();
        decayed.step(&grads).unwrap();
        plain.step(&grads).unwrap();
    }
    for name in ["layer.weight", "layer.bias"] {
        let a = ours.data().lock().unwrap()[name].as_tensor().to_vec1::<f32>().unwrap();
        let b = reference.data().lock().unwrap()[name].as_tensor().to_vec1::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{name}: {a:?} vs {b:?}");
        }
    }
}

/// The fused AdamW kernels on the GPU give the CPU's weights (run on a GPU machine with a
/// `--features cuda` build; passes with a note elsewhere).
#[cfg(feature = "cuda")]
#[test]
fn the_optimiser_agrees_on_cpu_and_cuda() {
    use candle_nn::VarMap;
    use spanscope::train::schedule::Optimiser;
    let Ok(gpu) = Device::new_cuda(0) else {
        eprintln!("note: no CUDA device; skipping");
        return;
    };
    let run = |dev: &Device| {
        let map = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&map, DType::F32, dev);
        let w = vb.get((64, 33), "layer.weight").unwrap();
        let b = vb.get(33, "layer.bias").unwrap();
        let data: Vec<f32> = (0..64 * 33).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let set = |name: &str, t: Tensor| map.data().lock().unwrap()[name].set(&t).unwrap();
        set("layer.weight", Tensor::from_vec(data, (64, 33), dev).unwrap());
        set("layer.bias", Tensor::full(0.5f32, 33, dev).unwrap());
        let schedule = LinearSchedule::new(0.05, 0.2, 10);
        let mut optimiser = Optimiser::new(&map, schedule, 0.01, 0.5).unwrap();
        for _ in 0..5 {
            let loss = (w.sqr().unwrap().sum_all().unwrap()
                + (&b * 3.0).unwrap().sum_all().unwrap())
            .unwrap();
            optimiser.step(loss.backward().unwrap()).unwrap();
        }
        (w.flatten_all().unwrap().to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap())
    };
    let (cpu, cuda) = (run(&Device::Cpu), run(&gpu));
    for (x, y) in cpu.0.iter().chain(&cpu.1).zip(cuda.0.iter().chain(&cuda.1)) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}
