//! What each normal-mode action does to the state: moving, selecting, editing, undo.
//! Every edit goes through [`commit`], which records it for undo and for the recovery journal.

pub use super::find::{filter_step, find, search};
use super::find::{next_low_confidence, next_unreviewed};
use super::history::Change;
use super::keymap::{Action, Key};
use super::state::{App, Level, Mode, PickTarget, Picker, Question, Restructure, RuleEdit};
use super::update::Effect;
use crate::data::annotation::reviewed_sentences;
use crate::data::annotation::{self, is_reviewed, Item};
use crate::data::edit::{self, Edited};
use crate::data::formats;
use crate::data::provenance::without_rejected;
use crate::data::split;
use crate::data::Sentence;
use crate::store::journal::JournalEntry;
use crate::worker::store::StoreRequest;

/// Carries out a normal-mode action.
pub fn run(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::NextSentence => move_sentence(app, 1),
        Action::PrevSentence => move_sentence(app, -1),
        Action::FirstSentence => goto(app, app.cursor.doc, 0),
        Action::LastSentence => {
            let last = app.doc().map_or(0, |d| d.sentences.len().saturating_sub(1));
            goto(app, app.cursor.doc, last)
        }
        Action::NextDoc => move_doc(app, 1),
        Action::PrevDoc => move_doc(app, -1),
        Action::WordRight => move_word(app, 1),
        Action::WordLeft => move_word(app, -1),
        Action::FirstWord => set_word(app, 0),
        Action::LastWord => set_word(app, usize::MAX),
        Action::NextEntity => cycle_entity(app, true),
        Action::PrevEntity => cycle_entity(app, false),
        Action::NextRelation => cycle_relation(app, true),
        Action::PrevRelation => cycle_relation(app, false),
        Action::ToggleRange => {
            app.cursor.anchor = match app.cursor.anchor {
                Some(_) => None,
                None => Some(app.cursor.token),
            };
            app.cursor.item = None;
        }
        Action::Escape => {
            app.cursor.anchor = None;
            app.cursor.item = None;
            // Also hides a message shown whole above the bottom rows.
            app.message = None;
        }
        Action::PickType => open_picker(app),
        Action::TypeNumber(n) => return type_number(app, n),
        Action::Accept => return accept(app),
        Action::Delete => return delete(app),
        Action::AcceptAll => return accept_or_reject_all(app, true),
        Action::RejectAll => return accept_or_reject_all(app, false),
        Action::StartLeft => return move_boundary(app, -1, 0),
        Action::StartRight => return move_boundary(app, 1, 0),
        Action::EndLeft => return move_boundary(app, 0, -1),
        Action::EndRight => return move_boundary(app, 0, 1),
        Action::AddRelation => start_relation(app),
        Action::Flip => return flip(app),
        Action::ToggleReviewed => {
            let reviewed = app.sentence().is_some_and(is_reviewed);
            if reviewed {
                return edit_sentence(app, "mark not reviewed", |s| edit::set_reviewed(s, false));
            }
            return mark_reviewed(app).unwrap_or_default();
        }
        Action::ReviewAndNext => {
            let mut effects = Vec::new();
            if !app.sentence().is_some_and(is_reviewed) {
                match mark_reviewed(app) {
                    Some(marked) => effects = marked,
                    None => return Vec::new(),
                }
            }
            next_unreviewed(app);
            return effects;
        }
        Action::NextUnreviewed => next_unreviewed(app),
        Action::SplitSentence => return split_sentence(app),
        Action::MergeSentences => return merge_sentences(app),
        Action::NextLowConfidence => next_low_confidence(app),
        Action::Search => app.mode = Mode::Search(String::new()),
        Action::SearchNext => find(app, true),
        Action::SearchPrev => find(app, false),
        Action::Filter => {
            app.mode = Mode::Filter(app.filter.as_ref().map_or(String::new(), |f| f.text.clone()))
        }
        Action::Save => return save_all(app),
        Action::Undo => return undo(app, true),
        Action::Redo => return undo(app, false),
        Action::Help => app.mode = Mode::Help { scroll: 0 },
        Action::Statistics => app.mode = Mode::Stats { scroll: 0 },
        Action::FineTune => return fine_tune(app),
        Action::TrainingPanel => {
            app.fine_tuning.panel = !app.fine_tuning.panel && app.fine_tuning.run.is_some();
            if app.fine_tuning.run.is_none() {
                app.say(Level::Info, "no fine-tuning yet: review sentences (r, Enter), then T");
            }
        }
        Action::Inspect => super::inspection::focus(app),
        Action::Labels => super::labels::open(app),
        Action::InspectorView => app.inspector.view = app.inspector.view.next(),
        Action::NextDisagreement => super::adjudication::next(app, true),
        Action::PrevDisagreement => super::adjudication::next(app, false),
        Action::TakeTheirs => return super::adjudication::settle(app, true, false),
        Action::TakeTheirsAll => return super::adjudication::settle(app, true, true),
        Action::KeepMine => return super::adjudication::settle(app, false, false),
        Action::KeepMineAll => return super::adjudication::settle(app, false, true),
        Action::ModelVersions => {
            if !app.fine_tuning.possible {
                app.say(Level::Warning, "no model versions: fine-tuning needs a model");
                return Vec::new();
            }
            return vec![Effect::ListModels];
        }
        Action::Quit => {
            if app.dirty_docs().next().is_some() {
                app.mode = Mode::Confirm(Question::Quit);
            } else {
                app.quitting = super::state::Quitting::Now;
            }
        }
    }
    Vec::new()
}

