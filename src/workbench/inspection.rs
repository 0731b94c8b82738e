//! The inspector's side of `update`: what it explains (the selected span, or the selected
//! relation itself), what it asks the model worker for given the view shown, and its keys
//! while it has them ([`Mode::Inspect`]).
//!
//! Scheduling: f_a and P(type) on every selection (an inspect request); importance and the
//! words' attributions once the importance or the ablation view is shown; the single-head
//! sweep and the flip set in the ablation view; custom ablations on a key; the masked words
//! each time `w` changes their set (a live what-if: the set is asked as it stands, an empty
//! one not at all). Each explain request names only what is still missing, so a newer one
//! can supersede an older one.

use super::keymap::InspectAction;
use super::state::{App, ExplainKey, InspectorView, Level, Mode, ModelStatus};
use super::update::Effect;
use crate::data::annotation::Item;
use crate::explain::prediction::{Mode as MaskMode, Target, Words};
use crate::explain::Head;
use crate::worker::explanation::{Ablation, Masked, Wanted};

/// What the causal views explain: the selected relation (head span, tail span, its type),
/// else the span the inspector shows.
pub fn explained_target(app: &App) -> Option<ExplainKey> {
    let doc = app.doc()?;
    let s = app.sentence()?;
    let target = match (app.cursor.anchor, app.cursor.item) {
        (None, Some(Item::Relation(i))) => {
            let r = s.relations.get(i)?;
            let (head, tail) = (s.entities.get(r.head)?, s.entities.get(r.tail)?);
            Target::Relation {
                head: Words::new(head.start, head.end),
                tail: Words::new(tail.start, tail.end),
                relation: Some(r.relation_type.clone()),
            }
        }
        _ => {
            let key = super::update::inspected_span(app)?;
            Target::Entity { span: Words::new(key.start, key.end) }
        }
    };
    Some(ExplainKey {
        doc: doc.id,
        sentence: app.cursor.sentence,
        tokens: s.tokens.clone(),
        target,
    })
}

/// What the view shown needs, custom ablations included.
fn wanted(app: &App, relation: bool) -> Wanted {
    let i = &app.inspector;
    let causal = matches!(i.view, InspectorView::Importance | InspectorView::Ablation);
    let ablation_view = i.view == InspectorView::Ablation;
    Wanted {
        // A relation's f_a and scores come only from the explainer.
        prediction: relation
            || causal
            || i.ablation.is_some()
            || i.flip
            || !i.masked_words.is_empty(),
        importance: causal,
        words: causal,
        sweep: ablation_view.then_some(i.mode),
        flip: (ablation_view || i.flip).then_some(i.mode),
        ablation: i.ablation.clone(),
        word_mask: (!i.masked_words.is_empty()).then(|| i.masked_words.iter().copied().collect()),
    }
}

/// Starts over when the explained prediction changed, and asks for what the view needs and
/// no request in flight already asks.
pub fn refresh_explanation(app: &mut App) -> Option<Effect> {
    let key = explained_target(app)?;
    if app.inspector.explain_key.as_ref() != Some(&key) {
        let i = &mut app.inspector;
        i.explain_key = Some(key.clone());
        i.explanation = None;
        i.explain_error = None;
        i.asked = Wanted::default();
        i.refused = Wanted::default();
        i.ablation = None;
        i.flip = false;
        i.chosen.clear();
        i.word = first_word(&key.target);
        i.masked_words.clear();
        i.explain_since = app.next_request;
    }
    let relation = matches!(key.target, Target::Relation { .. });
    let missing = wanted(app, relation).missing(app.inspector.explanation.as_ref());
    let i = &app.inspector;
    if missing.is_empty() || i.asked.covers(&missing) || i.refused == missing {
        return None;
    }
    let request = app.next_request;
    app.next_request += 1;
    app.inspector.explain_request = request;
    app.inspector.asked = missing.clone();
    app.inspector.explain_error = None;
    Some(Effect::Explain { request, tokens: key.tokens, target: key.target, wanted: missing })
}

/// Where the word cursor starts: the target's first word (a relation's head's).
fn first_word(target: &Target) -> usize {
    match target {
        Target::Entity { span } => span.start,
        Target::Relation { head, .. } => head.start,
    }
}

