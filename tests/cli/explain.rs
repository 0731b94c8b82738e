//! `spanscope explain` as a user runs it, on the bundled CoNLL04 model: the JSON and the
//! report of a real prediction, the SVG, the corpus view and the errors.
//! Few integration steps (`--steps 2`) and few sentences keep it fast; the numbers
//! themselves are tested in the library.

use crate::shared_data::conll04_dev;

use std::path::Path;

use crate::binary::{path, spanscope, stderr, stdout};
use serde_json::Value;

/// A sentence with a Work_For relation between spans 1:3 and 8:11 in the bundled model's eyes.
const TEXT: &str = "Dr. Amara Okafor , who works for the Lagos Port Authority , lives in Ikoyi .";

/// A CoNLL04 dev sentence whose word 6 ("Chisholm") the bundled model calls Loc (P .52), and
/// masking L3·H9 alone in the encoder flips to none (found by sweeping dev's gold entities).
const ENTITY_TEXT: &str = "Composer Thomas is a native of Chisholm , Minn .";

/// Its explanation with L3·H9 masked, two integration steps.
const ENTITY_ABLATION: [&str; 9] =
    ["explain", "--text", ENTITY_TEXT, "--span", "6:7", "--ablate", "3.9", "--steps", "2"];

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(&stdout(out)).expect("one JSON object")
}

fn is_l3h9(v: &Value) -> bool {
    v["layer"] == 2 && v["head"] == 8
}

#[test]
fn json_of_a_real_entity_has_the_l3h9_flip_and_the_ablation_in_both_modes() {
    let out = spanscope(&[&ENTITY_ABLATION[..], &["--json"]].concat());
    let v = json_of(&out);
    assert_eq!(v["target"]["kind"], "entity");
    assert_eq!(v["target"]["span"]["start"], 6);
    assert_eq!(v["label"], "Loc");
    assert_eq!(v["prediction"]["predicted"], "Loc");
    let grid = &v["importance"];
    let cells = grid["layers"].as_u64().unwrap() * grid["heads"].as_u64().unwrap();
    assert_eq!(grid["values"].as_array().unwrap().len() as u64, cells);

    let encoder = &v["modes"]["encoder"];
    let flips = encoder["sweep"]["flips"].as_array().unwrap();
    let l3h9 = flips.iter().find(|f| is_l3h9(&f["head"])).expect("L3·H9 flips alone");
    assert_eq!(l3h9["name"], "L3·H9");
    assert_eq!(l3h9["reading"]["predicted"], "none");
    assert_eq!(l3h9["flips"], true);
    let set = &encoder["flip_set"];
    assert_eq!(set["flipped"], true);
    assert_eq!(set["heads"].as_array().unwrap().len(), 1, "{set}");
    assert_eq!(set["after"]["predicted"], "none");
    assert!(v["modes"]["f_a"]["flip_set"]["flipped"].is_boolean());
    // A mode is written as the command line names it.
    assert_eq!(set["mode"], "encoder");
    assert_eq!(v["modes"]["f_a"]["flip_set"]["mode"], "f_a");

    let ablation = &v["ablation"];
    assert!(is_l3h9(&ablation["heads"][0]["head"]));
    assert_eq!(ablation["modes"]["encoder"]["flips"], true);
    assert_eq!(ablation["modes"]["encoder"]["reading"]["predicted"], "none");
    assert!(ablation["modes"]["f_a"]["reading"]["probability"].is_number());

    let words = v["words"]["words"].as_array().unwrap();
    assert_eq!(words.len(), v["tokens"].as_array().unwrap().len());
    assert_eq!(v["words"]["steps"], 2);
    assert!(!v["word_masking"].as_array().unwrap().is_empty());
    assert_eq!(v["contribution"].as_array().unwrap().len(), 1);
}