/// Positions of every sentence of every loaded document, in reading order, starting after the
/// cursor and wrapping round to it (the cursor's own sentence comes last).
pub(super) fn positions_after(app: &App, forward: bool) -> Vec<(usize, usize)> {
    let all: Vec<(usize, usize)> = app
        .docs
        .iter()
        .enumerate()
        .flat_map(|(d, doc)| (0..doc.sentences.len()).map(move |s| (d, s)))
        .collect();
    let here = all.iter().position(|&p| p == (app.cursor.doc, app.cursor.sentence)).unwrap_or(0);
    let n = all.len();
    (1..=n)
        .map(|k| if forward { all[(here + k) % n] } else { all[(here + n * k - k) % n] })
        .collect()
}

/// Moves to sentence `sentence` of document `doc`, clearing the selection.
pub fn goto(app: &mut App, doc: usize, sentence: usize) {
    app.cursor.doc = doc;
    app.cursor.sentence = sentence;
    app.cursor.token = 0;
    app.cursor.anchor = None;
    app.cursor.item = None;
}

/// Moves `by` sentences within the document, stopping at its ends.
pub fn move_sentence(app: &mut App, by: isize) {
    let len = app.doc().map_or(0, |d| d.sentences.len());
    let target = app.cursor.sentence.saturating_add_signed(by).min(len.saturating_sub(1));
    if target != app.cursor.sentence {
        goto(app, app.cursor.doc, target);
    }
}

/// Moves `by` documents, stopping at the list's ends.
pub fn move_doc(app: &mut App, by: isize) {
    let target = app.cursor.doc.saturating_add_signed(by).min(app.docs.len().saturating_sub(1));
    if target != app.cursor.doc {
        goto(app, target, 0);
        say_problems(app);
    }
}

/// Says why the current document is read-only when some of its records could not be read,
/// else what `validate` finds in the records that did: the expert sees it on arriving, not
/// only when an edit is refused (or never).
pub fn say_problems(app: &mut App) {
    let note = app.doc().and_then(|d| {
        if d.problems.is_empty() {
            d.notes_note()
        } else {
            Some(d.problems_note())
        }
    });
    if let Some(note) = note {
        app.say(Level::Warning, note);
    }
}

fn set_word(app: &mut App, token: usize) {
    let len = app.sentence().map_or(0, |s| s.tokens.len());
    app.cursor.token = token.min(len.saturating_sub(1));
    if app.cursor.anchor.is_none() {
        app.cursor.item = None;
    }
}

fn move_word(app: &mut App, by: isize) {
    set_word(app, app.cursor.token.saturating_add_signed(by));
}

/// Entity indices in reading order (by start, then end).
pub fn entity_order(s: &Sentence) -> Vec<usize> {
    let mut order: Vec<usize> = (0..s.entities.len()).collect();
    order.sort_by_key(|&i| (s.entities[i].start, s.entities[i].end, i));
    order
}

fn cycle(current: Option<usize>, order: &[usize], forward: bool) -> Option<usize> {
    let n = order.len();
    if n == 0 {
        return None;
    }
    let at = current.and_then(|c| order.iter().position(|&i| i == c));
    Some(match (at, forward) {
        (None, true) => order[0],
        (None, false) => order[n - 1],
        (Some(p), true) => order[(p + 1) % n],
        (Some(p), false) => order[(p + n - 1) % n],
    })
}

fn cycle_entity(app: &mut App, forward: bool) {
    let Some(s) = app.sentence() else { return };
    let current = match app.cursor.item {
        Some(Item::Entity(i)) => Some(i),
        _ => None,
    };
    if let Some(i) = cycle(current, &entity_order(s), forward) {
        app.cursor.token = s.entities[i].start;
        app.cursor.item = Some(Item::Entity(i));
        app.cursor.anchor = None;
    }
}

