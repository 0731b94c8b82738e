//! The filter line typed as keys: `n` / `N` stepping through its matches across sentences and
//! documents, its errors with their column, the document list's counts; and the search, case
//! and accents folded.

use crate::pointer::{frame, two_documents};
use crate::support::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use spanscope::data::annotation::Item;
use spanscope::workbench::state::{App, Level, Mode};
use spanscope::workbench::update::{update, Msg};

/// Types `text` into the line that is open, character by character (`<` is a character here).
fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, Msg::key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
}

fn message(app: &App) -> (Level, String) {
    app.message.clone().expect("a message")
}

fn filtered() -> App {
    let reviewed = {
        let mut s = gold();
        s.extra.insert("reviewed".into(), json!(true));
        s
    };
    let manual = sentence(json!({
        "tokens": ["Ana", "Weiß", "runs", "Café", "Nord", "."],
        "entities": [{"type": "Org", "start": 3, "end": 5, "source": "manual"}]
    }));
    app_with(vec![proposed(), reviewed, plain(), manual, proposed()])
}

#[test]
fn the_filter_line_steps_through_its_matches_across_sentences() {
    let mut app = filtered();
    press(&mut app, "|");
    typed(&mut app, "type:Org,Loc source:model score<.5");
    press(&mut app, "<Enter>");
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!((app.cursor.sentence, app.cursor.item), (0, Some(Item::Entity(1))));
    assert_eq!(
        message(&app).1,
        "filter type:Org,Loc source:model score<.5: match 1 of 2 (doc.json)"
    );
    press(&mut app, "n");
    assert_eq!((app.cursor.sentence, app.cursor.item), (4, Some(Item::Entity(1))));
    press(&mut app, "n");
    assert_eq!(app.cursor.sentence, 0, "round to the first");
    press(&mut app, "N");
    assert_eq!(app.cursor.sentence, 4);

    press(&mut app, "|");
    assert!(
        matches!(&app.mode, Mode::Filter(line) if line == "type:Org,Loc source:model score<.5")
    );
    press(&mut app, "<Esc>");
    assert!(app.filter.is_some(), "Esc keeps the filter in force");

    // Two matches in one sentence: n goes to the second before leaving it.
    app.filter = None;
    press(&mut app, "g|source:model<Enter>");
    assert_eq!(app.cursor.item, Some(Item::Entity(0)), "Peop first, by position");
    press(&mut app, "n");
    assert_eq!((app.cursor.sentence, app.cursor.item), (0, Some(Item::Entity(2))));
    press(&mut app, "nn");
    assert_eq!((app.cursor.sentence, app.cursor.item), (0, Some(Item::Relation(0))));
    press(&mut app, "n");
    assert_eq!(app.cursor.sentence, 4);

    press(&mut app, "|<C-u>reviewed:yes<Enter>");
    assert_eq!((app.cursor.sentence, app.cursor.item), (1, None));
    assert!(message(&app).1.contains("match 1 of 1"), "{:?}", message(&app));
    press(&mut app, "|<C-u>source:manual<Enter>");
    assert_eq!((app.cursor.sentence, app.cursor.item), (3, Some(Item::Entity(0))));
}

#[test]
fn a_wrong_filter_says_where_and_stays_open_to_be_fixed() {
    let mut app = filtered();
    press(&mut app, "|type:Org sorce:model<Enter>");
    assert!(matches!(&app.mode, Mode::Filter(line) if line == "type:Org sorce:model"));
    let (level, text) = message(&app);
    assert_eq!(level, Level::Error);
    assert!(text.starts_with("filter, column 10: \"sorce:\" is no key"), "{text}");
    let screen = frame(&mut app, 120, 40);
    assert!(screen.contains("filter: type:Org sorce:model"), "{screen}");
    assert!(screen.contains("column 10"), "the error is on screen:\n{screen}");
    press(&mut app, &"<Bksp>".repeat(11));
    assert!(app.message.is_none(), "editing the line clears the error");
    press(&mut app, "source:manual<Enter>");
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.cursor.sentence, 3);

    press(&mut app, "|<C-u>rel:Nope<Enter>");
    assert_eq!(message(&app).0, Level::Warning);
    assert!(message(&app).1.contains("matches nothing"));
    press(&mut app, "|");
    press(&mut app, &"<Bksp>".repeat(20));
    press(&mut app, "<Enter>");
    assert!(app.filter.is_none(), "an empty line ends the filter");
    assert!(message(&app).1.starts_with("filter off"));
}

#[test]
fn the_document_list_counts_the_matches_and_a_search_ends_the_filter() {
    let mut app = two_documents();
    press(&mut app, "|source:gold<Enter>");
    let screen = frame(&mut app, 120, 30);
    let list: Vec<&str> = screen.lines().filter(|l| l.contains(".json")).collect();
    assert!(list.iter().any(|l| l.contains("doc.json") && l.contains("[3]")), "{screen}");
    assert!(list.iter().any(|l| l.contains("other.json") && l.contains("[0]")), "{screen}");
    assert!(screen.contains("filter source:gold"), "the status line says it:\n{screen}");
    press(&mut app, "/acme<Enter>");
    assert!(app.filter.is_none());
    assert!(message(&app).1.contains("match 1 of"), "{:?}", message(&app));
}

#[test]
fn search_folds_case_and_accents() {
    let mut app = filtered();
    press(&mut app, "/cafe nord<Enter>");
    assert_eq!((app.cursor.sentence, app.cursor.token), (3, 3));
    press(&mut app, "/WEISS<Enter>");
    assert_eq!((app.cursor.sentence, app.cursor.token), (3, 1));
    assert!(message(&app).1.contains("match 1 of 1"), "{:?}", message(&app));
}
