//! Boxes drawn over the panes: the help (every key, from the key tables), the type picker and
//! the questions that need an answer.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Widget};

use super::{count, fit_middle, put, put_spans, spans_width, type_index, width, wrap_text};
use crate::data::stats::Stats;
use crate::data::time::utc_stamp;
use crate::workbench::keymap::{
    Binding, Key, KeyTable, Keymap, SearchAction, ANYWHERE, DIGIT_HELP, HELP, INSPECT,
    INSPECT_DIGIT_HELP, LABELS, LINK, NORMAL, PICKER, SEARCH,
};
use crate::workbench::labels::{LabelEditor, Purpose};
use crate::workbench::state::{App, Level, Mode, PickTarget, Picker, Question};
use crate::workbench::theme::Theme;
use crate::workbench::update::answers;

/// Draws the overlay of the current mode, if it has one.
pub(super) fn draw(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    match &app.mode {
        Mode::Help { scroll } => help(buf, area, app, *scroll, theme),
        Mode::Stats { scroll } => stats_box(buf, area, app, *scroll, theme),
        Mode::Pick(picker) => picker_box(buf, area, app, picker, theme),
        Mode::Confirm(question) => confirm(buf, area, app, question, theme),
        Mode::Labels(editor) => {
            labels_box(buf, area, app, editor, theme);
            error_box(buf, area, app, theme);
        }
        _ => error_box(buf, area, app, theme),
    }
}

/// A message too long for the bottom row, shown whole: wrapped in a box above the two bottom
/// rows, until the next message (Esc hides it).
fn error_box(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    let Some((level, text)) = &app.message else { return };
    let level = *level;
    let title = match level {
        Level::Error => " error ",
        Level::Warning => " warning ",
        Level::Info => " message ",
    };
    if width(text) + 2 <= super::status::message_room(level, text, area.width) || area.height < 6 {
        return;
    }
    let w = area.width.saturating_sub(2);
    let lines = wrap_text(text, usize::from(w.saturating_sub(4)));
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(3));
    let outer = Rect::new(area.x + 1, area.bottom().saturating_sub(2 + h), w, h);
    Clear.render(outer, buf);
    buf.set_style(outer, theme.base);
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.level(level))
        .title(Span::styled(title, theme.level(level).add_modifier(Modifier::BOLD)))
        .title_bottom(Line::from(Span::styled(" Esc hides ", theme.dim)).right_aligned())
        .render(outer, buf);
    let inner =
        Rect::new(outer.x + 2, outer.y + 1, outer.width.saturating_sub(4), h.saturating_sub(2));
    for (y, line) in (inner.y..inner.bottom()).zip(&lines) {
        put(buf, inner, inner.x, y, line, theme.base);
    }
}