/// Selects the next or previous relation of the sentence, round.
pub fn cycle_relation(app: &mut App, forward: bool) {
    let Some(s) = app.sentence() else { return };
    let current = match app.cursor.item {
        Some(Item::Relation(i)) => Some(i),
        _ => None,
    };
    let order: Vec<usize> = (0..s.relations.len()).collect();
    if let Some(i) = cycle(current, &order, forward) {
        app.cursor.item = Some(Item::Relation(i));
        app.cursor.anchor = None;
    }
}

/// What a type is given to by `t` or a digit: an entity being retyped, a relation, or a new
/// entity over the range (or the cursor's word).
fn type_target(app: &App) -> PickTarget {
    match (app.cursor.anchor, app.cursor.item) {
        (None, Some(Item::Entity(i))) => PickTarget::EntityType(i),
        (None, Some(Item::Relation(i))) => PickTarget::RelationType(i),
        _ => {
            let (start, end) = app.cursor.range();
            PickTarget::NewEntity { start, end }
        }
    }
}

/// The types the picker offers for `target`: those not retired, and for a relation only
/// those whose rules allow its head's and tail's entity types.
fn options_for(app: &App, target: PickTarget) -> Vec<String> {
    let names = |offered: Vec<&str>| offered.into_iter().map(String::from).collect();
    match target {
        PickTarget::NewEntity { .. } | PickTarget::EntityType(_) => {
            names(app.types.offered_entities().iter().map(|t| t.name.as_str()).collect())
        }
        PickTarget::NewRelation { head, tail } => relation_options(app, head, tail),
        PickTarget::RelationType(i) => match app.sentence().and_then(|s| s.relations.get(i)) {
            Some(r) => relation_options(app, r.head, r.tail),
            None => Vec::new(),
        },
        PickTarget::ModelVersion => Vec::new(),
    }
}

/// The relation types offered from entity `head` to entity `tail` of the current sentence.
fn relation_options(app: &App, head: usize, tail: usize) -> Vec<String> {
    let Some((h, t)) = entity_types_of(app, head, tail) else { return Vec::new() };
    app.types.offered_relations(&h, &t).iter().map(|r| r.name.clone()).collect()
}

/// The entity types of entities `head` and `tail` of the current sentence.
fn entity_types_of(app: &App, head: usize, tail: usize) -> Option<(String, String)> {
    let s = app.sentence()?;
    Some((s.entities.get(head)?.entity_type.clone(), s.entities.get(tail)?.entity_type.clone()))
}

/// The relation rules that `edit` of the current sentence would newly break, in words.
fn newly_broken(app: &App, edit: impl FnOnce(&Sentence) -> edit::Edited) -> Vec<String> {
    let Some(s) = app.sentence() else { return Vec::new() };
    let Ok(after) = edit(s) else { return Vec::new() };
    let before: Vec<String> = app.types.violations(s).into_iter().map(|v| v.reason).collect();
    app.types
        .violations(&after)
        .into_iter()
        .map(|v| v.reason)
        .filter(|r| !before.contains(r))
        .collect()
}

/// Asks before an edit that breaks rules; true when it was asked (and not made yet).
fn ask_before_breaking(app: &mut App, edit: RuleEdit, reasons: Vec<String>) -> bool {
    if reasons.is_empty() {
        return false;
    }
    app.questions.push_back(Question::BreakRules { edit, reasons });
    true
}

/// Makes an edit the reviewer allowed although it breaks rules.
pub fn apply_rule_edit(app: &mut App, edit: RuleEdit) -> Vec<Effect> {
    match edit {
        RuleEdit::Retype { target, ty } => apply_type_unchecked(app, target, &ty),
        RuleEdit::Flip { relation } => {
            edit_sentence(app, "flip relation", |s| edit::flip_relation(s, relation))
        }
    }
}

/// Opens the type picker for `target`.
pub fn open_picker_for(app: &mut App, target: PickTarget) {
    let options = options_for(app, target);
    if options.is_empty() {
        let ends = match (target, app.sentence()) {
            (PickTarget::NewRelation { head, tail }, _) => entity_types_of(app, head, tail),
            (PickTarget::RelationType(i), Some(s)) => {
                s.relations.get(i).and_then(|r| entity_types_of(app, r.head, r.tail))
            }
            _ => None,
        };
        match ends {
            Some((h, t)) if !app.types.relations.is_empty() => app.say(
                Level::Warning,
                format!("no relation type of the types file allows {h} -> {t} (see its rules)"),
            ),
            _ => app.say(
                Level::Warning,
                "no types to choose from: open the documents with --types FILE",
            ),
        }
        return;
    }
    let current = match (target, app.sentence()) {
        (PickTarget::EntityType(i), Some(s)) => s.entities.get(i).map(|e| e.entity_type.clone()),
        (PickTarget::RelationType(i), Some(s)) => {
            s.relations.get(i).map(|r| r.relation_type.clone())
        }
        _ => None,
    };
    let index = current.and_then(|c| options.iter().position(|o| *o == c)).unwrap_or(0);
    app.mode = Mode::Pick(Picker { target, options, index });
}

