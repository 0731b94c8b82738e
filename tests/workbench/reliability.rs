//! The workbench under faults: journals that cannot be written, a folder another workbench
//! holds, a fine-tuning run that cannot start (issue 22, docs/RELIABILITY.md).

use crate::support::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use spanscope::data::{DataError, ErrorKind, Place};
use spanscope::workbench::state::{Mode, Question, TrainingPhase};
use spanscope::workbench::theme::Theme;
use spanscope::workbench::update::{update, Effect, Msg};
use spanscope::workbench::view::draw;
use spanscope::worker::store::StoreReply;
use spanscope::worker::training::TrainingReply;

/// The screen as one string (rows joined by newlines).
fn screen(app: &spanscope::workbench::state::App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::builtin("dark").unwrap();
    terminal.draw(|frame| draw(frame, app, &theme)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The dialog's text with its line breaks and borders taken out, for phrase checks.
fn flat(screen: &str) -> String {
    let words: Vec<&str> = screen
        .split(|c: char| c.is_whitespace() || "│─╭╮╰╯┌┐└┘".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ")
}

#[test]
fn quitting_promises_the_journal_only_when_it_was_written() {
    let mut app = app_with(vec![plain()]);
    press(&mut app, "vl1"); // a Peop of the first two words: one unsaved edit
    assert!(app.docs[0].is_dirty());
    press(&mut app, "q");
    assert!(matches!(app.mode, Mode::Confirm(Question::Quit)));
    let fine = flat(&screen(&app, 100, 30));
    assert!(fine.contains("keeps them in the recovery journal"), "{fine}");

    press(&mut app, "n");
    let error = "/nowhere/.spanscope/recovery/doc.json.journal.jsonl: could not append to: No space left on device (os error 28)";
    update(&mut app, Msg::Store(StoreReply::JournalFailed { doc: 1, error: error.into() }));
    press(&mut app, "q");
    let failing = flat(&screen(&app, 100, 30));
    assert!(failing.contains("LOSES those edits"), "{failing}");
    assert!(!failing.contains("keeps them in the recovery journal"), "{failing}");
}

#[test]
fn a_document_another_workbench_holds_is_read_only_with_the_reason() {
    let mut app = app_with(vec![plain()]);
    let why =
        "another spanscope workbench (pid 42) is editing /nowhere; read-only here until it exits";
    let mut document = loaded_document(vec![plain()]);
    document.read_only = Some(why.into());
    update(&mut app, loaded_reply(document));
    let effects = press(&mut app, "vl1");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Store(_))), "{effects:?}");
    assert!(!app.docs[0].is_dirty());
    assert!(app.message.as_ref().unwrap().1.contains("another spanscope workbench"));
}

/// A problem at record 0 of document 1's file.
fn record_error(kind: ErrorKind, reason: &str) -> DataError {
    let place = Place::Record { index: 0, line: None, part: None };
    DataError::new(&source().read_path, place, kind, reason)
}

#[test]
fn a_document_with_unreadable_records_shows_the_first_reason_on_arrival() {
    let mut app = app_with(vec![plain()]);
    let path = source().read_path.display().to_string();
    let problems = [
        "record 2 (line 3): a record must be a JSON object, found true",
        "record 5 (line 6): missing `tokens`",
    ]
    .map(|reason| record_error(ErrorKind::Structure, reason));
    let mut document = loaded_document(vec![plain()]);
    document.problems = problems.to_vec();
    update(&mut app, loaded_reply(document));
    // Before any key: the reason `validate` gives, without the file's path, and the count.
    let shown = flat(&screen(&app, 100, 30));
    assert!(shown.contains("2 record(s) could not be read"), "{shown}");
    assert!(shown.contains("a record must be a JSON object, found true"), "{shown}");
    assert!(shown.contains("1 more"), "{shown}");
    assert!(!app.message.as_ref().unwrap().1.contains(&path));
}

#[test]
fn what_validate_finds_in_an_editable_document_is_said_on_arrival() {
    let mut app = app_with(vec![plain()]);
    let mut document = loaded_document(vec![plain()]);
    document.notes =
        vec![record_error(ErrorKind::Content, "token 3: the token is an empty string")];
    update(&mut app, loaded_reply(document));
    let shown = flat(&screen(&app, 120, 30));
    assert!(shown.contains("reports 1 problem(s) here"), "{shown}");
    assert!(shown.contains("the token is an empty string"), "{shown}");
    // Still editable: the notes do not make it read-only.
    press(&mut app, "vl1");
    assert!(app.docs[0].is_dirty());
}

#[test]
fn a_run_whose_versions_folder_cannot_be_made_fails_instead_of_preparing_forever() {
    let mut app = app_with(vec![gold(), gold()]);
    app.fine_tuning.possible = true;
    app.model = spanscope::workbench::state::ModelStatus::Loading("base".into());
    press(&mut app, "<Enter><Enter>");
    let effects = press(&mut app, "T");
    assert!(effects.iter().any(|e| matches!(e, Effect::StartTraining { .. })), "{effects:?}");
    assert_eq!(app.fine_tuning.run.as_ref().unwrap().phase, TrainingPhase::Preparing);
    let why = "/data/.spanscope/models: could not create the folder: Permission denied";
    update(&mut app, Msg::Training(TrainingReply::VersionsFailed(why.into())));
    let phase = &app.fine_tuning.run.as_ref().unwrap().phase;
    assert!(
        matches!(phase, TrainingPhase::Failed(w) if w.contains("Permission denied")),
        "{phase:?}"
    );
}
