//! What the screen's marks mean, said on the screen: the legend in the help, and the status
//! line naming the model's state in words.

use crate::screens::screen;
use crate::support::*;
use spanscope::workbench::state::{Mode, ModelStatus};

/// Every row of the help, scrolled through page by page at `w` x `h`.
fn whole_help(w: u16, h: u16) -> String {
    let mut app = app_with(vec![proposed()]);
    let mut seen = String::new();
    for page in 0..40 {
        app.mode = Mode::Help { scroll: page * (h - 4) };
        seen.push_str(&screen(&app, w, h));
    }
    seen
}

#[test]
fn the_help_explains_every_mark() {
    let help = whole_help(120, 40);
    for mark in [
        "Marks: the sentence",
        "Marks: inspector",
        "└╌Loc? .93╌┘",
        "A ⇢ B  Kind?",
        "A → B",
        "✓ reviewed",
        "●",
        "2 unsaved +2 files",
        "1 2 3 in it",
        "░▒▓█",
        "italic",
        "▸",
        "✗ failed",
        "no model",
    ] {
        assert!(help.contains(mark), "the help does not explain {mark}");
    }
}

#[test]
fn legend_at_the_end_of_the_help_120x40() {
    let mut app = app_with(vec![proposed()]);
    app.mode = Mode::Help { scroll: u16::MAX };
    insta::assert_snapshot!(screen(&app, 120, 40));
}

#[test]
fn no_model_says_so_instead_of_failed() {
    let mut app = app_with(vec![plain()]);
    app.model = ModelStatus::Off;
    let out = screen(&app, 80, 24);
    assert!(out.contains("no model: proposals off") && !out.contains("model failed"), "{out}");
    insta::assert_snapshot!(out);
}
