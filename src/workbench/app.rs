//! The running workbench: the terminal, the event loop, and the workers it talks to.
//!
//! One channel carries everything that happens (keys, resizes, worker replies, file events)
//! to the UI thread, which applies it with `update`, hands the resulting effects to the
//! workers and draws. Nothing on this thread waits for the model or the disk.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event as TermEvent, MouseEventKind,
};
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute};
use ratatui::prelude::CrosstermBackend;
use ratatui::{DefaultTerminal, Terminal};

use super::keymap;
use super::state::App;
use super::theme::Theme;
use super::update::{self, Effect, Msg};
use super::view;
use crate::model::device::DeviceSpec;
use crate::store::files::DocumentSource;
use crate::store::watch::FolderWatcher;
use crate::worker::model::InferenceWorker;
use crate::worker::store::StoreWorker;
use crate::worker::training::{TrainingSetup, TrainingWorker};

/// What the workbench opens with.
pub struct Setup {
    /// The state to start from (types, threshold, model status).
    pub app: App,
    /// Documents to open.
    pub documents: Vec<DocumentSource>,
    /// Folders whose new and changed files appear without a restart.
    pub watch: Vec<PathBuf>,
    /// The checkpoint to load, if any.
    pub model: Option<PathBuf>,
    /// Where the model runs.
    pub device: DeviceSpec,
    /// Colours.
    pub theme: Theme,
    /// Fine-tuning, when there is a model to fine-tune.
    pub training: Option<TrainingSetup>,
    /// Whether the workbench reads the mouse (config `ui.mouse`); while it does, the
    /// terminal's own selection needs Shift held.
    pub mouse: bool,
}

/// How long a frame waits for the journal writes of the edits it shows.
const JOURNAL_WAIT: Duration = Duration::from_millis(100);

/// What reaches the UI thread: something for `update`, or `None` when the terminal was
/// resized and only needs drawing again.
type Event = Option<Msg>;

/// The workers, and how effects reach them.
struct Workers {
    store: StoreWorker,
    model: Option<InferenceWorker>,
    training: Option<TrainingWorker>,
    _watcher: Option<FolderWatcher>,
}

impl Workers {
    /// Hands each effect to its worker. Every effect has its own arm, so a new one does not
    /// compile until it is routed; model and training effects are dropped when there is no
    /// model (the UI does not offer them then).
    fn run(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Store(request) => self.store.send(request),
                Effect::Predict { doc, sentences } => self.model(|m| m.predict(doc, sentences)),
                Effect::CancelPredictions { doc } => self.model(|m| m.cancel(doc)),
                Effect::Inspect { request, tokens, start, end } => {
                    self.model(|m| m.inspect(request, tokens, start, end))
                }
                Effect::Explain { request, tokens, target, wanted } => {
                    self.model(|m| m.explain(request, tokens, target, wanted))
                }
                Effect::ReloadModel { dir } => self.model(|m| m.reload(dir)),
                Effect::StartTraining { reviewed } => self.training(|t| t.start(reviewed)),
                Effect::CancelTraining => self.training(TrainingWorker::cancel),
                Effect::AcceptModel { outcome, forced } => {
                    self.training(|t| t.accept(*outcome, forced))
                }
                Effect::DiscardModel { candidate } => self.training(|t| t.discard(candidate)),
                Effect::SwitchModel(to) => self.training(|t| t.switch(to)),
                Effect::ListModels => self.training(TrainingWorker::list),
            }
        }
    }

    fn model(&self, work: impl FnOnce(&InferenceWorker)) {
        if let Some(model) = &self.model {
            work(model);
        }
    }

    fn training(&self, work: impl FnOnce(&TrainingWorker)) {
        if let Some(training) = &self.training {
            work(training);
        }
    }
}

