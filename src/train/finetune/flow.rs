//! The one fine-tune -> compare -> keep-or-discard flow, shared by `train --continue-from` and
//! the workbench's training worker: [`FinetuneFlow::job`] prepares a run on a versions folder,
//! [`super::finetune`] runs it, [`Decision::of`] reads the gate's verdict, and
//! [`FinetuneFlow::decide`] keeps or discards the candidate.
//!
//! A run always starts from the versions folder's current model (the base until a version is
//! kept): the candidate replaces the current model when kept, so it must be trained from it
//! and judged against it, and its record names it as the parent.

use std::path::{Path, PathBuf};

use super::{draw, FinetuneConfig, FinetuneError, FinetuneJob, FinetuneOutcome, REPLAY_FILE};
use crate::data::io::read_sentences_strict;
use crate::data::{DataError, Sentence, Types};
use crate::model::device::DeviceSpec;
use crate::model::versions::{Version, VersionRecord, Versions};

/// What becomes of a finished run's candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It becomes the next version and current; `forced` when it is kept although it is not
    /// [`FinetuneOutcome::not_worse`].
    Keep {
        /// Whether the user overrode the gate.
        forced: bool,
    },
    /// It is thrown away; the current model stays.
    Discard,
}

impl Decision {
    /// The gate's verdict: keep a candidate that is not worse, or any when `force` (the user's
    /// override, recorded as forced when it was needed); discard the rest.
    pub fn of(outcome: &FinetuneOutcome, force: bool) -> Self {
        if outcome.not_worse || force {
            Decision::Keep { forced: !outcome.not_worse }
        } else {
            Decision::Discard
        }
    }
}

/// A versions folder and the model it grew from, on which runs are prepared and ended.
pub struct FinetuneFlow {
    /// The versions folder the candidate is kept in.
    pub versions: Versions,
    /// The model the versions grew from (the bundled one, `--model`, or `--continue-from`).
    pub base: PathBuf,
    /// Versions kept once a new one is: the last this many and the current (0: all).
    pub keep_versions: usize,
}

impl FinetuneFlow {
    /// The flow on `versions`, whose base model is `base`.
    pub fn new(versions: Versions, base: PathBuf) -> Self {
        Self { versions, base, keep_versions: 0 }
    }

    /// The model a run starts from: the current version, or the base while none is current.
    pub fn start(&self) -> PathBuf {
        self.versions.current_dir(&self.base)
    }

    /// A job that fine-tunes the current model on `reviewed`: candidates that crashed runs
    /// left behind are removed, the work directory is new, and the original data mixed in is
    /// `replay` or else the current model's own sample ([`super::replay_sample`]).
    pub fn job(
        &self,
        reviewed: Vec<Sentence>,
        replay: Option<Vec<Sentence>>,
        types: Option<Types>,
        config: FinetuneConfig,
        device: DeviceSpec,
    ) -> Result<FinetuneJob, FinetuneError> {
        for path in self.versions.remove_abandoned_candidates() {
            tracing::info!("removed an abandoned fine-tuning candidate: {}", path.display());
        }
        let base = self.start();
        let work_dir =
            self.versions.work_dir().map_err(|e| FinetuneError::Versions(e.to_string()))?;
        // The forgetting slice comes first, then the sample to mix in.
        let wanted = config.forgetting + config.replay;
        let replay = match replay {
            Some(pool) => pool,
            None => {
                let path = base.join(REPLAY_FILE);
                if path.is_file() {
                    read_sentences_strict(&path)?
                } else {
                    Vec::new()
                }
            }
        };
        let replay = if replay.len() > wanted {
            let (aside, rest) = replay.split_at(config.forgetting.min(replay.len()));
            let mut kept = aside.to_vec();
            kept.extend(draw(rest, config.replay, config.seed));
            kept
        } else {
            replay
        };
        Ok(FinetuneJob { base, reviewed, replay, config, device, work_dir, types })
    }

    /// Ends a finished run as `decision` says: the kept version, or `None` when the candidate
    /// was thrown away.
    pub fn decide(
        &mut self,
        outcome: &FinetuneOutcome,
        decision: Decision,
    ) -> Result<Option<Version>, FinetuneError> {
        match decision {
            Decision::Keep { forced } => self.keep(outcome, forced).map(Some),
            Decision::Discard => self.discard(&outcome.candidate).map(|()| None),
        }
    }

    /// Keeps a finished run's candidate as the next version and makes it current; `forced`
    /// when the user keeps one that is not [`FinetuneOutcome::not_worse`].
    pub fn keep(
        &mut self,
        outcome: &FinetuneOutcome,
        forced: bool,
    ) -> Result<Version, FinetuneError> {
        let parent = self.versions.name_of(&self.start());
        let record = VersionRecord { forced, ..outcome.record(parent) };
        let version = self
            .versions
            .accept(&outcome.candidate, record)
            .map_err(|e| FinetuneError::Versions(e.to_string()))?;
        if self.keep_versions > 0 {
            // The new version is safe; a prune that fails leaves old versions, not a loss.
            match self.versions.prune(self.keep_versions) {
                Ok(pruned) if !pruned.is_empty() => {
                    let names: Vec<String> = pruned.iter().map(Version::name).collect();
                    tracing::info!("pruned model versions {}", names.join(", "));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("model versions not pruned: {e}"),
            }
        }
        Ok(version)
    }

    /// Throws a finished run's candidate away (gone already is fine); a candidate that cannot
    /// be removed is an error, which every caller shows: it is a whole checkpoint left on disk.
    pub fn discard(&self, candidate: &Path) -> Result<(), FinetuneError> {
        remove_candidate(candidate).map_err(FinetuneError::Discard)
    }
}

/// Removes a candidate checkpoint directory (gone already is fine).
pub(super) fn remove_candidate(candidate: &Path) -> Result<(), DataError> {
    match std::fs::remove_dir_all(candidate) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(DataError::io(candidate, "remove", &e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::CONFIG_FILE;
    use crate::model::versions::Scores;

    #[test]
    fn a_run_starts_from_the_current_version_and_discard_failures_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let docs = dir.path().join("docs");
        let mut versions = Versions::open(&docs).unwrap();
        let candidate = dir.path().join("trained");
        std::fs::create_dir(&candidate).unwrap();
        std::fs::write(candidate.join(CONFIG_FILE), "{}").unwrap();
        let record = VersionRecord {
            parent: "base".into(),
            before: Scores::default(),
            after: Scores::default(),
            trained_on: 1,
            replayed: 0,
            held_out: 0,
            forced: true,
        };
        versions.accept(&candidate, record).unwrap();
        let v1 = versions.root().join("v1");
        let flow = FinetuneFlow::new(versions, base);
        assert_eq!(flow.start(), v1, "the current version, not the base");
        let job = flow
            .job(Vec::new(), Some(Vec::new()), None, FinetuneConfig::default(), DeviceSpec::Cpu)
            .unwrap();
        assert_eq!(job.base, v1);

        // A file where the candidate directory should be cannot be removed as one.
        let not_a_dir = dir.path().join("candidate");
        std::fs::write(&not_a_dir, "x").unwrap();
        let err = flow.discard(&not_a_dir).unwrap_err().to_string();
        assert!(err.contains("could not be removed") && err.contains("candidate"), "{err}");
        assert!(flow.discard(&dir.path().join("gone")).is_ok());
    }
}
