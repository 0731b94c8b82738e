//! Model versions stored compactly (`model::delta`): a version kept as the changes to its
//! parent composes to the very weights it was made from, retention prunes the right versions
//! without breaking those that remain, and a version folder written whole by an older build
//! still loads.

use std::path::{Path, PathBuf};

use crate::tiny_model::*;
use candle_core::{DType, Device, Tensor};
use spanscope::model::checkpoint::{load, save, Trainable, WEIGHTS_FILE};
use spanscope::model::delta::{self, DELTA_MANIFEST};
use spanscope::model::versions::Scores;
use spanscope::model::versions::{VersionRecord, VersionRef, Versions};

/// Scales every weight by `1 - step` and moves one bias, as a fine-tuning step does: every
/// tensor changes, mostly in its low bits.
fn fine_tune(t: &Trainable, step: f64) {
    let data = t.varmap.data().lock().unwrap();
    for var in data.values() {
        let moved = (var.as_tensor() * (1.0 - step)).unwrap();
        var.set(&moved).unwrap();
    }
}

fn record(parent: &str) -> VersionRecord {
    VersionRecord {
        parent: parent.into(),
        before: Scores::default(),
        after: Scores::default(),
        trained_on: 2,
        replayed: 0,
        held_out: 0,
        forced: true,
    }
}

/// A folder with the base model (f16, as the bundled one) and a versions folder.
struct Folder {
    tmp: tempfile::TempDir,
    model: Trainable,
}

impl Folder {
    fn new() -> Folder {
        let tmp = tempfile::tempdir().unwrap();
        let model = model(&aspert_config(), tmp.path(), 3);
        let folder = Folder { tmp, model };
        folder.save(&folder.base(), DType::F16);
        folder
    }

    fn base(&self) -> PathBuf {
        self.tmp.path().join("base")
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("versions")
    }

    fn save(&self, dir: &Path, dtype: DType) {
        save(dir, &self.model.varmap, &self.model.config, &types(), &self.model.pieces, dtype)
            .unwrap();
    }

    /// Fine-tunes the model a step further and keeps it as the next version, with a full copy
    /// in `full-<n>` to compare with.
    fn next_version(&self, versions: &mut Versions, parent: &str, n: u32) -> PathBuf {
        fine_tune(&self.model, 1e-3);
        let full = self.tmp.path().join(format!("full-{n}"));
        self.save(&full, DType::F32);
        let candidate = versions.work_dir().unwrap();
        self.save(&candidate, DType::F32);
        let version = versions.accept(&candidate, record(parent)).unwrap();
        assert_eq!(version.number, n);
        full
    }
}

#[test]
fn a_compact_version_composes_to_the_same_weights_bit_for_bit_and_is_smaller() {
    let f = Folder::new();
    let mut versions = Versions::open_folder(&f.root()).unwrap();
    let base = f.base().display().to_string();
    let full = f.next_version(&mut versions, &base, 1);
    let v1 = f.root().join("v1");
    assert!(delta::is_compact(&v1), "only the changes are stored");
    assert!(!v1.join(WEIGHTS_FILE).exists());
    assert_eq!(delta::read_weights(&v1).unwrap(), delta::read_weights(&full).unwrap());
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let stored: u64 = std::fs::read_dir(&v1)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("delta"))
        .map(|p| size(&p))
        .sum();
    assert!(stored < size(&full.join(WEIGHTS_FILE)) * 3 / 4, "{stored} bytes");
    // Loading goes through the same composition: every weight as loaded is the full copy's.
    let loaded = delta::tensors(&v1, &Device::Cpu, DType::F32).unwrap();
    for (name, tensor) in delta::tensors(&full, &Device::Cpu, DType::F32).unwrap() {
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(bits(&loaded[&name]), bits(&tensor), "{name}");
    }
    load(&v1, &Device::Cpu, DType::F32).expect("a compact version loads as a checkpoint");
}

#[test]
fn retention_keeps_the_last_and_the_current_and_rewrites_what_depends_on_a_pruned_one() {
    let f = Folder::new();
    let mut versions = Versions::open_folder(&f.root()).unwrap();
    let base = f.base().display().to_string();
    let full: Vec<PathBuf> = (1..=4)
        .map(|n| {
            let parent = if n == 1 { base.clone() } else { format!("v{}", n - 1) };
            f.next_version(&mut versions, &parent, n)
        })
        .collect();
    versions.roll_back(VersionRef::Number(2)).unwrap();
    let pruned = versions.prune(1).unwrap();
    let names: Vec<String> = pruned.iter().map(|v| v.name()).collect();
    assert_eq!(names, ["v1", "v3"], "v4 is the last, v2 the current");
    let listed: Vec<u32> = versions.list().iter().map(|v| v.number).collect();
    assert_eq!(listed, [2, 4]);
    assert_eq!(versions.current_ref(), VersionRef::Number(2));
    for gone in ["v1", "v3"] {
        assert!(!f.root().join(gone).exists(), "{gone} is removed");
    }
    // v2 was stored against v1, v4 against v3: both now stand on what remains.
    assert_eq!(delta::parent_name(&f.root().join("v2")).unwrap(), Some(base.clone()));
    assert_eq!(delta::parent_name(&f.root().join("v4")).unwrap(), Some("v2".into()));
    for (n, full) in [(2, &full[1]), (4, &full[3])] {
        let dir = f.root().join(format!("v{n}"));
        assert_eq!(delta::read_weights(&dir).unwrap(), delta::read_weights(full).unwrap());
    }
    let reopened = Versions::open_folder(&f.root()).unwrap();
    assert_eq!(reopened.list().len(), 2);
}

#[test]
fn a_version_folder_written_whole_by_an_older_build_loads_and_is_expanded_for_its_child() {
    let f = Folder::new();
    let root = f.root();
    // What builds before compact versions wrote: a whole checkpoint and the list.
    fine_tune(&f.model, 1e-3);
    f.save(&root.join("v1"), DType::F32);
    let list = r#"{"format":"spanscope-model-versions","version":1,"current":"v1","versions":[
        {"number":1,"created":"20261201T000000Z","parent":"base","before":{"sentences":0,
         "entities":{"precision":0,"recall":0,"f1":0,"support":0},
         "relations":{"precision":0,"recall":0,"f1":0,"support":0}},
         "after":{"sentences":0,"entities":{"precision":0,"recall":0,"f1":0,"support":0},
         "relations":{"precision":0,"recall":0,"f1":0,"support":0}},
         "trained_on":2,"replayed":0,"held_out":0,"forced":false}]}"#;
    std::fs::write(root.join("versions.json"), list).unwrap();
    let mut versions = Versions::open_folder(&root).unwrap();
    let current = versions.current_dir(&f.base());
    assert!(!delta::is_compact(&current));
    load(&current, &Device::Cpu, DType::F32).expect("an old whole version loads");

    // A new version is stored against it; pruning it writes the new one out whole.
    let full = f.next_version(&mut versions, "v1", 2);
    assert!(delta::is_compact(&root.join("v2")));
    assert_eq!(versions.prune(1).unwrap().len(), 1);
    assert!(!delta::is_compact(&root.join("v2")));
    assert!(!root.join("v2").join(DELTA_MANIFEST).exists());
    assert_eq!(delta::read_weights(&root.join("v2")).unwrap(), delta::read_weights(&full).unwrap());
}