/// The label editor: every entity type, then every relation type with its rule, retired ones
/// marked; the name being typed on the last row.
fn labels_box(buf: &mut Buffer, area: Rect, app: &App, editor: &LabelEditor, theme: &Theme) {
    let rule = |allowed: &[String]| {
        if allowed.is_empty() {
            "any".to_string()
        } else {
            allowed.join("|")
        }
    };
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    for t in &app.types.entities {
        rows.push((format!("entity    {}", t.name), String::new(), t.retired));
    }
    for t in &app.types.relations {
        let what = if t.has_rule() {
            format!("{} -> {}", rule(&t.heads), rule(&t.tails))
        } else {
            String::new()
        };
        rows.push((format!("relation  {}", t.name), what, t.retired));
    }
    let prompt = editor.prompt.as_ref().map(|p| {
        let what = match &p.purpose {
            Purpose::Add(true) => "new entity type".to_string(),
            Purpose::Add(false) => "new relation type".to_string(),
            Purpose::Rename(_, from) => format!("rename {from} to"),
        };
        format!("{what}: {}", p.name)
    });
    let name_w = rows.iter().map(|r| width(&r.0)).max().unwrap_or(0);
    let rest_w = rows.iter().map(|r| width(&r.1) + if r.2 { 10 } else { 0 }).max().unwrap_or(0);
    let prompt_w = prompt.as_deref().map_or(0, width) + 2;
    let w = (4 + name_w + 2 + rest_w).max(prompt_w).max(54) as u16 + 2;
    let h = rows.len() as u16 + 2 + u16::from(prompt.is_some()) * 2;
    let title = vec![Span::styled(
        format!(" Types: {} ", app.types_path.as_deref().map_or(String::new(), path_name)),
        theme.base.add_modifier(Modifier::BOLD),
    )];
    let footer = match prompt {
        Some(_) => " Enter done · Esc cancel ",
        None => " e entity · r relation · c rename · x retire · Esc ",
    };
    let inner = dialog(buf, area, w, h, title, vec![Span::styled(footer, theme.dim)], theme);
    let list_h = usize::from(inner.height.saturating_sub(u16::from(prompt.is_some()) * 2));
    let first = (editor.index + 1).saturating_sub(list_h);
    for (n, (i, (name, what, retired))) in
        rows.iter().enumerate().skip(first).take(list_h).enumerate()
    {
        let y = inner.y + n as u16;
        let current = i == editor.index;
        let base = if current { theme.selection } else { theme.base };
        if current {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), theme.selection);
        }
        let mut spans = vec![
            Span::styled(if current { "▸ " } else { "  " }, base.patch(theme.warn)),
            Span::styled(format!("{name:name_w$}  "), base),
            Span::styled(what.clone(), base.patch(theme.dim)),
        ];
        if *retired {
            spans.push(Span::styled(" (retired)", base.patch(theme.dim)));
        }
        put_spans(buf, inner, inner.x, y, &spans);
    }
    if let Some(prompt) = prompt {
        let y = inner.bottom().saturating_sub(1);
        let x = put(buf, inner, inner.x, y, &prompt, theme.base.add_modifier(Modifier::BOLD));
        put(buf, inner, x, y, " ", theme.cursor);
    }
}

/// A path's file name, for a title.
fn path_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into())
}

/// Clears a `w x h` box centred in `area` (shrunk to fit), draws its border and titles, and
/// returns the inside.
fn dialog(
    buf: &mut Buffer,
    area: Rect,
    w: u16,
    h: u16,
    title: Vec<Span<'_>>,
    footer: Vec<Span<'_>>,
    theme: &Theme,
) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let outer = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    Clear.render(outer, buf);
    buf.set_style(outer, theme.base);
    let mut block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border)
        .title(Line::from(title));
    if !footer.is_empty() {
        block = block.title_bottom(Line::from(footer).right_aligned());
    }
    let inner = block.inner(outer);
    block.render(outer, buf);
    // One column of padding inside the border.
    Rect::new(
        inner.x.saturating_add(1).min(inner.right()),
        inner.y,
        inner.width.saturating_sub(2),
        inner.height,
    )
}

/// One row of the help.
enum HelpRow {
    Heading(String),
    Key(String, String),
    Blank,
}

/// How help writes keys: `j / ↓`.
fn keys_label(keys: &[Key]) -> String {
    keys.iter().map(Key::label).collect::<Vec<_>>().join(" / ")
}

fn table<A>(rows: &mut Vec<HelpRow>, keymap: &Keymap, kind: KeyTable, bindings: &[Binding<A>]) {
    let mut group = "";
    for (i, b) in bindings.iter().enumerate() {
        if b.group != group {
            if !group.is_empty() {
                rows.push(HelpRow::Blank);
            }
            group = b.group;
            rows.push(HelpRow::Heading(group.into()));
        }
        rows.push(HelpRow::Key(keys_label(keymap.row_keys(kind, i)), b.help.into()));
    }
}

