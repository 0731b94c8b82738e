//! Where an encoder comes from (docs/DESIGN.md §1: "any BERT-family checkpoint in Hugging Face
//! layout"): a local directory, the Hugging Face cache, or the Hub.
//!
//! [`resolve`] turns what the user typed into files, trying in order:
//! 1. a local directory holding `config.json` (or the `config.json` file itself);
//! 2. a Hugging Face cache folder `models--ORG--NAME` (following `refs/main` to
//!    `snapshots/<rev>/`);
//! 3. a hub id (`bert-base-cased`, `allenai/scibert_scivocab_cased`) found in the cache
//!    (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`);
//! 4. the same hub id downloaded with hf-hub, unless `HF_HUB_OFFLINE` is set.
//!
//! When all fail, the error lists every place that was tried and why it did not do.
//! [`var_builder`] then opens the weights whatever their storage dtype, prefix (`bert.` for
//! `BertFor*` checkpoints, none for `BertModel`) or layer-norm names (`gamma`/`beta` in old
//! Google-converted checkpoints).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use super::config::{BertConfig, ConfigError};
use super::encoder::BertEncoder;

/// The files of one encoder checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderFiles {
    /// The directory that holds them (also where the tokenizer files are looked for).
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// `model.safetensors`, the shards named by `model.safetensors.index.json`, or
    /// `pytorch_model.bin`.
    pub weights: Vec<PathBuf>,
}

/// An encoder that cannot be found or opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Nothing matched the spec; `tried` says where we looked and why each did not do.
    #[error("cannot find encoder `{spec}`; tried:\n  - {}", tried.join("\n  - "))]
    NotFound {
        /// What the user gave.
        spec: String,
        /// One line per place tried.
        tried: Vec<String>,
    },
    /// A directory exists but is not a usable checkpoint.
    #[error("`{}` is not an encoder checkpoint: {reason}", dir.display())]
    Incomplete {
        /// The directory (or file).
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `config.json` is unreadable or not a BERT we can run.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A weight file cannot be read, or lacks a tensor the encoder needs.
    #[error("cannot load encoder weights `{}`: {source}", path.display())]
    Weights {
        /// The (first) weight file.
        path: PathBuf,
        /// Why.
        source: candle_core::Error,
    },
    /// The weights do not look like a BERT.
    #[error("`{}` does not hold BERT weights: {reason}", path.display())]
    Layout {
        /// The (first) weight file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Where [`resolve_with`] looks for hub ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HubOptions {
    /// Hugging Face cache directories (the `hub` level, holding `models--ORG--NAME`).
    pub cache_dirs: Vec<PathBuf>,
    /// Never download.
    pub offline: bool,
}

impl HubOptions {
    /// The cache and offline mode that transformers would use: `$HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; offline when `HF_HUB_OFFLINE` (or
    /// `TRANSFORMERS_OFFLINE`) is `1`, `true`, `yes` or `on`.
    pub fn from_env() -> Self {
        let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
        let cache = env("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub")));
        let offline = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"].iter().any(|key| {
            std::env::var(key).is_ok_and(|v| {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
        });
        Self { cache_dirs: cache.into_iter().collect(), offline }
    }
}

/// Finds the encoder named by `spec` (a directory, a cache folder or a hub id), looking in
/// the Hugging Face cache and on the Hub as the environment says ([`HubOptions::from_env`]).
pub fn resolve(spec: &str) -> Result<EncoderFiles, SourceError> {
    resolve_with(spec, &HubOptions::from_env())
}

