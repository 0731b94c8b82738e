//! Saving a document of another tool's format (brat, DyGIE) at the state level: what the
//! format cannot carry is asked about before the save, never after.

use spanscope::data::formats::{LossKind, LossReport};
use spanscope::store::files::DocumentSource;
use spanscope::workbench::state::{App, Mode, ModelStatus, Question};
use spanscope::workbench::update::{self, Effect};
use spanscope::worker::store::StoreRequest;

use crate::support::*;

/// Document 1 as a brat `.ann` whose load found notes it cannot show.
fn brat_document() -> App {
    let mut app = App::new(types(), true, ModelStatus::Failed("none".into()));
    let source = DocumentSource::for_path(std::path::Path::new("/nowhere/doc.ann")).unwrap();
    update::open(&mut app, vec![source.clone()]);
    let mut document = loaded_document(vec![gold()]);
    document.source = source;
    let mut losses = LossReport::default();
    losses.note(LossKind::Note, || "doc.ann line 3: #1 AnnotatorNotes T1 x".into());
    document.losses = losses;
    update::update(&mut app, loaded_reply(document));
    app
}

fn saves(effects: &[Effect]) -> usize {
    effects.iter().filter(|e| matches!(e, Effect::Store(StoreRequest::Save { .. }))).count()
}

#[test]
fn saving_another_tools_format_asks_first_when_something_cannot_be_written() {
    let mut app = brat_document();
    press(&mut app, "<Tab>x");
    let effects = press(&mut app, "<C-s>");
    assert_eq!(saves(&effects), 0, "nothing written before the answer");
    let Mode::Confirm(Question::SaveLosses { losses, .. }) = &app.mode else {
        panic!("expected the question, got {:?}", app.mode)
    };
    assert_eq!(losses.count(LossKind::Note), 1);
    // "n": not saved, still unsaved.
    assert_eq!(saves(&press(&mut app, "n")), 0);
    assert!(app.docs[0].is_dirty());
    assert!(matches!(app.mode, Mode::Normal));
    // Asked again, "y" saves, and the next save does not ask.
    press(&mut app, "<C-s>");
    assert_eq!(saves(&press(&mut app, "y")), 1);
    app.docs[0].saving = None;
    press(&mut app, "<Tab>x");
    assert_eq!(saves(&press(&mut app, "<C-s>")), 1, "asked once per load");
}

#[test]
fn a_proposal_or_a_reviewed_mark_is_named_before_a_brat_save() {
    let mut app = brat_document();
    app.docs[0].losses = LossReport::default();
    press(&mut app, "r");
    press(&mut app, "<C-s>");
    let Mode::Confirm(Question::SaveLosses { losses, .. }) = &app.mode else {
        panic!("expected the question, got {:?}", app.mode)
    };
    assert_eq!(losses.count(LossKind::ExtraKey), 2, "`reviewed` and `orig_id`: {losses:?}");
}
