//! `spanscope config` (the workbench's settings file) and `spanscope validate DIR`.

use crate::binary::{path, spanscope, stderr, stdout};

#[test]
fn the_default_settings_are_written_out_and_check_clean() {
    let out = spanscope(&["config", "--default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "[review]",
        "[keys]",
        "[keys.picker]",
        "[keys.link]",
        "[keys.help_screen]",
        "[keys.search_prompt]",
        "[keys.anywhere]",
        "quit = \"q\"",
        "quit = \"Ctrl-c\"",
        "type_1",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, &text).unwrap();
    let out = spanscope(&["config", "--check", path(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no problems"));
}

#[test]
fn a_bad_settings_file_is_named_with_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[keys]\nsave = \"q\"\n").unwrap();
    let out = spanscope(&["config", "--check", path(&file)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("config.toml") && err.contains("q is bound to both"), "{err}");
}

#[test]
fn validate_takes_a_folder_and_checks_its_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"[{"tokens": ["Ann", "visits", "Oslo"], "entities": [], "relations": []}]"#;
    std::fs::write(dir.path().join("a.json"), good).unwrap();
    std::fs::write(dir.path().join("b.jsonl"), r#"{"tokens": ["x"], "entities": [{"type": "Loc", "start": 0, "end": 4}], "relations": []}"#).unwrap();
    std::fs::copy("sample_docs/types.json", dir.path().join("types.json")).unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a dataset").unwrap();
    let out = spanscope(&["validate", path(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("b.jsonl") && !report.contains("a.json:"), "{report}");
    assert!(!report.contains("types.json") && !report.contains("notes.md"), "{report}");
}
