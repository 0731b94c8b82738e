//! `spanscope predict --input FILE|DIR|- [--model DIR] [--output FILE] [--resume] [--shard I/N]`.
//!
//! Two ways out. A `.jsonl` output (or standard output, when the input is a stream: `-`, a
//! folder or a `.jsonl` file) is streamed: sentences are read, predicted and written a chunk
//! at a time, so memory stays flat whatever the corpus size, and a file output can be resumed
//! and sharded (src/data/corpus.rs, docs/SCALE.md). A `.json` output, or standard output for a
//! `.json` or `.txt` input, is one SpERT JSON array, written when every sentence is done.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use spanscope::data::corpus::{Input, Item, Output, Shard};
use spanscope::data::io::{write_sentences, Format};
use spanscope::data::types::Types;
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::model::aspert::Aspert;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;

use super::model_arg::checkpoint_dir;
use super::prediction::{output_format, predict_all, predict_chunk};

/// Sentences predicted and written together: the unit of progress, of `--resume` and of
/// `--shard`. Fixed, so that every run cuts the input into the same batches.
pub const CHUNK: usize = 64;

/// Arguments of `spanscope predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sentences to annotate: a SpERT .json, .jsonl or plain .txt file, a folder (every such
    /// file under it, by path, but types.json), or `-` for standard input (JSON Lines, a JSON array or plain
    /// text). Gold annotations in the input are ignored; tokens and extra keys are kept
    /// exactly.
    #[arg(long, value_name = "FILE|DIR|-")]
    input: PathBuf,

    /// A spanscope checkpoint directory (default: the bundled model).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Where to write the predictions (default: standard output). A .jsonl file is written
    /// as the run goes, into FILE.partial, renamed to FILE when complete, then FILE.done
    /// written; anything else gets one SpERT JSON array at the end.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Continue an interrupted run from FILE.partial of its .jsonl --output: nothing is lost
    /// or written twice. Run with the same input, model, --shard and options.
    #[arg(long, requires = "output")]
    resume: bool,

    /// Predict only the I-th of N deterministic shares of the input (0 <= I < N), to spread
    /// a corpus over machines; the shards' outputs, laid end to end in order, are the
    /// unsharded output. Needs a .jsonl --output.
    #[arg(long, value_name = "I/N", requires = "output")]
    shard: Option<Shard>,

    /// One worker per device, each predicting its own shard, merged in input order into the
    /// .jsonl --output: `all` (every GPU of this machine), or a list of GPU ordinals
    /// (`0,1`; `0,0` runs two workers on GPU 0). `cpu` entries run workers on the CPU, to
    /// try the path on a machine without a GPU.
    #[arg(long, value_name = "all|0,1,...", requires = "output", conflicts_with = "shard")]
    gpus: Option<String>,

    /// Sentences per forward pass.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,

    /// Drop predicted relations that break a relation rule (the head and tail entity types
    /// each relation type allows) of --types, or else of the checkpoint's types.
    #[arg(long)]
    constrain_relations: bool,

    /// Types file whose relation rules --constrain-relations applies.
    #[arg(long, value_name = "FILE", requires = "constrain_relations")]
    types: Option<PathBuf>,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// The model a run predicts with.
struct Predictor {
    model: Aspert,
    pieces: WordPieces,
    device: Device,
    rules: Option<Types>,
    batch_size: usize,
    dropped: usize,
}

impl Predictor {
    fn load(args: &Args, spec: DeviceSpec) -> anyhow::Result<(Predictor, PathBuf)> {
        let dir = checkpoint_dir(args.model.as_deref())?;
        let device = spec.open()?;
        tracing::info!("predict on {}", DeviceSpec::name_of(&device));
        let (model, _config, pieces, types) = checkpoint::load(&dir, &device, DType::F32)
            .with_context(|| format!("loading model {}", dir.display()))?;
        let rules = match (&args.types, args.constrain_relations) {
            (_, false) => None,
            (Some(path), true) => Some(Types::read(path)?),
            (None, true) => Some(types),
        };
        let batch_size = args.batch_size as usize;
        Ok((Predictor { model, pieces, device, rules, batch_size, dropped: 0 }, dir))
    }

    /// One chunk's predictions, each keeping its input's tokens and extra keys.
    fn chunk(&mut self, sentences: &[Sentence]) -> anyhow::Result<Vec<Sentence>> {
        let mut out =
            predict_chunk(&self.model, &self.pieces, sentences, self.batch_size, &self.device)?;
        if let Some(rules) = &self.rules {
            self.dropped += out.iter_mut().map(|s| rules.drop_violations(s)).sum::<usize>();
        }
        Ok(out)
    }

