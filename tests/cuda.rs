//! CPU and CUDA agree. Built with `--features cuda` and run on the GPU machine
//! (docs/GPU.md): `cargo test --release --features cuda --test cuda --no-run` here, then the
//! test binary there, from the repository root. CI has no GPU and does not build this file.
#![cfg(feature = "cuda")]

mod tiny_model;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor, Var};
use safetensors::SafeTensors;
use spanscope::data::io::read_sentences;
use spanscope::data::types::Types;
use spanscope::data::Sentence;
use spanscope::model::aspert::ModelConfig;
use spanscope::model::batch::PieceBatch;
use spanscope::model::checkpoint::{self, init_from_encoder};
use spanscope::model::decode::{predict, SentencePrediction};
use spanscope::model::device::DeviceSpec;
use spanscope::model::fused;
use spanscope::model::graphs;
use spanscope::model::source::load_encoder;
use spanscope::train::trainer::{train, TrainConfig, TrainData};
use tiny_model::*;

fn cuda() -> Device {
    DeviceSpec::Cuda(0).open().expect("a CUDA device")
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_device(&Device::Cpu).unwrap().to_dtype(DType::F32).unwrap();
    let b = b.to_device(&Device::Cpu).unwrap().to_dtype(DType::F32).unwrap();
    max_abs_diff(&a, &b)
}

