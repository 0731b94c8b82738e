//! `spanscope bench`: prediction speed in sentences per second.
//!
//! Speed is measured here, never in tests. Results go to docs/BENCHMARKS.md with the machine
//! and the date.

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
use spanscope::model::checkpoint;
use spanscope::model::config::BertConfig;
use spanscope::model::batch::{PieceBatch, SpanBatch};
use spanscope::model::candidates::span_candidates;
use spanscope::model::decode::{predict, span_probabilities};
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

    /// With --encoder or --random-bert-base: keep the new heads as they start, finding almost
    /// no entities. By default their `none` bias is moved until they find about as many pairs
    /// of entities in a sentence as the input's first 256 annotated sentences hold, so that the
    /// relation classifier, which scores every such pair, does a trained model's share of the
    /// work.
    #[arg(long)]
    untuned_heads: bool,

    /// Print one JSON object per batch size instead of a table.
    #[arg(long)]
    json: bool,
}

/// One measurement.
#[derive(Debug, Serialize)]
struct Measurement {
    model: String,
    device: String,
    dtype: String,
    /// Whether each pass started with no word's pieces remembered (`--fresh-words`).
    fresh_words: bool,
    batch_size: usize,
    sentences: usize,
    /// Passes timed; `seconds` is the median pass, `fastest_seconds` the fastest.
    passes: usize,
    seconds: f64,
    fastest_seconds: f64,
    sentences_per_second: f64,
    ms_per_sentence: f64,
    entities_per_sentence: f64,
    /// Ordered pairs of found entities, each scored by the relation classifier.
    pairs_per_sentence: f64,
    relations_per_sentence: f64,
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
    let (model, pieces, name) = load_model(&args, &sentences, dtype, &device)?;
    let tf32 =
        device.is_cuda() && dtype == DType::F32 && candle_core::cuda::gemm_reduced_precision_f32();

    // Warm-up: kernels compiled, caches filled, allocator settled.
    predict(&model, &pieces, &sentences[..sentences.len().min(16)], 8, &device)?;