    fn report_dropped(&self) {
        if self.rules.is_some() {
            eprintln!(
                "--constrain-relations: {} predicted relation(s) broke a rule, dropped",
                self.dropped
            );
        }
    }
}

/// Predicts the input and writes it out.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let input = Input::open(&args.input)?;
    let jsonl_output = args.output.as_deref().map(|p| output_format(p) == Format::JsonLines);
    let streamed = jsonl_output.unwrap_or_else(|| match &input {
        Input::Stdin => true,
        Input::Files(files) => args.input.is_dir() || files.iter().all(|f| is_jsonl(f)),
    });
    if !streamed && (args.resume || args.shard.is_some() || args.gpus.is_some()) {
        bail!("--resume, --shard and --gpus write a .jsonl --output");
    }
    if let Some(list) = &args.gpus {
        return workers(&args, list);
    }
    if streamed {
        stream(&args, &input, device)
    } else {
        whole(&args, &input, device)
    }
}

fn is_jsonl(path: &Path) -> bool {
    Format::from_path(path) == Some(Format::JsonLines)
}

/// Everything read, predicted, then written as one array.
fn whole(args: &Args, input: &Input, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let mut sentences = Vec::new();
    let mut problems = 0usize;
    input.read_each(|item, _| {
        match item {
            Item::Sentence(s) => sentences.push(s),
            Item::Problem(p) => {
                problems += 1;
                eprintln!("spanscope: warning: {p}");
            }
        }
        true
    })?;
    let (mut predictor, _) = Predictor::load(args, device)?;
    let mut annotated = predict_all(
        &predictor.model,
        &predictor.pieces,
        &sentences,
        predictor.batch_size,
        &predictor.device,
    )?;
    if let Some(rules) = &predictor.rules {
        predictor.dropped = annotated.iter_mut().map(|s| rules.drop_violations(s)).sum();
    }
    predictor.report_dropped();
    match &args.output {
        Some(path) => {
            write_sentences(path, &annotated, output_format(path))?;
            eprintln!("{} sentence(s) written to {}", annotated.len(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &annotated)?;
            writeln!(out)?;
        }
    }
    // Records that could not be read are not in the output: say so through the exit code.
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What the reading thread hands the predicting one.
enum Batch {
    Sentences(Vec<Sentence>, u64),
    Problem(String),
}

/// Where streamed predictions go.
enum Sink {
    File(Output),
    Stdout(std::io::StdoutLock<'static>),
}

impl Sink {
    fn write(&mut self, sentences: &[Sentence]) -> anyhow::Result<()> {
        match self {
            Sink::File(output) => output.write_chunk(sentences)?,
            Sink::Stdout(out) => {
                for s in sentences {
                    serde_json::to_writer(&mut *out, s)?;
                    out.write_all(b"\n")?;
                }
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Read, predict and write a chunk at a time; reading runs on its own thread, a few chunks
/// ahead, so the model never waits for the disk.
fn stream(args: &Args, input: &Input, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let shard = args.shard.unwrap_or(Shard::ALL);
    let (mut sink, resumed) = match &args.output {
        None => (Sink::Stdout(std::io::stdout().lock()), 0),
        Some(path) => {
            if args.resume && path.exists() && Output::marker(path).exists() {
                eprintln!(
                    "{}: already complete ({}), nothing to resume",
                    path.display(),
                    Output::marker(path).display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let output =
                if args.resume { Output::resume(path, CHUNK)? } else { Output::create(path)? };
            let resumed = output.resumed;
            if args.resume {
                eprintln!(
                    "--resume: {resumed} sentence(s) already in {}.partial, kept",
                    path.display()
                );
            }
            (Sink::File(output), resumed)
        }
    };
    // The shard's sentences, by their index in the input; a whole-input run needs no count.
    let range = if shard == Shard::ALL {
        0..usize::MAX
    } else {
        let total = input.count()?;
        shard.range(total, CHUNK)
    };
    let share = (range.end != usize::MAX).then(|| range.len());
    let (first, end) = (range.start + resumed, range.end);
    let last = shard.index + 1 == shard.count;

    let (mut predictor, model_dir) = Predictor::load(args, device)?;
    let bar = progress_bar(share.map(|n| n as u64), input.total_bytes(), resumed as u64);
    let started = Instant::now();
    let (mut done, mut problems) = (0usize, 0usize);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Batch>(4);
        let reader = scope.spawn(move || {
            let mut index = 0usize;
            let mut chunk = Vec::with_capacity(CHUNK);
            let result = input.read_each(|item, bytes| {
                let sentence = match item {
                    // A bad record is reported by the run whose share it falls in.
                    Item::Problem(p) if index >= first && (index < end || last) => {
                        return tx.send(Batch::Problem(p.to_string())).is_ok();
                    }
                    Item::Problem(_) => return true,
                    Item::Sentence(s) => s,
                };
                let at = index;
                index += 1;
                if at < first {
                    return true;
                }
                if at >= end {
                    return false;
                }
                chunk.push(sentence);
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    return tx.send(Batch::Sentences(full, bytes)).is_ok();
                }
                true
            });
            if !chunk.is_empty() {
                let _ = tx.send(Batch::Sentences(chunk, u64::MAX));
            }
            result
        });
        for batch in rx {
            match batch {
                Batch::Problem(p) => {
                    problems += 1;
                    bar.suspend(|| eprintln!("spanscope: warning: {p}"));
                }
                Batch::Sentences(sentences, bytes) => {
                    let annotated = predictor.chunk(&sentences)?;
                    sink.write(&annotated)?;
                    done += annotated.len();
                    advance(&bar, share.is_some(), done, annotated.len(), bytes);
                }
            }
        }
        reader.join().expect("the reading thread does not panic")?;
        Ok(())
    })?;
    bar.finish_and_clear();
    predictor.report_dropped();

    let seconds = started.elapsed().as_secs_f64();
    let rate = done as f64 / seconds.max(1e-9);
    let total = resumed + done;
    match sink {
        Sink::File(output) => {
            let path = args.output.as_deref().expect("a file sink has a path");
            output.finish(&json!({
                "output": path.display().to_string(),
                "input": args.input.display().to_string(),
                "shard": shard.to_string(),
                "sentences": total,
                "resumed": resumed,
                "unreadable_records": problems,
                "model": model_dir.display().to_string(),
                "device": DeviceSpec::name_of(&predictor.device),
            }))?;
            eprintln!(
                "{total} sentence(s) written to {} ({done} predicted in {seconds:.1} s, {rate:.0}/s)",
                path.display()
            );
        }
        Sink::Stdout(_) => {
            eprintln!("{done} sentence(s) predicted in {seconds:.1} s ({rate:.0}/s)")
        }
    }
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A bar on standard error (hidden when that is not a terminal): over the shard's sentences
/// when their number is known, else over the input's bytes, else a count.
fn progress_bar(sentences: Option<u64>, bytes: Option<u64>, resumed: u64) -> ProgressBar {
    let (bar, template) = match (sentences, bytes) {
        (Some(n), _) => {
            (ProgressBar::new(n), "{spinner} {pos}/{len} sentences [{bar:30}] {per_sec} eta {eta}")
        }
        (None, Some(b)) => (
            ProgressBar::new(b),
            "{spinner} {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} eta {eta}",
        ),
        (None, None) => (ProgressBar::no_length(), "{spinner} {msg}"),
    };
    bar.set_style(
        ProgressStyle::with_template(template).expect("static template").progress_chars("=> "),
    );
    if sentences.is_some() {
        bar.set_position(resumed);
    }
    bar
}

fn advance(bar: &ProgressBar, by_sentence: bool, done: usize, n: usize, bytes: u64) {
    if by_sentence {
        bar.inc(n as u64);
    } else {
        if bytes != u64::MAX {
            bar.set_position(bytes);
        }
        let rate = done as f64 / bar.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{done} sentences, {rate:.0}/s"));
    }
    if bar.is_hidden() {
        report_without_terminal(bar, done);
    }
}

/// Seconds between two progress lines when standard error is not a terminal.
const PLAIN_PROGRESS_EVERY: u64 = 30;

/// A batch job (Slurm, a pipe, nohup) has no bar to watch: every `PLAIN_PROGRESS_EVERY`
/// seconds a plain line goes to standard error, the job's log, and to the log file.
fn report_without_terminal(bar: &ProgressBar, done: usize) {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let elapsed = bar.elapsed().as_secs();
    let slot = elapsed / PLAIN_PROGRESS_EVERY;
    if slot == 0 || LAST.swap(slot, std::sync::atomic::Ordering::Relaxed) == slot {
        return;
    }
    let line = progress_line(done, bar.position(), bar.length(), bar.elapsed().as_secs_f64());
    eprintln!("spanscope predict: {line}");
    tracing::info!("predict: {line}");
}

/// `N sentences (R/s), P % of the input, about T s left` (the share and time left when known).
fn progress_line(done: usize, position: u64, length: Option<u64>, seconds: f64) -> String {
    let rate = done as f64 / seconds.max(1e-9);
    let mut line = format!("{done} sentences ({rate:.0}/s)");
    if let Some(len) = length.filter(|&l| l > 0) {
        let fraction = (position as f64 / len as f64).min(1.0);
        line.push_str(&format!(", {:.0} % of the input", fraction * 100.0));
        if fraction > 0.0 {
            let left = seconds * (1.0 - fraction) / fraction;
            line.push_str(&format!(", about {left:.0} s left"));
        }
    }
    line
}

/// The devices `--gpus` names.
fn worker_devices(list: &str) -> anyhow::Result<Vec<DeviceSpec>> {
    if list.trim() == "all" {
        let found: Vec<DeviceSpec> = (0..64)
            .take_while(|&n| candle_core::utils::cuda_is_available() && Device::new_cuda(n).is_ok())
            .map(DeviceSpec::Cuda)
            .collect();
        if found.is_empty() {
            bail!(
                "--gpus all: no GPU found (this build has CUDA: {})",
                candle_core::utils::cuda_is_available()
            );
        }
        return Ok(found);
    }
    list.split(',')
        .map(|item| match item.trim() {
            "cpu" => Ok(DeviceSpec::Cpu),
            n => n.parse::<usize>().map(DeviceSpec::Cuda).map_err(|_| {
                anyhow::anyhow!(
                    "--gpus {list}: `{n}` is not a GPU number (expected all or a list like 0,1)"
                )
            }),
        })
        .collect()
}

/// This run's command line for a worker: `--gpus`, `--device`, `--output` and `--shard`
/// replaced by the worker's own, everything else as given.
fn worker_command(device: DeviceSpec, output: &Path, shard: Shard) -> Vec<String> {
    let replaced = ["--gpus", "--device", "--output", "--shard"];
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in std::env::args().skip(1) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if replaced.contains(&arg.as_str()) {
            skip_value = true;
        } else if !replaced.iter().any(|r| arg.starts_with(&format!("{r}="))) {
            out.push(arg);
        }
    }
    out.extend([
        "--device".to_string(),
        device.to_string(),
        "--output".to_string(),
        output.display().to_string(),
        "--shard".to_string(),
        shard.to_string(),
    ]);
    out
}

/// One worker process per device, each on its shard, then the shards laid end to end into
/// the output. A failed worker leaves its partial file: `--resume` continues every worker.
fn workers(args: &Args, list: &str) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let devices = worker_devices(list)?;
    let output = args.output.as_deref().expect("--gpus requires --output");
    let count = devices.len();
    let part = |i: usize| {
        spanscope::data::corpus::beside(output, &format!(".worker-{i}-of-{count}.jsonl"))
    };
    if args.resume && output.exists() && Output::marker(output).exists() {
        eprintln!("{}: already complete, nothing to resume", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("finding the spanscope binary")?;
    let started = Instant::now();
    let mut children = Vec::with_capacity(count);
    for (i, device) in devices.iter().enumerate() {
        let shard = Shard { index: i, count };
        let mut child = Command::new(&exe)
            .args(worker_command(*device, &part(i), shard))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting worker {i} on {device}"))?;
        let stderr = child.stderr.take().expect("piped");
        let name = format!("worker {i} ({device})");
        let echo = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{name}: {line}");
            }
        });
        children.push((child, echo, *device));
    }
    let mut failed = Vec::new();
    let mut unreadable = false;
    for (i, (mut child, echo, device)) in children.into_iter().enumerate() {
        let status = child.wait().with_context(|| format!("waiting for worker {i}"))?;
        let _ = echo.join();
        match status.code() {
            Some(0) => {}
            // Unreadable records: the worker's output is complete without them.
            Some(1) if Output::marker(&part(i)).exists() => unreadable = true,
            _ => failed.push(format!("worker {i} on {device}: {status}")),
        }
    }
    if !failed.is_empty() {
        bail!(
            "{}; the finished shards are kept, rerun with --resume to continue",
            failed.join("; ")
        );
    }
    let mut merged = Output::create(output)?;
    let mut total = 0usize;
    for i in 0..count {
        let mut file =
            std::fs::File::open(part(i)).with_context(|| format!("{}", part(i).display()))?;
        total += merged.append_from(&mut file)?;
    }
    merged.finish(&json!({
        "output": output.display().to_string(),
        "input": args.input.display().to_string(),
        "workers": devices.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "sentences": total,
    }))?;
    for i in 0..count {
        let _ = std::fs::remove_file(part(i));
        let _ = std::fs::remove_file(Output::marker(&part(i)));
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{total} sentence(s) written to {} by {count} worker(s) in {seconds:.1} s ({:.0}/s)",
        output.display(),
        total as f64 / seconds.max(1e-9)
    );
    Ok(if unreadable { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::progress_line;

    #[test]
    fn a_progress_line_says_count_rate_share_and_time_left() {
        assert_eq!(
            progress_line(5_000, 250, Some(1_000), 50.0),
            "5000 sentences (100/s), 25 % of the input, about 150 s left"
        );
        assert_eq!(progress_line(300, 0, None, 3.0), "300 sentences (100/s)");
        assert_eq!(progress_line(0, 0, Some(10), 1.0), "0 sentences (0/s), 0 % of the input");
    }
}
