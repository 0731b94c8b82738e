//! The training worker: fine-tunes a copy of the current model on the reviewed sentences in a
//! thread of its own, keeps accepted models as versions next to the documents, and switches
//! between versions. It reports by messages; the UI never waits for it.
//!
//! Between runs it keeps the current model's trainable copy ready ([`Prepared`]): the first
//! request, sent when the worker starts (the workbench opening), prepares it, on a GPU with a
//! rehearsed training step; a kept, discarded or switched-to version is prepared again, so
//! that `T` starts learning at once. Requests wait behind a preparation, the UI does not.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::SystemTime;

use crate::data::{Sentence, Types};
use crate::model::device::DeviceSpec;
use crate::model::versions::{Version, VersionRef, Versions};
use crate::train::finetune::{
    finetune_prepared, FinetuneConfig, FinetuneError, FinetuneFlow, FinetuneOutcome,
    FinetuneProgress, Prepared,
};
use crate::worker::{guarded, Worker};

/// What the training worker reports.
#[derive(Debug, Clone)]
pub enum TrainingReply {
    /// How the run is going.
    Progress(FinetuneProgress),
    /// The run ended with a candidate, scored against the current model.
    Finished(Box<FinetuneOutcome>),
    /// The run was cancelled; nothing changed.
    Cancelled,
    /// The run failed; nothing changed. The text says why.
    Failed(String),
    /// Another model is now current: load it.
    Switched {
        /// Its checkpoint directory.
        dir: PathBuf,
        /// `base`, `v1`, ...
        name: String,
        /// Its record, for a fine-tuned version.
        version: Option<Version>,
    },
    /// The versions folder could not be read or written.
    VersionsFailed(String),
    /// The versions there are, the current one first among equals, for the version picker.
    Listed {
        /// `base`, `v1`, `v2`, ... with a one-line description each.
        versions: Vec<(String, String)>,
        /// The current one.
        current: String,
    },
}

enum Request {
    Warm,
    Start { reviewed: Vec<Sentence>, types: Option<Types> },
    Accept { forced: bool, outcome: Box<FinetuneOutcome> },
    Discard { candidate: PathBuf },
    Switch(VersionRef),
    List,
}

/// The worker's handle.
pub struct TrainingWorker {
    cancel: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
    worker: Worker<Request>,
}

/// Settings of the worker.
#[derive(Debug, Clone)]
pub struct TrainingSetup {
    /// The model the reviewer started from (the bundled one, or `--model`).
    pub base: PathBuf,
    /// The folder whose `.spanscope/models` holds the versions.
    pub docs_dir: PathBuf,
    /// Where to train.
    pub device: DeviceSpec,
    /// Fine-tuning settings.
    pub config: FinetuneConfig,
    /// The expert's types file, read at the start of each run.
    pub types_file: Option<PathBuf>,
}

impl TrainingWorker {
    /// Starts the worker thread.
    pub fn spawn(setup: TrainingSetup, notify: impl Fn(TrainingReply) + Send + 'static) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let (c, r) = (cancel.clone(), running.clone());
        let worker = Worker::spawn("spanscope-training", move |requests: Receiver<Request>| {
            let mut ready = Ready::default();
            for request in requests {
                let warm = matches!(request, Request::Warm);
                let start = matches!(request, Request::Start { .. });
                let reply = guarded(|| handle(&setup, request, &mut ready, &c, &r, &notify))
                    .unwrap_or_else(|_| {
                        Some(TrainingReply::Failed(
                            "internal error in the training worker (see the log)".into(),
                        ))
                    });
                // Only a run's end ends the run: a preparation that ends while a run waits
                // behind it does not.
                if start {
                    r.store(false, Ordering::Relaxed);
                }
                // A finished run waits for the keep-or-discard request, which says which
                // model comes next; a listing changes nothing.
                let settled = !matches!(
                    reply,
                    Some(TrainingReply::Finished(_) | TrainingReply::Listed { .. })
                );
                if let Some(reply) = reply {
                    notify(reply);
                }
                if settled {
                    let _ = guarded(|| ready.prepare(&setup, warm));
                }
            }
        });
        worker.send(Request::Warm);
        Self { cancel, running, worker }
    }

    fn send(&self, request: Request) {
        self.worker.send(request);
    }

    /// Fine-tunes the current model on `reviewed`.
    pub fn start(&self, reviewed: Vec<Sentence>) {
        self.start_with_types(reviewed, None);
    }

    /// Fine-tunes the current model on `reviewed`, growing it by the types of the expert's
    /// types file that they use and the model lacks.
    pub fn start_with_types(&self, reviewed: Vec<Sentence>, types: Option<Types>) {
        self.cancel.store(false, Ordering::Relaxed);
        self.running.store(true, Ordering::Relaxed);
        if !self.worker.send(Request::Start { reviewed, types }) {
            self.running.store(false, Ordering::Relaxed);
        }
    }

    /// Stops a run at its next step; it then reports `Cancelled`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Keeps a finished run's candidate as the next version and makes it current.
    pub fn accept(&self, outcome: FinetuneOutcome, forced: bool) {
        self.send(Request::Accept { forced, outcome: Box::new(outcome) });
    }

    /// Throws a finished run's candidate away; a failure to remove it is reported.
    pub fn discard(&self, candidate: PathBuf) {
        self.send(Request::Discard { candidate });
    }

    /// Makes an earlier (or later) version current.
    pub fn switch(&self, to: VersionRef) {
        self.send(Request::Switch(to));
    }

    /// Asks for the list of versions.
    pub fn list(&self) {
        self.send(Request::List);
    }

