//! The workbench's screens, rendered from hand-built states with ratatui's `TestBackend`:
//! insta snapshots of the text, plus checks that do not depend on a snapshot (every type label
//! on screen, the heatmap's colours, every key in the help, no colour under NO_COLOR, no panic
//! at any size). Themes: the built-ins parse, errors name file and key, config and NO_COLOR.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use serde_json::{json, Value};
use spanscope::data::annotation::Item;
use spanscope::data::{Entity, EntityType, Relation, RelationType, Sentence, Types};
use spanscope::explain::prediction::{
    FlipSet, Mode as MaskMode, Reading, Target, WordAttribution, Words,
};
use spanscope::explain::{Contribution, Head, HeadGrid, WordAttributions};
use spanscope::store::files::DocumentSource;
use spanscope::store::journal::{JournalEntry, Recovered};
use spanscope::train::agreement::ItemKey;
use spanscope::workbench::adjudication::Comparison;
use spanscope::workbench::keymap::{keys_label, NORMAL};
use spanscope::workbench::sentences::Sentences;
use spanscope::workbench::state::{
    App, Cursor, Document, ExplainKey, Inspector, InspectorView, Level, LoadState, Mode,
    ModelStatus, PickTarget, Picker, Question, SpanKey,
};
use spanscope::workbench::theme::{Theme, ThemeError};
use spanscope::workbench::view::draw;
use spanscope::worker::explanation::{Ablated, Ablation, Explanation, Masked, Sweep, WordMasked};
use spanscope::worker::model::{Inspection, ModelInfo};

// ---------------------------------------------------------------- building states

fn types() -> Types {
    let entity = |name: &str, verbose: &str| EntityType {
        name: name.into(),
        short: name.into(),
        verbose: verbose.into(),
        ..EntityType::default()
    };
    let relation = |name: &str, verbose: &str, symmetric| RelationType {
        name: name.into(),
        short: name.into(),
        verbose: verbose.into(),
        symmetric,
        ..RelationType::default()
    };
    Types {
        entities: vec![
            entity("Peop", "People"),
            entity("Org", "Organization"),
            entity("Loc", "Location"),
            entity("Other", "Other"),
        ],
        relations: vec![
            relation("Work_For", "Work for", false),
            relation("Live_In", "Live in", false),
            relation("OrgBased_In", "Organization based in", false),
            relation("Located_In", "Located in", false),
            relation("Kill", "Kill", false),
            relation("Colleague_Of", "Colleague of", true),
        ],
    }
}