/// Takes in an explain answer: any answer for the prediction now explained is kept (an older
/// one may still hold parts the newest lacks); only the newest ends the wait.
pub fn explained(
    app: &mut App,
    request: u64,
    result: Result<Box<crate::worker::explanation::Explanation>, String>,
) {
    let i = &mut app.inspector;
    if request < i.explain_since {
        return;
    }
    let newest = request == i.explain_request;
    match result {
        Ok(found) => match &mut i.explanation {
            Some(known) => known.merge(*found),
            None => i.explanation = Some(*found),
        },
        Err(why) if newest => i.explain_error = Some(why),
        Err(_) => {}
    }
    if newest {
        let asked = std::mem::take(&mut i.asked);
        // Asked again, the same request would fail at once, and again, without end.
        i.refused = if i.explain_error.is_some() { asked } else { Wanted::default() };
    }
}

/// The model's layers and heads, when it is loaded.
fn shape(app: &App) -> Option<(usize, usize)> {
    match &app.model {
        ModelStatus::Ready(info) => Some((info.layers, info.heads)),
        _ => None,
    }
}

/// Carries out an inspector key.
pub fn run(app: &mut App, action: InspectAction) {
    let (layers, heads) = shape(app).unwrap_or((1, 1));
    let words = app.inspector.explain_key.as_ref().map_or(0, |k| k.tokens.len());
    let i = &mut app.inspector;
    let at = i.head;
    let ablate = |i: &mut super::state::Inspector, masked: Masked| {
        i.ablation = Some(Ablation { masked, mode: i.mode });
    };
    match action {
        InspectAction::Left => i.head.head = at.head.saturating_sub(1),
        InspectAction::Right => i.head.head = (at.head + 1).min(heads - 1),
        InspectAction::Up => i.head.layer = at.layer.saturating_sub(1),
        InspectAction::Down => i.head.layer = (at.layer + 1).min(layers - 1),
        InspectAction::Toggle => {
            if !i.chosen.remove(&at) {
                i.chosen.insert(at);
            }
        }
        InspectAction::Clear => i.chosen.clear(),
        InspectAction::AblateSet if i.chosen.is_empty() => {
            app.say(Level::Warning, "the set is empty: Space adds the head under the cursor");
        }
        InspectAction::AblateSet => {
            let set = i.chosen.iter().copied().collect();
            ablate(i, Masked::Heads(set));
        }
        InspectAction::AblateHead => ablate(i, Masked::Heads(vec![at])),
        InspectAction::AblateLayer => {
            let layer = (0..heads).map(|head| Head { layer: at.layer, head }).collect();
            ablate(i, Masked::Heads(layer));
        }
        InspectAction::AblateTop(n) => ablate(i, Masked::Top(usize::from(n))),
        InspectAction::ToggleMode => {
            i.mode = match i.mode {
                MaskMode::Encoder => MaskMode::AttentionFeature,
                MaskMode::AttentionFeature => MaskMode::Encoder,
            };
            // The last ablation is asked again in the new mode, to compare.
            if let Some(a) = &mut i.ablation {
                a.mode = i.mode;
            }
        }
        InspectAction::FlipSet => i.flip = true,
        InspectAction::WordLeft => i.word = i.word.saturating_sub(1),
        InspectAction::WordRight => i.word = (i.word + 1).min(words.saturating_sub(1)),
        InspectAction::ToggleWord if words == 0 => {}
        InspectAction::ToggleWord => {
            if !i.masked_words.remove(&i.word) {
                i.masked_words.insert(i.word);
            }
        }
        InspectAction::ClearWords => i.masked_words.clear(),
        InspectAction::NextView => i.view = i.view.next(),
        InspectAction::Leave => app.mode = Mode::Normal,
    }
    // f_a has no room for what masking did: the importance view shows it.
    let masks = matches!(
        action,
        InspectAction::AblateSet
            | InspectAction::AblateHead
            | InspectAction::AblateLayer
            | InspectAction::AblateTop(_)
            | InspectAction::FlipSet
            | InspectAction::ToggleWord
    );
    let i = &mut app.inspector;
    let something = i.ablation.is_some() || i.flip || !i.masked_words.is_empty();
    if masks && i.view == InspectorView::Contribution && something {
        i.view = InspectorView::Importance;
    }
}

/// Gives the keys to the inspector, when there is a model to ask.
pub fn focus(app: &mut App) {
    if shape(app).is_none() {
        app.say(Level::Warning, "no model is loaded: the inspector has nothing to explain");
        return;
    }
    app.mode = Mode::Inspect;
}
