//! Checkpoint weights stored as the changes to a parent checkpoint, exactly.
//!
//! Fine-tuning moves every weight a little (weight decay alone touches each one), so storing
//! only the tensors that changed saves nothing. What does save is that a weight moves only in
//! its low bits: each tensor is stored as its bits XOR the parent's (the parent converted to
//! its dtype), the four bytes of each value split into four planes (the high planes are
//! nearly all zero), and the planes deflated. Decoding reverses each step, so a composed
//! checkpoint has the very bits of the one it was made from; [`compact`] checks that before
//! it removes the full weights. docs/BENCHMARKS.md has the sizes.
//!
//! A compact checkpoint has, in place of `model.safetensors`, `delta.json` (the parent, a
//! fingerprint of the parent's stored weights, and the data file's name) and that data file:
//! a safetensors file of one `U8` blob per weight. The parent is `vN` (a sibling folder) or
//! the path of a checkpoint elsewhere (the base model); when its weights are not those the
//! fingerprint names, loading fails with a message saying so rather than composing wrong
//! weights.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::checkpoint::{CheckpointError, WEIGHTS_FILE};

/// The manifest of a compact checkpoint.
pub const DELTA_MANIFEST: &str = "delta.json";
const FORMAT: &str = "spanscope-weights-delta";
const FORMAT_VERSION: u32 = 1;

/// A weight as stored: dtype, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// The stored dtype (F32, F16 or BF16).
    pub dtype: Dtype,
    /// The shape.
    pub shape: Vec<usize>,
    /// The values' bytes.
    pub data: Vec<u8>,
}

/// Every weight of a checkpoint, by name.
pub type Weights = HashMap<String, RawTensor>;

/// The length and hash of a checkpoint's weights as composed (names, dtypes, shapes and
/// values), to know a parent still has the weights a child was stored against, however the
/// parent itself is stored (re-encoding it for a prune changes its files, not its weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    len: u64,
    hash: u64,
}

impl Fingerprint {
    /// FNV-1a, as the store's document fingerprints, over every weight in name order.
    fn of(weights: &Weights) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut len = 0u64;
        let mut names: Vec<&String> = weights.keys().collect();
        names.sort();
        for name in names {
            let raw = &weights[name];
            let head = format!("{name}:{:?}:{:?};", raw.dtype, raw.shape);
            for &byte in head.as_bytes().iter().chain(&raw.data) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            len += (head.len() + raw.data.len()) as u64;
        }
        Self { len, hash }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    /// `vN` (a sibling folder) or the parent checkpoint's path.
    parent: String,
    /// The parent's weights when this was written.
    parent_weights: Fingerprint,
    /// The data file, in this folder.
    data: String,
    /// Weights the parent has too, stored XOR the parent's; the others are stored whole.
    xor: Vec<String>,
}

fn bad(path: &Path, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadConfig { path: path.to_path_buf(), reason: reason.into() }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { action, path, source }
}

/// Whether `dir` holds its weights as changes to a parent.
pub fn is_compact(dir: &Path) -> bool {
    dir.join(DELTA_MANIFEST).is_file() && !dir.join(WEIGHTS_FILE).is_file()
}

/// The parent a compact checkpoint names, as it names it (`v2`, or a path); `None` for a
/// full one.
pub fn parent_name(dir: &Path) -> Result<Option<String>, CheckpointError> {
    if !is_compact(dir) {
        return Ok(None);
    }
    Ok(Some(read_manifest(dir)?.parent))
}

/// The parent's folder, as [`parent_name`] names it, resolved.
pub fn parent_of(dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    Ok(parent_name(dir)?.map(|name| resolve_parent(dir, &name)))
}

