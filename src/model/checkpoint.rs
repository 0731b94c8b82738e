//! Checkpoints: a directory with `spanscope.json` (model configuration, types, variant,
//! format version), `model.safetensors` (every weight; the encoder under `bert.`) and the
//! tokenizer files. Saving writes a sibling temporary directory and renames it into place,
//! so a crash never leaves a broken checkpoint behind.
//!
//! Also: fresh models, a pretrained encoder with seeded random heads ([`init_from_encoder`])
//! or an all-random model ([`init_random`]), kept in a [`VarMap`] for training and saving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::aspert::{Aspert, ModelConfig};
use super::config::BertConfig;
use super::source::{resolve, var_builder, SourceError};
use crate::data::wordpiece::WordPieces;
use crate::data::{DataError, Types};

/// The configuration file of a checkpoint.
pub const CONFIG_FILE: &str = "spanscope.json";
/// The weights file of a checkpoint.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The `format` value that marks a spanscope checkpoint.
pub const FORMAT: &str = "spanscope-checkpoint";
/// The checkpoint format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why a checkpoint cannot be saved or loaded, or a fresh model cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The directory has no `spanscope.json`, or it is not ours.
    #[error("`{}` is not a spanscope checkpoint: {reason}", dir.display())]
    NotACheckpoint {
        /// The directory.
        dir: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A file the checkpoint needs is missing.
    #[error("checkpoint file `{}` is missing", path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
    },
    /// `spanscope.json` is unreadable or describes an impossible model.
    #[error("bad checkpoint configuration `{}`: {reason}", path.display())]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The weights are unreadable, lack a tensor, or a tensor has the wrong shape.
    #[error("bad checkpoint weights `{}`: {source}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Candle's message names the tensor.
        source: candle_core::Error,
    },
    /// The tokenizer files are unusable.
    #[error(transparent)]
    Tokenizer(#[from] DataError),
    /// The pretrained encoder cannot be found or opened.
    #[error(transparent)]
    Encoder(#[from] SourceError),
    /// A file system operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Building or converting tensors failed.
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
}

/// `spanscope.json`.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    variant: String,
    model: ModelConfig,
    /// The types file's JSON, verbose and short labels and symmetry included.
    types: Value,
}

/// A model with trainable weights.
pub struct Trainable {
    /// The model; its weights are the `Var`s of `varmap`.
    pub model: Aspert,
    /// Every weight, by checkpoint name.
    pub varmap: VarMap,
    /// The model's configuration.
    pub config: ModelConfig,
    /// The tokenizer.
    pub pieces: WordPieces,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { action, path, source }
}

/// Saves a checkpoint to `dir`, replacing what is there only once the new one is complete.
/// Weights are stored in `dtype` (f32, or f16/bf16 for half the size).
pub fn save(
    dir: &Path,
    varmap: &VarMap,
    config: &ModelConfig,
    types: &Types,
    pieces: &WordPieces,
    dtype: DType,
) -> Result<(), CheckpointError> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = dir.with_file_name(format!(".{name}.tmp-{}-{nonce}", std::process::id()));
    let written = write_into(&tmp, varmap, config, types, pieces, dtype);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = dir.with_file_name(format!(".{name}.old-{}-{nonce}", std::process::id()));
        std::fs::rename(dir, &old).map_err(io_error("move aside", dir))?;
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            return Err(io_error("rename into place", dir)(e));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(io_error("rename into place", dir))?;
    }
    Ok(())
}

