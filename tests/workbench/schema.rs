//! The expert's schema in the workbench, at the state level: the type picker offers only the
//! relation types whose rules allow the pair and no retired type, a retype or flip that breaks
//! a rule asks first, and a long error is shown whole at 80x24 (screen snapshot).

use crate::support;

use crate::support::{app_with, gold, press, relations};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use spanscope::data::types::Types;
use spanscope::workbench::commands::open_picker_for;
use spanscope::workbench::state::{App, Level, Mode, PickTarget, Question};
use spanscope::workbench::theme::Theme;
use spanscope::workbench::view::draw;

/// The support types with rules (Work_For from Peop to Org, Located_In from Org to Loc) and a
/// fourth entity type, Misc, retired.
fn ruled() -> Types {
    let mut t = support::types();
    t.add_entity("Misc").unwrap();
    t.retire("Misc", true).unwrap();
    t.relations[0].heads = vec!["Peop".into()];
    t.relations[0].tails = vec!["Org".into()];
    t.relations[1].heads = vec!["Org".into()];
    t.relations[1].tails = vec!["Loc".into()];
    t
}

fn app() -> App {
    let mut app = app_with(vec![gold()]);
    app.types = ruled();
    app
}

fn picker_options(app: &App) -> Vec<String> {
    match &app.mode {
        Mode::Pick(p) => p.options.clone(),
        other => panic!("no picker open: {other:?}"),
    }
}

#[test]
fn the_picker_offers_only_what_the_rules_allow() {
    let mut app = app();
    open_picker_for(&mut app, PickTarget::NewRelation { head: 0, tail: 1 });
    assert_eq!(picker_options(&app), ["Work_For"], "Peop -> Org");
    app.mode = Mode::Normal;
    open_picker_for(&mut app, PickTarget::NewRelation { head: 1, tail: 0 });
    assert!(matches!(app.mode, Mode::Normal), "nothing allows Org -> Peop");
    let (_, said) = app.message.clone().unwrap();
    assert_eq!(said, "no relation type of the types file allows Org -> Peop (see its rules)");
    open_picker_for(&mut app, PickTarget::EntityType(0));
    assert_eq!(picker_options(&app), ["Peop", "Org", "Loc"], "the retired Misc is not offered");
}

#[test]
fn a_flip_that_breaks_a_rule_asks_first() {
    let mut app = app();
    // Select the relation, flip it: Org -> Peop breaks Work_For's rule.
    press(&mut app, "]f");
    assert_eq!(relations(&app, 0), [("Work_For".to_string(), 0, 1)], "not flipped yet");
    let Mode::Confirm(Question::BreakRules { reasons, .. }) = &app.mode else {
        panic!("no question: {:?}", app.mode);
    };
    assert_eq!(reasons, &["Work_For from Org to Peop breaks its rule (Peop -> Org)"]);
    press(&mut app, "n");
    assert_eq!(relations(&app, 0), [("Work_For".to_string(), 0, 1)]);
    press(&mut app, "f");
    press(&mut app, "y");
    assert_eq!(relations(&app, 0), [("Work_For".to_string(), 1, 0)], "flipped when allowed");
}

#[test]
fn a_retype_that_breaks_a_rule_asks_first() {
    let mut app = app();
    // Entity 0 (John Smith, Peop) retyped to Loc: Work_For from Loc breaks the rule.
    // Tab selects it, 3 gives it the third type offered (Loc).
    press(&mut app, "<Tab>3");
    assert_eq!(support::entities(&app, 0)[0].0, "Peop", "asked first");
    assert!(matches!(app.mode, Mode::Confirm(Question::BreakRules { .. })), "{:?}", app.mode);
    press(&mut app, "y");
    assert_eq!(support::entities(&app, 0)[0].0, "Loc");
}

#[test]
fn a_long_error_is_shown_whole_at_80x24() {
    let mut app = app();
    app.say(
        Level::Error,
        "fine-tuning failed, nothing changed: reviewed sentence 0 (\"Aspirin inhibits COX-1 \
         in platelets\"): entity type `Chemical` is not one the model predicts (Peop, Org, Loc, \
         Other); add it to the types file (spanscope types add types.json entity Chemical) so \
         that fine-tuning grows the model by it",
    );
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| draw(frame, &app, &Theme::builtin("dark").unwrap())).unwrap();
    let buf = terminal.backend().buffer().clone();
    let mut screen = String::new();
    for y in 0..24 {
        let line: String = (0..80).map(|x| buf[(x, y)].symbol().to_string()).collect();
        screen.push_str(line.trim_end());
        screen.push('\n');
    }
    let flat = screen.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ");
    for words in ["entity type `Chemical` is not one the model", "grows the model by it"] {
        assert!(flat.contains(words), "{words:?} is on screen:\n{screen}");
    }
    insta::assert_snapshot!(screen);
    press(&mut app, "<Esc>");
    assert!(app.message.is_none(), "Esc hides it");
}