/// Entities and relations equal; scores within `tol`.
fn assert_agree(cpu: &[SentencePrediction], gpu: &[SentencePrediction], tol: f32) -> usize {
    assert_eq!(cpu.len(), gpu.len());
    let mut decisions = 0;
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        let key = |p: &SentencePrediction| {
            (
                p.entities
                    .iter()
                    .map(|e| (e.start, e.end, e.entity_type.clone()))
                    .collect::<Vec<_>>(),
                p.relations
                    .iter()
                    .map(|r| (r.head, r.tail, r.relation_type.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(key(c), key(g), "sentence {i}: CPU and CUDA predictions differ");
        for (a, b) in c.entities.iter().zip(&g.entities) {
            assert!((a.score - b.score).abs() <= tol, "sentence {i}: {} vs {}", a.score, b.score);
        }
        for (a, b) in c.relations.iter().zip(&g.relations) {
            assert!((a.score - b.score).abs() <= tol, "sentence {i}: {} vs {}", a.score, b.score);
        }
        decisions += c.entities.len() + c.relations.len();
    }
    decisions
}

#[test]
fn encoder_matches_transformers_on_cuda() {
    let dir = PathBuf::from("tests/fixtures/encoder/tiny_bert");
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let load = |name: &str| {
        let view = reference.tensor(name).unwrap();
        Tensor::from_raw_buffer(
            view.data(),
            view.dtype().try_into().unwrap(),
            view.shape(),
            &Device::Cpu,
        )
        .unwrap()
    };
    let device = cuda();
    let (encoder, _) = load_encoder(dir.to_str().unwrap(), DType::F32, &device).unwrap();
    let ids = load("input_ids").to_dtype(DType::U32).unwrap().to_device(&device).unwrap();
    let mask = load("attention_mask").to_dtype(DType::U32).unwrap().to_device(&device).unwrap();
    let out = encoder.forward(&ids, &mask, false).unwrap();
    // Real positions only: padded query rows are free to differ.
    let lengths: Vec<u32> =
        load("attention_mask").to_dtype(DType::U32).unwrap().sum(1).unwrap().to_vec1().unwrap();
    for (b, &n) in lengths.iter().enumerate() {
        let n = n as usize;
        let h = max_abs(
            &out.hidden.get(b).unwrap().narrow(0, 0, n).unwrap(),
            &load("hidden").get(b).unwrap().narrow(0, 0, n).unwrap(),
        );
        let a = max_abs(
            &out.attentions.get(b).unwrap().narrow(2, 0, n).unwrap(),
            &load("attentions").get(b).unwrap().narrow(2, 0, n).unwrap(),
        );
        println!("sentence {b}: max abs error hidden {h:.3e}, attentions {a:.3e}");
        assert!(h <= 1e-4 && a <= 1e-4);
    }
}

/// A tiny model whose heads find entities and relations, saved under `dir`; its directory.
fn saved_tiny_model(dir: &std::path::Path, seed: u64) -> PathBuf {
    let cfg = aspert_config();
    let mut t = model(&cfg, dir, seed);
    favour_class(&mut t, 1, 8.0);
    set_relation_bias(&mut t, 0.0);
    let saved = dir.join("model");
    checkpoint::save(&saved, &t.varmap, &cfg, &types(), &t.pieces, DType::F32).unwrap();
    saved
}

#[test]
fn tiny_model_predicts_the_same_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_tiny_model(dir.path(), 3);
    let (cpu_model, _, pieces, _) = checkpoint::load(&saved, &Device::Cpu, DType::F32).unwrap();
    let device = cuda();
    let (gpu_model, _, _, _) = checkpoint::load(&saved, &device, DType::F32).unwrap();
    let sentences = sentences();
    for batch in [1, 3, 8] {
        let cpu = predict(&cpu_model, &pieces, &sentences, batch, &Device::Cpu).unwrap();
        let gpu = predict(&gpu_model, &pieces, &sentences, batch, &device).unwrap();
        let n = assert_agree(&cpu, &gpu, 1e-4);
        assert!(n > 0, "the comparison has decisions to compare");
    }
}

/// An encoder pass replayed from a CUDA graph gives exactly what the pass run op by op gives,
/// for other inputs of the recorded shape too, and predictions do not change.
#[test]
fn encoder_graphs_replay_the_direct_pass_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_tiny_model(dir.path(), 5);
    let device = cuda();
    let (gpu_model, _, pieces, _) = checkpoint::load(&saved, &device, DType::F32).unwrap();
    let batch = |ids: [u32; 7]| {
        PieceBatch::from_ids(&[ids.to_vec()], vec![Vec::new()], pieces.pad_id, &device).unwrap()
    };
    let (a, b) = (batch([2, 5, 6, 7, 8, 9, 3]), batch([2, 9, 4, 4, 6, 5, 3]));
    let outputs = |enc: &spanscope::model::aspert::Encoding| {
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (flat(&enc.hidden), flat(enc.attentions().unwrap()))
    };

    graphs::set_enabled(false);
    let direct_b = outputs(&gpu_model.encode(&b, false).unwrap());
    let sentences = sentences();
    let direct = predict(&gpu_model, &pieces, &sentences, 1, &device).unwrap();
    graphs::set_enabled(true);
    // Seen once, then recorded, then replayed: a's shape, then b's inputs in a's graph.
    let before = graphs::recorded();
    gpu_model.encode(&a, false).unwrap();
    gpu_model.encode(&a, false).unwrap();
    assert_eq!(graphs::recorded(), before + 1, "a shape seen twice is recorded");
    let replayed = gpu_model.encode(&b, false).unwrap();
    let again = gpu_model.encode(&b, false).unwrap();
    assert_eq!(graphs::recorded(), before + 1, "the same shape replays, not re-records");
    assert!(outputs(&replayed) == direct_b, "a replay with other inputs gives the direct pass");
    assert!(outputs(&again) == direct_b, "a kept encoding survives the next replay");
    for pass in 0..3 {
        let got = predict(&gpu_model, &pieces, &sentences, 1, &device).unwrap();
        assert_eq!(got, direct, "pass {pass} with graphs predicts as without");
    }
    assert!(graphs::recorded() > before + 1, "prediction recorded its shapes");
}

/// all-MiniLM-L6-v2 with fresh heads whose span bias favours entities, on CoNLL04 dev
/// sentences: every decision equal on both devices.
#[test]
fn minilm_predicts_the_same_on_cpu_and_cuda() {
    let Some(encoder) = std::env::var_os("SPANSCOPE_TEST_ENCODER").map(PathBuf::from) else {
        eprintln!("skipped: set SPANSCOPE_TEST_ENCODER to a MiniLM checkpoint");
        return;
    };
    let Some(data) = std::env::var_os("SPANSCOPE_TEST_SENTENCES").map(PathBuf::from) else {
        eprintln!("skipped: set SPANSCOPE_TEST_SENTENCES to a SpERT dataset");
        return;
    };
    let types = Types::read(&PathBuf::from("sample_docs/types.json")).unwrap();
    let mut t = init_from_encoder(
        encoder.to_str().unwrap(),
        |enc| ModelConfig::aspert(enc, &types),
        &Device::Cpu,
        DType::F32,
        1,
    )
    .unwrap();
    // Untrained heads start from a 1% entity prior; make about a third of the types' share win
    // so that relations get classified too.
    favour_class(&mut t, 1, 5.0);
    set_relation_bias(&mut t, 0.0);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("model");
    checkpoint::save(&saved, &t.varmap, &t.config, &types, &t.pieces, DType::F32).unwrap();
    let (cpu_model, _, pieces, _) = checkpoint::load(&saved, &Device::Cpu, DType::F32).unwrap();
    let device = cuda();
    let (gpu_model, _, _, _) = checkpoint::load(&saved, &device, DType::F32).unwrap();
    let mut sentences: Vec<Sentence> = read_sentences(&data).unwrap().sentences;
    sentences.truncate(64);
    let cpu = predict(&cpu_model, &pieces, &sentences, 8, &Device::Cpu).unwrap();
    let gpu = predict(&gpu_model, &pieces, &sentences, 8, &device).unwrap();
    let decisions = assert_agree(&cpu, &gpu, 1e-4);
    println!("{} sentences, {decisions} entity and relation decisions, all equal", sentences.len());
    assert!(decisions > 0);
}

/// Runs `op` on both devices from the same inputs; compares outputs and the inputs' gradients
/// of Σ op(x)·r.
fn agree(inputs: &[Tensor], op: impl Fn(&[Tensor]) -> Tensor, tol: f32) {
    let run = |device: &Device| {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(&t.to_device(device).unwrap()).unwrap())
            .collect();
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = op(&tensors);
        let r = random(y.dims(), 99).to_device(device).unwrap();
        let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<Tensor> = vars.iter().map(|v| grads.get(v).unwrap().clone()).collect();
        (y, g)
    };
    let (y_cpu, g_cpu) = run(&Device::Cpu);
    let (y_gpu, g_gpu) = run(&cuda());
    assert!(max_abs(&y_cpu, &y_gpu) < tol, "outputs differ by {}", max_abs(&y_cpu, &y_gpu));
    for (i, (a, b)) in g_cpu.iter().zip(&g_gpu).enumerate() {
        assert!(max_abs(a, b) < tol, "gradient {i} differs by {}", max_abs(a, b));
    }
}