/// Every row of the help: the normal keys by group (digits in theirs), the picker's, the
/// link mode's and the inspector's keys, the entity types the digits give, and notes on search and questions.
fn help_rows(app: &App) -> Vec<HelpRow> {
    let mut rows = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for b in NORMAL {
        if !groups.contains(&b.group) {
            groups.push(b.group);
        }
    }
    for group in groups {
        rows.push(HelpRow::Heading(group.into()));
        for (i, b) in NORMAL.iter().enumerate().filter(|(_, b)| b.group == group) {
            let keys = keys_label(app.keymap.row_keys(KeyTable::Normal, i));
            rows.push(HelpRow::Key(keys, b.help.into()));
        }
        if group == DIGIT_HELP.0 {
            rows.push(HelpRow::Key(app.keymap.digits_label(), DIGIT_HELP.2.into()));
        }
        rows.push(HelpRow::Blank);
    }
    table(&mut rows, &app.keymap, KeyTable::Picker, PICKER);
    rows.push(HelpRow::Key(app.keymap.digits_label(), "choose type n".into()));
    rows.push(HelpRow::Blank);
    table(&mut rows, &app.keymap, KeyTable::Link, LINK);
    rows.push(HelpRow::Blank);
    table(&mut rows, &app.keymap, KeyTable::Inspector, INSPECT);
    rows.push(HelpRow::Key(app.keymap.digits_label(), INSPECT_DIGIT_HELP.2.into()));
    rows.push(HelpRow::Blank);
    rows.push(HelpRow::Heading(LABELS[0].group.into()));
    rows.extend(LABELS.iter().map(|b| HelpRow::Key(keys_label(b.keys), b.help.into())));
    rows.push(HelpRow::Blank);
    let types = app.entity_types();
    if !types.is_empty() {
        rows.push(HelpRow::Heading("Entity types (digits)".into()));
        for (i, t) in types.iter().enumerate().take(9) {
            rows.push(HelpRow::Key((i + 1).to_string(), t.clone()));
        }
        rows.push(HelpRow::Blank);
    }
    legend(&mut rows);
    rows.push(HelpRow::Heading("Search".into()));
    rows.push(HelpRow::Key("type".into(), "the words to find, in every document".into()));
    for (i, b) in SEARCH.iter().enumerate() {
        let keys = keys_label(app.keymap.row_keys(KeyTable::Search, i));
        let help =
            if b.action == SearchAction::Run { "search; then n and N go on" } else { b.help };
        rows.push(HelpRow::Key(keys, help.into()));
    }
    rows.push(HelpRow::Blank);
    table(&mut rows, &app.keymap, KeyTable::Help, HELP);
    rows.push(HelpRow::Key("other keys".into(), "close the help".into()));
    rows.push(HelpRow::Blank);
    rows.push(HelpRow::Heading("Questions".into()));
    rows.push(HelpRow::Key("key shown".into(), "answers; Esc closes the quit question".into()));
    for (i, b) in ANYWHERE.iter().enumerate() {
        let keys = keys_label(app.keymap.row_keys(KeyTable::Anywhere, i));
        rows.push(HelpRow::Key(keys, b.help.into()));
    }
    rows
}

