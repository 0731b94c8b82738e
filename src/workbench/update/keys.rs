//! Key presses: what each key means in the mode the workbench is in.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::questions::answer_key;
use super::Effect;
use crate::workbench::commands::{self, apply_type, cycle_tail, open_picker_for};
use crate::workbench::filter::Filter;
use crate::workbench::keymap::{self, HelpAction, LinkAction, PickAction, SearchAction};
use crate::workbench::state::{App, Level, Mode, PickTarget};
use crate::workbench::{inspection, labels};

pub(super) fn key_pressed(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if let Some(action) = app.keymap.anywhere_action(&key) {
        return commands::run(app, action);
    }
    match app.mode.clone() {
        Mode::Normal => match app.keymap.normal_action(&key) {
            Some(action) => commands::run(app, action),
            None => Vec::new(),
        },
        Mode::Pick(mut picker) => match app.keymap.picker_action(&key) {
            Some(PickAction::Down) => {
                picker.index = (picker.index + 1) % picker.options.len();
                app.mode = Mode::Pick(picker);
                Vec::new()
            }
            Some(PickAction::Up) => {
                picker.index = (picker.index + picker.options.len() - 1) % picker.options.len();
                app.mode = Mode::Pick(picker);
                Vec::new()
            }
            Some(PickAction::Choose) => {
                app.mode = Mode::Normal;
                apply_type(app, picker.target, &picker.options[picker.index])
            }
            Some(PickAction::Number(n)) => match picker.options.get(usize::from(n) - 1) {
                Some(ty) => {
                    app.mode = Mode::Normal;
                    apply_type(app, picker.target, &ty.clone())
                }
                None => Vec::new(),
            },
            Some(PickAction::Cancel) => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            None => Vec::new(),
        },
        Mode::Link { head, tail } => {
            match app.keymap.link_action(&key) {
                Some(LinkAction::Next) => {
                    app.mode = Mode::Link { head, tail: cycle_tail(app, head, tail, true) }
                }
                Some(LinkAction::Prev) => {
                    app.mode = Mode::Link { head, tail: cycle_tail(app, head, tail, false) }
                }
                Some(LinkAction::Choose) => {
                    app.mode = Mode::Normal;
                    open_picker_for(app, PickTarget::NewRelation { head, tail });
                }
                Some(LinkAction::Cancel) => app.mode = Mode::Normal,
                None => {}
            }
            Vec::new()
        }
        Mode::Search(mut query) => {
            match app.keymap.search_action(&key) {
                Some(SearchAction::Cancel) => app.mode = Mode::Normal,
                Some(SearchAction::Run) => {
                    app.mode = Mode::Normal;
                    if !query.is_empty() {
                        app.search = query;
                    }
                    // n and N follow the search from now on.
                    app.filter = None;
                    commands::search(app, true);
                }
                Some(SearchAction::Erase) => {
                    query.pop();
                    app.mode = Mode::Search(query);
                }
                None => match key.code {
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        query.push(c);
                        app.mode = Mode::Search(query);
                    }
                    _ => {}
                },
            }
            Vec::new()
        }
        Mode::Filter(mut line) => {
            match keymap::lookup(keymap::SEARCH, &key) {
                Some(SearchAction::Cancel) => app.mode = Mode::Normal,
                Some(SearchAction::Run) => match Filter::parse(&line) {
                    Ok(filter) => {
                        app.mode = Mode::Normal;
                        let was = app.filter.take();
                        app.filter = filter;
                        if app.filter.is_some() {
                            commands::filter_step(app, true);
                        } else if was.is_some() {
                            app.say(Level::Info, "filter off: n and N follow the search again");
                        }
                    }
                    // The line stays open to be fixed; the prompt shows the error.
                    Err(e) => app.say(Level::Error, e.to_string()),
                },
                Some(SearchAction::Erase) => {
                    line.pop();
                    app.mode = Mode::Filter(line);
                }
                None => match key.code {
                    // The line opens with the filter in force; Ctrl-u empties it.
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        app.mode = Mode::Filter(String::new())
                    }
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        line.push(c);
                        app.mode = Mode::Filter(line);
                    }
                    _ => {}
                },
            }
            // Editing the line clears the error about it.
            let editing = matches!(app.mode, Mode::Filter(_)) && key.code != KeyCode::Enter;
            if editing && matches!(app.message, Some((Level::Error, _))) {
                app.message = None;
            }
            Vec::new()
        }
        Mode::Help { scroll } => {
            app.mode = match app.keymap.help_action(&key) {
                Some(HelpAction::Down) => Mode::Help { scroll: scroll + 1 },
                Some(HelpAction::Up) => Mode::Help { scroll: scroll.saturating_sub(1) },
                Some(HelpAction::PageDown) => Mode::Help { scroll: scroll + 10 },
                Some(HelpAction::PageUp) => Mode::Help { scroll: scroll.saturating_sub(10) },
                None => Mode::Normal,
            };
            Vec::new()
        }
        Mode::Stats { scroll } => {
            // Scrolled like the help; any other key (Esc) closes it.
            app.mode = match app.keymap.help_action(&key) {
                Some(HelpAction::Down) => Mode::Stats { scroll: scroll + 1 },
                Some(HelpAction::Up) => Mode::Stats { scroll: scroll.saturating_sub(1) },
                Some(HelpAction::PageDown) => Mode::Stats { scroll: scroll + 10 },
                Some(HelpAction::PageUp) => Mode::Stats { scroll: scroll.saturating_sub(10) },
                None => Mode::Normal,
            };
            Vec::new()
        }
        Mode::Confirm(question) => answer_key(app, question, key),
        Mode::Labels(editor) => labels::key(app, editor, key),
        Mode::Inspect => {
            if let Some(action) = app.keymap.inspect_action(&key) {
                inspection::run(app, action);
            }
            Vec::new()
        }
    }
}
