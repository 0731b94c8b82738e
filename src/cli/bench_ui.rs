//! `spanscope bench-ui`: how fast the workbench draws and answers keys, idle, while the model
//! predicts, while it explains the selected predictions, and while a fine-tuning run trains in
//! the background. Frames go to an off-screen
//! buffer of the terminal's size, so the numbers are spanscope's own work, not the terminal
//! emulator's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use spanscope::data::types::Types;
use spanscope::data::Sentence;
use spanscope::model::device::DeviceSpec;
use spanscope::store::files::{discover, load};
use spanscope::train::finetune::{FinetuneConfig, FinetuneProgress, REVIEWED_KEY};
use spanscope::workbench::state::{App, InspectorView, ModelStatus};
use spanscope::workbench::theme::Theme;
use spanscope::workbench::update::{self, Effect, Msg};
use spanscope::workbench::view;
use spanscope::worker::model::{InferenceReply, InferenceWorker};
use spanscope::worker::store::{StoreReply, StoreRequest, StoreWorker};
use spanscope::worker::training::{TrainingReply, TrainingSetup, TrainingWorker};

use super::model_arg::{checkpoint_dir, installed};

/// Arguments of `spanscope bench-ui`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Documents to open (default: the sample documents).
    #[arg(value_name = "FILES|DIR")]
    inputs: Vec<PathBuf>,

    /// Checkpoint (default: $SPANSCOPE_MODEL, else the bundled model).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Terminal size, COLSxROWS.
    #[arg(long, default_value = "120x40")]
    size: String,

    /// Key presses to time in each phase.
    #[arg(long, default_value_t = 400)]
    keys: usize,

    /// Instead: time `T` to the fine-tuned model in place, fine-tuning on the sentences of
    /// this file (all taken as reviewed); versions go to --scratch.
    #[arg(long, value_name = "FILE", requires = "scratch")]
    finetune: Option<PathBuf>,

    /// A folder for the versions of --finetune (created if missing).
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Where the time of one key press goes.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn report(&mut self, what: &str) {
        self.0.sort();
        let n = self.0.len().max(1);
        let at =
            |q: f64| self.0.get(((n as f64 * q) as usize).min(n - 1)).copied().unwrap_or_default();
        let mean = self.0.iter().sum::<Duration>() / n as u32;
        println!(
            "{what:<44} n={:<5} mean {:>7.3} ms   p50 {:>7.3} ms   p99 {:>7.3} ms   max {:>7.3} ms",
            self.0.len(),
            ms(mean),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(self.0.last().copied().unwrap_or_default())
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Keys a reviewer presses while reading: words, entities, sentences, an edit and its undo.
const CYCLE: &[(KeyCode, KeyModifiers)] = &[
    (KeyCode::Char('l'), KeyModifiers::NONE),
    (KeyCode::Char('l'), KeyModifiers::NONE),
    (KeyCode::Tab, KeyModifiers::NONE),
    (KeyCode::Char('v'), KeyModifiers::NONE),
    (KeyCode::Char('l'), KeyModifiers::NONE),
    (KeyCode::Char('1'), KeyModifiers::NONE),
    (KeyCode::Char('u'), KeyModifiers::NONE),
    (KeyCode::Char(']'), KeyModifiers::NONE),
    (KeyCode::Char('j'), KeyModifiers::NONE),
    (KeyCode::Char('h'), KeyModifiers::NONE),
];

fn key(i: usize) -> KeyEvent {
    let (code, mods) = CYCLE[i % CYCLE.len()];
    KeyEvent::new(code, mods)
}

/// Runs the benchmark.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if let (Some(file), Some(scratch)) = (&args.finetune, &args.scratch) {
        super::bench_finetune::run(file, checkpoint_dir(args.model.as_deref())?, scratch, device)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (cols, rows) = args
        .size
        .split_once('x')
        .and_then(|(c, r)| Some((c.parse::<u16>().ok()?, r.parse::<u16>().ok()?)))
        .with_context(|| format!("--size {}: expected COLSxROWS, e.g. 120x40", args.size))?;
    let inputs = if args.inputs.is_empty() {
        vec![installed(Path::new("sample_docs"))
            .into_iter()
            .find(|p| p.is_dir())
            .context("no sample_docs")?]
    } else {
        args.inputs.clone()
    };
    let found = discover(&inputs)?;
    if found.documents.is_empty() {
        bail!("no documents in the inputs");
    }
    let types = match &found.types {
        Some(p) => Types::read(p)?,
        None => Types::default(),
    };
    let dir = checkpoint_dir(args.model.as_deref())?;
    let theme = Theme::builtin("dark").context("the dark theme is built in")?;
    let mut terminal = Terminal::new(TestBackend::new(cols, rows))?;

    // The model, answering on a channel like the real workbench's.
    let (tx, rx) = mpsc::channel::<Msg>();
    let model_tx = tx.clone();
    let worker = InferenceWorker::spawn(dir.clone(), device, move |reply| {
        let _ = model_tx.send(Msg::Model(reply));
    });
    let mut app = App::new(types, found.types.is_some(), ModelStatus::Loading("model".into()));
    let sources = found.documents.clone();
    update::open(&mut app, sources.clone());
    for (i, source) in sources.iter().enumerate() {
        let loaded = load(source)?;
        let reply = StoreReply::Loaded { doc: i as u64 + 1, result: Ok(loaded), recovery: None };
        // Predictions are requested but held back: phase 1 runs with the model idle.
        let _ = update::update(&mut app, Msg::Store(reply));
    }
    let ready = loop {
        match rx.recv()? {
            Msg::Model(InferenceReply::Ready(info)) => break info,
            Msg::Model(InferenceReply::LoadFailed { error, .. }) => bail!("model: {error}"),
            _ => {}
        }
    };
    let _ = update::update(&mut app, Msg::Model(InferenceReply::Ready(ready.clone())));
    let sentences: usize = app.docs.iter().map(|d| d.sentences.len()).sum();
    println!(
        "workbench on {} documents ({sentences} sentences), model {} on {}, {cols}x{rows}, theme dark",
        app.docs.len(),
        ready.name,
        ready.device
    );

    let mut draw = |app: &App| -> anyhow::Result<Duration> {
        let start = Instant::now();
        terminal.draw(|f| view::draw(f, app, &theme))?;
        Ok(start.elapsed())
    };

    let mut frames = Samples::default();
    for _ in 0..args.keys {
        frames.0.push(draw(&app)?);
    }
    frames.report("frame render (main screen, no change)");

    let mut idle = Samples::default();
    for i in 0..args.keys {
        let start = Instant::now();
        let _ = update::update(&mut app, Msg::key(key(i)));
        draw(&app)?;
        idle.0.push(start.elapsed());
    }
    idle.report("key -> frame, model idle");

    // The same keys with their edits journaled as the workbench does: each frame waits until
    // the journal lines of the edits it shows are synced (into a scratch folder, not the
    // documents' own).
    let journals = std::env::temp_dir().join(format!("spanscope-bench-ui-{}", std::process::id()));
    std::fs::create_dir_all(&journals)
        .with_context(|| format!("creating {}", journals.display()))?;
    let store = StoreWorker::spawn(|_| {});
    let mut durable = Samples::default();
    for i in 0..args.keys {
        let start = Instant::now();
        for effect in update::update(&mut app, Msg::key(key(i))) {
            if let Some(request) = effect_request(effect).and_then(|r| into_scratch(r, &journals)) {
                store.send(request);
            }
        }
        if !store.wait_for_journal(Duration::from_secs(1)) {
            bail!("a journal write took over a second");
        }
        draw(&app)?;
        durable.0.push(start.elapsed());
    }
    durable.report("key -> frame, edits journaled (synced)");
    drop(store);
    let _ = std::fs::remove_dir_all(&journals);

    // Phase 2: the model predicts every sentence again and again while keys arrive every
    // 20 ms through the same channel as its replies; the latency runs from the moment the key
    // is sent to the end of the frame that shows it.
    let keys = args.keys;
    let all: Vec<Batch> = app
        .docs
        .iter()
        .map(|d| {
            (d.id, d.sentences.iter().enumerate().map(|(i, s)| (i, s.tokens.clone())).collect())
        })
        .collect();
    let refill = |worker: &InferenceWorker| {
        for (doc, s) in &all {
            worker.predict(*doc, s.clone());
        }
    };
    refill(&worker);
    let mut predicted = 0usize;
    let mut busy = timed_keys(&mut app, &worker, &rx, keys, &mut draw, &mut |msg| {
        if matches!(msg, Msg::Model(InferenceReply::Predicted { .. })) {
            predicted += 1;
        }
        if matches!(msg, Msg::Model(InferenceReply::Idle)) {
            refill(&worker);
        }
    })?;
    busy.report("key -> frame, model predicting meanwhile");
    println!("sentences predicted during that phase: {predicted}");
    for (doc, _) in &all {
        worker.cancel(*doc);
    }

    // Phase 2b: the inspector in its ablation view, so that every selection the keys make
    // asks the model thread for importance, word attributions, the single-head sweep and the
    // flip set of the new prediction.
    app.inspector.view = InspectorView::Ablation;
    let mut explained = 0usize;
    let mut explaining = timed_keys(&mut app, &worker, &rx, keys, &mut draw, &mut |msg| {
        explained += usize::from(matches!(msg, Msg::Model(InferenceReply::Explained { .. })));
    })?;
    explaining.report("key -> frame, model explaining meanwhile");
    println!("explanations answered during that phase: {explained}");
    app.inspector.view = InspectorView::Contribution;

    // Phase 3: the same while a fine-tuning run trains (on every open sentence, marked
    // reviewed), in a scratch versions folder that is removed afterwards.
    let scratch = std::env::temp_dir().join(format!("spanscope-bench-ui-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let reviewed: Vec<Sentence> = app
        .docs
        .iter()
        .flat_map(|d| d.sentences.iter().cloned())
        .map(|mut s| {
            s.extra.insert(REVIEWED_KEY.into(), true.into());
            s
        })
        .collect();
    let (train_tx, train_rx) = mpsc::channel::<Msg>();
    let setup = TrainingSetup {
        base: dir,
        docs_dir: scratch.clone(),
        device,
        config: FinetuneConfig::default(),
        types_file: None,
    };
    let trainer = TrainingWorker::spawn(setup, move |reply| {
        let _ = train_tx.send(Msg::Training(reply));
    });
    trainer.start(reviewed);
    // Keys start once optimiser steps run.
    loop {
        let msg = train_rx.recv()?;
        let stepping =
            matches!(&msg, Msg::Training(TrainingReply::Progress(FinetuneProgress::Step(_))));
        let ended =
            matches!(&msg, Msg::Training(TrainingReply::Failed(_) | TrainingReply::Cancelled));
        let _ = update::update(&mut app, msg);
        if stepping || ended {
            break;
        }
    }
    let (key_rx, feeder) = feed_keys(keys);
    let mut training = Samples::default();
    let mut steps = 0usize;
    while training.0.len() < keys {
        while let Ok(msg) = train_rx.try_recv() {
            steps += usize::from(matches!(
                &msg,
                Msg::Training(TrainingReply::Progress(FinetuneProgress::Step(_)))
            ));
            let _ = update::update(&mut app, msg);
        }
        match key_rx.recv_timeout(Duration::from_millis(5)) {
            Ok(sent) => {
                let _ = update::update(&mut app, Msg::key(key(training.0.len())));
                draw(&app)?;
                training.0.push(sent.elapsed());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                draw(&app)?;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = feeder.join();
    training.report("key -> frame, fine-tuning meanwhile");
    println!("optimiser steps during that phase: {steps}");
    trainer.cancel();
    drop(trainer);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(ExitCode::SUCCESS)
}

/// A journal request with its file moved into `scratch`; `None` for other requests (nothing of
/// the benchmark's documents is saved).
fn effect_request(effect: Effect) -> Option<StoreRequest> {
    match effect {
        Effect::Store(request) => Some(request),
        _ => None,
    }
}

fn into_scratch(request: StoreRequest, scratch: &Path) -> Option<StoreRequest> {
    let moved = |path: &Path| scratch.join(path.file_name().unwrap_or_default());
    match request {
        StoreRequest::Journal { doc, save_path, entry } => {
            Some(StoreRequest::Journal { doc, save_path: moved(&save_path), entry })
        }
        StoreRequest::StartJournal { doc, save_path, base } => {
            Some(StoreRequest::StartJournal { doc, save_path: moved(&save_path), base })
        }
        _ => None,
    }
}

/// A document's sentences for the model: its id and (index, words) of each.
type Batch = (u64, Vec<(usize, Vec<String>)>);

fn run_effects(worker: &InferenceWorker, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Inspect { request, tokens, start, end } => {
                worker.inspect(request, tokens, start, end)
            }
            Effect::Explain { request, tokens, target, wanted } => {
                worker.explain(request, tokens, target, wanted)
            }
            _ => {}
        }
    }
}

/// A key press every 20 ms for `keys` presses: the time each was sent, on the channel.
fn feed_keys(keys: usize) -> (mpsc::Receiver<Instant>, thread::JoinHandle<()>) {
    let (key_tx, key_rx) = mpsc::channel::<Instant>();
    let feeder = thread::spawn(move || {
        for _ in 0..keys {
            thread::sleep(Duration::from_millis(20));
            if key_tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    (key_rx, feeder)
}

/// Keys every 20 ms, each timed from its sending to the end of the frame that shows it, while
/// the worker answers what the keys ask (predictions, inspections, explanations); `seen` looks
/// at each worker message before the workbench takes it in.
fn timed_keys(
    app: &mut App,
    worker: &InferenceWorker,
    rx: &mpsc::Receiver<Msg>,
    keys: usize,
    draw: &mut dyn FnMut(&App) -> anyhow::Result<Duration>,
    seen: &mut dyn FnMut(&Msg),
) -> anyhow::Result<Samples> {
    let (key_rx, feeder) = feed_keys(keys);
    let mut samples = Samples::default();
    let mut pressed = 0usize;
    while pressed < keys {
        // Worker replies first, as they come; then at most one key per frame.
        while let Ok(msg) = rx.try_recv() {
            seen(&msg);
            run_effects(worker, update::update(app, msg));
        }
        match key_rx.recv_timeout(Duration::from_millis(5)) {
            Ok(sent) => {
                run_effects(worker, update::update(app, Msg::key(key(pressed))));
                draw(app)?;
                samples.0.push(sent.elapsed());
                pressed += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                draw(app)?;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = feeder.join();
    Ok(samples)
}