fn open_picker(app: &mut App) {
    if let Some(why) = app.doc().and_then(|d| d.read_only_reason()) {
        app.say(Level::Warning, format!("read-only: {why}"));
        return;
    }
    open_picker_for(app, type_target(app));
}

fn type_number(app: &mut App, n: u8) -> Vec<Effect> {
    if app.cursor.anchor.is_none() && app.cursor.item.is_none() {
        // A stray digit must not create an entity: words are chosen first, on purpose.
        let range = app.keymap.normal_keys(Action::ToggleRange).first().map(|k| k.label());
        let entity = app.keymap.normal_keys(Action::NextEntity).first().map(|k| k.label());
        app.say(
            Level::Info,
            format!(
                "nothing selected for type {n}: choose words ({} or drag) or an entity ({}) first",
                range.unwrap_or_default(),
                entity.unwrap_or_default()
            ),
        );
        return Vec::new();
    }
    let target = type_target(app);
    let options = options_for(app, target);
    match options.get(usize::from(n) - 1) {
        Some(ty) => apply_type(app, target, &ty.clone()),
        None => {
            app.say(Level::Warning, format!("there is no type {n} ({} types)", options.len()));
            Vec::new()
        }
    }
}

/// Gives type `ty` to `target`: creates or retypes an entity or relation. A retype of an
/// entity that breaks a relation rule asks first.
pub fn apply_type(app: &mut App, target: PickTarget, ty: &str) -> Vec<Effect> {
    if let PickTarget::EntityType(i) = target {
        let reasons = newly_broken(app, |s| edit::set_entity_type(s, i, ty));
        let edit = RuleEdit::Retype { target, ty: ty.to_string() };
        if ask_before_breaking(app, edit, reasons) {
            return Vec::new();
        }
    }
    apply_type_unchecked(app, target, ty)
}

fn apply_type_unchecked(app: &mut App, target: PickTarget, ty: &str) -> Vec<Effect> {
    let effects = match target {
        PickTarget::NewEntity { start, end } => {
            let effects = edit_sentence(app, "add entity", |s| edit::add_entity(s, start, end, ty));
            if !effects.is_empty() {
                let n = app.sentence().map_or(0, |s| s.entities.len());
                app.cursor.item = n.checked_sub(1).map(Item::Entity);
                app.cursor.anchor = None;
            }
            effects
        }
        PickTarget::EntityType(i) => {
            edit_sentence(app, "retype entity", |s| edit::set_entity_type(s, i, ty))
        }
        PickTarget::NewRelation { head, tail } => {
            let effects =
                edit_sentence(app, "add relation", |s| edit::add_relation(s, head, tail, ty));
            if !effects.is_empty() {
                let n = app.sentence().map_or(0, |s| s.relations.len());
                app.cursor.item = n.checked_sub(1).map(Item::Relation);
            }
            effects
        }
        PickTarget::RelationType(i) => {
            edit_sentence(app, "retype relation", |s| edit::set_relation_type(s, i, ty))
        }
        PickTarget::ModelVersion => {
            match ty.split_whitespace().next().unwrap_or_default().parse() {
                Ok(version) => vec![Effect::SwitchModel(version)],
                Err(_) => Vec::new(),
            }
        }
    };
    effects
}

fn accept(app: &mut App) -> Vec<Effect> {
    let Some(item) = app.cursor.item else {
        app.say(Level::Info, "select a proposal first (Tab: entities, ]: relations)");
        return Vec::new();
    };
    let from = app.sentence().and_then(|s| annotation::order_key(s, item));
    let effects = match item {
        Item::Entity(i) => edit_sentence(app, "accept entity", |s| edit::accept_entity(s, i)),
        Item::Relation(i) => edit_sentence(app, "accept relation", |s| edit::accept_relation(s, i)),
    };
    if let (false, Some(from)) = (effects.is_empty(), from) {
        select_next_open(app, from, false);
    }
    effects
}

/// After an accept or reject: selects the sentence's next open proposal after `from` (in
/// reading order, wrapping round), so the reviewer never has to look for it; says what is left.
fn select_next_open(app: &mut App, from: annotation::OrderKey, inclusive: bool) {
    let Some(s) = app.sentence() else { return };
    let open = annotation::open_items(s);
    let next = open
        .iter()
        .find(|(key, _)| if inclusive { *key >= from } else { *key > from })
        .or(open.first())
        .map(|&(_, item)| item);
    let done = app.message.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    match next {
        Some(item) => {
            select_item(app, item);
            app.say(Level::Info, format!("{done}; {} open left, next selected", open.len()));
        }
        None => {
            app.cursor.item = None;
            let review = app.keymap.normal_keys(Action::ReviewAndNext).first().map(|k| k.label());
            app.say(
                Level::Info,
                format!(
                    "{done}; no open proposal left ({} marks the sentence reviewed)",
                    review.unwrap_or_default()
                ),
            );
        }
    }
}