fn write_into(
    tmp: &Path,
    varmap: &VarMap,
    config: &ModelConfig,
    types: &Types,
    pieces: &WordPieces,
    dtype: DType,
) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(tmp).map_err(io_error("create", tmp))?;
    let types_json: Value = serde_json::from_str(&types.to_json_string()).map_err(|e| {
        CheckpointError::BadConfig { path: tmp.join(CONFIG_FILE), reason: e.to_string() }
    })?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        variant: config.variant().into(),
        model: config.clone(),
        types: types_json,
    };
    let config_path = tmp.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| CheckpointError::BadConfig {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    write_synced(&config_path, text.as_bytes())?;
    let weights_path = tmp.join(WEIGHTS_FILE);
    let tensors = {
        let data = varmap.data().lock().map_err(|_| {
            CheckpointError::Model(candle_core::Error::Msg("the weights' lock is poisoned".into()))
        })?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(dtype)?.to_device(&Device::Cpu)?)))
            .collect::<candle_core::Result<HashMap<String, Tensor>>>()?
    };
    candle_core::safetensors::save(&tensors, &weights_path)
        .map_err(|source| CheckpointError::Weights { path: weights_path.clone(), source })?;
    // The safetensors writer creates its file owner-only; give the weights the permissions
    // of the configuration written beside them (the user's umask), so a shared model stays
    // readable by the people it is shared with.
    let config_permissions = std::fs::metadata(tmp.join(CONFIG_FILE))
        .map_err(io_error("read the permissions of", &tmp.join(CONFIG_FILE)))?
        .permissions();
    std::fs::set_permissions(&weights_path, config_permissions)
        .map_err(io_error("set the permissions of", &weights_path))?;
    sync_file(&weights_path)?;
    for file in pieces.files() {
        let Some(file_name) = file.file_name() else { continue };
        let target = tmp.join(file_name);
        std::fs::copy(&file, &target).map_err(io_error("copy tokenizer file", &file))?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    std::fs::write(path, bytes).map_err(io_error("write", path))?;
    sync_file(path)
}

fn sync_file(path: &Path) -> Result<(), CheckpointError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io_error("sync", path))
}

/// Reads `spanscope.json` of a checkpoint: its configuration and types.
pub fn read_manifest(dir: &Path) -> Result<(ModelConfig, Types), CheckpointError> {
    let path = dir.join(CONFIG_FILE);
    if !dir.is_dir() {
        return Err(CheckpointError::NotACheckpoint {
            dir: dir.to_path_buf(),
            reason: "no such directory".into(),
        });
    }
    if !path.is_file() {
        return Err(CheckpointError::NotACheckpoint {
            dir: dir.to_path_buf(),
            reason: format!("it has no {CONFIG_FILE}"),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(io_error("read", &path))?;
    let bad = |reason: String| CheckpointError::BadConfig { path: path.clone(), reason };
    let raw: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if raw.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(CheckpointError::NotACheckpoint {
            dir: dir.to_path_buf(),
            reason: format!("{CONFIG_FILE} has no \"format\": \"{FORMAT}\""),
        });
    }
    let manifest: Manifest = serde_json::from_value(raw).map_err(|e| bad(e.to_string()))?;
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} (this spanscope reads version {FORMAT_VERSION})",
            manifest.version
        )));
    }
    manifest.model.validate().map_err(bad)?;
    let types = Types::from_json_str(&manifest.types.to_string())
        .map_err(|e| bad(format!("types: {e}")))?;
    if types.entities.len() != manifest.model.entity_types.len()
        || types.relations.len() != manifest.model.relation_types.len()
    {
        return Err(bad("types do not match the model's classifier outputs".into()));
    }
    Ok((manifest.model, types))
}

/// Replaces the decoding and scoring settings in a checkpoint's `spanscope.json` (flat or
/// nested decoding, calibration), atomically; the weights and everything else stay.
pub fn write_decoding(dir: &Path, config: &ModelConfig) -> Result<(), CheckpointError> {
    let (mut stored, _) = read_manifest(dir)?;
    stored.decoding = config.decoding;
    stored.calibration = config.calibration;
    let path = dir.join(CONFIG_FILE);
    let bad = |reason: String| CheckpointError::BadConfig { path: path.clone(), reason };
    let text = std::fs::read_to_string(&path).map_err(io_error("read", &path))?;
    let mut manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    manifest.model = stored;
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| bad(e.to_string()))?;
    crate::data::io::write_atomic(&path, text.as_bytes())?;
    Ok(())
}

fn weights_path(dir: &Path) -> Result<PathBuf, CheckpointError> {
    let path = dir.join(WEIGHTS_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(CheckpointError::MissingFile { path })
    }
}