fn model(layers: usize, heads: usize) -> ModelInfo {
    ModelInfo {
        name: "aspert-minilm-conll04".into(),
        dir: PathBuf::from("models/aspert-minilm-conll04"),
        device: "cuda:0".into(),
        types: types(),
        entity_types: types().entities.iter().map(|t| t.name.clone()).collect(),
        layers,
        heads,
        generation: 1,
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(String::from).collect()
}

/// An entity with `extra` keys (`source`, `score`).
fn entity(ty: &str, start: usize, end: usize, extra: Value) -> Entity {
    let mut e = Entity::new(ty, start, end);
    e.extra = extra.as_object().unwrap().clone();
    e
}

fn relation(ty: &str, head: usize, tail: usize, extra: Value) -> Relation {
    let mut r = Relation::new(ty, head, tail);
    r.extra = extra.as_object().unwrap().clone();
    r
}

/// Gold entities, a nested one (Chicago in University of Chicago), a proposal with a score
/// (New York) and one overlapping it (York yesterday); a gold and a proposed relation.
fn main_sentence() -> Sentence {
    let mut s = Sentence::from_tokens(words(
        "John Smith , who works for the University of Chicago , met Mary Jones in New York yesterday .",
    ));
    s.entities = vec![
        entity("Peop", 0, 2, json!({})),
        entity("Org", 7, 10, json!({})),
        entity("Loc", 9, 10, json!({"source": "accepted", "score": 0.88})),
        entity("Peop", 12, 14, json!({"source": "manual"})),
        entity("Loc", 15, 17, json!({"source": "model", "score": 0.93})),
        entity("Other", 16, 18, json!({"source": "model", "score": 0.41})),
    ];
    s.relations = vec![
        relation("Work_For", 0, 1, json!({})),
        relation("Live_In", 3, 4, json!({"source": "model", "score": 0.82})),
    ];
    s
}

fn reviewed(mut s: Sentence) -> Sentence {
    s.extra.insert("reviewed".into(), Value::Bool(true));
    s
}

fn document(id: u64, path: &str, sentences: Vec<Sentence>) -> Document {
    // Rendering never touches the disk, so a fixed relative path keeps snapshots stable.
    let mut d = Document::new(id, DocumentSource::for_path(Path::new(path)).unwrap());
    d.load = LoadState::Loaded;
    d.sentences = Sentences::loaded(sentences);
    d
}

/// Makes sentence `i` an unsaved edit that shows as it is: the file had it without `note`.
fn unsaved(d: &mut Document, i: usize) {
    let now = d.sentences[i].clone();
    let mut on_disk = now.clone();
    on_disk.extra.insert("note".into(), Value::Bool(true));
    let mut sentences = d.sentences.to_vec();
    sentences[i] = on_disk;
    d.sentences = Sentences::loaded(sentences);
    d.sentences.edit(i, now);
}

/// A smooth f_a with its peak at layer `peak.0`, head `peak.1` (0-based) and a second one.
fn contribution(layers: usize, heads: usize, peak: (usize, usize)) -> Contribution {
    let mut values = Vec::new();
    for l in 0..layers {
        for h in 0..heads {
            let d1 =
                (l as f32 - peak.0 as f32).powi(2) / 2.0 + (h as f32 - peak.1 as f32).powi(2) / 8.0;
            let d2 = ((l as f32 - 4.0).powi(2) + (h as f32 - 1.0).powi(2)) / 1.5;
            let v = 0.004 + 0.12 * (-d1).exp() + 0.09 * (-d2).exp();
            values.push((v * 1000.0).round() / 1000.0);
        }
    }
    Contribution { layers, heads, values }
}

fn inspection(start: usize, end: usize, c: Contribution) -> Inspection {
    Inspection {
        start,
        end,
        contribution: c,
        probabilities: vec![
            ("none".into(), 0.04),
            ("Peop".into(), 0.01),
            ("Org".into(), 0.02),
            ("Loc".into(), 0.93),
            ("Other".into(), 0.0),
        ],
    }
}

/// The main state: three documents (one edited, one being predicted, one that failed), the
/// proposal "New York" selected and explained.
pub(crate) fn app() -> App {
    let mut app = App::new(types(), true, ModelStatus::Ready(model(6, 12)));
    let main = main_sentence();
    let second = reviewed(Sentence::from_tokens(words("Acme Corp is based in Boston .")));
    let third = Sentence::from_tokens(words("It rained ."));
    let mut people = document(1, "sample_docs/people.json", vec![main.clone(), second, third]);
    unsaved(&mut people, 0);
    let news_sentences =
        (0..4).map(|_| Sentence::from_tokens(words("Nothing happened ."))).collect();
    let mut news = document(2, "sample_docs/news.json", news_sentences);
    news.predicting = BTreeSet::from([1, 2]);
    let mut broken =
        Document::new(3, DocumentSource::for_path(Path::new("sample_docs/broken.json")).unwrap());
    broken.load = LoadState::Failed(
        "sample_docs/broken.json: record 3, line 14: `entities[0].end` is 9 but the sentence has 7 tokens".into(),
    );
    app.docs = vec![people, news, broken];
    app.cursor =
        Cursor { doc: 0, sentence: 0, token: 15, anchor: None, item: Some(Item::Entity(4)) };
    app.inspector = Inspector {
        key: Some(SpanKey { doc: 1, sentence: 0, start: 15, end: 17, tokens: main.tokens.clone() }),
        request: 1,
        result: Some(Ok(inspection(15, 17, contribution(6, 12, (2, 6))))),
        ..Inspector::default()
    };
    app.say(Level::Info, "accepted “Chicago” as Loc");
    app
}

// ---------------------------------------------------------------- rendering

fn render(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|frame| draw(frame, app, theme)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer's text, one line a row, trailing spaces dropped.
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buf[(x, y)].symbol();
            skip = ratatui::text::Span::raw(symbol).width().saturating_sub(1);
            line.push_str(symbol);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
    text(&render(app, &Theme::builtin("dark").unwrap(), w, h))
}

// ---------------------------------------------------------------- snapshots

#[test]
fn main_screen_80x24() {
    insta::assert_snapshot!(screen(&app(), 80, 24));
}

#[test]
fn main_screen_140x45() {
    insta::assert_snapshot!(screen(&app(), 140, 45));
}

/// Words `[start, end)` of the first occurrence of `phrase` in `tokens`.
fn find(tokens: &[String], phrase: &str) -> (usize, usize) {
    let want = words(phrase);
    let start = tokens.windows(want.len()).position(|w| w == want.as_slice()).expect(phrase);
    (start, start + want.len())
}

#[test]
fn long_sentence_wraps_and_scrolls_to_the_cursor() {
    let mut app = app();
    let long =
        "In a statement released on Tuesday , the spokesman for the Ministry of Foreign Affairs \
                said that the delegation led by Ambassador Maria Gonzalez would arrive in Geneva \
                next week to resume the talks with representatives of the United Nations High \
                Commissioner for Refugees , which had been suspended in March after the incident \
                near the border town of Kilis in southern Turkey , and that the talks , hosted by \
                the Swiss Federal Department of Foreign Affairs , were expected to last three days \
                and to include a visit to the headquarters of the International Committee of the \
                Red Cross in the old town .";
    let mut s = Sentence::from_tokens(words(long));
    let at = |phrase: &str| find(&s.tokens, phrase);
    let spans = [
        ("Org", at("Ministry of Foreign Affairs"), json!({})),
        ("Peop", at("Maria Gonzalez"), json!({})),
        ("Loc", at("Geneva"), json!({})),
        (
            "Org",
            at("United Nations High Commissioner for Refugees"),
            json!({"source": "model", "score": 0.77}),
        ),
        ("Loc", at("Kilis"), json!({"source": "model", "score": 0.66})),
        ("Loc", at("southern Turkey"), json!({})),
        ("Org", at("Swiss Federal Department of Foreign Affairs"), json!({})),
        ("Org", at("International Committee of the Red Cross"), json!({})),
    ];
    s.entities = spans.into_iter().map(|(ty, (a, b), extra)| entity(ty, a, b, extra)).collect();
    let (red, cross) = (at("Red").0, at("Cross").0);
    app.docs[0].sentences.edit(0, s);
    app.cursor = Cursor { doc: 0, sentence: 0, token: cross, anchor: Some(red), item: None };
    let out = screen(&app, 80, 24);
    assert!(out.contains("Red Cross"), "the cursor's line is in view:\n{out}");
    assert!(!out.contains("In a statement"), "the first lines are scrolled away:\n{out}");
    assert!(out.contains("lines"), "the title says which lines are shown:\n{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn help_overlay() {
    let mut app = app();
    app.mode = Mode::Help { scroll: 0 };
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn type_picker() {
    let mut app = app();
    app.cursor = Cursor { doc: 0, sentence: 0, token: 17, anchor: None, item: None };
    let options = app.entity_types();
    app.mode = Mode::Pick(Picker {
        target: PickTarget::NewEntity { start: 17, end: 18 },
        options,
        index: 2,
    });
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn quit_dialog() {
    let mut app = app();
    unsaved(&mut app.docs[1], 0);
    unsaved(&mut app.docs[1], 2);
    app.mode = Mode::Confirm(Question::Quit);
    let out = screen(&app, 80, 24);
    assert!(out.contains("2 documents have unsaved edits"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn recover_dialog() {
    let mut app = app();
    let entry =
        |sentence: usize| JournalEntry::new(sentence, main_sentence(), "add entity", 1_714_572_180);
    let recovered = Recovered {
        path: PathBuf::from("sample_docs/.spanscope/recovery/people.json.journal.jsonl"),
        base: None,
        entries: vec![entry(0), entry(0), entry(1)],
        modified: UNIX_EPOCH + Duration::from_secs(1_714_572_180),
    };
    app.mode = Mode::Confirm(Question::Recover { doc: 1, recovered });
    let out = screen(&app, 80, 24);
    assert!(out.contains("people.json has 3 unsaved edits"), "{out}");
    assert!(out.contains("2024-05-01 14:03 UTC"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn inspector_while_explaining() {
    let mut app = app();
    app.inspector.result = None;
    let out = screen(&app, 80, 24);
    assert!(out.contains("explaining…"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn inspector_with_an_error() {
    let mut app = app();
    app.inspector.result =
        Some(Err("the span is 14 words wide; the model takes spans of at most 10 words".into()));
    let out = screen(&app, 80, 24);
    assert!(out.contains("at most 10 words"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn inspection_of_bert_base_at_80x24() {
    let mut app = app();
    app.model = ModelStatus::Ready(model(12, 12));
    app.inspector.result = Some(Ok(inspection(15, 17, contribution(12, 12, (9, 3)))));
    let out = screen(&app, 80, 24);
    assert!(out.contains("L10·H4"), "the strongest head is listed:\n{out}");
    assert!(out.contains("L10"), "its layer is in view:\n{out}");
    insta::assert_snapshot!(out);
}

/// A reading of the explained label at `p`, the model predicting `predicted`.
fn reading(p: f32, predicted: &str) -> Reading {
    Reading {
        score: p.ln(),
        probability: p,
        predicted: predicted.into(),
        probabilities: inspection(15, 17, contribution(6, 12, (2, 6))).probabilities,
    }
}

/// "New York" explained: importance peaking at L3·H7, the words, the single-head sweep (L3·H7
/// alone flips Loc to none), the flip set and the top head masked.
fn explained(app: &mut App) {
    let tokens = main_sentence().tokens;
    let target = Target::Entity { span: Words::new(15, 17) };
    let importance = contribution(6, 12, (2, 6)).values.iter().map(|v| v * 3.0).collect();
    let importance = HeadGrid { layers: 6, heads: 12, values: importance };
    let top = Head { layer: 2, head: 6 };
    let mut swept: Vec<f32> = vec![0.93; 72];
    swept[2 * 12 + 6] = 0.09;
    swept[4 * 12 + 1] = 0.61;
    let flips: Vec<bool> = swept.iter().map(|p| *p < 0.5).collect();
    let attribution = |w: usize| match tokens[w].as_str() {
        "New" => 0.82,
        "York" => 1.4,
        "in" => 0.31,
        "met" => -0.22,
        "yesterday" => -0.05,
        _ => 0.01,
    };
    let words = WordAttributions {
        words: (0..tokens.len())
            .map(|w| WordAttribution {
                word: w,
                token: tokens[w].clone(),
                attribution: attribution(w),
            })
            .collect(),
        baseline_score: -3.0,
        steps: 16,
    };
    let after = reading(0.09, "none");
    let asked = Ablation { masked: Masked::Top(1), mode: MaskMode::Encoder };
    app.inspector.explain_key =
        Some(ExplainKey { doc: 1, sentence: 0, tokens: tokens.clone(), target: target.clone() });
    // Where a new target puts the word cursor.
    app.inspector.word = 15;
    app.inspector.ablation = Some(asked.clone());
    app.inspector.explanation = Some(Explanation {
        target,
        label: "Loc".into(),
        prediction: reading(0.93, "Loc"),
        contributions: Vec::new(),
        importance: Some(importance),
        words: Some(words),
        sweep: Some(Sweep {
            mode: MaskMode::Encoder,
            probability: HeadGrid { layers: 6, heads: 12, values: swept },
            flips,
        }),
        flip: Some(FlipSet {
            mode: MaskMode::Encoder,
            heads: vec![top],
            flipped: true,
            after: Some(after.clone()),
            passes: 2,
            max_heads: 8,
        }),
        ablation: Some(Ablated { asked, heads: vec![top], after, flips: true }),
        word_masking: None,
    });
}

fn plain_screen(app: &App, w: u16, h: u16) -> String {
    text(&render(app, &Theme::no_color(), w, h))
}

#[test]
fn importance_view() {
    let mut app = app();
    explained(&mut app);
    app.inspector.view = InspectorView::Importance;
    let out = plain_screen(&app, 100, 32);
    assert!(out.contains("· importance"), "the title names the view:\n{out}");
    assert!(out.contains("1 L3·H7"), "the top head is listed:\n{out}");
    assert!(out.contains("|∂s/∂ξ| 0"), "the scale starts at 0:\n{out}");
    assert!(out.contains("+York 1.40"), "the top words are signed:\n{out}");
    assert!(out.contains("P(Loc) .93 → .09 · flips Loc → none"), "before and after:\n{out}");
    assert!(out.contains("masking L3·H7 flips Loc → none"), "the flip set:\n{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn ablation_view_with_the_keys() {
    let mut app = app();
    explained(&mut app);
    app.inspector.view = InspectorView::Ablation;
    app.mode = Mode::Inspect;
    app.inspector.head = Head { layer: 1, head: 2 };
    app.inspector.chosen = BTreeSet::from([Head { layer: 4, head: 1 }]);
    let out = plain_screen(&app, 100, 32);
    assert!(out.contains("P(Loc) masked 0"), "the grid's legend:\n{out}");
    assert!(out.contains("1 single head flips it"), "the sweep's flipping heads:\n{out}");
    assert!(out.contains("INSPECT"), "the mode:\n{out}");
    assert!(out.contains("mask top n"), "the inspector's keys are hinted:\n{out}");
    insta::assert_snapshot!(out);
}

/// The cells of `word` on row `y` of `buf`, where it stands alone.
fn word_cells(buf: &Buffer, y: u16, word: &str) -> Vec<(u16, u16)> {
    let row: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    let n = word.chars().count();
    let at = (1..row.len().saturating_sub(n))
        .find(|&x| row[x - 1] == " " && row[x + n] == " " && row[x..x + n].concat() == word);
    at.map_or_else(Vec::new, |x| (x..x + n).map(|x| (x as u16, y)).collect())
}

#[test]
fn importance_view_with_a_masked_word() {
    let mut app = app();
    explained(&mut app);
    app.inspector.view = InspectorView::Importance;
    app.mode = Mode::Inspect;
    // "New" masked (it takes "New York" from Loc to Other); the word cursor on "York".
    app.inspector.masked_words = BTreeSet::from([15]);
    app.inspector.word = 16;
    app.inspector.explanation.as_mut().unwrap().word_masking =
        Some(WordMasked { words: vec![15], after: reading(0.38, "Other"), flips: true });
    let buf = render(&app, &Theme::no_color(), 100, 32);
    let out = text(&buf);
    let line = "masked words «New» · P(Loc) .93 → .38 · flips Loc → Other";
    assert!(out.contains(line), "before and after:\n{out}");
    assert!(out.contains("what if · masked L3·H7"), "the heads' what-if stays:\n{out}");
    assert!(out.contains("L6 ░░▒▒░░"), "every layer is still shown:\n{out}");
    let masked_row = out.lines().position(|l| l.contains("masked words «")).unwrap();
    let words_row = out.lines().position(|l| l.contains(", met Mary Jones in New York")).unwrap();
    assert!(words_row < masked_row, "{out}");
    let new = word_cells(&buf, words_row as u16, "New");
    let york = word_cells(&buf, words_row as u16, "York");
    assert!(!new.is_empty() && !york.is_empty(), "{out}");
    assert!(new.iter().all(|&c| buf[c].modifier.contains(Modifier::CROSSED_OUT)));
    assert!(!new.iter().any(|&c| buf[c].modifier.contains(Modifier::REVERSED)));
    assert!(york.iter().all(|&c| buf[c].modifier.contains(Modifier::REVERSED)), "the cursor");
    assert!(!york.iter().any(|&c| buf[c].modifier.contains(Modifier::CROSSED_OUT)));
    insta::assert_snapshot!(out);

    // Without the keys there is no word cursor; while the set is asked, it says so.
    app.mode = Mode::Normal;
    app.inspector.masked_words.insert(17);
    let buf = render(&app, &Theme::no_color(), 100, 32);
    let out = text(&buf);
    assert!(out.contains("masked words «New» «yesterday»: computing…"), "{out}");
    let york = word_cells(&buf, words_row as u16, "York");
    assert!(!york.iter().any(|&c| buf[c].modifier.contains(Modifier::REVERSED)), "{out}");
    // An empty set: how to mask one.
    app.inspector.masked_words.clear();
    let out = plain_screen(&app, 100, 32);
    assert!(out.contains("no word masked: [ ] move, w masks the word"), "{out}");
}

#[test]
fn the_masked_words_fit_in_small_terminals_and_their_hint_takes_no_grid_row() {
    let mut app = app();
    explained(&mut app);
    app.mode = Mode::Inspect;
    let masked = "masked words «New» «York» · P(Loc) .93 → .90 · stays Loc";
    for view in [InspectorView::Ablation, InspectorView::Importance] {
        app.inspector.view = view;
        app.inspector.masked_words.clear();
        app.inspector.explanation.as_mut().unwrap().word_masking = None;
        // Nothing masked: the grid keeps every row it had, the hint only takes spare room.
        let roomy = plain_screen(&app, 100, 32);
        assert!(roomy.contains("no word masked: [ ] move, w masks the word"), "{roomy}");
        let small = plain_screen(&app, 80, 24);
        let rows = |out: &str| {
            let row = |l: &str| {
                let mut c = l.rsplit('│').next().unwrap_or(l).trim_start().chars();
                c.next() == Some('L') && c.next().is_some_and(|d| d.is_ascii_digit())
            };
            out.lines().filter(|l| row(l)).count()
        };
        let layers_before = rows(&small);
        assert!(!small.contains("no word masked"), "no room for the hint:\n{small}");
        // Masked: its result is kept, the grid keeps at least four layers and its legend.
        app.inspector.masked_words = BTreeSet::from([15, 16]);
        app.inspector.explanation.as_mut().unwrap().word_masking =
            Some(WordMasked { words: vec![15, 16], after: reading(0.9, "Loc"), flips: false });
        for (w, h) in [(100, 32), (80, 24)] {
            let out = plain_screen(&app, w, h);
            assert!(out.contains(masked), "{view:?} at {w}x{h}:\n{out}");
            assert!(out.contains("masked 0") || out.contains("|∂s/∂ξ| 0"), "legend:\n{out}");
            assert!(rows(&out) >= 4, "{view:?} at {w}x{h}:\n{out}");
            assert!(rows(&out) + 1 >= layers_before, "one grid row at most:\n{out}");
        }
        if view == InspectorView::Importance {
            let small = plain_screen(&app, 80, 24);
            let line = small.lines().position(|l| l.contains("masked words «")).unwrap();
            let what_if = small.lines().position(|l| l.contains("what if · masked L")).unwrap();
            assert!(line < what_if, "the words' result before the heads':\n{small}");
        }
    }
}

#[test]
fn the_help_lists_the_word_keys_of_the_inspector() {
    let mut seen = String::new();
    for scroll in 0..120 {
        let mut app = app();
        app.mode = Mode::Help { scroll };
        seen.push_str(&screen(&app, 80, 24));
    }
    for line in ["[  word cursor left", "]  word cursor right", "w  mask / unmask", "W  unmask"] {
        assert!(seen.contains(line), "help lacks `{line}`");
    }
}

#[test]
fn a_selected_relation_is_explained_as_one() {
    let mut app = app();
    let tokens = main_sentence().tokens;
    let target = Target::Relation {
        head: Words::new(0, 2),
        tail: Words::new(7, 10),
        relation: Some("Work_For".into()),
    };
    app.cursor.item = Some(Item::Relation(0));
    app.inspector.key = None;
    app.inspector.explain_key =
        Some(ExplainKey { doc: 1, sentence: 0, tokens, target: target.clone() });
    let scores = vec![("Work_For".into(), 0.71), ("Live_In".into(), 0.02)];
    app.inspector.explanation = Some(Explanation {
        target,
        label: "Work_For".into(),
        prediction: Reading {
            score: 0.9,
            probability: 0.71,
            predicted: "Work_For".into(),
            probabilities: scores,
        },
        contributions: vec![contribution(6, 12, (2, 6)), contribution(6, 12, (4, 9))],
        importance: None,
        words: None,
        sweep: None,
        flip: None,
        ablation: None,
        word_masking: None,
    });
    let out = plain_screen(&app, 100, 32);
    assert!(out.contains("relation Work_For"), "the title says a relation:\n{out}");
    assert!(out.contains("head “John Smith”"), "{out}");
    assert!(out.contains("model: Work_For .71"), "{out}");
    insta::assert_snapshot!(out);
}

/// The main state against another annotator who has "University of Chicago" as a Loc and
/// neither "Chicago" nor the proposals; their disagreement on it selected.
fn adjudicating() -> App {
    let mut app = app();
    let mut theirs = Sentence::from_tokens(main_sentence().tokens);
    theirs.entities = vec![
        entity("Peop", 0, 2, json!({})),
        entity("Loc", 7, 10, json!({})),
        entity("Peop", 12, 14, json!({})),
        entity("Loc", 15, 17, json!({})),
    ];
    theirs.relations = vec![relation("Work_For", 0, 1, json!({}))];
    let others = vec![
        theirs,
        Sentence::from_tokens(words("Acme Corp is based in Boston .")),
        Sentence::from_tokens(words("It rained .")),
    ];
    app.compare = Some(Comparison {
        name: "bob/people.json".into(),
        documents: vec![("people".into(), others)],
        selected: Some((1, 0, ItemKey::Entity((7, 10)))),
    });
    app.cursor.item = Some(Item::Entity(1));
    app
}

#[test]
fn adjudication_layer_at_80x24() {
    insta::assert_snapshot!(screen(&adjudicating(), 80, 24));
}

#[test]
fn adjudication_layer_at_120x40() {
    let out = screen(&adjudicating(), 120, 40);
    // Their labels and the reviewer's, side by side where they differ.
    assert!(out.contains("Theirs: bob/people.json"), "{out}");
    assert!(out.contains("4 open here · 4 open of 4"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn statistics_overlay_at_80x24() {
    let mut app = app();
    app.mode = Mode::Stats { scroll: 0 };
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn statistics_overlay_at_120x40() {
    let mut app = app();
    app.mode = Mode::Stats { scroll: 0 };
    let out = screen(&app, 120, 40);
    assert!(out.contains("people.json") && out.contains("all 3 open documents"), "{out}");
    assert!(out.contains("reviewed:    1 of 3 sentences"), "{out}");
    assert!(out.contains("Work_For  Peop -> Org"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn failed_document() {
    let mut app = app();
    app.cursor = Cursor { doc: 2, ..Cursor::default() };
    app.inspector = Inspector::default();
    let out = screen(&app, 80, 24);
    assert!(out.contains("`entities[0].end` is 9"), "{out}");
    assert!(out.contains("broken.json"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn no_color_main_screen() {
    let theme = Theme::choose(None, None, Some("1")).unwrap();
    let buf = render(&app(), &theme, 80, 24);
    for cell in &buf.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "coloured cell {cell:?}");
    }
    let out = text(&buf);
    assert!(out.contains('█'), "the heatmap is drawn with shades:\n{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn tiny_terminal() {
    insta::assert_snapshot!(screen(&app(), 20, 5));
}

// ---------------------------------------------------------------- without snapshots

#[test]
fn no_size_and_no_mode_panics() {
    let mut modes = vec![
        Mode::Normal,
        Mode::Help { scroll: 500 },
        Mode::Search("chic".into()),
        Mode::Link { head: 0, tail: 1 },
        Mode::Confirm(Question::Quit),
        Mode::Confirm(Question::DiskChanged { doc: 1 }),
        Mode::Confirm(Question::SaveConflict { doc: 2 }),
    ];
    let options = app().relation_types();
    modes.push(Mode::Pick(Picker {
        target: PickTarget::NewRelation { head: 0, tail: 1 },
        options,
        index: 5,
    }));
    let theme = Theme::builtin("light").unwrap();
    for mode in modes {
        let mut app = app();
        app.mode = mode;
        for w in [0, 1, 2, 5, 9, 20, 33, 60, 99, 100, 101] {
            for h in [0, 1, 2, 3, 4, 7, 12, 30] {
                render(&app, &theme, w, h);
            }
        }
    }
}

#[test]
fn every_entity_type_label_is_on_screen() {
    for (w, h) in [(80, 24), (140, 45)] {
        let out = screen(&app(), w, h);
        for label in ["Peop", "Org", "Loc? .93", "Other? .41"] {
            assert!(out.contains(label), "{label} missing at {w}x{h}:\n{out}");
        }
        // Nested Chicago (Loc) inside University of Chicago (Org), both labelled.
        assert!(out.matches("Loc").count() >= 2, "{out}");
        assert!(out.matches("Peop").count() >= 2, "{out}");
    }
}

#[test]
fn the_hottest_head_gets_the_last_scale_colour() {
    let theme = Theme::builtin("dark").unwrap();
    let last = *theme.scale.last().unwrap();
    let buf = render(&app(), &theme, 80, 24);
    let out = text(&buf);
    let legend = out.lines().position(|l| l.trim_start().starts_with("f_a 0")).unwrap() as u16;
    let hottest: Vec<(u16, u16)> = (0..buf.area.height)
        .filter(|&y| y != legend)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .filter(|&p| buf[p].bg == last)
        .collect();
    // One head, two columns, marked with its rank; nothing else that hot but the legend's end.
    assert_eq!(hottest.len(), 2, "{hottest:?}");
    let (x, y) = hottest[0];
    assert_eq!(hottest[1], (x + 1, y));
    assert_eq!(buf[(x, y)].symbol(), "1");
    assert!(out.contains("L3·H7 .124"), "{out}");
    let row: String = out.lines().nth(usize::from(y)).unwrap().to_string();
    assert!(row.trim_start().starts_with("L3"), "the hottest cell is on layer 3's row: {row}");
}

#[test]
fn the_help_lists_every_key_of_normal_mode() {
    let mut seen = String::new();
    for scroll in 0..120 {
        let mut app = app();
        app.mode = Mode::Help { scroll };
        seen.push_str(&screen(&app, 80, 24));
    }
    for b in NORMAL {
        let line = format!("{}  {}", keys_label(b), b.help);
        assert!(seen.contains(&line), "help lacks `{line}`");
    }
    assert!(seen.contains("1-9  give type n"), "the digits are listed");
    assert!(seen.contains("take it as tail"), "link mode is listed");
}

#[test]
fn hints_end_with_help_and_follow_the_mode() {
    let out = screen(&app(), 80, 24);
    let hints = out.lines().nth(22).unwrap();
    let (keys, message) = hints.split_once("? help").expect(hints);
    assert_eq!(message.trim(), "accepted “Chicago” as Loc", "the message follows: {hints}");
    assert!(keys.contains("a accept") && keys.contains("x reject"), "{hints}");
    let mut app = app();
    app.mode = Mode::Search("chica".into());
    let out = screen(&app, 80, 24);
    assert!(out.lines().nth(22).unwrap().contains("/chica"), "{out}");
}

#[test]
fn relations_show_direction_symmetry_and_proposals() {
    let mut app = app();
    let mut s = app.docs[0].sentences[0].clone();
    s.relations.push(relation("Colleague_Of", 0, 3, json!({"source": "manual"})));
    app.docs[0].sentences.edit(0, s);
    app.cursor.item = Some(Item::Relation(1));
    let out = screen(&app, 140, 45);
    let line = |needle: &str| out.lines().find(|l| l.contains(needle)).unwrap_or("").to_string();
    assert!(line("Work_For").contains('→'), "{out}");
    assert!(line("Live_In?").contains('⇢') && line("Live_In?").contains("proposed .82"), "{out}");
    assert!(line("Colleague_Of").contains('↔'), "{out}");
    assert!(line("Live_In?").contains('▸'), "the selected relation is marked:\n{out}");
    assert!(line("Work_For").contains("“, who works for the”"), "context snippet:\n{out}");
}

#[test]
fn link_mode_marks_head_and_tail() {
    let mut app = app();
    app.cursor.item = None;
    app.mode = Mode::Link { head: 0, tail: 3 };
    let out = screen(&app, 80, 24);
    assert!(out.contains("Peop→") && out.contains("→Peop"), "{out}");
    assert!(out.contains("Enter: pick its type"), "{out}");
}

#[test]
fn the_current_document_name_is_always_visible() {
    let mut app = app();
    for i in 0..12 {
        let name = format!("sample_docs/interview-transcript-{i}.json");
        app.docs.push(document(10 + i, &name, vec![main_sentence()]));
    }
    app.cursor = Cursor { doc: 6, ..Cursor::default() };
    for w in [80, 100, 140] {
        let out = screen(&app, w, 24);
        let first = out.lines().take(20).collect::<Vec<_>>().join("\n");
        assert!(first.contains("interview-transcript-3.json"), "at {w}:\n{out}");
    }
}

// ---------------------------------------------------------------- themes

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_builtin_themes_parse() {
    for name in ["dark", "light", "colorblind"] {
        let from_file = Theme::from_file(&manifest(&format!("themes/{name}.toml"))).unwrap();
        let builtin = Theme::builtin(name).expect(name);
        assert_eq!(from_file.palette, builtin.palette);
        assert_eq!(builtin.name, name);
        assert!(builtin.scale.len() >= 2 && !builtin.palette.is_empty());
        assert_eq!(
            builtin.entity_color(builtin.palette.len()),
            builtin.palette[0],
            "palette cycles"
        );
    }
    assert!(Theme::builtin("neon").is_none());
}

#[test]
fn a_bad_colour_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let dark = std::fs::read_to_string(manifest("themes/dark.toml")).unwrap();
    let path = dir.path().join("x.toml");
    std::fs::write(&path, dark.replace("\"#1e1f29\", \"#2b3a67\"", "\"#12\", \"#2b3a67\""))
        .unwrap();
    let err = Theme::from_file(&path).unwrap_err();
    let expected = format!("{}: [heatmap] scale: \"#12\" is not a colour", path.display());
    assert!(err.to_string().starts_with(&expected), "{err}");
    assert!(matches!(err, ThemeError::Colour { .. }));
    std::fs::write(&path, dark.replace("status_ok = \"#8fd18f\"\n", "")).unwrap();
    let err = Theme::from_file(&path).unwrap_err().to_string();
    assert_eq!(err, format!("{}: [ui] status_ok: missing", path.display()));
    std::fs::write(&path, "[ui\n").unwrap();
    assert!(Theme::from_file(&path)
        .unwrap_err()
        .to_string()
        .starts_with(&path.display().to_string()));
}

#[test]
fn named_colours_work_in_theme_files() {
    let dir = tempfile::tempdir().unwrap();
    let dark = std::fs::read_to_string(manifest("themes/dark.toml")).unwrap();
    let path = dir.path().join("named.toml");
    std::fs::write(&path, dark.replace("border = \"#44475a\"", "border = \"bright_black\""))
        .unwrap();
    assert_eq!(Theme::from_file(&path).unwrap().border.fg, Some(Color::DarkGray));
}

#[test]
fn flag_then_config_then_dark_and_no_color_wins() {
    let config = tempfile::tempdir().unwrap();
    // No config file: dark.
    assert_eq!(Theme::choose(None, Some(config.path()), None).unwrap().name, "dark");
    assert_eq!(Theme::choose(None, None, None).unwrap().name, "dark");
    std::fs::create_dir(config.path().join("spanscope")).unwrap();
    std::fs::write(config.path().join("spanscope/config.toml"), "theme = \"light\"\n").unwrap();
    assert_eq!(Theme::choose(None, Some(config.path()), None).unwrap().name, "light");
    // The flag beats the config file; it may be a path.
    assert_eq!(
        Theme::choose(Some("colorblind"), Some(config.path()), None).unwrap().name,
        "colorblind"
    );
    let file = manifest("themes/light.toml");
    assert_eq!(Theme::choose(Some(file.to_str().unwrap()), None, None).unwrap().name, "light");
    assert!(matches!(Theme::choose(Some("neon"), None, None), Err(ThemeError::Unknown(_))));
    // A theme file named in the config is found next to it.
    let mine = std::fs::read_to_string(manifest("themes/dark.toml"))
        .unwrap()
        .replace("name = \"dark\"", "name = \"mine\"");
    std::fs::write(config.path().join("spanscope/mine.toml"), mine).unwrap();
    std::fs::write(config.path().join("spanscope/config.toml"), "theme = \"mine.toml\"\n").unwrap();
    assert_eq!(Theme::choose(None, Some(config.path()), None).unwrap().name, "mine");
    // NO_COLOR, when set and not empty, wins over everything.
    assert!(Theme::choose(Some("light"), Some(config.path()), Some("1")).unwrap().colourless);
    assert!(Theme::choose(None, Some(config.path()), Some("yes")).unwrap().colourless);
    assert!(!Theme::choose(None, Some(config.path()), Some("")).unwrap().colourless);
}