/// `A` / `X`: every open proposal of the sentence at once, saying how many.
fn accept_or_reject_all(app: &mut App, accept: bool) -> Vec<Effect> {
    let open = app.sentence().map_or(0, |s| annotation::open_items(s).len());
    let (label, f): (String, fn(&Sentence) -> edit::Edited) = if accept {
        (format!("accepted {open} open proposal(s)"), edit::accept_all)
    } else {
        (format!("rejected {open} open proposal(s)"), edit::reject_all)
    };
    if open == 0 {
        app.say(Level::Info, "no open proposal in this sentence");
        return Vec::new();
    }
    let effects = edit_sentence(app, &label, f);
    if !effects.is_empty() {
        app.cursor.item = None;
    }
    effects
}

/// Marks the cursor's sentence reviewed. While proposals are open (neither accepted nor
/// rejected) it refuses, selects the first and says how to settle them, unless the config
/// lets review accept them. `None` when it refused or could not.
fn mark_reviewed(app: &mut App) -> Option<Vec<Effect>> {
    let open = app.sentence().map_or(0, |s| annotation::open_items(s).len());
    if open > 0 && !app.review_accepts {
        let first = app.sentence().and_then(|s| annotation::open_items(s).first().map(|o| o.1));
        if let Some(item) = first {
            select_item(app, item);
        }
        let key = |a: Action| app.keymap.normal_keys(a).first().map_or(String::new(), Key::label);
        let text = format!(
            "{open} proposal(s) still open: {} accepts, {} rejects, {} accepts all {open}; \
             then mark reviewed",
            key(Action::Accept),
            key(Action::Delete),
            key(Action::AcceptAll)
        );
        app.say(Level::Warning, text);
        return None;
    }
    let label = if open > 0 {
        format!("mark reviewed (accepted {open} open proposal(s))")
    } else {
        "mark reviewed".to_string()
    };
    let mut effects = edit_sentence(app, &label, |s| edit::set_reviewed(s, true));
    if effects.is_empty() {
        return None;
    }
    effects.extend(count_reviewed(app));
    Some(effects)
}

fn delete(app: &mut App) -> Vec<Effect> {
    let from = app.cursor.item.and_then(|item| annotation::order_key(app.sentence()?, item));
    let effects = match app.cursor.item {
        Some(Item::Entity(i)) => {
            let proposal =
                app.sentence().and_then(|s| s.entities.get(i)).map(annotation::entity_source)
                    == Some(annotation::Source::Model);
            let label = if proposal { "reject entity" } else { "delete entity" };
            edit_sentence(app, label, |s| edit::delete_entity(s, i))
        }
        Some(Item::Relation(i)) => {
            let proposal =
                app.sentence().and_then(|s| s.relations.get(i)).map(annotation::relation_source)
                    == Some(annotation::Source::Model);
            let label = if proposal { "reject relation" } else { "delete relation" };
            edit_sentence(app, label, |s| edit::delete_relation(s, i))
        }
        None => {
            app.say(Level::Info, "select an entity (Tab) or a relation (]) first");
            return Vec::new();
        }
    };
    if !effects.is_empty() {
        app.cursor.item = None;
        if let Some(from) = from {
            select_next_open(app, from, true);
        }
    }
    effects
}

fn move_boundary(app: &mut App, start_by: isize, end_by: isize) -> Vec<Effect> {
    let Some(Item::Entity(i)) = app.cursor.item else {
        app.say(Level::Info, "select an entity first (Tab)");
        return Vec::new();
    };
    let Some(e) = app.sentence().and_then(|s| s.entities.get(i)) else { return Vec::new() };
    let (start, end) =
        (e.start.saturating_add_signed(start_by), e.end.saturating_add_signed(end_by));
    if e.start == 0 && start_by < 0 {
        return Vec::new();
    }
    let effects =
        edit_sentence(app, "move entity boundary", |s| edit::set_entity_span(s, i, start, end));
    if !effects.is_empty() {
        app.cursor.token = start;
    }
    effects
}

fn start_relation(app: &mut App) {
    if let Some(why) = app.doc().and_then(|d| d.read_only_reason()) {
        app.say(Level::Warning, format!("read-only: {why}"));
        return;
    }
    let Some(Item::Entity(head)) = app.cursor.item else {
        app.say(Level::Info, "select the head entity first (Tab), then R");
        return;
    };
    let Some(s) = app.sentence() else { return };
    let order: Vec<usize> = entity_order(s).into_iter().filter(|&i| i != head).collect();
    match order.first() {
        Some(&tail) => app.mode = Mode::Link { head, tail },
        None => app.say(Level::Info, "a relation needs a second entity in this sentence"),
    }
}

