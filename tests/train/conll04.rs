//! A smoke run on real data: the tiny random model trains one epoch on 300 CoNLL04 sentences
//! and evaluates on 100 dev sentences, printing the speed. The data lives outside the
//! repository (`../shared/data` or `SPANSCOPE_DATA_DIR`); without it the test passes with a
//! note.

use crate::tiny_model;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device};
use spanscope::data::io::read_sentences;
use spanscope::data::types::Types;
use spanscope::model::aspert::ModelConfig;
use spanscope::model::checkpoint::init_random;
use spanscope::train::trainer::{train, TrainConfig, TrainData};

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    dir.join("conll04").is_dir().then_some(dir.join("conll04"))
}

#[test]
fn one_epoch_on_conll04_with_the_tiny_model() {
    let Some(dir) = data_dir() else {
        eprintln!("note: no CoNLL04 data (../shared/data or SPANSCOPE_DATA_DIR); skipping");
        return;
    };
    let types = Types::read(&dir.join("conll04_types.json")).unwrap();
    let train_set = read_sentences(&dir.join("conll04_train.json")).unwrap().sentences;
    let dev_set = read_sentences(&dir.join("conll04_dev.json")).unwrap().sentences;
    let (train_set, dev_set) = (&train_set[..300], &dev_set[..100]);

    let tmp = tempfile::tempdir().unwrap();
    let mut config = ModelConfig::aspert(tiny_model::encoder_config(), &types);
    config.mlp_size = 24;
    let pieces = tiny_model::word_pieces(tmp.path());
    let mut t = init_random(&config, pieces, &Device::Cpu, DType::F32, 0).unwrap();
    let cfg = TrainConfig { epochs: 1, lr: 1e-3, ..TrainConfig::default() };
    let data = TrainData { types: &types, train: train_set, dev: Some(dev_set) };
    let out = tmp.path().join("out");
    let report = train(&mut t, &data, &cfg, &out, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let epoch = &report.epochs[0];
    eprintln!(
        "tiny model, 300 CoNLL04 sentences: {:.2} s an epoch ({:.0} sentences/s), dev of 100 in {:.2} s",
        epoch.train_seconds, epoch.sentences_per_second, epoch.eval_seconds
    );
    assert_eq!(epoch.steps, 75);
    assert!(epoch.loss.is_finite() && epoch.dev.is_some() && epoch.saved);
    assert!(out.join("training.json").is_file());
}