/// Runs the workbench until the reviewer quits. The terminal is restored on every exit,
/// including a panic on this thread.
pub fn run(setup: Setup) -> io::Result<()> {
    let Setup { mut app, documents, watch, model, device, theme, training, mouse } = setup;
    let (tx, rx) = mpsc::channel::<Event>();
    let mut workers = spawn_workers(&tx, &watch, model, device, &mut app);
    workers.training = training.map(|setup| {
        let training_tx = tx.clone();
        TrainingWorker::spawn(setup, move |reply| {
            let _ = training_tx.send(Some(Msg::Training(reply)));
        })
    });
    app.fine_tuning.possible = workers.training.is_some() && workers.model.is_some();
    let effects = update::open(&mut app, documents);
    workers.run(effects);

    install_panic_hook();
    let mut terminal = match enter_terminal(mouse) {
        Ok(terminal) => terminal,
        Err(err) => {
            leave_terminal();
            return Err(err);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop.clone());
    let signals = Signals::new(tx.clone());
    let result = event_loop(&mut terminal, &mut app, &theme, &rx, &workers, &signals);
    leave_terminal();
    stop.store(true, Ordering::Relaxed);
    // The reader sees `stop` within one 50 ms poll, so keys typed after quitting reach the
    // shell. On a dead terminal (a closed window, with or without SIGHUP, or a draw that
    // failed on it) crossterm's poll spins inside and never returns: that thread then ends
    // with the process instead of being waited for.
    let deadline = std::time::Instant::now() + Duration::from_millis(300);
    while !input.is_finished() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    if input.is_finished() {
        let _ = input.join();
    }
    // Dropping the workers finishes pending saves and journal writes before we return.
    drop(workers);
    signals.die_of_the_signal();
    result
}

/// The signals that end a terminal program (kill, a closed terminal, Ctrl-c or Ctrl-\ sent from
/// outside raw mode). They stop the event loop like `q` does, so the terminal is restored and
/// the journal writes already queued finish; then the process dies of the signal as usual.
struct Signals {
    received: Arc<std::sync::atomic::AtomicI32>,
    handle: Option<signal_hook::iterator::Handle>,
}

impl Signals {
    const ENDING: [i32; 4] = [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ];

    fn new(tx: Sender<Event>) -> Signals {
        let received = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let mut signals = match signal_hook::iterator::Signals::new(Self::ENDING) {
            Ok(signals) => signals,
            Err(err) => {
                tracing::warn!("could not watch for signals: {err}");
                return Signals { received, handle: None };
            }
        };
        let handle = signals.handle();
        let seen = received.clone();
        let watching = thread::Builder::new().name("signals".into()).spawn(move || {
            let mut forever = signals.forever();
            if let Some(signal) = forever.next() {
                seen.store(signal, Ordering::SeqCst);
                let _ = tx.send(None); // wakes the event loop
            }
            // A second signal while we clean up ends the process at once, as a user who
            // repeats `kill` expects.
            if let Some(signal) = forever.next() {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        });
        if let Err(err) = watching {
            tracing::warn!("could not watch for signals: {err}");
        }
        Signals { received, handle: Some(handle) }
    }

    /// Stops the workbench as SIGHUP would, when the terminal hung up without sending it.
    fn hang_up(&self) {
        let _ = self.received.compare_exchange(
            0,
            signal_hook::consts::SIGHUP,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// The signal that asked us to stop, if one did.
    fn received(&self) -> Option<i32> {
        Some(self.received.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }

    /// After cleaning up: ends the process as the signal would have, so the parent sees it.
    fn die_of_the_signal(self) {
        if let Some(handle) = &self.handle {
            handle.close();
        }
        if let Some(signal) = self.received() {
            tracing::warn!("stopped by signal {signal}; unsaved edits are in the recovery journal");
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }
}

fn spawn_workers(
    tx: &Sender<Event>,
    watch: &[PathBuf],
    model: Option<PathBuf>,
    device: DeviceSpec,
    app: &mut App,
) -> Workers {
    let store_tx = tx.clone();
    let store = StoreWorker::spawn(move |reply| {
        let _ = store_tx.send(Some(Msg::Store(reply)));
    });
    let model = model.map(|dir| {
        let model_tx = tx.clone();
        InferenceWorker::spawn(dir, device, move |reply| {
            let _ = model_tx.send(Some(Msg::Model(reply)));
        })
    });
    let watcher = if watch.is_empty() {
        None
    } else {
        let file_tx = tx.clone();
        match FolderWatcher::new(watch, move |event| {
            let _ = file_tx.send(Some(Msg::File(event)));
        }) {
            Ok(w) => Some(w),
            Err(err) => {
                app.say(super::state::Level::Warning, format!("{err}; new files will not appear"));
                None
            }
        }
    };
    Workers { store, model, training: None, _watcher: watcher }
}

/// Reads terminal events on its own thread, so the loop below waits on one channel only.
fn spawn_input(tx: Sender<Event>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("terminal input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(50)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => break,
                }
                let sent = match event::read() {
                    Ok(TermEvent::Key(key)) => keymap::split_escape(key)
                        .into_iter()
                        .try_for_each(|key| tx.send(Some(Msg::key(key))).map_err(drop)),
                    // Moving without a button pressed means nothing here; sending it would
                    // only redraw.
                    Ok(TermEvent::Mouse(m)) if m.kind == MouseEventKind::Moved => Ok(()),
                    Ok(TermEvent::Mouse(m)) => tx.send(Some(Msg::Mouse(m))).map_err(drop),
                    Ok(TermEvent::Resize(..)) => tx.send(None).map_err(drop),
                    Ok(_) => Ok(()),
                    Err(_) => break,
                };
                if sent.is_err() {
                    break;
                }
            }
        })
        .expect("spawning the terminal input thread")
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    theme: &Theme,
    rx: &Receiver<Event>,
    workers: &Workers,
    signals: &Signals,
) -> io::Result<()> {
    draw(terminal, app, theme)?;
    let hangup = Hangup::watching_stdin();
    loop {
        let first = match rx.recv_timeout(HANGUP_CHECK) {
            Ok(event) => Some(event),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if hangup.happened() {
            // The terminal is gone but no SIGHUP came (the process is not in the
            // terminal's foreground group, or the signal was lost): end as if it had.
            signals.hang_up();
        }
        if signals.received().is_some() {
            return Ok(());
        }
        let Some(first) = first else { continue };
        // Apply everything already waiting before drawing once: a burst of predictions or
        // of typed keys costs one frame, not one each.
        let mut next = Some(first);
        while let Some(event) = next {
            if let Some(msg) = event {
                let effects = update::update(app, msg);
                workers.run(effects);
            }
            if app.should_quit() {
                return Ok(());
            }
            next = rx.try_recv().ok();
        }
        // An edit is shown once its journal line is on disk, so what the reviewer saw survives
        // a kill; a disk slower than this is shown anyway rather than freezing the screen.
        if !workers.store.wait_for_journal(JOURNAL_WAIT) {
            tracing::warn!("the recovery journal is slow: an edit is shown before it is on disk");
        }
        draw(terminal, app, theme)?;
    }
    Ok(())
}

/// Draws a frame and keeps what it drew where, for the next mouse click.
fn draw(terminal: &mut DefaultTerminal, app: &mut App, theme: &Theme) -> io::Result<()> {
    let mut hits = None;
    terminal.draw(|frame| hits = Some(view::draw_with_hits(frame, app, theme)))?;
    app.hits = hits.unwrap_or_default();
    Ok(())
}

/// How often an idle event loop checks that its terminal is still there.
const HANGUP_CHECK: Duration = Duration::from_millis(500);

/// Whether the terminal on standard input has hung up. A closed window normally sends SIGHUP
/// ([`Signals`]); where none arrives, crossterm's reader spins on the dead terminal and never
/// reports it, so the event loop asks the descriptor itself.
struct Hangup {
    /// Standard input was a terminal when the workbench started (a hung-up one no longer
    /// answers `isatty`).
    watching: bool,
}

impl Hangup {
    fn watching_stdin() -> Hangup {
        // SAFETY: isatty only inspects the descriptor.
        Hangup { watching: unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 }
    }

    fn happened(&self) -> bool {
        if !self.watching {
            return false;
        }
        let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the length given, and no wait.
        let ready = unsafe { libc::poll(&mut fd, 1, 0) };
        ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLNVAL) != 0
    }
}

/// A panic on the UI thread restores the terminal before the message is printed; a panic a
/// worker caught goes to the log only, so it cannot scribble over the screen.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let name = thread::current().name().map(str::to_string);
        if name.as_deref() == Some("main") {
            leave_terminal();
            default(info);
        } else {
            tracing::error!("panic in thread {}: {info}", name.as_deref().unwrap_or("unnamed"));
        }
    }));
}

/// Raw mode and the alternate screen, so the reviewer's shell comes back as it was; mouse
/// reports when `mouse`.
fn enter_terminal(mouse: bool) -> io::Result<DefaultTerminal> {
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Undoes [`enter_terminal`]; safe to call twice.
fn leave_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
}
