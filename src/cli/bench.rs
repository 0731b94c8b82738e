//! `spanscope bench`: prediction speed in sentences per second.
//!
//! Speed is measured here, never in tests. Results go to docs/BENCHMARKS.md with the machine
//! and the date.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::DType;
use serde::Serialize;
use spanscope::data::io::read_sentences;
use spanscope::data::types::Types;
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::model::aspert::{Aspert, ModelConfig};
use spanscope::model::batch::{budget_passes, Batching, PieceBatch, PACKED_PIECES};
use spanscope::model::checkpoint;
use spanscope::model::config::BertConfig;
use spanscope::model::decode::{predict, predict_batched, predict_relations_between_annotated};
use spanscope::model::device::DeviceSpec;

/// Arguments of `spanscope bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sentences to predict (their tokens; annotations are ignored).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,

    /// A spanscope checkpoint.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["encoder", "random_bert_base"])]
    model: Option<PathBuf>,

    /// A pretrained encoder with freshly initialised ASpERT heads (speed does not depend on
    /// the head weights). Needs --types.
    #[arg(long, value_name = "DIR|HUB_ID", conflicts_with = "random_bert_base")]
    encoder: Option<String>,

    /// A BERT-base-shaped encoder (12 layers x 12 heads, 144 heads) with random weights; the
    /// word pieces come from --vocab. Needs --types.
    #[arg(long, requires = "vocab")]
    random_bert_base: bool,

    /// Directory with tokenizer.json or vocab.txt, for --random-bert-base.
    #[arg(long, value_name = "DIR")]
    vocab: Option<PathBuf>,

    /// SpERT types file, for --encoder and --random-bert-base.
    #[arg(long, value_name = "FILE")]
    types: Option<PathBuf>,

    /// Batch sizes to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    batch_sizes: Vec<usize>,

    /// Use at most this many sentences of the input.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Weights and activations: f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,

    /// Forget every word's pieces before each timed pass, so that tokenisation is timed as
    /// for text never seen (by default a word's pieces, once found, are remembered for the
    /// life of the process, as in the workbench).
    #[arg(long)]
    fresh_words: bool,

    /// Time this many passes over the input at each batch size and report the median pass
    /// (a shared GPU's speed varies from pass to pass).
    #[arg(long, default_value_t = 1, value_name = "N")]
    passes: usize,

    /// Which entities the relation classifier takes: `predicted` (the model's own), or
    /// `annotated` (the input's, as a model that finds them would; relation extraction with
    /// given entities). The default is `annotated` for --encoder and --random-bert-base, whose
    /// new heads find almost no entities and would leave the relation classifier idle, and
    /// `predicted` for --model.
    #[arg(long, value_enum, value_name = "WHICH")]
    entities: Option<EntitySource>,

    /// Also time the encoder stage alone at each batch size (word pieces in, hidden states,
    /// attention probabilities, f_a statistics and the span max-pool table out), as the host
    /// time to queue it and the time until the device has finished it: where the two are
    /// close, the host, not the device, sets the pace.
    #[arg(long)]
    stages: bool,

    /// Encode padded batches even where the encoder packs the sentences end to end (the
    /// CPU), to compare the two; with predicted entities only.
    #[arg(long)]
    padded: bool,

    /// Print one JSON object per batch size instead of a table.
    #[arg(long)]
    json: bool,

    /// Time explanations instead of prediction: for each sentence's first annotated entity
    /// (else its first word), the prediction read on the explanation path, head importance,
    /// the single-head ablation sweeps (encoder and f_a), the flip-set search and word
    /// attributions (16 steps); the median of each over the sentences.
    #[arg(long)]
    explain: bool,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Which entities relations are classified between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum EntitySource {
    /// The model's predictions.
    Predicted,
    /// The input's annotations.
    Annotated,
}