/// What every mark on the screen means, by where it is seen. A test below checks that every
/// glyph the view draws is listed here.
const LEGEND: &[(&str, &[(&str, &str)])] = &[
    (
        "Marks: the sentence",
        &[
            ("└─Peop─┘", "an entity: gold, accepted, corrected or added by hand"),
            ("└╌Loc? .93╌┘", "a proposal of the model (dashed, ?), with its score"),
            ("┗━Org━┛ ┗╍Loc?╍┛", "the selected entity or proposal (heavy, reversed label)"),
            ("└── / ──┘", "an entity that goes on to the next line / came from the last"),
            ("word colour", "the type of the entity it is in (■ in the type picker)"),
            ("italic", "a proposal's words and label, not yet accepted"),
            ("bold underlined", "the words of the selected entity or relation"),
            ("reversed word", "the cursor; a highlighted run is the range (v)"),
            ("✓ reviewed", "the sentence is marked reviewed (fine-tuning learns it)"),
            ("3 proposals left", "open proposals: accept (a, A) or reject (x, X) them"),
            ("● edited", "the sentence has edits not yet saved"),
            ("dimmed words", "large screens: the sentences before and after, for context"),
            ("↑ ↓ ↕ lines 2–4", "more lines above / below / both: the sentence scrolls"),
            ("2 overlapping", "entities inside others that have no room to be drawn"),
            ("… and “…”", "text cut to fit; quoted words of a span"),
        ],
    ),
    (
        "Marks: relations",
        &[
            ("A → B", "a relation from head A to tail B"),
            ("A ⇢ B  Kind?", "a proposed relation (italic type, ?), with its score"),
            ("A ↔ B", "a symmetric relation (no direction)"),
            ("model / accepted", "where an item came from: model (open proposal), accepted,"),
            ("corrected / manual", "corrected by you, added by you; gold has no mark"),
            ("new", "the relation being made: pick its tail, then its type"),
            ("italic words", "the words between head and tail"),
        ],
    ),
    (
        "Marks: documents and status",
        &[
            ("▸", "the current document, type or version"),
            ("●", "unsaved edits (document list)"),
            ("2/3", "sentences reviewed of all (green when all are)"),
            ("‹2  3›", "documents hidden left / right of the tabs"),
            ("✗ failed", "the file could not be read (the message says why)"),
            ("read-only", "problems in the file, or another workbench has it open"),
            ("2 unsaved +2 files", "edited sentences here, other files with unsaved edits"),
            ("[4]", "document list, while a filter is set: its matches in the document"),
            ("changed on disk", "another program changed the file; you are asked"),
            ("3 × what", "how many of a kind: what a save to brat or DyGIE cannot write"),
            ("no model", "started with --no-model: no proposals, editing works"),
            ("predicting 2", "sentences waiting for the model's proposals"),
            ("yellow / red", "needs you (proposals, unsaved) / failed"),
        ],
    ),
    (
        "Marks: inspector",
        &[
            ("heatmap", "a value per layer (rows) and head (columns), from 0 (legend);"),
            ("1 2 3 in it", "the ranks of the strongest heads, as listed beside it"),
            ("! in it", "ablation view: masking that head alone flips the prediction"),
            ("░▒▓█", "the heatmap's shades without colour (NO_COLOR)"),
            ("+  •", "the head cursor; a head in the set to mask"),
            ("|∂s/∂ξ|", "importance: how much the prediction's score depends on a head"),
            ("█▉▊▋▌▍▎▏ .93", "a probability as a bar, in eighths of a cell"),
            ("+word −word", "words that pushed the score up (green) / down (red)"),
            ("words line", "the word cursor is reversed; struck-through words are [MASK]ed"),
            ("underlined", "the words of the inspected entity or relation"),
            ("«word»", "a masked word, in the what-if lines"),
            ("α", "the relation threshold: a relation is kept above it"),
            ("P(type)", "the model's probability of each type for the span"),
        ],
    ),
    (
        "Marks: adjudication (--compare)",
        &[
            ("Theirs: (italic)", "the other annotator's layer, under the sentence"),
            ("≠  =  ✓", "theirs differs from yours (open) / agrees / you kept yours"),
        ],
    ),
];

fn legend(rows: &mut Vec<HelpRow>) {
    for (heading, marks) in LEGEND {
        rows.push(HelpRow::Heading((*heading).into()));
        for (mark, meaning) in *marks {
            rows.push(HelpRow::Key((*mark).into(), (*meaning).into()));
        }
        rows.push(HelpRow::Blank);
    }
}

