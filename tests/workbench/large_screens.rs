//! Space used well: the main screen at 80x24 (as before), 120x40 and 200x60, where a large
//! terminal shows the neighbouring sentences, a relation's whole context and a wider heatmap;
//! messages are never cut.

use crate::pointer::frame;
use crate::screens::{app, screen};
use crate::support::*;
use spanscope::data::{Entity, Relation, Sentence};
use spanscope::workbench::state::{Cursor, Level};

#[test]
fn main_screen_120x40() {
    insta::assert_snapshot!(screen(&app(), 120, 40));
}

#[test]
fn main_screen_200x60() {
    let out = screen(&app(), 200, 60);
    assert!(out.contains("Acme Corp is based in Boston ."), "the next sentence:\n{out}");
    insta::assert_snapshot!(out);
}

/// A long sentence with a relation between its first and last entity, on sentence 2 of
/// people.json, between the main sentence and "It rained .".
fn far_apart() -> (spanscope::workbench::state::App, String) {
    let mut app = app();
    let text = "Maria Gonzalez , who had spent the previous eleven years negotiating water rights \
                along the river on behalf of three neighbouring provinces and their farmers , \
                finally joined Acme Corp";
    let tokens: Vec<String> = text.split(' ').map(String::from).collect();
    let n = tokens.len();
    let mut s = Sentence::from_tokens(tokens.clone());
    s.entities = vec![Entity::new("Peop", 0, 2), Entity::new("Org", n - 2, n)];
    s.relations = vec![Relation::new("Work_For", 0, 1)];
    app.docs[0].sentences.propose(1, s);
    app.cursor = Cursor { doc: 0, sentence: 1, token: 0, anchor: None, item: None };
    let between = tokens[2..n - 2].join(" ");
    (app, between)
}

#[test]
fn a_large_screen_shows_a_relation_s_whole_context_and_the_neighbours() {
    let (app, between) = far_apart();
    let small = screen(&app, 80, 24);
    let row = small.lines().find(|l| l.contains("Work_For")).unwrap();
    assert!(row.contains("“, who ha… joined”"), "cut in the middle at 80x24:\n{small}");
    let large = screen(&app, 200, 60);
    let joined: String = large.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    assert!(joined.contains(&format!("“{between}”")), "whole at 200x60:\n{large}");
    assert!(large.contains("John Smith , who works"), "the sentence before:\n{large}");
    assert!(large.contains("It rained ."), "the sentence after:\n{large}");
    insta::assert_snapshot!(large);
}

#[test]
fn a_message_too_long_for_half_the_row_takes_the_row_at_120_columns() {
    let mut app = app();
    let text = "fine-tuning on 12 reviewed sentences; keep working, T cancels";
    app.say(Level::Info, text);
    let out = screen(&app, 120, 40);
    assert!(out.contains(text), "whole:\n{out}");
    let out = screen(&app, 80, 24);
    assert!(out.contains("keep working, T cancels"), "whole, in a box:\n{out}");
}

#[test]
fn a_long_message_takes_the_whole_row_and_opens_a_box_when_longer() {
    let mut app = app_with(vec![plain()]);
    let text = "reviewed 3 sentences since the last fine-tuning; keep working, T can fine-tune \
                on them now";
    app.say(Level::Info, text);
    let out = frame(&mut app, 120, 40);
    assert!(out.contains(text), "whole on the hint row:\n{out}");
    assert!(!out.contains(" message "), "no box:\n{out}");
    let out = frame(&mut app, 80, 24);
    assert!(out.contains(" message "), "in a box at 80 columns:\n{out}");
    assert!(out.contains("keep working, T can"), "{out}");
    press(&mut app, "<Esc>");
    assert!(app.message.is_none(), "Esc hides it");
}