/// The next or previous tail candidate of a relation being drawn from `head`.
pub fn cycle_tail(app: &App, head: usize, tail: usize, forward: bool) -> usize {
    let Some(s) = app.sentence() else { return tail };
    let order: Vec<usize> = entity_order(s).into_iter().filter(|&i| i != head).collect();
    cycle(Some(tail), &order, forward).unwrap_or(tail)
}

fn flip(app: &mut App) -> Vec<Effect> {
    match app.cursor.item {
        Some(Item::Relation(i)) => {
            let reasons = newly_broken(app, |s| edit::flip_relation(s, i));
            if ask_before_breaking(app, RuleEdit::Flip { relation: i }, reasons) {
                return Vec::new();
            }
            edit_sentence(app, "flip relation", |s| edit::flip_relation(s, i))
        }
        _ => {
            app.say(Level::Info, "select a relation first (])");
            Vec::new()
        }
    }
}

/// Selects `item` of the current sentence (an entity puts the cursor on its first word).
pub fn select_item(app: &mut App, item: Item) {
    if let (Item::Entity(i), Some(s)) = (item, app.sentence()) {
        app.cursor.token = s.entities[i].start;
    }
    app.cursor.item = Some(item);
    app.cursor.anchor = None;
}

/// Applies `f` to the cursor's sentence and commits the result, or says why not.
pub fn edit_sentence(
    app: &mut App,
    label: &str,
    f: impl FnOnce(&Sentence) -> Edited,
) -> Vec<Effect> {
    let Some(doc) = app.doc() else { return Vec::new() };
    if let Some(why) = doc.read_only_reason() {
        app.say(Level::Warning, format!("read-only: {why}"));
        return Vec::new();
    }
    let Some(sentence) = app.sentence() else { return Vec::new() };
    match f(sentence) {
        Ok(after) => {
            let (doc, index) = (app.cursor.doc, app.cursor.sentence);
            commit(app, doc, index, after, label)
        }
        Err(err) => {
            app.say(Level::Warning, format!("{label}: {err}"));
            Vec::new()
        }
    }
}

/// Puts `after` in place of sentence `index` of document `doc` (a list index) as one undoable
/// edit, and journals it.
pub fn commit(
    app: &mut App,
    doc: usize,
    index: usize,
    mut after: Sentence,
    label: &str,
) -> Vec<Effect> {
    super::provenance::mark_edit(app, doc, index, &mut after);
    let d = &mut app.docs[doc];
    let before = d.sentences.edit(index, after.clone());
    app.history.record(Change {
        doc: d.id,
        sentence: index,
        before: vec![before],
        after: vec![after],
        label: label.to_string(),
    });
    app.say(Level::Info, label.to_string());
    fix_item(app);
    journal(app, doc, index, 1, 1, label)
}

/// Puts `with` in place of the `count` sentences of document `doc` from `index` on, and
/// returns them: the sentences split or merged, or that change undone. Predictions in flight
/// for sentences whose index moved are forgotten (their replies are dropped).
fn splice(
    app: &mut App,
    doc: usize,
    index: usize,
    count: usize,
    with: Vec<Sentence>,
) -> Vec<Sentence> {
    let d = &mut app.docs[doc];
    d.predicting.retain(|&i| i < index);
    d.sentences.splice(index, count, with)
}

/// Puts `after` in place of the `count` sentences from `index` on (a split or merge) as one
/// undoable edit, and journals it.
pub fn commit_splice(
    app: &mut App,
    doc: usize,
    index: usize,
    count: usize,
    after: Vec<Sentence>,
    label: &str,
) -> Vec<Effect> {
    let added = after.len();
    let before = splice(app, doc, index, count, after.clone());
    let id = app.docs[doc].id;
    app.history.record(Change { doc: id, sentence: index, before, after, label: label.into() });
    fix_item(app);
    journal(app, doc, index, count, added, label)
}

/// The journal writes recording that the `count` sentences from `index` on of document `doc`
/// became its `added` sentences from there (one for one for every edit but a split or merge).
pub fn journal(
    app: &mut App,
    doc: usize,
    index: usize,
    count: usize,
    added: usize,
    label: &str,
) -> Vec<Effect> {
    let at = app.now;
    let d = &mut app.docs[doc];
    let save_path = d.source.save_path.clone();
    let mut effects = Vec::new();
    if !d.journal_started {
        d.journal_started = true;
        effects.push(Effect::Store(StoreRequest::StartJournal {
            doc: d.id,
            save_path: save_path.clone(),
            base: d.fingerprint,
        }));
    }
    let after = (index..index + added).map(|i| d.sentences[i].clone()).collect();
    let entry = JournalEntry::replacing(index, count, after, label, at);
    effects.push(Effect::Store(StoreRequest::Journal { doc: d.id, save_path, entry }));
    effects
}