fn help(buf: &mut Buffer, area: Rect, app: &App, scroll: u16, theme: &Theme) {
    let rows = help_rows(app);
    let keys_w = rows
        .iter()
        .map(|r| if let HelpRow::Key(k, _) = r { width(k) } else { 0 })
        .max()
        .unwrap_or(0);
    let text_w = rows
        .iter()
        .map(|r| match r {
            HelpRow::Key(_, t) => width(t),
            HelpRow::Heading(h) => width(h),
            HelpRow::Blank => 0,
        })
        .max()
        .unwrap_or(0);
    let column_w = (keys_w + 2 + text_w) as u16;
    let height = area.height.saturating_sub(2);
    // Two columns when one would scroll and two fit side by side.
    let two = rows.len() as u16 > height.saturating_sub(2)
        && 2 * column_w + 8 <= area.width.saturating_sub(4);
    let w = if two { 2 * column_w + 7 } else { column_w + 4 };
    let columns: Vec<&[HelpRow]> = if two {
        // Split at the heading nearest the middle.
        let mid = rows.len() / 2;
        let split = (0..rows.len())
            .filter(|&i| matches!(rows[i], HelpRow::Heading(_)))
            .min_by_key(|&i| i.abs_diff(mid))
            .unwrap_or(mid);
        vec![&rows[..split], &rows[split..]]
    } else {
        vec![&rows[..]]
    };
    let longest = columns.iter().map(|c| c.len()).max().unwrap_or(0) as u16;
    let h = (longest + 2).min(height.max(3));
    let inner_h = h.saturating_sub(2);
    let scroll = scroll.min(longest.saturating_sub(inner_h));
    let note = if longest > inner_h {
        format!(" {}–{} of {} ", scroll + 1, (scroll + inner_h).min(longest), longest)
    } else {
        String::new()
    };
    let title = vec![Span::styled(" Keys ", theme.base.add_modifier(Modifier::BOLD))];
    let footer = vec![Span::styled(
        format!("{note}{}any other key closes ", if note.is_empty() { "" } else { "· " }),
        theme.dim,
    )];
    let inner = dialog(buf, area, w, h, title, footer, theme);
    for (c, column) in columns.iter().enumerate() {
        let x = inner.x + c as u16 * (column_w + 3);
        for (n, row) in
            column.iter().skip(usize::from(scroll)).take(usize::from(inner.height)).enumerate()
        {
            let y = inner.y + n as u16;
            match row {
                HelpRow::Heading(h) => {
                    put(buf, inner, x, y, h, theme.warn.add_modifier(Modifier::BOLD));
                }
                HelpRow::Key(k, t) => {
                    let kx = x + (keys_w - width(k)) as u16;
                    put(buf, inner, kx, y, k, theme.base.add_modifier(Modifier::BOLD));
                    put(buf, inner, x + keys_w as u16 + 2, y, t, theme.dim);
                }
                HelpRow::Blank => {}
            }
        }
    }
}

/// What `spanscope stats` says of the cursor's document and, with several open, of all of
/// them: one heading, then the summary's lines.
fn stats_rows(app: &App) -> Vec<(bool, String)> {
    let mut rows = Vec::new();
    let mut block = |heading: String, stats: &Stats| {
        if !rows.is_empty() {
            rows.push((false, String::new()));
        }
        rows.push((true, heading));
        rows.extend(stats.summary().lines().map(|l| (false, l.to_string())));
    };
    if let Some(doc) = app.doc() {
        block(doc.name(), &Stats::of(doc.sentences.iter()));
    }
    if app.docs.len() > 1 {
        let mut total = Stats::default();
        for doc in &app.docs {
            total.add(&Stats::of(doc.sentences.iter()));
        }
        block(format!("all {} open documents", app.docs.len()), &total);
    }
    rows
}

fn stats_box(buf: &mut Buffer, area: Rect, app: &App, scroll: u16, theme: &Theme) {
    let w = area.width.saturating_sub(4).min(100);
    let text_w = usize::from(w.saturating_sub(4));
    let mut rows: Vec<(bool, String)> = Vec::new();
    for (heading, line) in stats_rows(app) {
        if width(&line) <= text_w {
            // As `spanscope stats` prints it, columns and all.
            rows.push((heading, line));
            continue;
        }
        // Continuation lines of a long count list are indented under its label.
        let wrapped = wrap_text(&line, text_w.saturating_sub(2).max(1));
        for (i, part) in wrapped.into_iter().enumerate() {
            rows.push((heading, if i == 0 { part } else { format!("  {part}") }));
        }
    }
    let total = rows.len() as u16;
    let h = (total + 2).min(area.height.saturating_sub(2).max(3));
    let inner_h = h.saturating_sub(2);
    let scroll = scroll.min(total.saturating_sub(inner_h));
    let note = if total > inner_h {
        format!(" {}–{} of {total} · ", scroll + 1, (scroll + inner_h).min(total))
    } else {
        " ".to_string()
    };
    let title = vec![Span::styled(" Statistics ", theme.base.add_modifier(Modifier::BOLD))];
    let footer = vec![Span::styled(format!("{note}any other key closes "), theme.dim)];
    let inner = dialog(buf, area, w, h, title, footer, theme);
    for (n, (heading, line)) in
        rows.iter().skip(usize::from(scroll)).take(usize::from(inner.height)).enumerate()
    {
        let style = if *heading { theme.warn.add_modifier(Modifier::BOLD) } else { theme.base };
        put(buf, inner, inner.x, inner.y + n as u16, line, style);
    }
}

