//! The CLI under hostile input: impossible settings, special files, a types file where
//! documents belong (issue 22, docs/RELIABILITY.md).

use crate::binary::{path, spanscope, stderr, stdout};

#[test]
fn impossible_training_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = path(dir.path());
    let base = ["train", "--train", d, "--types", d, "--encoder", d, "--out", d];
    for (flag, value, reason) in [
        ("--batch-size", "0", "must be at least 1"),
        ("--epochs", "0", "must be at least 1"),
        ("--lr", "NaN", "must be a finite number above 0"),
        ("--lambda", "-1", "must be a finite number above 0"),
        ("--threshold", "2", "is not in [0, 1)"),
        ("--threshold", "NaN", "is not in [0, 1)"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        let out = spanscope(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(reason), "{flag} {value}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn special_files_are_errors_naming_them_not_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("new.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = dir.path().join("zero.jsonl");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (file, kind) in [(&fifo, "a named pipe (FIFO)"), (&zero, "a device")] {
        // validate lists problems on stdout, one per line, and the count on stderr.
        let out = spanscope(&["validate", path(file)]);
        let err = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(&format!("{}: {kind}, not a file", file.display())), "{err}");
        let out = spanscope(&["annotate", path(file)]);
        let err = stderr(&out);
        assert!(err.contains(&format!("{}: {kind}, not a file", file.display())), "{err}");
    }
}

#[test]
fn a_types_file_given_as_documents_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("labels.json");
    std::fs::write(&types, r#"{"entities": {}, "relations": {}}"#).unwrap();
    let out = spanscope(&["annotate", path(&types)]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}: a types file", types.display())), "{err}");
}

#[test]
fn a_span_past_the_encoders_limit_is_a_reason_without_a_backtrace() {
    let text: Vec<String> = (0..1400).map(|i| format!("word{i}")).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanscope"))
        .args(["heads", "--text", &text.join(" "), "--span", "1000:1002"])
        .env("RUST_BACKTRACE", "1")
        .env_remove("SPANSCOPE_MODEL")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("words 1000..1002 are not a span of the"), "{err}");
    assert!(err.contains("encoder's limit"), "{err}");
    // candle attaches a backtrace to its errors when RUST_BACKTRACE is set; users get the reason.
    assert!(!err.contains("candle_core") && err.lines().count() == 1, "{err}");
}

#[test]
fn predict_keeps_extra_numbers_as_written_and_validate_names_a_key_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"tokens":["Ann","sleeps","."],"big":123456789012345678901234567890,"z":-0,"f":0.1}"#,
            "\n",
            r#"{"tokens":["Bob","naps","."],"orig_id":1,"orig_id":2}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = spanscope(&["predict", "--input", path(&input)]);
    let written = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        written.contains(r#""big":123456789012345678901234567890,"z":-0,"f":0.1"#),
        "{written}"
    );
    // The record whose key is given twice is reported and left out, not written with one value.
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(written.lines().count(), 1, "{written}");
    let err = stderr(&out);
    assert!(
        err.contains("record 1 (line 2)") && err.contains(r#"the key "orig_id" appears twice"#),
        "{err}"
    );

    let out = spanscope(&["validate", path(&input)]);
    let report = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains(r#"record 1 (line 2): the key "orig_id" appears twice"#), "{report}");
}
