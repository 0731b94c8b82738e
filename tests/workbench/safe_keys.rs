//! Keys that do only what they say: a stray digit creates nothing, marking reviewed never
//! accepts behind the reviewer's back, accept and reject move on to the next open proposal,
//! a quick `Esc 0` is two keys, and the config file remaps any key. No key edits a document
//! without an undo entry.

use crate::support::*;
use proptest::prelude::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use spanscope::data::annotation::Item;
use spanscope::workbench::config;
use spanscope::workbench::keymap::split_escape;
use spanscope::workbench::state::Mode;
use spanscope::workbench::update::{update, Msg};

fn message(app: &spanscope::workbench::state::App) -> String {
    app.message.as_ref().map(|m| m.1.clone()).unwrap_or_default()
}

#[test]
fn a_digit_with_nothing_selected_only_hints() {
    let mut app = app_with(vec![plain()]);
    assert!(press(&mut app, "llll3").is_empty(), "no edit, no journal");
    assert!(entities(&app, 0).is_empty());
    assert!(message(&app).contains("nothing selected for type 3"), "{}", message(&app));
    assert_eq!(app.history.undo_len(), 0);
    press(&mut app, "v3");
    assert_eq!(entities(&app, 0), vec![("Loc".into(), 4, 5, Some("manual".into()))]);
}

#[test]
fn marking_reviewed_with_open_proposals_refuses_and_selects_the_first() {
    let mut app = app_with(vec![proposed(), plain()]);
    assert!(press(&mut app, "<Enter>").is_empty());
    assert!(!sent(&app, 0).extra.contains_key("reviewed"));
    assert_eq!(app.cursor.sentence, 0, "stays on the sentence");
    assert_eq!(app.cursor.item, Some(Item::Entity(0)), "John Smith comes first");
    assert!(message(&app).contains("4 proposal(s) still open"), "{}", message(&app));
    press(&mut app, "r");
    assert!(!sent(&app, 0).extra.contains_key("reviewed"), "r refuses too");

    press(&mut app, "A");
    assert!(message(&app).contains("accepted 4 open proposal(s)"), "{}", message(&app));
    press(&mut app, "<Enter>");
    assert_eq!(sent(&app, 0).extra.get("reviewed"), Some(&json!(true)));
    assert_eq!(app.cursor.sentence, 1, "then moves on");
    press(&mut app, "uu");
    assert_eq!(*sent(&app, 0), proposed());
}

#[test]
fn the_config_can_let_review_accept_what_is_open() {
    let mut app = app_with(vec![proposed(), plain()]);
    let text = "[review]\naccept_open_proposals = true\n";
    app.review_accepts =
        config::parse(text, std::path::Path::new("c.toml")).unwrap().accept_open_proposals;
    press(&mut app, "<Enter>");
    assert_eq!(sent(&app, 0).extra.get("reviewed"), Some(&json!(true)));
    assert!(entities(&app, 0).iter().all(|e| e.3.as_deref() == Some("accepted")));
    assert!(message(&app).contains("accepted 4 open"), "{}", message(&app));
}

#[test]
fn accept_and_reject_move_to_the_next_open_proposal() {
    // Reading order: John Smith (0), Acme (2), Paris (1), then the relation.
    let mut app = app_with(vec![proposed()]);
    press(&mut app, "<Tab>a");
    assert_eq!(app.cursor.item, Some(Item::Entity(2)), "Acme is next");
    assert!(message(&app).contains("3 open left"), "{}", message(&app));
    press(&mut app, "x");
    // Acme went, and with it the relation on it; Paris is now entity 1.
    assert_eq!(entities(&app, 0).len(), 2);
    assert_eq!(app.cursor.item, Some(Item::Entity(1)), "Paris is next");
    press(&mut app, "a");
    assert_eq!(app.cursor.item, None, "nothing open is left");
    assert!(message(&app).contains("no open proposal left"), "{}", message(&app));
}

