//! Reading, validating and writing the fixture files in tests/fixtures/data through the public
//! API, as the command line and the workbench use it.

use std::path::{Path, PathBuf};

use spanscope::data::{
    read_sentences, validate_file, validate_types_file, write_sentences, Format, Types,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data").join(name)
}

/// Messages with the fixture directory stripped, so they read `FILE: record N: reason`.
fn messages(problems: &[spanscope::data::DataError]) -> Vec<String> {
    let dir = format!("{}/", fixture("").display()).replace("//", "/");
    problems.iter().map(|p| p.to_string().replace(&dir, "")).collect()
}

#[test]
fn good_file_validates_clean_and_round_trips_exactly() {
    let types = Types::read(&fixture("types.json")).unwrap();
    assert!(validate_file(&fixture("good.json"), Some(&types)).is_empty());
    let loaded = read_sentences(&fixture("good.json")).unwrap();
    assert!(loaded.problems.is_empty());
    assert_eq!(loaded.sentences.len(), 2);
    assert_eq!(loaded.sentences[0].tokens[4], "東京");
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [("out.json", Format::Json), ("out.jsonl", Format::JsonLines)] {
        let out = dir.path().join(name);
        write_sentences(&out, &loaded.sentences, format).unwrap();
        assert_eq!(read_sentences(&out).unwrap().sentences, loaded.sentences);
        // Same data, same JSON values as the input: nothing added, nothing lost.
        if format == Format::Json {
            let a: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
            let b: serde_json::Value =
                serde_json::from_slice(&std::fs::read(fixture("good.json")).unwrap()).unwrap();
            assert_eq!(a, b);
        }
    }
}

#[test]
fn mixed_file_loads_what_it_can_and_says_why_not_the_rest() {
    let loaded = read_sentences(&fixture("mixed.json")).unwrap();
    let tokens: Vec<&str> = loaded.sentences.iter().map(|s| s.tokens[0].as_str()).collect();
    assert_eq!(tokens, ["Ann", "Ed", "Flo"]);
    assert_eq!(
        messages(&loaded.problems),
        [
            "mixed.json: record 1: `tokens` must be an array of strings, found string \"Bob left .\"",
            "mixed.json: record 2: entity 1: span [2, 4) is out of range: the record has 3 tokens",
            "mixed.json: record 3: relation 0: `tail` 1 points past the record's 1 entities",
        ]
    );
}

#[test]
fn validation_reports_every_problem_with_types() {
    let types = Types::read(&fixture("types.json")).unwrap();
    assert_eq!(
        messages(&validate_file(&fixture("mixed.json"), Some(&types))),
        [
            "mixed.json: record 1: `tokens` must be an array of strings, found string \"Bob left .\"",
            "mixed.json: record 2: entity 1: span [2, 4) is out of range: the record has 3 tokens",
            "mixed.json: record 3: relation 0: `tail` 1 points past the record's 1 entities",
            // A record with a structural problem still has its type names checked.
            "mixed.json: record 3: relation 0: unknown relation type \"Knows\"",
            "mixed.json: record 4: entity 2: same span [0, 1) and type \"Peop\" as entity 0",
            "mixed.json: record 4: relation 0: head and tail are the same entity (0)",
            "mixed.json: record 4: entity 1: unknown entity type \"City\"",
        ]
    );
    assert!(validate_types_file(&fixture("types.json")).is_empty());
}

#[test]
fn json_lines_report_the_broken_line_and_load_the_others() {
    let loaded = read_sentences(&fixture("broken_line.jsonl")).unwrap();
    assert_eq!(loaded.sentences.len(), 2);
    let m = messages(&loaded.problems);
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("broken_line.jsonl: line 3, column "), "{m:?}");
}

#[test]
fn plain_text_is_split_into_sentences() {
    let loaded = read_sentences(&fixture("story.txt")).unwrap();
    let sentences: Vec<String> = loaded.sentences.iter().map(|s| s.tokens.join(" ")).collect();
    assert_eq!(
        sentences,
        [
            "Mr. Smith moved to the U.S. in 1999 .",
            "He paid $ 1,000.50 for a car !",
            "Ms. Dubois lives in Zürich ; she does n't drive .",
        ]
    );
}