/// Drops a selected item that no longer exists.
pub fn fix_item(app: &mut App) {
    let Some(s) = app.sentence() else { return };
    let gone = match app.cursor.item {
        Some(Item::Entity(i)) => i >= s.entities.len(),
        Some(Item::Relation(i)) => i >= s.relations.len(),
        None => false,
    };
    let len = s.tokens.len();
    if gone {
        app.cursor.item = None;
    }
    app.cursor.token = app.cursor.token.min(len.saturating_sub(1));
    if app.cursor.anchor.is_some_and(|a| a >= len) {
        app.cursor.anchor = None;
    }
}

fn undo(app: &mut App, back: bool) -> Vec<Effect> {
    let change = if back { app.history.undo() } else { app.history.redo() };
    let Some(change) = change.cloned() else {
        app.say(Level::Info, if back { "nothing to undo" } else { "nothing to redo" });
        return Vec::new();
    };
    let Some(doc) = app.doc_index(change.doc) else { return Vec::new() };
    let (now, state) =
        if back { (change.after, change.before) } else { (change.before, change.after) };
    let (index, count, added) = (change.sentence, now.len(), state.len());
    let sentences = &app.docs[doc].sentences;
    let same_words = index + count <= sentences.len()
        && (index..index + count).map(|i| &sentences[i].tokens).eq(now.iter().map(|s| &s.tokens));
    if !same_words {
        app.say(Level::Error, "cannot undo: the document changed under the edit");
        return Vec::new();
    }
    if (app.cursor.doc, app.cursor.sentence) != (doc, index) {
        goto(app, doc, index);
    }
    if count == 1 && added == 1 {
        let state = state.into_iter().next().unwrap_or_default();
        app.docs[doc].sentences.edit(index, state);
    } else {
        splice(app, doc, index, count, state);
    }
    fix_item(app);
    let label = format!("{} {}", if back { "undo" } else { "redo" }, change.label);
    app.say(Level::Info, label.clone());
    journal(app, doc, index, count, added, &label)
}

/// Splits the cursor's sentence before the cursor's word, asking first when a relation would
/// be dropped.
fn split_sentence(app: &mut App) -> Vec<Effect> {
    let at = app.cursor.token;
    let planned = match app.sentence().map(|s| split::split(s, at)) {
        Some(Ok(planned)) => planned,
        Some(Err(err)) => {
            app.say(Level::Warning, format!("split: {err}"));
            return Vec::new();
        }
        None => return Vec::new(),
    };
    let label = format!("split before word {}", at + 1);
    restructure(app, 1, planned, label)
}

/// Merges the cursor's sentence with the next, asking first when their record keys disagree.
fn merge_sentences(app: &mut App) -> Vec<Effect> {
    let Some(d) = app.doc() else { return Vec::new() };
    let index = app.cursor.sentence;
    let (Some(first), Some(second)) = (d.sentences.get(index), d.sentences.get(index + 1)) else {
        app.say(Level::Warning, format!("merge: {}", edit::EditError::NoNextSentence));
        return Vec::new();
    };
    let planned = split::merge(first, second);
    restructure(app, 2, planned, "merge with the next sentence".into())
}

/// Replaces `count` sentences at the cursor by `planned`'s, or asks first when it loses
/// something (a relation across the cut, a record key of the second sentence).
fn restructure(
    app: &mut App,
    count: usize,
    planned: split::Restructured,
    label: String,
) -> Vec<Effect> {
    if let Some(why) = app.doc().and_then(|d| d.read_only_reason()) {
        app.say(Level::Warning, format!("read-only: {why}"));
        return Vec::new();
    }
    let Some(d) = app.doc() else { return Vec::new() };
    let index = app.cursor.sentence;
    let losses: Vec<String> = (planned.dropped.iter().map(|r| format!("drops the relation {r}")))
        .chain(planned.conflicts.iter().map(|k| format!("keeps the first sentence's {k}")))
        .collect();
    let edit = Restructure {
        doc: d.id,
        sentence: index,
        before: (index..index + count).map(|i| d.sentences[i].clone()).collect(),
        after: planned.sentences,
        label,
    };
    if losses.is_empty() {
        return apply_restructure(app, edit);
    }
    app.questions.push_back(Question::Restructure { edit, losses });
    Vec::new()
}