/// Writes the composed weights of the compact checkpoint in `dir` out whole, as
/// `model.safetensors` (renamed into place, which makes the checkpoint full), then removes
/// its delta files.
pub fn expand(dir: &Path) -> Result<(), CheckpointError> {
    if !is_compact(dir) {
        return Ok(());
    }
    let manifest = read_manifest(dir)?;
    let weights = read_weights(dir)?;
    let tmp = dir.join(format!(".{WEIGHTS_FILE}.tmp"));
    let views: Vec<(String, TensorView<'_>)> = weights
        .iter()
        .map(|(name, raw)| {
            TensorView::new(raw.dtype, raw.shape.clone(), &raw.data).map(|v| (name.clone(), v))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&tmp, e.to_string()))?;
    safetensors::serialize_to_file(views, None, &tmp).map_err(|e| bad(&tmp, e.to_string()))?;
    if let Ok(meta) = std::fs::metadata(dir.join(super::checkpoint::CONFIG_FILE)) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io("sync", &tmp))?;
    let full = dir.join(WEIGHTS_FILE);
    std::fs::rename(&tmp, &full).map_err(io("rename into place", &full))?;
    let _ = std::fs::remove_file(dir.join(DELTA_MANIFEST));
    let _ = std::fs::remove_file(dir.join(manifest.data));
    Ok(())
}