/// [`resolve`] with an explicit cache and offline mode.
pub fn resolve_with(spec: &str, opts: &HubOptions) -> Result<EncoderFiles, SourceError> {
    let spec = spec.trim();
    let not_found = |tried: Vec<String>| SourceError::NotFound { spec: spec.to_string(), tried };
    if spec.is_empty() {
        return Err(not_found(vec!["nothing: the name is empty".into()]));
    }
    let path = expand_home(spec);
    if path.is_file() {
        return match path.file_name().and_then(|n| n.to_str()) {
            Some("config.json") => local_dir(path.parent().unwrap_or(Path::new("."))),
            _ => Err(SourceError::Incomplete {
                dir: path,
                reason: "is a file; give the directory that holds config.json".into(),
            }),
        };
    }
    if path.is_dir() {
        if path.join("config.json").exists() || !path.join("snapshots").is_dir() {
            return local_dir(&path);
        }
        return cache_repo(&path);
    }
    let mut tried = vec![format!("local directory `{}`: does not exist", path.display())];
    if !is_hub_id(spec) {
        return Err(not_found(tried));
    }
    for cache in &opts.cache_dirs {
        let repo = cache.join(format!("models--{}", spec.replace('/', "--")));
        if !repo.is_dir() {
            tried.push(format!("Hugging Face cache `{}`: not there", repo.display()));
            continue;
        }
        match cache_repo(&repo) {
            Ok(files) => return Ok(files),
            Err(e) => tried.push(format!("Hugging Face cache: {e}")),
        }
    }
    if opts.offline {
        tried.push("download from the Hugging Face Hub: skipped, HF_HUB_OFFLINE is set".into());
        return Err(not_found(tried));
    }
    match download(spec, opts) {
        Ok(files) => Ok(files),
        Err(reason) => {
            tried.push(format!("download from the Hugging Face Hub: {reason}"));
            Err(not_found(tried))
        }
    }
}

fn expand_home(spec: &str) -> PathBuf {
    match (spec.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(spec),
    }
}

/// `name` or `org/name`, made of letters, digits, `-`, `_` and `.`.
fn is_hub_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// A directory that holds `config.json` and weights.
fn local_dir(dir: &Path) -> Result<EncoderFiles, SourceError> {
    let incomplete = |reason: &str| SourceError::Incomplete {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(incomplete("it has no config.json"));
    }
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let torch = dir.join("pytorch_model.bin");
    let weights = if single.is_file() {
        vec![single]
    } else if index.is_file() {
        shards(dir, &index)?
    } else if torch.is_file() {
        vec![torch]
    } else {
        return Err(incomplete(
            "it has config.json but no model.safetensors, model.safetensors.index.json \
             or pytorch_model.bin",
        ));
    };
    Ok(EncoderFiles { dir: dir.to_path_buf(), config, weights })
}

/// The shard files named in a `model.safetensors.index.json`, each once, in name order.
fn shards(dir: &Path, index: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let bad = |reason: String| SourceError::Incomplete { dir: index.to_path_buf(), reason };
    let text = std::fs::read_to_string(index).map_err(|e| bad(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut files: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    if files.is_empty() {
        return Err(bad("`weight_map` names no files".into()));
    }
    files
        .into_iter()
        .map(|f| {
            let p = dir.join(f);
            if p.is_file() {
                Ok(p)
            } else {
                Err(bad(format!("shard `{f}` is missing")))
            }
        })
        .collect()
}

/// A cache folder `models--ORG--NAME`: the snapshot `refs/main` points at, else the newest
/// complete snapshot.
fn cache_repo(repo: &Path) -> Result<EncoderFiles, SourceError> {
    let snapshots = repo.join("snapshots");
    let main = std::fs::read_to_string(repo.join("refs").join("main"))
        .ok()
        .map(|rev| snapshots.join(rev.trim()));
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&snapshots)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && Some(p) != main.as_ref())
                .map(|p| {
                    let time = p.metadata().and_then(|m| m.modified());
                    (time.unwrap_or(std::time::UNIX_EPOCH), p)
                })
                .collect()
        })
        .unwrap_or_default();
    others.sort_by(|a, b| b.cmp(a));
    let mut reasons = Vec::new();
    for snap in main.into_iter().chain(others.into_iter().map(|(_, p)| p)) {
        match local_dir(&snap) {
            Ok(files) => return Ok(files),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if reasons.is_empty() {
        reasons.push("no snapshots/ (and no refs/main)".into());
    }
    Err(SourceError::Incomplete {
        dir: repo.to_path_buf(),
        reason: format!("no usable snapshot ({})", reasons.join("; ")),
    })
}

/// Downloads config, weights and tokenizer files of a hub model into the cache.
fn download(id: &str, opts: &HubOptions) -> Result<EncoderFiles, String> {
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env().with_progress(false);
    if let Some(cache) = opts.cache_dirs.first() {
        builder = builder.with_cache_dir(cache.clone());
    }
    let api = builder.build().map_err(|e| e.to_string())?;
    let repo = api.model(id.to_string());
    tracing::info!("downloading encoder {id} from the Hugging Face Hub");
    let config = repo.get("config.json").map_err(|e| format!("config.json: {e}"))?;
    let mut errors = Vec::new();
    let mut weights = Vec::new();
    match repo.get("model.safetensors") {
        Ok(p) => weights.push(p),
        Err(e) => errors.push(format!("model.safetensors: {e}")),
    }
    if weights.is_empty() {
        match repo.get("model.safetensors.index.json") {
            Ok(index) => {
                let dir = index.parent().unwrap_or(Path::new(".")).to_path_buf();
                let text = std::fs::read_to_string(&index).map_err(|e| e.to_string())?;
                let json: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("index: {e}"))?;
                let names = json["weight_map"]
                    .as_object()
                    .map(|m| m.values().filter_map(|v| v.as_str()).collect::<Vec<_>>())
                    .unwrap_or_default();
                for name in names {
                    repo.get(name).map_err(|e| format!("{name}: {e}"))?;
                }
                weights = shards(&dir, &index).map_err(|e| e.to_string())?;
            }
            Err(e) => errors.push(format!("model.safetensors.index.json: {e}")),
        }
    }
    if weights.is_empty() {
        match repo.get("pytorch_model.bin") {
            Ok(p) => weights.push(p),
            Err(e) => errors.push(format!("pytorch_model.bin: {e}")),
        }
    }
    if weights.is_empty() {
        return Err(errors.join("; "));
    }
    for optional in
        ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
    {
        if let Err(e) = repo.get(optional) {
            tracing::debug!("{id}: no {optional}: {e}");
        }
    }
    let dir = config.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok(EncoderFiles { dir, config, weights })
}

