//! Going to what the reviewer looks for: the next unreviewed sentence, the next
//! low-confidence prediction, and the matches of the search and of the filter line.

use super::commands::{goto, positions_after, select_item};
use super::state::{App, Level};
use crate::data::annotation::{self, is_reviewed, Item};

pub(super) fn next_unreviewed(app: &mut App) {
    let found = positions_after(app, true)
        .into_iter()
        .find(|&(d, s)| !is_reviewed(&app.docs[d].sentences[s]));
    match found {
        Some((d, s)) => goto(app, d, s),
        None => app.say(Level::Info, "every sentence is reviewed"),
    }
}

pub(super) fn next_low_confidence(app: &mut App) {
    let threshold = app.threshold;
    if let Some(s) = app.sentence() {
        if let Some((item, _)) = annotation::low_confidence(s, threshold) {
            if app.cursor.item != Some(item) {
                select_item(app, item);
                return;
            }
        }
    }
    let found = positions_after(app, true).into_iter().find_map(|(d, s)| {
        annotation::low_confidence(&app.docs[d].sentences[s], threshold)
            .map(|(item, _)| (d, s, item))
    });
    match found {
        Some((d, s, item)) if (d, s) != (app.cursor.doc, app.cursor.sentence) => {
            goto(app, d, s);
            select_item(app, item);
        }
        _ => app.say(Level::Info, format!("no other proposal scores below {threshold:.2}")),
    }
}

/// Goes to the next or previous match of the filter when one is set, else of the search.
pub fn find(app: &mut App, forward: bool) {
    if app.filter.is_some() {
        filter_step(app, forward);
    } else {
        search(app, forward);
    }
}

/// Goes to the next or previous match of the filter, across documents, selects its entity or
/// relation, and says which match of how many it is.
pub fn filter_step(app: &mut App, forward: bool) {
    let Some(filter) = app.filter.take() else { return };
    // Each match as (document, sentence, rank in the sentence from 1).
    let mut all: Vec<(usize, usize, usize)> = Vec::new();
    let mut items: Vec<Option<Item>> = Vec::new();
    let mut here = (app.cursor.doc, app.cursor.sentence, 0);
    for (d, doc) in app.docs.iter().enumerate() {
        for (s, sentence) in doc.sentences.iter().enumerate() {
            for (rank, item) in filter.matches_in(sentence).into_iter().enumerate() {
                let at = (d, s, rank + 1);
                // Where the cursor is: on the selected item, or on a sentence-only match.
                if (d, s) == (here.0, here.1) && (item.is_none() || item == app.cursor.item) {
                    here = at;
                }
                all.push(at);
                items.push(item);
            }
        }
    }
    match next_after(&all, here, forward) {
        Some(k) => {
            let (d, s, _) = all[k];
            goto(app, d, s);
            if let Some(item) = items[k] {
                select_item(app, item);
            }
            let text = format!(
                "filter {}: match {} of {} ({})",
                filter.text,
                k + 1,
                all.len(),
                app.docs[d].name()
            );
            app.say(Level::Info, text);
        }
        None => app.say(
            Level::Warning,
            format!("filter {} matches nothing (F changes it, an empty one ends it)", filter.text),
        ),
    }
    app.filter = Some(filter);
}

/// The index of the first of the sorted positions `all` after `here` (before it, going back),
/// round to the other end; `None` when there are none.
fn next_after<T: PartialOrd + Copy>(all: &[T], here: T, forward: bool) -> Option<usize> {
    if forward {
        all.iter().position(|&m| m > here).or((!all.is_empty()).then_some(0))
    } else {
        all.iter().rposition(|&m| m < here).or(all.len().checked_sub(1))
    }
}

/// Runs the search in `app.search` from the cursor, forward or back, across documents, and
/// says which match of how many it went to.
pub fn search(app: &mut App, forward: bool) {
    let query = super::search::fold(&app.search);
    if query.is_empty() {
        app.say(Level::Info, "no search yet: / to search");
        return;
    }
    let all: Vec<(usize, usize, usize)> = app
        .docs
        .iter()
        .enumerate()
        .flat_map(|(d, doc)| {
            let query = &query;
            doc.sentences.iter().enumerate().flat_map(move |(s, sentence)| {
                super::search::matches_in(sentence, query).into_iter().map(move |w| (d, s, w))
            })
        })
        .collect();
    let here = (app.cursor.doc, app.cursor.sentence, app.cursor.token);
    match next_after(&all, here, forward) {
        Some(k) => {
            let (d, s, w) = all[k];
            goto(app, d, s);
            app.cursor.token = w;
            app.say(
                Level::Info,
                format!(
                    "\"{}\": match {} of {} ({})",
                    app.search,
                    k + 1,
                    all.len(),
                    app.docs[d].name()
                ),
            );
        }
        None => app.say(Level::Warning, format!("\"{}\" is in no document", app.search)),
    }
}