#[test]
fn fused_training_ops_and_their_gradients_agree_on_cpu_and_cuda() {
    let x = random(&[3, 41, 384], 2);
    let w = (random(&[384], 3) + 1.0).unwrap();
    let b = random(&[384], 4);
    agree(&[x, w, b], |t| fused::layer_norm(&t[0], &t[1], &t[2], 1e-12, None).unwrap(), 1e-4);
    agree(&[random(&[3, 41, 1536], 5)], |x| fused::gelu_erf(&x[0]).unwrap(), 1e-5);
    agree(&[random(&[3, 41, 384], 6)], |x| fused::dropout(&x[0], 0.1, 12345).unwrap(), 1e-6);
    let (x, w, b) = (random(&[3, 41, 384], 7), random(&[1536, 384], 8), random(&[1536], 9));
    agree(
        &[x.clone(), w.clone(), b.clone()],
        |t| fused::linear(&t[0], &t[1], &t[2], None, None).unwrap(),
        1e-3,
    );
    agree(
        &[x, w.narrow(0, 0, 384).unwrap(), b.narrow(0, 0, 384).unwrap()],
        |t| fused::linear(&t[0], &t[1], &t[2], Some(12), None).unwrap(),
        1e-3,
    );
    let mut mask = vec![0f32; 3 * 41];
    mask[2 * 41 + 30..].iter_mut().for_each(|m| *m = f32::MIN);
    let mask = Tensor::from_vec(mask, (3, 41), &Device::Cpu).unwrap();
    let ranges: Vec<Vec<std::ops::Range<usize>>> = (0..3)
        .map(|b| (0..150).map(|i| (i + b) % 40..((i + b) % 40 + 1 + i % 10).min(41)).collect())
        .collect();
    agree(&[random(&[3, 41, 384], 12)], |x| fused::range_max(&x[0], &ranges).unwrap(), 1e-6);
    let labels: Vec<u32> = (0..300u32).map(|i| i % 5).collect();
    let labels = Tensor::from_vec(labels, 300, &Device::Cpu).unwrap();
    agree(
        &[(random(&[300, 5], 13) * 3.0).unwrap()],
        |x| fused::cross_entropy(&x[0], &labels.to_device(x[0].device()).unwrap()).unwrap(),
        1e-5,
    );
    let targets = random(&[120, 5], 14).ge(0f32).unwrap().to_dtype(DType::F32).unwrap();
    agree(
        &[(random(&[120, 5], 15) * 10.0).unwrap()],
        |x| fused::bce_with_logits(&x[0], &targets.to_device(x[0].device()).unwrap()).unwrap(),
        1e-5,
    );
    let (q, k) = (random(&[3, 12, 41, 32], 10), random(&[3, 12, 41, 32], 11));
    agree(
        &[q, k],
        |t| {
            let mask = mask.to_device(t[0].device()).unwrap();
            fused::attention_probs(&t[0], &t[1], &mask, 0.176).unwrap()
        },
        1e-5,
    );
    // f_a's statistics over softmax-like rows, sum and max. A sum runs to about 40 here and
    // the GPU adds in another order (a few units in the last place); a maximum is exact.
    let probs = (random(&[3, 6, 12, 41, 41], 16).abs().unwrap() * 0.99).unwrap();
    let mut keys = vec![1u32; 3 * 41];
    keys[2 * 41 + 30..].iter_mut().for_each(|m| *m = 0);
    let keys = Tensor::from_vec(keys, (3, 41), &Device::Cpu).unwrap();
    for max in [false, true] {
        agree(
            std::slice::from_ref(&probs),
            |t| {
                let keys = keys.to_device(t[0].device()).unwrap();
                fused::query_stats(&t[0], &keys, 0.3, max).unwrap()
            },
            if max { 1e-6 } else { 1e-4 },
        );
    }
}