/// The words of entity `i` of the current sentence, for titles.
fn entity_words(app: &App, i: usize) -> String {
    app.sentence()
        .and_then(|s| s.entities.get(i).and_then(|e| s.tokens.get(e.start..e.end)))
        .map(|w| fit_middle(&w.join(" "), 24))
        .unwrap_or_else(|| "?".into())
}

/// What the picker gives the type to, in words.
fn picker_title(app: &App, target: PickTarget) -> String {
    let s = app.sentence();
    match target {
        PickTarget::NewEntity { start, end } => {
            let words =
                s.and_then(|s| s.tokens.get(start..end)).map(|w| w.join(" ")).unwrap_or_default();
            format!("Type of “{}”", fit_middle(&words, 24))
        }
        PickTarget::EntityType(i) => format!("New type of “{}”", entity_words(app, i)),
        PickTarget::NewRelation { head, tail } => {
            format!("Relation “{}” → “{}”", entity_words(app, head), entity_words(app, tail))
        }
        PickTarget::RelationType(i) => match s.and_then(|s| s.relations.get(i)) {
            Some(r) => format!(
                "New type of “{}” → “{}”",
                entity_words(app, r.head),
                entity_words(app, r.tail)
            ),
            None => "Relation type".into(),
        },
        PickTarget::ModelVersion => "Current model (nothing is deleted)".into(),
    }
}

fn picker_box(buf: &mut Buffer, area: Rect, app: &App, picker: &Picker, theme: &Theme) {
    let entities =
        matches!(picker.target, PickTarget::NewEntity { .. } | PickTarget::EntityType(_));
    let verbose = |name: &str| -> Option<String> {
        let v = if entities {
            app.types.entities.iter().find(|t| t.name == name).map(|t| t.verbose.clone())
        } else {
            app.types.relations.iter().find(|t| t.name == name).map(|t| {
                if t.symmetric {
                    format!("{} ↔", t.verbose)
                } else {
                    t.verbose.clone()
                }
            })
        };
        v.filter(|v| !v.is_empty() && v != name)
    };
    let name_w = picker.options.iter().map(|o| width(o)).max().unwrap_or(4);
    let verbose_w =
        picker.options.iter().filter_map(|o| verbose(o)).map(|v| width(&v)).max().unwrap_or(0);
    let title = format!(" {} ", picker_title(app, picker.target));
    let w = (8 + name_w + 2 + verbose_w).max(width(&title) + 4).max(28) as u16 + 2;
    let h = picker.options.len() as u16 + 2;
    let title = vec![Span::styled(title, theme.base.add_modifier(Modifier::BOLD))];
    let footer = vec![Span::styled(" Enter choose · Esc cancel ", theme.dim)];
    let inner = dialog(buf, area, w, h, title, footer, theme);
    let rows = usize::from(inner.height);
    let first = (picker.index + 1).saturating_sub(rows);
    for (n, (i, option)) in picker.options.iter().enumerate().skip(first).take(rows).enumerate() {
        let y = inner.y + n as u16;
        let current = i == picker.index;
        let base = if current { theme.selection } else { theme.base };
        if current {
            buf.set_style(
                Rect::new(inner.x.saturating_sub(1), y, inner.width + 2, 1),
                theme.selection,
            );
        }
        let number = if i < 9 { format!("{}", i + 1) } else { " ".into() };
        let mut spans = vec![
            Span::styled(if current { "▸" } else { " " }, base.patch(theme.warn)),
            Span::styled(format!("{number} "), base.patch(theme.dim)),
        ];
        if entities {
            let colour = theme.entity(type_index(app, option));
            spans.push(Span::styled("■ ", base.patch(colour)));
        }
        let mut name_style = base;
        if current {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        spans.push(Span::styled(format!("{option:<name_w$}"), name_style));
        if let Some(v) = verbose(option) {
            spans.push(Span::styled(format!("  {v}"), base.patch(theme.dim)));
        }
        put_spans(buf, inner, inner.x, y, &spans);
    }
}

/// A journal time for people: `2024-05-01 14:03 UTC`.
fn when(time: std::time::SystemTime) -> String {
    let s = utc_stamp(time);
    if s.len() < 13 {
        return s;
    }
    format!("{}-{}-{} {}:{} UTC", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13])
}

