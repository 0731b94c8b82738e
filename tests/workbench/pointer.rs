//! The mouse at the state level: clicks, drags and the wheel read against the hit map of a
//! frame drawn with `TestBackend`, as the event loop keeps it.

use crate::support::*;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use spanscope::data::annotation::Item;
use spanscope::workbench::hits::Hit;
use spanscope::workbench::state::{App, Mode};
use spanscope::workbench::theme::Theme;
use spanscope::workbench::update::{update, Msg};
use spanscope::workbench::view::draw_with_hits;

/// Draws a `w`×`h` frame and keeps its hit map, as the event loop does; returns the screen.
pub(crate) fn frame(app: &mut App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::builtin("dark").unwrap();
    let mut hits = None;
    terminal.draw(|f| hits = Some(draw_with_hits(f, app, &theme))).unwrap();
    app.hits = hits.unwrap();
    let buf = terminal.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn mouse_on(app: &mut App, kind: MouseEventKind, hit: Hit) {
    let p = at(app, hit);
    mouse(app, kind, p);
}

fn mouse(app: &mut App, kind: MouseEventKind, (x, y): (u16, u16)) {
    let event = MouseEvent { kind, column: x, row: y, modifiers: KeyModifiers::NONE };
    update(app, Msg::Mouse(event));
}

/// Where `hit` was drawn in the last frame (its first column).
fn at(app: &App, hit: Hit) -> (u16, u16) {
    let r = app.hits.find(hit).unwrap_or_else(|| panic!("{hit:?} is not on screen"));
    (r.x, r.y)
}

fn word(token: usize) -> Hit {
    Hit::Word { doc: 0, sentence: 0, token }
}

const LEFT: MouseButton = MouseButton::Left;

#[test]
fn a_click_on_a_word_moves_the_cursor_there() {
    let mut app = app_with(vec![gold(), plain()]);
    frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), word(4));
    mouse_on(&mut app, MouseEventKind::Up(LEFT), word(4));
    assert_eq!((app.cursor.token, app.cursor.anchor, app.cursor.item), (4, None, None));
    // A click between words, or on a rule, changes nothing.
    let (x, y) = at(&app, word(4));
    mouse(&mut app, MouseEventKind::Down(LEFT), (x + 4, y));
    assert_eq!(app.cursor.token, 4);
    mouse(&mut app, MouseEventKind::Down(LEFT), (x, y - 1));
    assert_eq!(app.cursor.token, 4);
}

#[test]
fn a_drag_selects_a_range_that_a_digit_then_types() {
    let mut app = app_with(vec![plain()]);
    frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), word(0));
    mouse_on(&mut app, MouseEventKind::Drag(LEFT), word(1));
    frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Up(LEFT), word(1));
    assert_eq!((app.cursor.anchor, app.cursor.range()), (Some(0), (0, 2)));
    press(&mut app, "1");
    assert_eq!(entities(&app, 0), vec![("Peop".into(), 0, 2, Some("manual".into()))]);
    assert_eq!(app.history.undo_len(), 1, "typed as the keyboard's range is, undoable");

    // Dragged right to left, then `t` and the picker.
    frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), word(6));
    mouse_on(&mut app, MouseEventKind::Drag(LEFT), word(4));
    assert_eq!(app.cursor.range(), (4, 7));
    press(&mut app, "t");
    assert!(matches!(app.mode, Mode::Pick(_)));
    press(&mut app, "2");
    assert!(entities(&app, 0).contains(&("Org".into(), 4, 7, Some("manual".into()))));
}

#[test]
fn clicks_on_a_bracket_a_relation_and_a_document_select_them() {
    let mut app = app_with(vec![proposed()]);
    let screen = frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), Hit::Entity(1));
    assert_eq!(app.cursor.item, Some(Item::Entity(1)), "Paris, on:\n{screen}");
    assert_eq!(app.cursor.token, 6);
    press(&mut app, "a");
    assert_eq!(entities(&app, 0)[1].3.as_deref(), Some("accepted"), "then keys act on it");

    frame(&mut app, 80, 24);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), Hit::Relation(0));
    assert_eq!(app.cursor.item, Some(Item::Relation(0)));
}

/// doc.json (gold, plain, plain) and other.json (plain).
pub(crate) fn two_documents() -> App {
    let mut app = app_with(vec![gold(), plain(), plain()]);
    let mut second = source();
    second.read_path = "/nowhere/other.json".into();
    second.save_path = second.read_path.clone();
    spanscope::workbench::update::open(&mut app, vec![second]);
    let mut doc = loaded_document(vec![plain()]);
    doc.source = app.docs[1].source.clone();
    let id = app.docs[1].id;
    update(
        &mut app,
        Msg::Store(spanscope::worker::store::StoreReply::Loaded {
            doc: id,
            result: Ok(doc),
            recovery: None,
        }),
    );
    app
}

#[test]
fn the_wheel_scrolls_what_is_under_it_and_a_document_opens_on_a_click() {
    let mut app = two_documents();
    frame(&mut app, 120, 30);
    let (x, y) = at(&app, word(2));
    mouse(&mut app, MouseEventKind::ScrollDown, (x, y));
    mouse(&mut app, MouseEventKind::ScrollDown, (x, y));
    mouse(&mut app, MouseEventKind::ScrollDown, (x, y));
    assert_eq!(app.cursor.sentence, 2, "stops at the last sentence");
    mouse(&mut app, MouseEventKind::ScrollUp, (x, y));
    assert_eq!(app.cursor.sentence, 1);

    frame(&mut app, 120, 30);
    mouse_on(&mut app, MouseEventKind::Down(LEFT), Hit::Document(1));
    assert_eq!((app.cursor.doc, app.cursor.sentence), (1, 0));
    frame(&mut app, 120, 30);
    mouse_on(&mut app, MouseEventKind::ScrollUp, Hit::Document(0));
    assert_eq!(app.cursor.doc, 0);

    app.mode = Mode::Help { scroll: 0 };
    frame(&mut app, 120, 30);
    mouse(&mut app, MouseEventKind::ScrollDown, (5, 5));
    assert!(matches!(app.mode, Mode::Help { scroll: 3 }), "{:?}", app.mode);
    mouse(&mut app, MouseEventKind::Down(LEFT), (5, 5));
    assert!(matches!(app.mode, Mode::Help { .. }), "a click on the help goes nowhere");
}

#[test]
fn on_a_large_screen_a_neighbouring_sentence_is_shown_and_its_words_clicked() {
    let mut app = app_with(vec![gold(), plain(), plain()]);
    app.cursor.sentence = 1;
    let small = frame(&mut app, 120, 40);
    assert!(app.hits.find(Hit::Word { doc: 0, sentence: 0, token: 0 }).is_none(), "{small}");
    let large = frame(&mut app, 200, 60);
    let neighbour = Hit::Word { doc: 0, sentence: 2, token: 4 };
    mouse_on(&mut app, MouseEventKind::Down(LEFT), neighbour);
    assert_eq!((app.cursor.sentence, app.cursor.token), (2, 4), "{large}");
}
