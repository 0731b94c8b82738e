//! The benchmark datasets (CoNLL04, SciERC) must validate clean against their types files and
//! load completely. They live outside the repository: `../shared/data` beside the checkout, or
//! wherever `SPANSCOPE_DATA_DIR` points; without them this test prints a note and passes.

use std::path::PathBuf;

use spanscope::data::{
    read_sentences, validate_file, validate_types_file, write_sentences, Format, Types,
};

fn json_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    dir.is_dir().then_some(dir)
}

#[test]
fn shared_datasets_validate_clean() {
    let Some(dir) = data_dir() else {
        eprintln!("note: no shared data (../shared/data or SPANSCOPE_DATA_DIR); skipping");
        return;
    };
    let sets = [
        ("conll04", ["conll04_train.json", "conll04_dev.json"], "conll04_types.json"),
        ("scierc", ["scierc_train.json", "scierc_dev.json"], "scierc_types.json"),
    ];
    let mut checked = 0;
    for (name, splits, types_file) in sets {
        let types_path = dir.join(name).join(types_file);
        if !types_path.is_file() {
            eprintln!("note: {} missing; skipping {name}", types_path.display());
            continue;
        }
        assert_eq!(validate_types_file(&types_path), [], "{}", types_path.display());
        let types = Types::read(&types_path).unwrap();
        for split in splits {
            let path = dir.join(name).join(split);
            let problems: Vec<String> =
                validate_file(&path, Some(&types)).iter().map(|p| p.to_string()).collect();
            assert!(
                problems.is_empty(),
                "{} problems, first: {:?}",
                problems.len(),
                &problems[..problems.len().min(5)]
            );
            let loaded = read_sentences(&path).unwrap();
            assert!(loaded.problems.is_empty());
            assert!(!loaded.sentences.is_empty());
            // Every record keeps its orig_id.
            assert!(loaded.sentences.iter().all(|s| s.extra.contains_key("orig_id")));
            // What we write is the same JSON as what SpERT's files hold.
            let out = tempfile::tempdir().unwrap();
            let written = out.path().join(split);
            write_sentences(&written, &loaded.sentences, Format::Json).unwrap();
            assert_eq!(json_of(&written), json_of(&path));
            checked += 1;
        }
    }
    eprintln!("validated {checked} dataset files in {}", dir.display());
}