/// The question in words: a title and a paragraph.
fn question_text(app: &App, question: &Question) -> (String, String) {
    let name = |doc: u64| {
        app.doc_index(doc).map(|i| app.docs[i].name()).unwrap_or_else(|| "a document".into())
    };
    match question {
        Question::Quit => {
            let dirty: Vec<String> = app.dirty_docs().map(|d| d.name()).collect();
            let n = dirty.len();
            let verb = if n == 1 { "has" } else { "have" };
            let mut text = format!(
                "{} {verb} unsaved edits: {}.",
                count(n, "document", "documents"),
                dirty.join(", ")
            );
            // Only promise the journal when every write to it succeeded.
            let unjournaled: Vec<String> = app
                .dirty_docs()
                .filter_map(|d| {
                    d.journal_failed.as_ref().map(|why| format!("{} ({why})", d.name()))
                })
                .collect();
            if unjournaled.is_empty() {
                text.push_str(" Quitting without saving keeps them in the recovery journal.");
            } else {
                text.push_str(&format!(
                    " The recovery journal could not be written for {}: quitting without saving LOSES those edits.",
                    unjournaled.join(", ")
                ));
            }
            ("Quit?".into(), text)
        }
        Question::Recover { doc, recovered } => {
            let text = format!(
                "{} has {} from an earlier session, last written {}. They are in {}.",
                name(*doc),
                count(recovered.entries.len(), "unsaved edit", "unsaved edits"),
                when(recovered.modified),
                recovered.path.display(),
            );
            ("Recover unsaved edits?".into(), text)
        }
        Question::KeepModel { outcome } => {
            ("Keep the fine-tuned model?".into(), keep_model_text(outcome))
        }
        Question::Restructure { edit, losses } => (
            format!("{}?", capitalised(&edit.label)),
            format!("This {}: {}.", edit.label, losses.join("; ")),
        ),
        Question::BreakRules { reasons, .. } => (
            "Break a relation rule?".into(),
            format!("The types file's rules say: {}.", reasons.join("; ")),
        ),
        Question::DiskChanged { doc } => (
            "Changed on disk".into(),
            format!("{} changed on disk while you have unsaved edits of it.", name(*doc)),
        ),
        Question::SaveConflict { doc } => (
            "Save conflict".into(),
            format!("{} changed on disk since it was read; your save was not written.", name(*doc)),
        ),
        Question::SaveLosses { doc, losses } => {
            let format = app
                .doc_index(*doc)
                .and_then(|i| app.docs[i].source.interchange)
                .map_or("its", |f| f.name());
            let listed: Vec<String> = losses
                .losses
                .iter()
                .map(|l| match l.examples.first() {
                    Some(e) => format!("{} × {} (e.g. {e})", l.count, l.kind.describe()),
                    None => format!("{} × {}", l.count, l.kind.describe()),
                })
                .collect();
            let text = format!(
                "Saving {} in the {format} format cannot carry everything: {}.",
                name(*doc),
                listed.join("; ")
            );
            ("Save without these?".into(), text)
        }
    }
}

