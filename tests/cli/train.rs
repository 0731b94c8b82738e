//! `spanscope train` end to end on the CPU: a tiny random encoder in Hugging Face layout, two
//! epochs on four sentences, and the checks on `--out` and on the data files.

use crate::tiny_model;

use crate::binary::spanscope;
use std::path::Path;

use spanscope::data::io::{write_sentences, Format};
use spanscope::data::{Entity, Relation, Sentence};

fn corpus() -> Vec<Sentence> {
    let mut a = tiny_model::sentence("john smith works for acme in paris .");
    a.entities = vec![Entity::new("Peop", 0, 2), Entity::new("Org", 4, 5)];
    a.relations = vec![Relation::new("Work_For", 0, 1)];
    let mut b = tiny_model::sentence("john killed mary .");
    b.entities = vec![Entity::new("Peop", 0, 1), Entity::new("Peop", 2, 3)];
    b.relations = vec![Relation::new("Kill", 0, 1)];
    vec![a, b, tiny_model::sentence("the cat sat")]
}

#[test]
fn train_writes_a_checkpoint_and_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = dir.path().join("encoder");
    std::fs::create_dir(&encoder).unwrap();
    tiny_model::tiny_encoder(&encoder, 0);
    let data = dir.path().join("train.json");
    write_sentences(&data, &corpus(), Format::Json).unwrap();
    let types = dir.path().join("types.json");
    tiny_model::types().write(&types).unwrap();
    let out = dir.path().join("model");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (data, types, encoder, out_s) = (path(&data), path(&types), path(&encoder), path(&out));
    let args = [
        "train",
        "--train",
        &data,
        "--dev",
        &data,
        "--types",
        &types,
        "--encoder",
        &encoder,
        "--out",
        &out_s,
        "--epochs",
        "2",
        "--lr",
        "1e-3",
        "--neg-entities",
        "20",
    ];
    let run = spanscope(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("epoch 2: loss"), "{stderr}");
    assert!(out.join("spanscope.json").is_file() && out.join("training.json").is_file());
    let predicted = spanscope(&["predict", "--input", &data, "--model", &out_s]);
    assert!(predicted.status.success(), "{}", String::from_utf8_lossy(&predicted.stderr));

    // An existing checkpoint may be replaced; any other existing directory may not.
    assert!(spanscope(&args).status.success());
    let other = path(dir.path());
    let mut refused = args.to_vec();
    refused[10] = &other;
    let run = spanscope(&refused);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a spanscope checkpoint"));
}

#[test]
fn train_names_gold_entities_past_the_encoders_limit() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = dir.path().join("encoder");
    std::fs::create_dir(&encoder).unwrap();
    tiny_model::tiny_encoder(&encoder, 0);
    // The tiny encoder reads 64 pieces: 62 one-piece words, then [CLS] and [SEP].
    let mut long = tiny_model::sentence(&["john"; 80].join(" "));
    long.entities = vec![Entity::new("Peop", 3, 4), Entity::new("Peop", 75, 77)];
    long.relations = vec![Relation::new("Kill", 0, 1)];
    let data = dir.path().join("train.json");
    let mut sentences = corpus();
    sentences.push(long);
    write_sentences(&data, &sentences, Format::Json).unwrap();
    let types = dir.path().join("types.json");
    tiny_model::types().write(&types).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (data_s, types, encoder) = (path(&data), path(&types), path(&encoder));
    let out = path(&dir.path().join("model"));
    let run = spanscope(&[
        "train",
        "--train",
        &data_s,
        "--types",
        &types,
        "--encoder",
        &encoder,
        "--out",
        &out,
        "--epochs",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let expected = format!(
        "{}: record 3: the Peop entity at words 75..77 lies past word 62, where the encoder's 64 \
         word pieces end; training leaves it out, with its relations",
        data.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(stderr.matches("lies past word").count(), 1, "{stderr}");
}

#[test]
fn train_refuses_data_with_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = corpus();
    bad[0].entities[0].entity_type = "Misc".into();
    let data = dir.path().join("train.json");
    write_sentences(&data, &bad, Format::Json).unwrap();
    let types = dir.path().join("types.json");
    tiny_model::types().write(&types).unwrap();
    let out = dir.path().join("model");
    let run = spanscope(&[
        "train",
        "--train",
        data.to_str().unwrap(),
        "--types",
        types.to_str().unwrap(),
        "--encoder",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("Misc") && stderr.contains("fix them before training"), "{stderr}");
    assert!(!out.exists());
}