#[test]
fn dropout_masks_are_bit_identical_on_cpu_and_cuda() {
    let x = Tensor::ones((257, 1031), DType::F32, &Device::Cpu).unwrap();
    let cpu = fused::dropout(&x, 0.1, 0xdead_beef_1234).unwrap();
    let gpu = fused::dropout(&x.to_device(&cuda()).unwrap(), 0.1, 0xdead_beef_1234).unwrap();
    assert_eq!(max_abs(&cpu, &gpu), 0.0);
}

/// The tiny model, dropout on, trained the same way on both devices: the GPU's multi-tensor
/// AdamW and fused ops follow the CPU's per-weight path step for step.
#[test]
fn training_on_cuda_follows_training_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = aspert_config();
    let t = model(&cfg, dir.path(), 3);
    let saved = dir.path().join("start");
    checkpoint::save(&saved, &t.varmap, &cfg, &types(), &t.pieces, DType::F32).unwrap();
    let corpus = vec![
        annotated(
            "john smith works for acme in paris .",
            &[("Peop", 0, 2), ("Org", 4, 5), ("Loc", 6, 7)],
            &[("Work_For", 0, 1)],
        ),
        annotated("john killed mary .", &[("Peop", 0, 1), ("Peop", 2, 3)], &[("Kill", 0, 1)]),
        annotated("the big dog sat on the mat .", &[], &[]),
    ];
    let types = types();
    let data = TrainData { types: &types, train: &corpus, dev: None };
    let train_cfg =
        TrainConfig { epochs: 4, batch_size: 2, lr: 1e-3, seed: 8, ..TrainConfig::default() };
    let run = |device: &Device, name: &str| {
        let (mut t, _) = checkpoint::load_trainable(&saved, device, DType::F32).unwrap();
        let report = train(
            &mut t,
            &data,
            &train_cfg,
            &dir.path().join(name),
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap();
        let w = t.varmap.data().lock().unwrap()["bert.encoder.layer.1.output.dense.weight"]
            .as_tensor()
            .to_device(&Device::Cpu)
            .unwrap();
        (report.losses, w)
    };
    let (cpu_losses, cpu_w) = run(&Device::Cpu, "cpu");
    let (gpu_losses, gpu_w) = run(&cuda(), "gpu");
    assert_eq!(cpu_losses.len(), gpu_losses.len());
    for (i, (a, b)) in cpu_losses.iter().zip(&gpu_losses).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * a.abs().max(1.0),
            "step {i}: loss {a} on the CPU, {b} on CUDA"
        );
    }
    assert!(max_abs(&cpu_w, &gpu_w) < 1e-4, "weights differ by {}", max_abs(&cpu_w, &gpu_w));
    println!("losses CPU {cpu_losses:?}\nlosses GPU {gpu_losses:?}");
}