/// One measurement.
#[derive(Debug, Serialize)]
struct Measurement {
    model: String,
    device: String,
    dtype: String,
    /// Whether each pass started with no word's pieces remembered (`--fresh-words`).
    fresh_words: bool,
    /// Which entities the relation classifier took.
    entities: EntitySource,
    batch_size: usize,
    sentences: usize,
    /// Passes timed; `seconds` is the median pass, `fastest_seconds` the fastest.
    passes: usize,
    /// Every pass in the order run (on a GPU the first ones record encoder graphs).
    pass_seconds: Vec<f64>,
    seconds: f64,
    fastest_seconds: f64,
    sentences_per_second: f64,
    ms_per_sentence: f64,
    entities_per_sentence: f64,
    /// Ordered pairs of found entities, each scored by the relation classifier.
    pairs_per_sentence: f64,
    relations_per_sentence: f64,
    /// With `--stages`: the encoder stage alone, median pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    encoder_stage: Option<EncoderStage>,
    /// With `--stages`: the host time to queue one operation of a few kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    host_queue_microseconds: Option<BTreeMap<&'static str, f64>>,
}

/// The encoder stage of a pass alone (`--stages`), per sentence.
#[derive(Debug, Clone, Copy, Serialize)]
struct EncoderStage {
    /// Host time until every batch's encoder work was queued (the device may still run).
    queued_ms_per_sentence: f64,
    /// Time until the device had finished each batch.
    finished_ms_per_sentence: f64,
}