/// The suffix every BERT checkpoint has, whatever its prefix.
const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// Opens the weights of `files` as a [`VarBuilder`] positioned for [`BertEncoder::load`]:
/// tensors are converted from their stored dtype (f32, f16, bf16) to `dtype`, a `bert.` (or
/// any other) prefix before `embeddings.word_embeddings.weight` is stepped into, and legacy
/// `LayerNorm.gamma`/`LayerNorm.beta` names answer for `LayerNorm.weight`/`LayerNorm.bias`.
pub fn var_builder(
    files: &EncoderFiles,
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, SourceError> {
    let first = files.weights.first().ok_or_else(|| SourceError::Incomplete {
        dir: files.dir.clone(),
        reason: "no weight files".into(),
    })?;
    let weights_error = |source| SourceError::Weights { path: first.clone(), source };
    let is_torch = matches!(first.extension().and_then(|e| e.to_str()), Some("bin" | "pt" | "pth"));
    let (backend, names): (Box<dyn SimpleBackend>, Vec<String>) = if is_torch {
        if files.weights.len() > 1 {
            return Err(SourceError::Layout {
                path: first.clone(),
                reason: "sharded PyTorch checkpoints are not supported; convert to safetensors"
                    .into(),
            });
        }
        let pth = candle_core::pickle::PthTensors::new(first, None).map_err(|e| {
            weights_error(candle_core::Error::Msg(format!(
                "{e}; convert it to model.safetensors (in Python: AutoModel.from_pretrained(dir)\
                 .save_pretrained(dir, safe_serialization=True))"
            )))
        })?;
        let names = pth.tensor_infos().keys().cloned().collect();
        (Box::new(pth), names)
    } else {
        // SAFETY: the files are mapped read-only only while the encoder copies its weights out
        // of them; spanscope never writes into a checkpoint that is being loaded.
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files.weights) }
            .map_err(weights_error)?;
        let names = st.tensors().into_iter().map(|(name, _)| name).collect();
        (Box::new(st), names)
    };
    let prefix = names
        .iter()
        .filter_map(|n| n.strip_suffix(WORD_EMBEDDINGS))
        .min_by_key(|p| p.len())
        .map(|p| p.trim_end_matches('.').to_string())
        .ok_or_else(|| {
            let mut some: Vec<&str> = names.iter().map(String::as_str).collect();
            some.sort_unstable();
            some.truncate(5);
            SourceError::Layout {
                path: first.clone(),
                reason: format!(
                    "no tensor named `{WORD_EMBEDDINGS}` (with or without a prefix); \
                     it has {} tensors, e.g. {}",
                    names.len(),
                    some.join(", ")
                ),
            }
        })?;
    let legacy = names.iter().any(|n| n.ends_with("LayerNorm.gamma"));
    let mut vb = VarBuilder::from_backend(backend, dtype, device.clone());
    if legacy {
        vb = vb.rename_f(|name: &str| {
            if let Some(stem) = name.strip_suffix("LayerNorm.weight") {
                format!("{stem}LayerNorm.gamma")
            } else if let Some(stem) = name.strip_suffix("LayerNorm.bias") {
                format!("{stem}LayerNorm.beta")
            } else {
                name.to_string()
            }
        });
    }
    Ok(if prefix.is_empty() { vb } else { vb.pp(prefix) })
}

