//! The expert's schema in the workbench, at the state level: the label editor adds, renames
//! and retires types and writes the types file, the type picker offers only the relation types
//! whose rules allow the pair and no retired type, a retype or flip that breaks a rule asks
//! first, and a long error is shown whole at 80x24 (screen snapshot).

use crate::support;

use std::sync::mpsc;
use std::time::Duration;

use crate::support::{app_with, gold, press, relations};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use spanscope::data::types::Types;
use spanscope::workbench::commands::open_picker_for;
use spanscope::workbench::state::{App, Level, Mode, PickTarget, Question};
use spanscope::workbench::theme::Theme;
use spanscope::workbench::update::Effect;
use spanscope::workbench::view::draw;
use spanscope::worker::store::{StoreReply, StoreRequest, StoreWorker};

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

/// Has a real store worker carry out the label editor's writes; the types file afterwards.
fn written(effects: Vec<Effect>, path: &std::path::Path) -> Types {
    let (sender, replies) = mpsc::channel();
    let worker = StoreWorker::spawn(move |reply| {
        let _ = sender.send(reply);
    });
    let mut writes = 0;
    for effect in effects {
        if let Effect::Store(request @ StoreRequest::WriteTypes { .. }) = effect {
            worker.send(request);
            writes += 1;
        }
    }
    assert!(writes > 0, "the editor wrote nothing");
    for _ in 0..writes {
        let reply = replies.recv_timeout(Duration::from_secs(10)).expect("no store reply");
        let StoreReply::TypesWritten { result: Ok(()), .. } = reply else {
            panic!("the types file was not written: {reply:?}");
        };
    }
    Types::read(path).unwrap()
}

#[test]
fn the_label_editor_adds_a_type_that_is_offered_at_once_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.json");
    let mut app = app();
    app.types_path = Some(path.clone());
    press(&mut app, "L");
    assert!(matches!(app.mode, Mode::Labels(_)), "L opens the editor: {:?}", app.mode);
    // A name with a space is refused and stays to be corrected.
    press(&mut app, "eChe mical<Enter>");
    assert!(app.types.entity_index("Che mical").is_none());
    let mut effects = press(&mut app, "<Bksp><Bksp><Bksp><Bksp><Bksp><Bksp>mical<Enter>");
    assert_eq!(app.types.entity_index("Chemical"), Some(4), "after Misc");
    effects.extend(press(&mut app, "rInhibits<Enter><Esc>"));
    assert!(matches!(app.mode, Mode::Normal));
    let file = written(effects, &path);
    assert_eq!(file, app.types, "the file holds what the workbench offers");
    assert!(file.relations[0].has_rule(), "rules are kept");
    open_picker_for(&mut app, PickTarget::EntityType(0));
    assert_eq!(picker_options(&app), ["Peop", "Org", "Loc", "Chemical"]);
}

#[test]
fn the_label_editor_renames_a_type_and_its_annotations_and_retires_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.json");
    let mut app = app();
    app.types_path = Some(path.clone());
    // Row 0 is Peop: rename it to Person (c, clear the old name, type the new one).
    let mut effects = press(&mut app, "Lc<Bksp><Bksp><Bksp><Bksp>Person<Enter>");
    assert_eq!(app.types.entities[0].name, "Person");
    assert_eq!(app.types.relations[0].heads, ["Person"], "the rule follows");
    assert_eq!(support::entities(&app, 0)[0].0, "Person", "the annotation follows");
    assert!(app.docs[0].is_dirty(), "as an unsaved edit");
    // Row 1 is Org: retire it; the picker no longer offers it, the annotation stays.
    effects.extend(press(&mut app, "jx<Esc>"));
    assert!(app.types.entities[1].retired);
    assert_eq!(written(effects, &path), app.types);
    open_picker_for(&mut app, PickTarget::EntityType(0));
    assert_eq!(picker_options(&app), ["Person", "Loc"]);
    assert_eq!(support::entities(&app, 0)[1].0, "Org");
    // u undoes the rename of the annotation.
    app.mode = Mode::Normal;
    press(&mut app, "u");
    assert_eq!(support::entities(&app, 0)[0].0, "Peop");
}

#[test]
fn without_a_types_file_the_label_editor_says_so() {
    let mut app = app();
    press(&mut app, "L");
    assert!(matches!(app.mode, Mode::Normal));
    let (_, said) = app.message.clone().unwrap();
    assert_eq!(said, "no types file to edit: open the documents with --types FILE");
}