    /// True from `start` until the run reports its end.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

impl Drop for TrainingWorker {
    /// A run in progress stops at its next step and removes its work directory; the worker
    /// then waits for the thread.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// What the worker keeps between requests: the device handle, opened once, and the current
/// model's trainable copy on it.
#[derive(Default)]
struct Ready {
    device: Option<candle_core::Device>,
    prepared: Option<Prepared>,
}

impl Ready {
    /// Prepares the current model unless it is prepared already; `rehearse` on the first
    /// preparation. A failure is only logged: the run that follows loads the model itself and
    /// reports what is wrong.
    fn prepare(&mut self, setup: &TrainingSetup, rehearse: bool) {
        let Ok(flow) = flow(setup) else { return };
        let current = flow.start();
        if self.prepared.as_ref().is_some_and(|p| p.base() == current) {
            return;
        }
        self.prepared = None;
        let device = match &self.device {
            Some(device) => device.clone(),
            None => match setup.device.open() {
                Ok(device) => self.device.insert(device).clone(),
                Err(e) => {
                    tracing::warn!("training worker: cannot open {}: {e}", setup.device);
                    return;
                }
            },
        };
        let started = std::time::Instant::now();
        match Prepared::load(&current, setup.device, device, rehearse) {
            Ok(p) => {
                tracing::info!(
                    "training worker: {} prepared in {:.2} s",
                    current.display(),
                    started.elapsed().as_secs_f64()
                );
                self.prepared = Some(p);
            }
            Err(e) => tracing::warn!("training worker: {} not prepared: {e}", current.display()),
        }
    }
}

/// An error with its causes, each once: what the reviewer sees and the log keeps.
fn whole(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    tracing::error!("training worker: {text}");
    text
}

fn versions(setup: &TrainingSetup) -> Result<Versions, String> {
    Versions::open(&setup.docs_dir).map_err(|e| e.to_string())
}

/// The shared fine-tuning flow on the documents' versions folder.
fn flow(setup: &TrainingSetup) -> Result<FinetuneFlow, String> {
    let mut flow = FinetuneFlow::new(versions(setup)?, setup.base.clone());
    flow.keep_versions = setup.config.keep_versions;
    Ok(flow)
}

fn handle(
    setup: &TrainingSetup,
    request: Request,
    ready: &mut Ready,
    cancel: &AtomicBool,
    running: &AtomicBool,
    notify: &dyn Fn(TrainingReply),
) -> Option<TrainingReply> {
    match request {
        // The preparation follows every request that settles the current model.
        Request::Warm => None,
        Request::Start { reviewed, types } => {
            running.store(true, Ordering::Relaxed);
            // The types file as it is now (the label editor may have changed it), else the
            // types the reviewed sentences use: the model grows by those it lacks.
            let types = match (types, &setup.types_file) {
                (Some(t), _) => t,
                (None, Some(path)) => match Types::read(path) {
                    Ok(t) => t,
                    Err(e) => return Some(TrainingReply::Failed(e.to_string())),
                },
                (None, None) => Types::infer(&reviewed),
            };
            let types = Some(types);
            let flow = match flow(setup) {
                Ok(f) => f,
                Err(e) => return Some(TrainingReply::VersionsFailed(e)),
            };
            let job = match flow.job(reviewed, None, types, setup.config.clone(), setup.device) {
                Ok(job) => job,
                Err(e) => return Some(TrainingReply::Failed(whole(&e))),
            };
            let mut progress = |p: FinetuneProgress| notify(TrainingReply::Progress(p));
            Some(match finetune_prepared(&job, ready.prepared.take(), cancel, &mut progress) {
                Ok(outcome) => TrainingReply::Finished(Box::new(outcome)),
                Err(FinetuneError::Cancelled) => TrainingReply::Cancelled,
                Err(e) => TrainingReply::Failed(whole(&e)),
            })
        }
        Request::Accept { forced, outcome } => {
            let mut flow = match flow(setup) {
                Ok(f) => f,
                Err(e) => return Some(TrainingReply::VersionsFailed(e)),
            };
            Some(match flow.keep(&outcome, forced) {
                Ok(version) => TrainingReply::Switched {
                    dir: flow.start(),
                    name: version.name(),
                    version: Some(version),
                },
                Err(e) => TrainingReply::VersionsFailed(e.to_string()),
            })
        }
        Request::Discard { candidate } => {
            let flow = match flow(setup) {
                Ok(f) => f,
                Err(e) => return Some(TrainingReply::VersionsFailed(e)),
            };
            flow.discard(&candidate).err().map(|e| TrainingReply::VersionsFailed(e.to_string()))
        }
        Request::Switch(to) => {
            let mut versions = match versions(setup) {
                Ok(v) => v,
                Err(e) => return Some(TrainingReply::VersionsFailed(e)),
            };
            Some(match versions.roll_back(to) {
                Ok(()) => TrainingReply::Switched {
                    dir: versions.current_dir(&setup.base),
                    name: to.to_string(),
                    version: versions.current().cloned(),
                },
                Err(e) => TrainingReply::VersionsFailed(e.to_string()),
            })
        }
        Request::List => {
            let versions = match versions(setup) {
                Ok(v) => v,
                Err(e) => return Some(TrainingReply::VersionsFailed(e)),
            };
            let mut list = vec![("base".to_string(), setup.base.display().to_string())];
            for v in versions.list() {
                let r = &v.record;
                list.push((
                    v.name(),
                    format!(
                        "{} · from {} · {} sentences · relations F1 {:.1} → {:.1}{}",
                        crate::data::time::readable_stamp(&v.created, SystemTime::now()),
                        r.parent,
                        r.trained_on,
                        r.before.relations.f1,
                        r.after.relations.f1,
                        if r.forced { " · forced" } else { "" }
                    ),
                ));
            }
            Some(TrainingReply::Listed {
                versions: list,
                current: versions.current_ref().to_string(),
            })
        }
    }
}