fn resolve_parent(dir: &Path, parent: &str) -> PathBuf {
    if parent.starts_with('v') && !parent.contains(['/', '\\']) {
        dir.parent().unwrap_or(Path::new(".")).join(parent)
    } else {
        PathBuf::from(parent)
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, CheckpointError> {
    let path = dir.join(DELTA_MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        let found = format!("{} version {}", manifest.format, manifest.version);
        return Err(bad(&path, format!("{found}; this spanscope reads {FORMAT} {FORMAT_VERSION}")));
    }
    Ok(manifest)
}

/// The file that holds `dir`'s weights as stored (full, or its data file).
fn stored_weights(dir: &Path) -> Result<PathBuf, CheckpointError> {
    if is_compact(dir) {
        Ok(dir.join(read_manifest(dir)?.data))
    } else {
        let path = dir.join(WEIGHTS_FILE);
        if path.is_file() {
            Ok(path)
        } else {
            Err(CheckpointError::MissingFile { path })
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Weights, CheckpointError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(path, e.to_string()))?;
    Ok(file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let raw = RawTensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            (name, raw)
        })
        .collect())
}

/// Every weight of the checkpoint in `dir`, full or compact (its parents composed first).
pub fn read_weights(dir: &Path) -> Result<Weights, CheckpointError> {
    let path = stored_weights(dir)?;
    let bytes = std::fs::read(&path).map_err(io("read", &path))?;
    if !is_compact(dir) {
        return parse(&path, &bytes);
    }
    let manifest = read_manifest(dir)?;
    let parent_dir = resolve_parent(dir, &manifest.parent);
    let parent = read_weights(&parent_dir)?;
    if Fingerprint::of(&parent) != manifest.parent_weights {
        return Err(bad(
            &dir.join(DELTA_MANIFEST),
            format!(
                "it stores its weights as changes to {}, whose weights have changed since; \
                 this version cannot be composed",
                parent_dir.display()
            ),
        ));
    }
    let mut weights = Weights::new();
    for (name, blob) in parse(&path, &bytes)? {
        let stored = decode(&path, &name, &blob)?;
        let raw = if manifest.xor.contains(&name) {
            let base = parent
                .get(&name)
                .and_then(|p| convert(p, stored.dtype))
                .ok_or_else(|| bad(&path, format!("the parent has no weight {name}")))?;
            let data = stored.data.iter().zip(&base).map(|(a, b)| a ^ b).collect();
            RawTensor { data, ..stored }
        } else {
            stored
        };
        weights.insert(name, raw);
    }
    Ok(weights)
}

/// The weights of `dir` as candle tensors on `device` in `dtype`.
pub fn tensors(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<HashMap<String, Tensor>, CheckpointError> {
    let path = dir.join(DELTA_MANIFEST);
    read_weights(dir)?
        .into_iter()
        .map(|(name, raw)| {
            let stored = match raw.dtype {
                Dtype::F32 => DType::F32,
                Dtype::F16 => DType::F16,
                Dtype::BF16 => DType::BF16,
                other => {
                    return Err(bad(&path, format!("{name}: dtype {other:?} is not a weight")))
                }
            };
            let tensor = Tensor::from_raw_buffer(&raw.data, stored, &raw.shape, &Device::Cpu)
                .and_then(|t| t.to_dtype(dtype))
                .and_then(|t| t.to_device(device))
                .map_err(|source| CheckpointError::Weights { path: path.clone(), source })?;
            Ok((name, tensor))
        })
        .collect()
}

/// `raw`'s bytes as `dtype` (a parent's weight in its child's dtype): the same conversion
/// for writing and reading, so the XOR undoes exactly. `None` for a dtype that is no weight's.
fn convert(raw: &RawTensor, dtype: Dtype) -> Option<Vec<u8>> {
    if raw.dtype == dtype {
        return Some(raw.data.clone());
    }
    let values: Vec<f32> = match raw.dtype {
        Dtype::F32 => {
            raw.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        Dtype::F16 => raw
            .data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    };
    Some(match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        Dtype::BF16 => values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
        _ => return None,
    })
}

fn width(dtype: Dtype) -> usize {
    dtype.bitsize().div_ceil(8).max(1)
}

/// Byte planes of `data` (every value's first byte, then every second byte, ...), deflated.
/// The blob starts with the dtype's tag and the shape, so it decodes alone.
fn encode(raw: &RawTensor, data: &[u8]) -> Vec<u8> {
    let w = width(raw.dtype);
    let mut planes = Vec::with_capacity(data.len());
    for plane in 0..w {
        planes.extend(data.iter().skip(plane).step_by(w));
    }
    let header = serde_json::json!({ "dtype": format!("{:?}", raw.dtype), "shape": raw.shape });
    let header = header.to_string();
    let mut blob = (header.len() as u32).to_le_bytes().to_vec();
    blob.extend(header.as_bytes());
    let mut deflate = flate2::write::DeflateEncoder::new(blob, flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    deflate.write_all(&planes).expect("deflate into memory");
    deflate.finish().expect("deflate into memory")
}

fn decode(path: &Path, name: &str, blob: &RawTensor) -> Result<RawTensor, CheckpointError> {
    let broken = |why: &str| bad(path, format!("weight {name}: {why}"));
    let bytes = &blob.data;
    let len = bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let header = len.and_then(|n| bytes.get(4..4 + n)).ok_or_else(|| broken("no header"))?;
    let header: serde_json::Value =
        serde_json::from_slice(header).map_err(|_| broken("a bad header"))?;
    let dtype = match header["dtype"].as_str() {
        Some("F32") => Dtype::F32,
        Some("F16") => Dtype::F16,
        Some("BF16") => Dtype::BF16,
        _ => return Err(broken("an unknown dtype")),
    };
    let shape: Vec<usize> =
        serde_json::from_value(header["shape"].clone()).map_err(|_| broken("a bad shape"))?;
    let mut planes = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[4 + len.unwrap_or(0)..])
        .read_to_end(&mut planes)
        .map_err(|e| broken(&e.to_string()))?;
    let w = width(dtype);
    let count = shape.iter().product::<usize>();
    if planes.len() != count * w {
        return Err(broken("the wrong number of bytes"));
    }
    let mut data = vec![0u8; planes.len()];
    for (plane, chunk) in planes.chunks_exact(count.max(1)).enumerate() {
        for (i, &b) in chunk.iter().enumerate() {
            data[i * w + plane] = b;
        }
    }
    Ok(RawTensor { dtype, shape, data })
}

/// Stores the weights of the full checkpoint in `dir` as changes to `parent` (`vN`, a sibling,
/// or a checkpoint path), checks that they compose back bit for bit, and only then removes
/// `model.safetensors`. A checkpoint already compact is re-encoded against `parent` (what
/// pruning its old parent needs); the new data file is in place before the manifest names it.
pub fn compact(dir: &Path, parent: &str) -> Result<(), CheckpointError> {
    let weights = read_weights(dir)?;
    let parent_dir = resolve_parent(dir, parent);
    let parent_tensors = read_weights(&parent_dir)?;
    let parent_weights = Fingerprint::of(&parent_tensors);
    let old = is_compact(dir).then(|| read_manifest(dir)).transpose()?;
    let mut blobs = Vec::with_capacity(weights.len());
    let mut xor = Vec::new();
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    for name in names {
        let raw = &weights[name];
        let base = parent_tensors
            .get(name)
            .filter(|p| p.shape == raw.shape)
            .and_then(|p| convert(p, raw.dtype));
        let blob = match base {
            Some(base) => {
                xor.push(name.clone());
                let data: Vec<u8> = raw.data.iter().zip(&base).map(|(a, b)| a ^ b).collect();
                encode(raw, &data)
            }
            None => encode(raw, &raw.data),
        };
        blobs.push((name.clone(), blob));
    }
    let data_name = unused_data_name(dir);
    let data_path = dir.join(&data_name);
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(name, blob)| {
            TensorView::new(Dtype::U8, vec![blob.len()], blob).map(|v| (name.clone(), v))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&data_path, e.to_string()))?;
    safetensors::serialize_to_file(views, None, &data_path)
        .map_err(|e| bad(&data_path, e.to_string()))?;
    // The safetensors writer creates its file owner-only; shared models stay readable, as
    // `checkpoint::save` does for the full weights.
    if let Ok(meta) = std::fs::metadata(dir.join(super::checkpoint::CONFIG_FILE)) {
        let _ = std::fs::set_permissions(&data_path, meta.permissions());
    }
    std::fs::File::open(&data_path).and_then(|f| f.sync_all()).map_err(io("sync", &data_path))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        parent: parent.to_string(),
        parent_weights,
        data: data_name,
        xor,
    };
    let manifest_path = dir.join(DELTA_MANIFEST);
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|e| bad(&manifest_path, e.to_string()))?;
    crate::data::io::write_atomic(&manifest_path, text.as_bytes())?;
    let full = dir.join(WEIGHTS_FILE);
    let composed = if full.is_file() {
        // Check against the compact form alone: move the full weights aside first.
        let aside = dir.join(format!(".{WEIGHTS_FILE}.checking"));
        std::fs::rename(&full, &aside).map_err(io("move aside", &full))?;
        let composed = read_weights(dir);
        if composed.as_ref().ok() != Some(&weights) {
            let _ = std::fs::rename(&aside, &full);
            let _ = std::fs::remove_file(&manifest_path);
            let _ = std::fs::remove_file(&data_path);
            return Err(bad(dir, "the compact weights do not compose back; kept the full copy"));
        }
        std::fs::remove_file(&aside).map_err(io("remove", &aside))?;
        composed
    } else {
        read_weights(dir)
    };
    if composed.as_ref().ok() != Some(&weights) {
        return Err(bad(&manifest_path, "re-encoded weights do not compose back"));
    }
    if let Some(old) = old.filter(|o| o.data != manifest.data) {
        let _ = std::fs::remove_file(dir.join(old.data));
    }
    Ok(())
}

/// A data file name not in use in `dir` (`model.delta.safetensors`, then `model.delta-2...`).
fn unused_data_name(dir: &Path) -> String {
    (1..)
        .map(|n| match n {
            1 => "model.delta.safetensors".to_string(),
            n => format!("model.delta-{n}.safetensors"),
        })
        .find(|name| !dir.join(name).exists())
        .unwrap_or_default()
}