#[test]
fn the_report_and_the_svg_of_a_relation_name_its_spans_and_heads() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("maps.svg");
    let out = spanscope(&[
        "explain",
        "--text",
        TEXT,
        "--relation",
        "1:3,8:11",
        "--ablate",
        "3.9,4.9",
        "--steps",
        "2",
        "--svg",
        path(&svg),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for expected in [
        "[Amara Okafor]₁",
        "[Lagos Port Authority]₂",
        "Work_For logit",
        "vs α .40",
        "head importance",
        "  L6 ",
        "smallest flip set",
        "words replaced by [MASK]",
        "masking L3·H9, L4·H9 (2 heads):",
        "in the encoder",
        "on f_a only",
    ] {
        assert!(report.contains(expected), "no {expected:?} in\n{report}");
    }

    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let labels: Vec<&str> =
        doc.descendants().filter(|n| n.is_element()).filter_map(|n| n.text()).collect();
    for expected in ["L1", "L6", "H1", "H12", "Okafor", "Authority"] {
        assert!(labels.contains(&expected), "no label {expected:?} in the SVG");
    }
    // Two f_a maps (head and tail) and the importance map.
    assert_eq!(labels.iter().filter(|t| t.starts_with("f_a of")).count(), 2);
    assert!(labels.iter().any(|t| t.contains("\"Amara Okafor\" → \"Lagos Port Authority\"")));
}

#[test]
fn the_report_of_an_entity_ablation_says_the_encoder_flips() {
    let out = spanscope(&[&ENTITY_ABLATION[..], &["--mode", "both"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("masking L3·H9 flips Loc → none (P .52 → .33)"), "{report}");
    let ablation = report.split("masking L3·H9 (1 head):").nth(1).expect(&report);
    let encoder = ablation.lines().find(|l| l.contains("in the encoder")).unwrap();
    assert!(encoder.contains("Loc → none") && encoder.ends_with("flips"), "{encoder}");
    assert!(ablation.lines().any(|l| l.contains("on f_a only") && l.contains("Loc →")));
}

#[test]
fn dataset_view_gives_means_for_the_types_present() {
    let dev = conll04_dev();
    if !dev.is_file() {
        eprintln!("skipped: {} is not here", dev.display());
        return;
    }
    let out = spanscope(&["explain", "--dataset", path(&dev), "--limit", "2", "--json"]);
    let v = json_of(&out);
    assert_eq!(v["sentences"], 2);
    let gold: Value = serde_json::from_str(&std::fs::read_to_string(&dev).unwrap()).unwrap();
    let count = |kind: &str, ty: &str| {
        gold.as_array().unwrap()[..2]
            .iter()
            .flat_map(|s| s[kind].as_array().unwrap().iter())
            .filter(|x| x["type"] == ty)
            .count() as u64
    };
    for (kind, types) in [("entities", &v["entities"]), ("relations", &v["relations"])] {
        let types = types.as_array().unwrap();
        assert!(!types.is_empty(), "no {kind} means");
        for t in types {
            let name = t["type"].as_str().unwrap();
            assert_eq!(t["count"].as_u64().unwrap(), count(kind, name), "{kind} {name}");
            let values = t["mean"]["values"].as_array().unwrap();
            assert_eq!(values.len(), 72);
            assert!(values.iter().all(|x| x.as_f64().unwrap() >= 0.0));
            assert_eq!(t["top_heads"].as_array().unwrap().len(), 5);
        }
    }
    assert_eq!(v["skipped"]["sentences_too_long"], 0);
}

#[test]
fn bad_inputs_are_refused_with_the_reason() {
    let cases: [(&[&str], &str); 8] = [
        (&["--span", "5:3"], "START must be less than END"),
        (&["--span", "5-3"], "FIRST must not come after LAST"),
        (&["--relation", "2-3,9-11,Marries"], "no relation type \"Marries\""),
        (&["--span", "1:40"], "the text has 16 words"),
        (&["--relation", "1:3,8:11,Marries"], "no relation type \"Marries\""),
        (&["--relation", "1:3"], "expected HEAD,TAIL[,TYPE]"),
        (&["--span", "1:3", "--ablate", "7.1"], "outside the model's 6 layers x 12 heads"),
        (&["--span", "1:3", "--ablate-layer", "9"], "the model has layers 1 to 6"),
    ];
    for (args, reason) in cases {
        let mut all = vec!["explain", "--text", TEXT];
        all.extend_from_slice(args);
        let out = spanscope(&all);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(reason), "{args:?}: no {reason:?} in {}", stderr(&out));
    }
    let out = spanscope(&["explain", "--text", TEXT]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--span FIRST-LAST or --relation"), "{}", stderr(&out));
    let out = spanscope(&["explain", "--dataset", "/nonexistent/dev.json"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/dev.json"), "{}", stderr(&out));
}

#[test]
fn compare_model_shows_the_heads_a_changed_model_uses_differently() {
    let dev = conll04_dev();
    if !dev.is_file() {
        eprintln!("skipped: {} is not here", dev.display());
        return;
    }
    // A second model: the bundled one with L3·H9's columns of the attention output projection
    // zeroed, so its gate cannot move any score and its mean importance is exactly 0.
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm");
    let other = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&bundled).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, other.path().join(from.file_name().unwrap())).unwrap();
    }
    let weights = other.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu).unwrap();
    let name = "bert.encoder.layer.2.attention.output.dense.weight";
    let w = tensors[name].to_dtype(candle_core::DType::F32).unwrap();
    let (rows, cols) = w.dims2().unwrap();
    let d = cols / 12;
    let keep: Vec<f32> = (0..cols).map(|c| if c / d == 8 { 0.0 } else { 1.0 }).collect();
    let keep = candle_core::Tensor::from_vec(keep, (1, cols), &candle_core::Device::Cpu).unwrap();
    let zeroed = w.broadcast_mul(&keep).unwrap().to_dtype(tensors[name].dtype()).unwrap();
    assert_eq!(zeroed.dims(), [rows, cols]);
    tensors.insert(name.to_string(), zeroed);
    candle_core::safetensors::save(&tensors, &weights).unwrap();

    let run = |second: &Path| {
        json_of(&spanscope(&[
            "explain",
            "--dataset",
            path(&dev),
            "--limit",
            "2",
            "--json",
            "--compare-model",
            path(second),
        ]))
    };
    let l3h9 = 2 * 12 + 8;
    let v = run(other.path());
    let compare = &v["compare"];
    let mut seen = 0;
    for kind in ["entities", "relations"] {
        let first = v[kind].as_array().unwrap();
        let second = compare["means"][kind].as_array().unwrap();
        let changes = compare["changes"][kind].as_array().unwrap();
        assert_eq!(first.len(), second.len(), "{kind}: the same types in both");
        assert_eq!(changes.len(), first.len(), "{kind}: a change list per type");
        for ((a, b), c) in first.iter().zip(second).zip(changes) {
            let ty = &a["type"];
            let before = a["mean"]["values"][l3h9].as_f64().unwrap();
            assert_eq!(b["mean"]["values"][l3h9].as_f64().unwrap(), 0.0, "{kind} {ty}");
            assert_eq!(&c["type"], ty);
            // The largest changes are listed first, each as after - before.
            let listed = c["changes"].as_array().unwrap();
            let sizes: Vec<f64> =
                listed.iter().map(|x| x["value"].as_f64().unwrap().abs()).collect();
            assert!(sizes.windows(2).all(|p| p[0] >= p[1]), "{kind} {ty}: {sizes:?}");
            for x in listed {
                let (was, now) = (x["before"].as_f64().unwrap(), x["after"].as_f64().unwrap());
                assert!((x["value"].as_f64().unwrap() - (now - was)).abs() < 1e-6);
            }
            if before > sizes[0] * 0.999 {
                let top = &listed[0];
                assert_eq!(top["name"], "L3·H9", "{kind} {ty}: L3·H9 lost most and is not first");
            }
            if listed.iter().any(|x| x["name"] == "L3·H9") {
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "L3·H9 is among no type's changes: {compare}");
    // Against itself, nothing changes.
    let same = run(&bundled);
    for kind in ["entities", "relations"] {
        for c in same["compare"]["changes"][kind].as_array().unwrap() {
            for x in c["changes"].as_array().unwrap() {
                assert_eq!(x["value"].as_f64().unwrap(), 0.0, "{kind}: {x}");
            }
        }
    }
}
