//! One vocabulary across commands: each `--help` lists only the options its command uses,
//! spans are numbered from 1 as the workbench numbers them, and the old spellings still work.

use crate::binary::{path, spanscope, stderr, stdout};
use crate::commands::tiny_checkpoint;

fn help(command: &str) -> String {
    let out = spanscope(&[command, "--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn only_the_commands_that_run_a_model_list_the_device_options() {
    for command in ["validate", "types", "stats", "convert", "compare", "config"] {
        let text = help(command);
        for flag in ["--device", "--tf32", "--no-cuda-graphs"] {
            assert!(!text.contains(flag), "`{command} --help` lists {flag}:\n{text}");
        }
    }
    for command in ["annotate", "predict", "heads", "explain", "train", "eval", "calibrate"] {
        let text = help(command);
        for flag in ["--device", "--tf32", "--no-cuda-graphs"] {
            assert!(text.contains(flag), "`{command} --help` does not list {flag}");
        }
    }
}

#[test]
fn the_device_is_read_after_the_command_and_before_it_as_it_once_was() {
    for args in [
        &["predict", "--device", "tpu", "--input", "x.json"][..],
        &["--device", "tpu", "predict", "--input", "x.json"][..],
    ] {
        let out = spanscope(args);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("expected auto, cpu, cuda or cuda:N"), "{}", stderr(&out));
    }
}

#[test]
fn replay_flags_say_what_they_take_and_the_old_names_still_parse() {
    let train = help("train");
    assert!(
        train.contains("--replay-file <FILE>") && train.contains("--replay-size <N>"),
        "{train}"
    );
    assert!(!train.contains("--replay <"), "the old name is hidden:\n{train}");
    assert!(help("annotate").contains("--replay-size <N>"));
    // `train --replay FILE` still reads: it fails only for want of --continue-from.
    let out = spanscope(&["train", "--replay", "old.jsonl", "--types", "t.json"]);
    let err = stderr(&out);
    assert!(err.contains("--continue-from"), "{err}");
    assert!(!err.contains("unexpected argument"), "{err}");
}

#[test]
fn spans_are_words_from_one_and_the_old_offsets_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(dir.path());
    let heads = |span: &str| {
        let text = "John Smith works for Acme in Paris.";
        spanscope(&["heads", "--model", path(&model), "--text", text, "--span", span])
    };
    for span in ["1-2", "0:2"] {
        let out = heads(span);
        assert!(out.status.success(), "{span}: {}", stderr(&out));
        assert!(stdout(&out).starts_with("words 1-2 \"John Smith\""), "{}", stdout(&out));
    }
    let out = heads("0-1");
    assert!(stderr(&out).contains("words are numbered from 1"), "{}", stderr(&out));
    let out = heads("7-9");
    assert!(stderr(&out).contains("the text has 8 words (1-8)"), "{}", stderr(&out));
}
