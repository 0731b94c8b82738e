//! A run's start-up, done before the reviewer asks for a run: the training worker prepares the
//! current model's trainable copy while the workbench opens, so that `T` starts learning at
//! once. On a GPU it also rehearses one training step and one prediction, which load the
//! device's kernels and handles and fill its memory pool: the first run of a process no
//! longer pays that.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use super::{FinetuneError, REPLAY_FILE};
use crate::data::io::read_sentences_strict;
use crate::data::Sentence;
use crate::model::checkpoint::{self, Trainable};
use crate::model::decode::predict;
use crate::model::device::DeviceSpec;
use crate::train::trainer;

/// Sentences of the replay sample a rehearsal runs on: one batch of the usual size.
const REHEARSED: usize = 4;

/// A trainable copy of a model, on the device (the same handle) a run will use.
pub struct Prepared {
    base: PathBuf,
    spec: DeviceSpec,
    device: Device,
    trainable: Trainable,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("base", &self.base).field("spec", &self.spec).finish()
    }
}

impl Prepared {
    /// Loads a trainable copy of the checkpoint in `base` on `device` (opened from `spec`)
    /// and, when `rehearse` and the device is a GPU, rehearses a training step and a
    /// prediction on the first sentences of the base's replay sample (the weights stay as
    /// they are). Later copies on the same `device` need no rehearsal.
    pub fn load(
        base: &Path,
        spec: DeviceSpec,
        device: Device,
        rehearse: bool,
    ) -> Result<Self, FinetuneError> {
        let (trainable, types) = checkpoint::load_trainable(base, &device, DType::F32)?;
        if rehearse && device.is_cuda() {
            let sentences = rehearsal(base)?;
            trainer::rehearse(&trainable, &sentences, &types, &device)?;
            let frozen = trainable.model.frozen()?;
            predict(&frozen, &trainable.pieces, &sentences, REHEARSED, &device)?;
            device.synchronize()?;
        }
        Ok(Self { base: base.to_path_buf(), spec, device, trainable })
    }

    /// The checkpoint it is a copy of.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// What a run from `base` on `spec` can take of it: the device handle when the devices
    /// agree, with the trainable copy when the base is the same checkpoint too.
    pub(super) fn take_for(
        self,
        base: &Path,
        spec: DeviceSpec,
    ) -> Option<(Device, Option<Trainable>)> {
        (self.spec == spec).then(|| {
            let same = self.base == base;
            (self.device, same.then_some(self.trainable))
        })
    }
}

/// The first sentences of the base's replay sample, or one sentence of words when it has none.
fn rehearsal(base: &Path) -> Result<Vec<Sentence>, FinetuneError> {
    let path = base.join(REPLAY_FILE);
    let mut sentences = if path.is_file() { read_sentences_strict(&path)? } else { Vec::new() };
    sentences.truncate(REHEARSED);
    if sentences.is_empty() {
        let words = ["The", "workbench", "opens", "."];
        sentences.push(Sentence::from_tokens(words.iter().map(|w| w.to_string()).collect()));
    }
    Ok(sentences)
}