/// Resolves `spec`, reads its config and loads the encoder in `dtype` on `device`.
pub fn load_encoder(
    spec: &str,
    dtype: DType,
    device: &Device,
) -> Result<(BertEncoder, EncoderFiles), SourceError> {
    load_encoder_with(spec, &HubOptions::from_env(), dtype, device)
}

/// [`load_encoder`] with an explicit cache and offline mode.
pub fn load_encoder_with(
    spec: &str,
    opts: &HubOptions,
    dtype: DType,
    device: &Device,
) -> Result<(BertEncoder, EncoderFiles), SourceError> {
    let files = resolve_with(spec, opts)?;
    let cfg = BertConfig::read(&files.config)?;
    let vb = var_builder(&files, dtype, device)?;
    let encoder = BertEncoder::load(vb, &cfg).map_err(|source| SourceError::Weights {
        path: files.weights.first().cloned().unwrap_or_else(|| files.dir.clone()),
        source,
    })?;
    tracing::info!(
        "encoder from {}: {} layers x {} heads, hidden {}",
        files.dir.display(),
        cfg.num_hidden_layers,
        cfg.num_attention_heads,
        cfg.hidden_size
    );
    Ok((encoder, files))
}

/// Builds a trainable encoder: its parameters become `Var`s of `varmap` under `prefix` (e.g.
/// `"encoder"`, or `""` for none), filled with the pretrained weights of `files`, so that
/// an optimizer over `varmap.all_vars()` fine-tunes them (docs/DESIGN.md §4). Parameters that
/// already exist in `varmap` under the same names are overwritten with the pretrained values.
pub fn load_trainable(
    files: &EncoderFiles,
    varmap: &VarMap,
    prefix: &str,
    dtype: DType,
    device: &Device,
) -> Result<BertEncoder, SourceError> {
    let cfg = BertConfig::read(&files.config)?;
    let pretrained = var_builder(files, dtype, device)?;
    let first = files.weights.first().cloned().unwrap_or_else(|| files.dir.clone());
    let weights_error = |source| SourceError::Weights { path: first.clone(), source };
    let vb = VarBuilder::from_varmap(varmap, dtype, device);
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    let encoder = BertEncoder::load(vb, &cfg).map_err(weights_error)?;
    let start = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
    let data = varmap.data().lock().map_err(|_| {
        weights_error(candle_core::Error::Msg("the VarMap's lock is poisoned".into()))
    })?;
    for (name, var) in data.iter() {
        let Some(local) = name.strip_prefix(&start) else {
            continue;
        };
        if !is_encoder_parameter(local) {
            continue;
        }
        let value = pretrained.get(var.shape(), local).map_err(weights_error)?;
        var.set(&value).map_err(weights_error)?;
    }
    Ok(encoder)
}

/// Whether `name` (relative to the encoder) is one of the parameters `BertEncoder` creates.
fn is_encoder_parameter(name: &str) -> bool {
    name.starts_with("embeddings.") || name.starts_with("encoder.layer.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids() {
        assert!(is_hub_id("bert-base-cased"));
        assert!(is_hub_id("allenai/scibert_scivocab_cased"));
        assert!(!is_hub_id("a/b/c"));
        assert!(!is_hub_id("/abs/path"));
        assert!(!is_hub_id("../x"));
        assert!(!is_hub_id("has space"));
    }
}