#[test]
fn a_quick_escape_then_zero_is_two_keys_not_alt_zero() {
    let alt_zero = KeyEvent::new(KeyCode::Char('0'), KeyModifiers::ALT);
    let keys = split_escape(alt_zero);
    assert_eq!(
        keys,
        vec![
            KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Char('0'), KeyModifiers::NONE)
        ]
    );
    let ctrl = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(split_escape(ctrl), vec![ctrl], "other keys pass as they are");

    let mut app = app_with(vec![gold()]);
    press(&mut app, "<Tab>");
    for key in keys {
        update(&mut app, Msg::key(key));
    }
    assert_eq!(app.cursor.item, None, "Esc dropped the selection");
    press(&mut app, "4x");
    assert_eq!(*sent(&app, 0), gold(), "so neither 4 nor x touched the sentence");
}

#[test]
fn a_remapped_key_is_used_and_shown() {
    let text = "[keys]\naccept = \"y\"\nquit = \"Q\"\n[keys.picker]\ncancel = \"Bksp\"\n";
    let settings = config::parse(text, std::path::Path::new("c.toml")).unwrap();
    let mut app = app_with(vec![proposed()]);
    app.keymap = settings.keymap;
    press(&mut app, "<Tab>a");
    assert_eq!(entities(&app, 0)[0].3.as_deref(), Some("model"), "a is free now");
    press(&mut app, "y");
    assert_eq!(entities(&app, 0)[0].3.as_deref(), Some("accepted"));
    press(&mut app, "t<Bksp>");
    assert!(matches!(app.mode, Mode::Normal));
    press(&mut app, "q");
    assert!(!app.should_quit());
    press(&mut app, "Q");
    assert!(matches!(app.mode, Mode::Confirm(_)), "asks: unsaved");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever is pressed, a document never changes without an undo entry for the change
    /// (undo and redo themselves move entries between the stacks), and undoing every entry
    /// gives the documents back.
    #[test]
    fn no_key_sequence_edits_a_document_without_an_undo_entry(keys in proptest::collection::vec(
        prop::sample::select(vec![
            "j", "k", "l", "h", "0", "$", "<Tab>", "<S-Tab>", "]", "[", "v", "1", "2", "3", "4",
            "9", "a", "x", "d", "<Del>", "A", "X", "{", "}", "(", ")", "R", "<Enter>", "f", "r",
            "t", "<Esc>", ".", "!", "u", "<C-r>", "g", "G", "q", "n", "?", "P", "M", "T",
            "/", "i", "e", "w", "<Bksp>", "<C-s>", "<Down>", "<Up>", "<Left>", "<Right>",
        ]),
        0..48,
    )) {
        let original = vec![proposed(), gold(), plain(), proposed()];
        let mut app = app_with(original.clone());
        for k in &keys {
            let before = app.docs[0].sentences.clone();
            let (undo, redo) = (app.history.undo_len(), app.history.redo_len());
            press(&mut app, k);
            if app.docs[0].sentences != before {
                let recorded = app.history.undo_len() == undo + 1 && app.history.redo_len() == 0;
                let undone = app.history.undo_len() + 1 == undo && app.history.redo_len() == redo + 1;
                let redone = app.history.undo_len() == undo + 1 && app.history.redo_len() + 1 == redo;
                prop_assert!(recorded || undone || redone, "{k} edited without an undo entry");
            }
            // Questions and help would swallow the rest; pickers are left open on purpose.
            if matches!(app.mode, Mode::Confirm(_) | Mode::Help { .. }) {
                press(&mut app, "<Esc>");
            }
        }
        // A picker or prompt left open would take `u` as text: leave it first.
        for _ in 0..4 {
            if matches!(app.mode, Mode::Normal) {
                break;
            }
            press(&mut app, "<Esc>");
        }
        prop_assert!(matches!(app.mode, Mode::Normal), "Esc leaves every mode");
        while app.history.undo_len() > 0 {
            let before = app.history.undo_len();
            press(&mut app, "u");
            prop_assert_eq!(app.history.undo_len() + 1, before, "u undoes one entry");
        }
        prop_assert_eq!(&app.docs[0].sentences, &original);
    }
}