/// Makes a split or merge the reviewer allowed, if the sentences are still as they were.
pub fn apply_restructure(app: &mut App, edit: Restructure) -> Vec<Effect> {
    let Some(doc) = app.doc_index(edit.doc) else { return Vec::new() };
    let (index, count) = (edit.sentence, edit.before.len());
    let sentences = &app.docs[doc].sentences;
    let unchanged = index + count <= sentences.len()
        && (index..index + count).map(|i| &sentences[i]).eq(edit.before.iter());
    if !unchanged {
        app.say(Level::Error, format!("{}: the document changed meanwhile", edit.label));
        return Vec::new();
    }
    let token = app.cursor.token;
    goto(app, doc, index);
    let effects = commit_splice(app, doc, index, count, edit.after, &edit.label);
    if count == 1 {
        // After a split the cursor is on the second sentence's first word, where it was.
        goto(app, doc, index + 1);
    } else {
        app.cursor.token = token;
    }
    let n = app.docs[doc].sentences.len();
    app.say(Level::Info, format!("{}; the document has {n} sentences (u undoes)", edit.label));
    effects
}

/// Asks the store worker to save every edited document that can be saved.
pub fn save_all(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut names = Vec::new();
    let mut refused = Vec::new();
    let mut asking = Vec::new();
    for d in app.docs.iter_mut().filter(|d| d.is_dirty() && d.saving.is_none()) {
        if let Some(why) = d.read_only_reason() {
            refused.push(format!("{}: {why}", d.name()));
            continue;
        }
        if let Some(format) = d.source.interchange.filter(|_| !d.losses_accepted) {
            // What the format cannot carry is said before the save, never after.
            let mut losses = d.losses.clone();
            losses.extend(formats::write_losses(format, &d.sentences.to_vec()));
            if !losses.is_empty() {
                let doc = d.id;
                let asked =
                    |q: &Question| matches!(q, Question::SaveLosses { doc: d2, .. } if *d2 == doc);
                if !app.questions.iter().any(asked)
                    && !matches!(&app.mode, Mode::Confirm(q) if asked(q))
                {
                    app.questions.push_back(Question::SaveLosses { doc, losses });
                }
                asking.push(d.name());
                continue;
            }
        }
        let (expected, force) = match d.disk {
            super::state::Disk::InSync => (d.fingerprint, false),
            super::state::Disk::Changed => (d.fingerprint, true),
            super::state::Disk::Removed => (None, false),
        };
        // The store worker and, once written, the document share the sentences, not copies.
        let snapshot = d.sentences.snapshot();
        d.saving = Some(snapshot.clone());
        names.push(d.name());
        effects.push(Effect::Store(StoreRequest::Save {
            doc: d.id,
            source: d.source.clone(),
            sentences: snapshot,
            expected,
            force,
        }));
    }
    if let Some(first) = refused.first() {
        app.say(Level::Error, format!("not saved: {first}"));
    } else if names.is_empty() && !asking.is_empty() {
        let what = asking.join(", ");
        app.say(
            Level::Warning,
            format!("{what}: its format cannot carry everything; answer first"),
        );
    } else if names.is_empty() {
        let busy = app.docs.iter().any(|d| d.saving.is_some());
        app.say(Level::Info, if busy { "saving…" } else { "nothing to save: no unsaved edits" });
    } else {
        app.say(Level::Info, format!("saving {}…", names.join(", ")));
    }
    effects
}

/// Starts fine-tuning on every reviewed sentence of every document, or cancels the run.
pub fn fine_tune(app: &mut App) -> Vec<Effect> {
    if app.fine_tuning.run.as_ref().is_some_and(|t| t.is_running()) {
        app.say(Level::Info, "cancelling fine-tuning…");
        return vec![Effect::CancelTraining];
    }
    if !app.fine_tuning.possible {
        app.say(Level::Warning, "fine-tuning needs a model (open without --no-model)");
        return Vec::new();
    }
    let reviewed: Vec<Sentence> = without_rejected(
        app.docs.iter().flat_map(|d| reviewed_sentences(d.sentences.iter())).collect(),
    );
    if reviewed.len() < 2 {
        app.say(
            Level::Warning,
            format!("review at least 2 sentences first (r or Enter); {} reviewed", reviewed.len()),
        );
        return Vec::new();
    }
    app.say(
        Level::Info,
        format!("fine-tuning on {} reviewed sentences; keep working, T cancels", reviewed.len()),
    );
    app.fine_tuning.run = Some(super::state::Training::new());
    app.fine_tuning.panel = true;
    app.fine_tuning.reviewed_since = 0;
    vec![Effect::StartTraining { reviewed }]
}

/// Counts a newly reviewed sentence, and starts fine-tuning when `--auto-train N` says so.
fn count_reviewed(app: &mut App) -> Vec<Effect> {
    app.fine_tuning.reviewed_since += 1;
    match app.fine_tuning.auto {
        Some(n)
            if app.fine_tuning.reviewed_since >= n
                && !app.fine_tuning.run.as_ref().is_some_and(|t| t.is_running()) =>
        {
            fine_tune(app)
        }
        _ => Vec::new(),
    }
}