/// The weights of the checkpoint in `dir`: its `model.safetensors` mapped, or, for a model
/// version stored as changes to its parent ([`super::delta`]), the weights composed. The path
/// names the weights in errors.
fn weights(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(VarBuilder<'static>, PathBuf), CheckpointError> {
    if super::delta::is_compact(dir) {
        let tensors = super::delta::tensors(dir, device, dtype)?;
        let path = dir.join(super::delta::DELTA_MANIFEST);
        return Ok((VarBuilder::from_tensors(tensors, dtype, device), path));
    }
    let path = weights_path(dir)?;
    // SAFETY: the file is mapped read-only while the model copies its weights out; spanscope
    // writes checkpoints to a new directory and never into one being read.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&path], dtype, device) }
        .map_err(|source| CheckpointError::Weights { path: path.clone(), source })?;
    Ok((vb, path))
}

/// Loads a checkpoint for inference, weights converted to `dtype` on `device`.
pub fn load(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(Aspert, ModelConfig, WordPieces, Types), CheckpointError> {
    let (config, types) = read_manifest(dir)?;
    let (vb, path) = weights(dir, device, dtype)?;
    let weights_error = |source| CheckpointError::Weights { path: path.clone(), source };
    let model = Aspert::new(vb, &config).map_err(weights_error)?;
    let pieces = WordPieces::from_dir(dir)?;
    Ok((model, config, pieces, types))
}

/// Loads a checkpoint with trainable weights (every weight a `Var` of the returned map).
pub fn load_trainable(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(Trainable, Types), CheckpointError> {
    let (config, types) = read_manifest(dir)?;
    let (source, path) = weights(dir, device, dtype)?;
    let weights_error = |source| CheckpointError::Weights { path: path.clone(), source };
    let (model, varmap) =
        build_trainable(&config, dtype, device, Some(("", source)), 0).map_err(weights_error)?;
    let pieces = WordPieces::from_dir(dir)?;
    Ok((Trainable { model, varmap, config, pieces }, types))
}

/// A fresh model: the pretrained encoder named by `encoder_spec` (a directory or hub id, see
/// [`super::source::resolve`]) and heads initialised from `seed`. `configure` turns the
/// encoder's configuration into the model's, e.g. `|enc| ModelConfig::aspert(enc, &types)`.
pub fn init_from_encoder(
    encoder_spec: &str,
    configure: impl FnOnce(BertConfig) -> ModelConfig,
    device: &Device,
    dtype: DType,
    seed: u64,
) -> Result<Trainable, CheckpointError> {
    let files = resolve(encoder_spec)?;
    let encoder_cfg = BertConfig::read(&files.config).map_err(SourceError::from)?;
    let config = configure(encoder_cfg);
    let pretrained = var_builder(&files, dtype, device)?;
    let weights = files.weights.first().cloned().unwrap_or_else(|| files.dir.clone());
    let (model, varmap) =
        build_trainable(&config, dtype, device, Some(("bert.", pretrained)), seed)
            .map_err(|source| CheckpointError::Weights { path: weights, source })?;
    set_prior_biases(&varmap, &config)?;
    let pieces = WordPieces::from_dir(&files.dir)?;
    Ok(Trainable { model, varmap, config, pieces })
}

/// A fresh model with every weight random (from `seed`), for speed runs and tests.
pub fn init_random(
    config: &ModelConfig,
    pieces: WordPieces,
    device: &Device,
    dtype: DType,
    seed: u64,
) -> Result<Trainable, CheckpointError> {
    let (model, varmap) = build_trainable(config, dtype, device, None, seed)?;
    set_prior_biases(&varmap, config)?;
    Ok(Trainable { model, varmap, config: config.clone(), pieces })
}

/// Grows a trainable model by entity types and relation types (name, symmetric) it has no
/// outputs for. The span and relation classifiers get new rows, drawn from `seed` as a fresh
/// head's are, with the bias of a new entity type at the mean of the old types' biases (so it
/// starts as likely as a typical old type) and that of a new relation type at
/// [`RELATION_PRIOR`]; every other weight and every old row is kept exactly. The new types
/// become learning types ([`ModelConfig::learning_entity_types`]): left out at inference, so
/// the grown model predicts bit for bit what it did, until training marks them predicted.
pub fn grow(
    trainable: Trainable,
    entities: &[String],
    relations: &[(String, bool)],
    seed: u64,
) -> Result<Trainable, CheckpointError> {
    if entities.is_empty() && relations.is_empty() {
        return Ok(trainable);
    }
    let mut config = trainable.config.clone();
    config.entity_types.extend(entities.iter().cloned());
    config.learning_entity_types.extend(entities.iter().cloned());
    for (name, symmetric) in relations {
        config.relation_types.push(name.clone());
        config.symmetric_relations.push(*symmetric);
        config.learning_relation_types.push(name.clone());
    }
    let poisoned =
        || CheckpointError::Model(candle_core::Error::Msg("the weights' lock is poisoned".into()));
    let old: HashMap<String, Var> = trainable.varmap.data().lock().map_err(|_| poisoned())?.clone();
    let Some(any) = old.values().next() else {
        return Err(CheckpointError::Model(candle_core::Error::Msg(
            "a model without weights".into(),
        )));
    };
    let (dtype, device) = (any.dtype(), any.device().clone());
    let (model, varmap) = build_trainable(&config, dtype, &device, None, seed)?;
    {
        let data = varmap.data().lock().map_err(|_| poisoned())?;
        for (name, var) in data.iter() {
            let before = old.get(name).ok_or_else(|| {
                CheckpointError::Model(candle_core::Error::Msg(format!(
                    "{name} missing before growing"
                )))
            })?;
            if before.dims() == var.dims() {
                var.set(before.as_tensor())?;
                continue;
            }
            let rows = before.dim(0)?;
            let added = var.dim(0)? - rows;
            let fresh = match name.as_str() {
                "span_classifier.out.bias" => {
                    let old_types = before.as_tensor().narrow(0, 1, rows - 1)?;
                    let mean = if rows > 1 {
                        old_types.to_dtype(DType::F32)?.mean_all()?.to_scalar::<f32>()?
                    } else {
                        (ENTITY_PRIOR).ln() as f32
                    };
                    Tensor::full(mean, added, &device)?.to_dtype(dtype)?
                }
                "relation_classifier.bias" => {
                    let prior = (RELATION_PRIOR / (1.0 - RELATION_PRIOR)).ln() as f32;
                    Tensor::full(prior, added, &device)?.to_dtype(dtype)?
                }
                _ => var.as_tensor().narrow(0, rows, added)?,
            };
            var.set(&Tensor::cat(&[before.as_tensor(), &fresh], 0)?)?;
        }
    }
    Ok(Trainable { model, varmap, config, pieces: trainable.pieces })
}

/// Share of candidate spans that a fresh model takes for entities, and of entity pairs it takes
/// for related (per type): about what CoNLL04 has (3.7 entities among ~250 candidates a
/// sentence).
pub const ENTITY_PRIOR: f64 = 0.01;
/// See [`ENTITY_PRIOR`].
pub const RELATION_PRIOR: f64 = 0.01;

/// Output biases of fresh heads set to the class priors, so that an untrained model predicts
/// few entities and relations instead of calling most spans entities and most pairs related,
/// and training starts from the right base rates: softmax of the span biases gives
/// `1 - ENTITY_PRIOR` to `none` and shares `ENTITY_PRIOR` among the types; the sigmoid of each
/// relation bias is `RELATION_PRIOR`.
fn set_prior_biases(varmap: &VarMap, config: &ModelConfig) -> Result<(), CheckpointError> {
    let types = config.entity_types.len().max(1) as f64;
    let mut span = vec![(ENTITY_PRIOR / types).ln() as f32; 1 + config.entity_types.len()];
    span[0] = (1.0 - ENTITY_PRIOR).ln() as f32;
    let relation = (RELATION_PRIOR / (1.0 - RELATION_PRIOR)).ln() as f32;
    let relations = vec![relation; config.relation_types.len()];
    for (name, values) in
        [("span_classifier.out.bias", span), ("relation_classifier.bias", relations)]
    {
        let data = varmap.data().lock().map_err(|_| {
            CheckpointError::Model(candle_core::Error::Msg("weights lock poisoned".into()))
        })?;
        if let Some(var) = data.get(name) {
            let prior =
                Tensor::from_vec(values, var.dims(), var.device())?.to_dtype(var.dtype())?;
            var.set(&prior)?;
        }
    }
    Ok(())
}

fn build_trainable(
    config: &ModelConfig,
    dtype: DType,
    device: &Device,
    source: Option<(&str, VarBuilder<'static>)>,
    seed: u64,
) -> candle_core::Result<(Aspert, VarMap)> {
    let varmap = VarMap::new();
    let backend = SeededVarMap {
        varmap: varmap.clone(),
        source: source.map(|(prefix, vb)| (prefix.to_string(), vb)),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), dtype, device.clone());
    let model = Aspert::new(vb, config)?;
    Ok((model, varmap))
}

/// A `VarMap` backend that takes weights under `source.0` from `source.1` and draws the others
/// from a seeded generator, so fresh heads are the same for the same seed.
struct SeededVarMap {
    varmap: VarMap,
    source: Option<(String, VarBuilder<'static>)>,
    rng: Mutex<StdRng>,
}

impl SeededVarMap {
    fn sample(&self, shape: &Shape, init: Init) -> candle_core::Result<Vec<f32>> {
        let n = shape.elem_count();
        let mut rng =
            self.rng.lock().map_err(|_| candle_core::Error::Msg("rng lock poisoned".into()))?;
        let mut uniform = |lo: f64, up: f64| -> Vec<f32> {
            (0..n).map(|_| rng.random_range(lo..up) as f32).collect()
        };
        Ok(match init {
            Init::Const(v) => vec![v as f32; n],
            Init::Uniform { lo, up } => uniform(lo, up),
            Init::Randn { mean, stdev } => normal(&mut rng, n, mean, stdev),
            Init::Kaiming { dist, fan, non_linearity } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(-bound, bound)
                    }
                    NormalOrUniform::Normal => normal(&mut rng, n, 0.0, std),
                }
            }
        })
    }
}

/// BERT's own initialisation (transformers' `_init_weights`, `initializer_range` 0.02) for the
/// encoder tensors that are requested without a hint (a hint-less `get` asks for zeros):
/// layer-norm weights 1, biases 0, everything else N(0, 0.02).
fn bert_init(name: &str, init: Init) -> Init {
    let unhinted = matches!(init, Init::Const(v) if v == 0.0);
    if !unhinted || !name.starts_with("bert.") {
        init
    } else if name.ends_with("LayerNorm.weight") {
        Init::Const(1.0)
    } else if name.ends_with(".bias") {
        Init::Const(0.0)
    } else {
        Init::Randn { mean: 0.0, stdev: 0.02 }
    }
}

/// `n` normal samples by Box-Muller.
fn normal(rng: &mut StdRng, n: usize, mean: f64, stdev: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (mean + stdev * z) as f32
        })
        .collect()
}

impl SimpleBackend for SeededVarMap {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("lock poisoned".into()))?;
        if let Some(var) = data.get(name) {
            if var.shape() != &shape {
                candle_core::bail!("shape mismatch on {name}: {shape:?} <> {:?}", var.shape());
            }
            return Ok(var.as_tensor().clone());
        }
        let tensor = match &self.source {
            Some((prefix, vb)) if name.starts_with(prefix.as_str()) => {
                vb.get_with_hints(shape, &name[prefix.len()..], init)?.to_dtype(dtype)?
            }
            _ => {
                Tensor::from_vec(self.sample(&shape, bert_init(name, init))?, shape, &Device::Cpu)?
                    .to_dtype(dtype)?
                    .to_device(dev)?
            }
        };
        let var = Var::from_tensor(&tensor)?;
        let out = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("`{name}` must be requested with its shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().map(|d| d.contains_key(name)).unwrap_or(false)
            || self.source.as_ref().is_some_and(|(prefix, vb)| {
                name.strip_prefix(prefix.as_str()).is_some_and(|rest| vb.contains_tensor(rest))
            })
    }
}