/// Loads the model, warms up, and times `predict` at each batch size.
pub fn run(args: Args, device_spec: DeviceSpec) -> anyhow::Result<ExitCode> {
    let dtype = parse_dtype(&args.dtype)?;
    let device = device_spec.open()?;
    let mut sentences = read_sentences(&args.input)?.sentences;
    if let Some(limit) = args.limit {
        sentences.truncate(limit);
    }
    if sentences.is_empty() {
        bail!("{}: no sentences to predict", args.input.display());
    }
    let (model, pieces, name) = load_model(&args, dtype, &device)?;
    let entities = args.entities.unwrap_or(match args.model {
        Some(_) => EntitySource::Predicted,
        None => EntitySource::Annotated,
    });
    let tf32 =
        device.is_cuda() && dtype == DType::F32 && candle_core::cuda::gemm_reduced_precision_f32();
    let graphs = device.is_cuda() && spanscope::model::graphs::enabled();

    if args.explain {
        let timing = time_explanations(&model, &pieces, &sentences)?;
        let timing = ExplainTiming {
            model: name,
            device: device_spec.resolve().0.to_string(),
            dtype: format!("{}{}", args.dtype, if tf32 { ", TF32 products" } else { "" }),
            ..timing
        };
        if args.json {
            println!("{}", serde_json::to_string(&timing)?);
        } else {
            println!(
                "{} on {} ({}), {} explanations ({} heads), median ms: reading {:.2}, \
                 importance {:.2}, encoder sweep {:.2}, f_a sweep {:.2}, flip set {:.2} \
                 ({:.1} passes), words {:.2}",
                timing.model,
                timing.device,
                timing.dtype,
                timing.explanations,
                timing.heads,
                timing.reading_ms,
                timing.importance_ms,
                timing.encoder_sweep_ms,
                timing.fa_sweep_ms,
                timing.flip_set_ms,
                timing.flip_set_passes,
                timing.words_ms,
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    if args.padded && entities == EntitySource::Annotated {
        bail!("--padded times predicted entities only; drop it or pass --entities predicted");
    }
    let batching = match (args.padded, model.packs()) {
        (false, true) => Batching::Packed,
        _ => Batching::Padded,
    };
    // Warm-up: kernels compiled, caches filled, allocator settled.
    predict(&model, &pieces, &sentences[..sentences.len().min(16)], 8, &device)?;

    let host_queue_microseconds = match args.stages {
        true => Some(host_costs(&device)?),
        false => None,
    };
    if let (Some(costs), false) = (&host_queue_microseconds, args.json) {
        for (op, micros) in costs {
            println!("host time to queue one {op}: {micros:.2} µs");
        }
    }

    for &batch_size in &args.batch_sizes {
        let timing = (args.passes.max(1), args.fresh_words, entities, batching);
        let measurement = measure(&model, &pieces, &sentences, batch_size.max(1), timing, &device)?;
        let encoder_stage = match args.stages {
            true => Some(time_encoder(
                &model,
                &pieces,
                &sentences,
                (batch_size.max(1), batching),
                args.passes,
                &device,
            )?),
            false => None,
        };
        let measurement = Measurement {
            model: name.clone(),
            device: device_spec.resolve().0.to_string(),
            dtype: format!(
                "{}{}{}",
                args.dtype,
                if tf32 { ", TF32 products" } else { "" },
                if graphs { ", encoder as CUDA graphs" } else { "" }
            ),
            encoder_stage,
            host_queue_microseconds: host_queue_microseconds.clone(),
            ..measurement
        };
        if args.json {
            println!("{}", serde_json::to_string(&measurement)?);
        } else {
            println!(
                "{} on {} ({}{}{}), batch {:>3}: {} sentences in {:.3} s{} = {:.1} sentences/s, \
                 {:.3} ms/sentence ({:.1} entities, {:.1} pairs, {:.1} relations per sentence)",
                measurement.model,
                measurement.device,
                measurement.dtype,
                if measurement.fresh_words { ", fresh words" } else { "" },
                match measurement.entities {
                    EntitySource::Annotated => ", relations between annotated entities",
                    EntitySource::Predicted => "",
                },
                measurement.batch_size,
                measurement.sentences,
                measurement.seconds,
                if measurement.passes > 1 {
                    let each: Vec<String> =
                        measurement.pass_seconds.iter().map(|s| format!("{s:.3}")).collect();
                    format!(" (median of {} passes: {} s)", measurement.passes, each.join(", "))
                } else {
                    String::new()
                },
                measurement.sentences_per_second,
                measurement.ms_per_sentence,
                measurement.entities_per_sentence,
                measurement.pairs_per_sentence,
                measurement.relations_per_sentence,
            );
            if let Some(stage) = measurement.encoder_stage {
                println!(
                    "  encoder stage alone: queued in {:.3} ms/sentence, finished in {:.3} \
                     ms/sentence",
                    stage.queued_ms_per_sentence, stage.finished_ms_per_sentence
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Times `passes` passes of prediction over all sentences (each starting with no word's pieces
/// remembered if `fresh_words`, relations between `entities`); the median pass is the
/// measurement.
fn measure(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    (passes, fresh_words, entities, batching): (usize, bool, EntitySource, Batching),
    device: &candle_core::Device,
) -> anyhow::Result<Measurement> {
    let mut times = Vec::with_capacity(passes);
    let mut predictions = Vec::new();
    for _ in 0..passes {
        if fresh_words {
            pieces.forget_words();
        }
        let started = Instant::now();
        predictions = match entities {
            EntitySource::Predicted => {
                predict_batched(model, pieces, sentences, batch_size, batching, device)?
            }
            EntitySource::Annotated => {
                predict_relations_between_annotated(model, pieces, sentences, batch_size, device)?
            }
        };
        times.push(started.elapsed().as_secs_f64());
    }
    let pass_seconds = times.clone();
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let n = sentences.len() as f64;
    let found: usize = predictions.iter().map(|p| p.entities.len()).sum();
    let relations: usize = predictions.iter().map(|p| p.relations.len()).sum();
    let pairs: usize =
        predictions.iter().map(|p| p.entities.len() * p.entities.len().saturating_sub(1)).sum();
    Ok(Measurement {
        model: String::new(),
        device: String::new(),
        dtype: String::new(),
        fresh_words,
        entities,
        batch_size,
        sentences: sentences.len(),
        passes,
        pass_seconds,
        seconds,
        fastest_seconds: times[0],
        sentences_per_second: n / seconds,
        ms_per_sentence: seconds * 1000.0 / n,
        entities_per_sentence: found as f64 / n,
        pairs_per_sentence: pairs as f64 / n,
        relations_per_sentence: relations as f64 / n,
        encoder_stage: None,
        host_queue_microseconds: None,
    })
}

/// Times the encoder stage alone over `sentences` in `predict`'s batches (by length; packed
/// passes where `predict` packs), the
/// median of `passes` passes: the host time to queue each batch, and the time until the device
/// has finished it (the device is synchronised after each batch, as `predict` waits for the
/// span probabilities).
fn time_encoder(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    (batch_size, batching): (usize, Batching),
    passes: usize,
    device: &candle_core::Device,
) -> anyhow::Result<EncoderStage> {
    let max_pieces = model.config().max_pieces;
    let mut encoded: Vec<_> =
        sentences.iter().map(|s| pieces.encode(&s.tokens, max_pieces)).collect();
    encoded.sort_by_key(|e| e.ids.len());
    let mut runs = Vec::with_capacity(passes.max(1));
    for _ in 0..passes.max(1) {
        if batching == Batching::Packed {
            let order: Vec<usize> = (0..encoded.len()).collect();
            let started = Instant::now();
            for pass in budget_passes(&order, |i| encoded[i].ids.len(), PACKED_PIECES) {
                let ids: Vec<&[u32]> = pass.iter().map(|&i| encoded[i].ids.as_slice()).collect();
                drop(model.encode_packed(&ids, batch_size)?);
            }
            // The CPU computes as it goes: queued is finished.
            let seconds = started.elapsed().as_secs_f64();
            runs.push((seconds, seconds));
            continue;
        }
        let (mut queued, mut finished) = (0.0, 0.0);
        for batch in encoded.chunks(batch_size) {
            let started = Instant::now();
            let batch = PieceBatch::from_encoded(batch, pieces.pad_id, device)?;
            let encoding = model.encode(&batch, false)?;
            queued += started.elapsed().as_secs_f64();
            device.synchronize()?;
            finished += started.elapsed().as_secs_f64();
            drop(encoding);
        }
        runs.push((queued, finished));
    }
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (queued, finished) = runs[runs.len() / 2];
    let per_sentence = 1000.0 / sentences.len() as f64;
    Ok(EncoderStage {
        queued_ms_per_sentence: queued * per_sentence,
        finished_ms_per_sentence: finished * per_sentence,
    })
}

/// Median times of the parts of one explanation (`--explain`), in milliseconds.
#[derive(Debug, Default, Serialize)]
struct ExplainTiming {
    model: String,
    device: String,
    dtype: String,
    explanations: usize,
    heads: usize,
    reading_ms: f64,
    importance_ms: f64,
    encoder_sweep_ms: f64,
    fa_sweep_ms: f64,
    flip_set_ms: f64,
    flip_set_passes: f64,
    words_ms: f64,
}

/// Times each part of an explanation of one span per sentence; the first two sentences warm
/// up and are not counted. Every part ends by reading its numbers back to the host.
fn time_explanations(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
) -> anyhow::Result<ExplainTiming> {
    use spanscope::explain::prediction::{Explainer, FlipLimits, Mode, Target, Words};
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            0.0
        } else {
            v[v.len() / 2]
        }
    };
    let mut parts: [Vec<f64>; 7] = Default::default();
    let width = model.config().max_span_width;
    let has_fa = model.config().attention_contribution;
    let mut heads = 0;
    for (i, s) in sentences.iter().enumerate() {
        let span = s
            .entities
            .iter()
            .find(|e| e.end - e.start <= width)
            .map_or(Words::new(0, 1), |e| Words::new(e.start, e.end));
        let target = Target::Entity { span };
        let clock = Instant::now();
        let lap = |clock: &mut Instant| {
            let ms = clock.elapsed().as_secs_f64() * 1e3;
            *clock = Instant::now();
            ms
        };
        let mut clock = clock;
        let Ok(explainer) = Explainer::new(model, pieces, &s.tokens, target) else {
            continue;
        };
        let mut times = [0.0; 7];
        times[0] = lap(&mut clock);
        let importance = explainer.importance()?;
        times[1] = lap(&mut clock);
        explainer.sweep(Mode::Encoder)?;
        times[2] = lap(&mut clock);
        if has_fa {
            explainer.sweep(Mode::AttentionFeature)?;
        }
        times[3] = lap(&mut clock);
        let found = explainer.flip_set(&importance, Mode::Encoder, FlipLimits::default())?;
        times[4] = lap(&mut clock);
        times[5] = found.passes as f64;
        explainer.words(16)?;
        times[6] = lap(&mut clock);
        heads = importance.values.len();
        if i >= 2 {
            for (part, t) in parts.iter_mut().zip(times) {
                part.push(t);
            }
        }
    }
    let [reading, importance, encoder, fa, flip, passes, words] = parts;
    Ok(ExplainTiming {
        explanations: reading.len(),
        heads,
        reading_ms: median(reading),
        importance_ms: median(importance),
        encoder_sweep_ms: median(encoder),
        fa_sweep_ms: median(fa),
        flip_set_ms: median(flip),
        flip_set_passes: passes.iter().sum::<f64>() / passes.len().max(1) as f64,
        words_ms: median(words),
        ..ExplainTiming::default()
    })
}

/// The model to time and a short name for it.
fn load_model(
    args: &Args,
    dtype: DType,
    device: &candle_core::Device,
) -> anyhow::Result<(Aspert, WordPieces, String)> {
    if let Some(dir) = &args.model {
        let (model, _config, pieces, _types) = checkpoint::load(dir, device, dtype)
            .with_context(|| format!("loading model {}", dir.display()))?;
        return Ok((model, pieces, dir.display().to_string()));
    }
    let types_path =
        args.types.as_ref().context("--types is needed with --encoder or --random-bert-base")?;
    let types = Types::read(types_path)?;
    let (fresh, name) = if let Some(spec) = &args.encoder {
        let fresh = checkpoint::init_from_encoder(
            spec,
            |encoder| ModelConfig::aspert(encoder, &types),
            device,
            dtype,
            0,
        )?;
        (fresh, format!("{spec} + new heads"))
    } else if args.random_bert_base {
        let vocab = args.vocab.as_ref().context("--vocab is needed with --random-bert-base")?;
        let pieces = WordPieces::from_dir(vocab)?;
        let mut encoder_config = BertConfig::bert_base();
        encoder_config.vocab_size = pieces.vocab_size();
        let config = ModelConfig::aspert(encoder_config, &types);
        (checkpoint::init_random(&config, pieces, device, dtype, 0)?, "random BERT-base".into())
    } else {
        bail!("say which model to time: --model DIR, --encoder DIR|HUB_ID or --random-bert-base")
    };
    // Timed as it predicts once saved: an inference copy, not the trainable weights.
    Ok((fresh.model.frozen()?, fresh.pieces, name))
}

/// `f32`, `f16` or `bf16`.
fn parse_dtype(name: &str) -> anyhow::Result<DType> {
    match name {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        other => bail!("--dtype {other}: expected f32, f16 or bf16"),
    }
}

/// The host time to queue one operation of a few kinds a batch-1 BERT-base pass is made of
/// (40 pieces, hidden 768), averaged over 500 in a row without waiting for the device.
fn host_costs(device: &candle_core::Device) -> anyhow::Result<BTreeMap<&'static str, f64>> {
    use candle_core::Tensor;
    const REPEATS: usize = 500;
    let x = Tensor::randn(0f32, 1.0, (40, 768), device)?;
    let w = Tensor::randn(0f32, 1.0, (768, 768), device)?;
    let per_op = |f: &dyn Fn() -> candle_core::Result<Tensor>| -> anyhow::Result<f64> {
        f()?;
        device.synchronize()?;
        let started = Instant::now();
        for _ in 0..REPEATS {
            f()?;
        }
        let queued = started.elapsed().as_secs_f64();
        device.synchronize()?;
        Ok(queued * 1e6 / REPEATS as f64)
    };
    Ok(BTreeMap::from([
        ("matrix product [40, 768] x [768, 768]", per_op(&|| x.matmul(&w))?),
        (
            "spanscope kernel (erf GELU of [40, 768])",
            per_op(&|| spanscope::model::fused::gelu_erf(&x))?,
        ),
        ("candle element-wise kernel (x + x)", per_op(&|| x.add(&x))?),
        ("buffer of [40, 768] zeros", per_op(&|| x.zeros_like())?),
        ("upload of 40 u32", per_op(&|| Tensor::from_vec(vec![7u32; 40], 40, device))?),
    ]))
}