fn confirm(buf: &mut Buffer, area: Rect, app: &App, question: &Question, theme: &Theme) {
    let (title, text) = question_text(app, question);
    let w = area.width.saturating_sub(4).min(72);
    let text_w = usize::from(w.saturating_sub(4));
    let lines = wrap_text(&text, text_w);
    let answers = answers(question);
    let answer_lines: Vec<Vec<String>> =
        answers.iter().map(|(_, _, what)| wrap_text(what, text_w.saturating_sub(4))).collect();
    let h = (lines.len() + 1 + answer_lines.iter().map(Vec::len).sum::<usize>() + 2) as u16;
    let title = vec![Span::styled(format!(" {title} "), theme.warn.add_modifier(Modifier::BOLD))];
    let inner = dialog(buf, area, w, h, title, Vec::new(), theme);
    let mut y = inner.y;
    for line in &lines {
        put(buf, inner, inner.x, y, line, theme.base);
        y += 1;
    }
    y += 1;
    for ((key, ..), wrapped) in answers.iter().zip(&answer_lines) {
        let key_span = [Span::styled(format!("[{key}]"), theme.warn.add_modifier(Modifier::BOLD))];
        put_spans(buf, inner, inner.x, y, &key_span);
        for line in wrapped {
            put(buf, inner, inner.x + spans_width(&key_span) as u16 + 1, y, line, theme.base);
            y += 1;
        }
    }
}

/// The decision after fine-tuning: why it is asked, both models' scores, what they forgot,
/// and the judged sentences that changed, before and after (the first three; all of them are
/// in the candidate's finetune.json).
fn keep_model_text(outcome: &crate::train::finetune::FinetuneOutcome) -> String {
    let mut text = format!("{}.", capitalised(&outcome.verdict));
    if outcome.after.sentences > 0 {
        text.push_str(&format!(
            " Relations F1 {:.1} now, {:.1} fine-tuned; entities F1 {:.1} now, {:.1} fine-tuned.",
            outcome.before.relations.f1,
            outcome.after.relations.f1,
            outcome.before.entities.f1,
            outcome.after.entities.f1
        ));
    }
    let (old, new) = &outcome.forgetting;
    if old.sentences > 0 {
        text.push_str(&format!(
            " On {} original sentences: relations F1 {:.1} → {:.1}.",
            old.sentences, old.relations.f1, new.relations.f1
        ));
    }
    for c in outcome.changed.iter().take(3) {
        text.push_str(&format!(" «{}»: before {}; after {}.", c.text, c.before, c.after));
    }
    if outcome.changed.len() > 3 {
        text.push_str(&format!(
            " {} more changed sentences in finetune.json.",
            outcome.changed.len() - 3
        ));
    }
    text
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::LEGEND;

    /// Every glyph the view draws is explained in the legend, but for the rules between panes
    /// and the `·` between items. Comments and tests are not drawn.
    #[test]
    fn the_legend_lists_every_glyph_the_view_draws() {
        const DRAWN: &[(&str, &str)] = &[
            ("documents.rs", include_str!("documents.rs")),
            ("explanation.rs", include_str!("explanation.rs")),
            ("grid.rs", include_str!("grid.rs")),
            ("inspector.rs", include_str!("inspector.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("overlay.rs", include_str!("overlay.rs")),
            ("relations.rs", include_str!("relations.rs")),
            ("sentence.rs", include_str!("sentence.rs")),
            ("status.rs", include_str!("status.rs")),
            ("training.rs", include_str!("training.rs")),
            ("theme.rs", include_str!("../theme.rs")),
        ];
        let legend: String = LEGEND
            .iter()
            .flat_map(|(_, marks)| marks.iter())
            .map(|(m, t)| format!("{m} {t}"))
            .collect();
        for (file, text) in DRAWN {
            let code = text.split("#[cfg(test)]").next().unwrap_or(text);
            // The legend itself is not a mark on the screen.
            let code = match code.split_once("const LEGEND") {
                Some((before, rest)) => {
                    format!("{before}{}", rest.split_once("\nfn legend(").map_or("", |r| r.1))
                }
                None => code.to_string(),
            };
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for c in line.chars().filter(|c| !c.is_ascii() && !"│┬├·".contains(*c)) {
                    assert!(
                        legend.contains(c),
                        "{file}: `{c}` in `{}` is not in the legend",
                        line.trim()
                    );
                }
            }
        }
    }
}