    for &batch_size in &args.batch_sizes {
        let timing = (args.passes.max(1), args.fresh_words);
        let measurement = measure(&model, &pieces, &sentences, batch_size.max(1), timing, &device)?;
        let measurement = Measurement {
            model: name.clone(),
            device: device_spec.to_string(),
            dtype: if tf32 { format!("{}, TF32 products", args.dtype) } else { args.dtype.clone() },
            ..measurement
        };
        if args.json {
            println!("{}", serde_json::to_string(&measurement)?);
        } else {
            println!(
                "{} on {} ({}{}), batch {:>3}: {} sentences in {:.3} s{} = {:.1} sentences/s, \
                 {:.3} ms/sentence ({:.1} entities, {:.1} pairs, {:.1} relations per sentence)",
                measurement.model,
                measurement.device,
                measurement.dtype,
                if measurement.fresh_words { ", fresh words" } else { "" },
                measurement.batch_size,
                measurement.sentences,
                measurement.seconds,
                if measurement.passes > 1 {
                    format!(
                        " (median of {} passes, fastest {:.3} s)",
                        measurement.passes, measurement.fastest_seconds
                    )
                } else {
                    String::new()
                },
                measurement.sentences_per_second,
                measurement.ms_per_sentence,
                measurement.entities_per_sentence,
                measurement.pairs_per_sentence,
                measurement.relations_per_sentence,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Times `passes` passes of `predict` over all sentences (each starting with no word's pieces
/// remembered if `fresh_words`); the median pass is the measurement.
fn measure(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    (passes, fresh_words): (usize, bool),
    device: &candle_core::Device,
) -> anyhow::Result<Measurement> {
    let mut times = Vec::with_capacity(passes);
    let mut predictions = Vec::new();
    for _ in 0..passes {
        if fresh_words {
            pieces.forget_words();
        }
        let started = Instant::now();
        predictions = predict(model, pieces, sentences, batch_size, device)?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let n = sentences.len() as f64;
    let entities: usize = predictions.iter().map(|p| p.entities.len()).sum();
    let relations: usize = predictions.iter().map(|p| p.relations.len()).sum();
    let pairs: usize =
        predictions.iter().map(|p| p.entities.len() * p.entities.len().saturating_sub(1)).sum();
    Ok(Measurement {
        model: String::new(),
        device: String::new(),
        dtype: String::new(),
        fresh_words,
        batch_size,
        sentences: sentences.len(),
        passes,
        seconds,
        fastest_seconds: times[0],
        sentences_per_second: n / seconds,
        ms_per_sentence: seconds * 1000.0 / n,
        entities_per_sentence: entities as f64 / n,
        pairs_per_sentence: pairs as f64 / n,
        relations_per_sentence: relations as f64 / n,
    })
}

/// The model to time and a short name for it.
fn load_model(
    args: &Args,
    sentences: &[Sentence],
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
    let name = match args.untuned_heads {
        true => name,
        false => match tune_heads(&fresh, sentences, device)? {
            Some(target) => format!("{name}, tuned to {target:.1} entity pairs a sentence"),
            None => name,
        },
    };
    // Timed as it predicts once saved: an inference copy, not the trainable weights.
    Ok((fresh.model.frozen()?, fresh.pieces, name))
}

/// Sentences the head tuning looks at.
const TUNING_SENTENCES: usize = 256;

/// New heads on a pretrained encoder find almost no entities, which leaves the relation
/// classifier (it scores every ordered pair of entities found in a sentence) nothing to do: the
/// timing would flatter the model. Moves the `none` class's bias so that the heads find about
/// as many entity pairs in the first [`TUNING_SENTENCES`] sentences as their annotations hold.
/// Pairs, not entities: random heads bunch their entities in long sentences, and at the
/// annotations' entity count they would give the relation classifier three times a trained
/// model's pairs. A candidate is an entity when an entity type's logit beats `none`'s, so one
/// pass gives every candidate's margin, and the shift falls between two of them. Returns the
/// annotations' pairs per sentence, or `None` (nothing changed) where they have no entities.
fn tune_heads(
    fresh: &checkpoint::Trainable,
    sentences: &[Sentence],
    device: &candle_core::Device,
) -> anyhow::Result<Option<f64>> {
    let sample = &sentences[..sentences.len().min(TUNING_SENTENCES)];
    if sample.iter().all(|s| s.entities.is_empty()) {
        return Ok(None);
    }
    let pairs_of = |n: usize| n * n.saturating_sub(1);
    let gold_pairs: usize = sample.iter().map(|s| pairs_of(s.entities.len())).sum();
    let cfg = fresh.model.config();
    // (logit(none) - max logit(entity type), sentence) for every candidate span of the sample.
    let mut margins: Vec<(f32, usize)> = Vec::new();
    for (c, chunk) in sample.chunks(32).enumerate() {
        let encoded: Vec<_> =
            chunk.iter().map(|s| fresh.pieces.encode(&s.tokens, cfg.max_pieces)).collect();
        let candidates: Vec<_> =
            encoded.iter().map(|e| span_candidates(&e.word_pieces, cfg.max_span_width)).collect();
        if candidates.iter().all(Vec::is_empty) {
            continue;
        }
        let batch = PieceBatch::from_encoded(&encoded, fresh.pieces.pad_id, device)?;
        let spans = SpanBatch::from_candidates(&candidates);
        let probs = span_probabilities(&fresh.model, &batch, &spans)?;
        let probs = probs.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        for (b, (rows, cands)) in probs.iter().zip(&candidates).enumerate() {
            for p in &rows[..cands.len()] {
                let best = p[1..].iter().copied().fold(f32::MIN, f32::max);
                margins.push((p[0].ln() - best.ln(), c * 32 + b));
            }
        }
    }
    if margins.is_empty() {
        return Ok(None);
    }
    margins.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Take candidates in margin order until the pairs reach the annotations'; keep the count
    // (before or after the last step) whose pairs are nearer.
    let mut found = vec![0usize; sample.len()];
    let (mut pairs, mut taken) = (0usize, margins.len());
    for (k, &(_, sentence)) in margins.iter().enumerate() {
        let next = pairs + 2 * found[sentence];
        if next >= gold_pairs {
            taken = if next - gold_pairs < gold_pairs - pairs { k + 1 } else { k };
            break;
        }
        found[sentence] += 1;
        pairs = next;
    }
    // Every candidate whose margin is below the shift becomes an entity.
    let shift = match (taken.checked_sub(1).map(|i| margins[i].0), margins.get(taken)) {
        (Some(last), Some(&(next, _))) => (last + next) / 2.0,
        (Some(last), None) => last + 1.0,
        (None, Some(&(first, _))) => first - 1.0,
        (None, None) => unreachable!("margins is not empty"),
    };
    let vars = fresh.varmap.data().lock().expect("the weights' lock is not poisoned").clone();
    let name = "span_classifier.out.bias";
    let span_bias = vars.get(name).with_context(|| format!("the new heads have no {name}"))?;
    let mut bias = span_bias.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    bias[0] -= shift;
    let n = bias.len();
    span_bias.set(&candle_core::Tensor::from_vec(bias, n, device)?.to_dtype(span_bias.dtype())?)?;
    Ok(Some(gold_pairs as f64 / sample.len() as f64))
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
