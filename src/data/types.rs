//! The SpERT types file: entity and relation type names with their short and verbose labels,
//! in file order (the order fixes the classifier's output indices).
//!
//! ```json
//! {"entities": {"Peop": {"short": "Peop", "verbose": "People"}},
//!  "relations": {"Kill": {"short": "Kill", "verbose": "Kill", "symmetric": false,
//!                         "head": ["Peop"], "tail": ["Peop"]}}}
//! ```
//!
//! Beyond SpERT's fields a type may say `"retired": true` (kept so that old annotations and
//! models still read, but no longer offered), and a relation type may give the entity types
//! allowed as its `head` and its `tail` (absent or empty: any). These are the relation rules:
//! [`Types::allows`] asks one, [`Types::violations`] checks a sentence, and
//! [`Types::read_annotation_conf`] takes them from brat's `annotation.conf`. [`Types::read`]
//! reads the rules of an `annotation.conf` beside a types file that gives none.

use std::path::Path;

use serde_json::{Map, Value};

use super::document::Sentence;
use super::io::{kind_of, utf8_text, write_atomic, DataError, ErrorKind, Place};

/// An entity type of the types file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityType {
    /// The name used in datasets (`"type"` of an entity).
    pub name: String,
    /// Short label for compact display.
    pub short: String,
    /// Long label for help texts.
    pub verbose: String,
    /// No longer offered for new annotations; existing ones still read.
    pub retired: bool,
}

/// A relation type of the types file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelationType {
    /// The name used in datasets (`"type"` of a relation).
    pub name: String,
    /// Short label for compact display.
    pub short: String,
    /// Long label for help texts.
    pub verbose: String,
    /// Whether `head → tail` implies `tail → head`.
    pub symmetric: bool,
    /// Entity types allowed as the head; empty allows any.
    pub heads: Vec<String>,
    /// Entity types allowed as the tail; empty allows any.
    pub tails: Vec<String>,
    /// No longer offered for new annotations; existing ones still read.
    pub retired: bool,
}

impl RelationType {
    /// Whether this relation may go from an entity of type `head` to one of type `tail`.
    /// For a symmetric type either direction matching the rule is enough.
    pub fn allows(&self, head: &str, tail: &str) -> bool {
        let fits =
            |allowed: &[String], t: &str| allowed.is_empty() || allowed.iter().any(|a| a == t);
        (fits(&self.heads, head) && fits(&self.tails, tail))
            || (self.symmetric && fits(&self.heads, tail) && fits(&self.tails, head))
    }

    /// Whether the type has a rule at all.
    pub fn has_rule(&self) -> bool {
        !(self.heads.is_empty() && self.tails.is_empty())
    }
}

/// A relation of a sentence that breaks its type's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    /// Index of the relation in the sentence.
    pub relation: usize,
    /// What is wrong, naming the types.
    pub reason: String,
}

/// Entity and relation types, in the order of the types file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Types {
    /// Entity types in file order.
    pub entities: Vec<EntityType>,
    /// Relation types in file order.
    pub relations: Vec<RelationType>,
}

/// brat's configuration file, whose relation rules [`Types::read`] takes up.
pub const ANNOTATION_CONF: &str = "annotation.conf";

/// The file name used in errors for types parsed from a string.
const STRING_SOURCE: &str = "<types>";

impl Types {
    /// Reads and checks a types file; the first problem found is the error.
    pub fn read(path: &Path) -> Result<Types, DataError> {
        Self::read_all_problems(path).map_err(|mut problems| problems.swap_remove(0))
    }

    /// Reads a types file, reporting every problem found (never an empty list on `Err`).
    /// When no relation type has a rule and brat's `annotation.conf` lies beside the file,
    /// the rules are read from there.
    pub fn read_all_problems(path: &Path) -> Result<Types, Vec<DataError>> {
        let bytes = super::io::read_file(path).map_err(|e| vec![e])?;
        let text = utf8_text(path, &bytes).map_err(|e| vec![e])?;
        let mut types = Self::parse(text, path)?;
        let conf = path.with_file_name(ANNOTATION_CONF);
        if !types.relations.iter().any(RelationType::has_rule) && conf.is_file() {
            types.read_annotation_conf(&conf).map_err(|e| vec![e])?;
        }
        Ok(types)
    }

    /// Takes the relation rules from brat's `annotation.conf` (its `[relations]` section,
    /// `Name Arg1:A|B, Arg2:C`), replacing those of the relation types it names; lines of
    /// relations this types file lacks, brat's own `<...>` settings and `ENTITY-NESTING` are
    /// skipped.
    pub fn read_annotation_conf(&mut self, path: &Path) -> Result<(), DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, "read", &e))?;
        let text = utf8_text(path, &bytes)?;
        let mut in_relations = false;
        for (number, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.starts_with('[') {
                in_relations = line == "[relations]";
                continue;
            }
            if !in_relations || line.is_empty() || line.starts_with('<') {
                continue;
            }
            let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let Some(index) = self.relation_index(name) else { continue };
            let (mut heads, mut tails) = (Vec::new(), Vec::new());
            for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                let Some((role, allowed)) = arg.split_once(':') else {
                    return Err(DataError::new(
                        path,
                        Place::File,
                        ErrorKind::Structure,
                        format!("line {}: argument `{arg}` is not ROLE:TYPE", number + 1),
                    ));
                };
                let allowed = allowed.split('|').map(|t| t.trim().to_string());
                match role {
                    "Arg1" => heads.extend(allowed),
                    "Arg2" => tails.extend(allowed),
                    _ => {}
                }
            }
            let relation = &mut self.relations[index];
            relation.heads = heads;
            relation.tails = tails;
        }
        Ok(())
    }

    /// The types brat's `annotation.conf` declares, for brat documents opened without a types
    /// file: the `[entities]` (abstract `!` types and `<...>` settings left out, the hierarchy
    /// flattened) and the `[relations]` with their rules ([`Types::read_annotation_conf`]);
    /// `<ENTITY>` and other macros in a rule read as any type, and `<REL-TYPE>:symmetric...`
    /// makes a relation type symmetric. Events and attributes are not types here.
    pub fn from_annotation_conf(path: &Path) -> Result<Types, DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, "read", &e))?;
        let text = utf8_text(path, &bytes)?;
        let mut types = Types::default();
        let mut section = "";
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.starts_with('[') {
                section = line;
                continue;
            }
            let Some(name) = line.split_whitespace().next() else { continue };
            if name.starts_with(['<', '!']) {
                continue;
            }
            let (short, verbose) = (name.to_string(), name.to_string());
            match section {
                "[entities]" if types.entity_index(name).is_none() => {
                    let entity = EntityType { name: name.into(), short, verbose, retired: false };
                    types.entities.push(entity);
                }
                "[relations]"
                    if name != "ENTITY-NESTING" && types.relation_index(name).is_none() =>
                {
                    types.relations.push(RelationType {
                        name: name.into(),
                        short,
                        verbose,
                        symmetric: line.contains("<REL-TYPE>:symmetric"),
                        ..RelationType::default()
                    });
                }
                _ => {}
            }
        }
        types.read_annotation_conf(path)?;
        for relation in &mut types.relations {
            for allowed in [&mut relation.heads, &mut relation.tails] {
                if allowed.iter().any(|t| t.starts_with('<')) {
                    allowed.clear();
                }
            }
        }
        Ok(types)
    }

    /// Parses a types file's text (errors name the file `<types>`).
    pub fn from_json_str(text: &str) -> Result<Types, DataError> {
        Self::parse(text, Path::new(STRING_SOURCE)).map_err(|mut problems| problems.swap_remove(0))
    }

    /// Parses a types file's text; `path` only names the file in problems.
    pub fn parse(text: &str, path: &Path) -> Result<Types, Vec<DataError>> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| vec![DataError::syntax(path, &e)])?;
        let mut problems = Vec::new();
        let problem =
            |reason: String| DataError::new(path, Place::File, ErrorKind::Structure, reason);
        let shape = "the types file must be an object with `entities` and `relations` objects";
        let Value::Object(top) = &value else {
            return Err(vec![problem(format!("{shape}, found {}", kind_of(&value)))]);
        };
        let mut section = |key: &str| -> Map<String, Value> {
            match top.get(key) {
                Some(Value::Object(map)) => map.clone(),
                Some(other) => {
                    problems.push(problem(format!("{shape}; `{key}` is {}", kind_of(other))));
                    Map::new()
                }
                None => {
                    problems.push(problem(format!("{shape}; `{key}` is missing")));
                    Map::new()
                }
            }
        };
        let entity_map = section("entities");
        let relation_map = section("relations");
        let mut types = Types::default();
        for (name, spec) in &entity_map {
            let what = format!("entity type {}", Value::String(name.clone()));
            let [short, verbose] = string_fields(&what, spec, &mut problems, &problem);
            let retired = flag(&what, spec, "retired", &mut problems, &problem);
            types.entities.push(EntityType { name: name.clone(), short, verbose, retired });
        }
        for (name, spec) in &relation_map {
            let what = format!("relation type {}", Value::String(name.clone()));
            let [short, verbose] = string_fields(&what, spec, &mut problems, &problem);
            let symmetric = match spec.get("symmetric") {
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    problems.push(problem(format!(
                        "{what}: `symmetric` must be a boolean, found {}",
                        kind_of(other)
                    )));
                    false
                }
                None if spec.is_object() => {
                    problems.push(problem(format!("{what}: missing `symmetric`")));
                    false
                }
                None => false,
            };
            let retired = flag(&what, spec, "retired", &mut problems, &problem);
            let [heads, tails] = ["head", "tail"].map(|key| match spec.get(key) {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| match item {
                        Value::String(t) if entity_map.contains_key(t) => Some(t.clone()),
                        other => {
                            problems.push(problem(format!(
                                "{what}: `{key}` names {}, not an entity type of this file",
                                kind_of(other)
                            )));
                            None
                        }
                    })
                    .collect(),
                Some(other) => {
                    problems.push(problem(format!(
                        "{what}: `{key}` must be an array of entity types, found {}",
                        kind_of(other)
                    )));
                    Vec::new()
                }
            });
            types.relations.push(RelationType {
                name: name.clone(),
                short,
                verbose,
                symmetric,
                heads,
                tails,
                retired,
            });
        }
        if problems.is_empty() {
            Ok(types)
        } else {
            Err(problems)
        }
    }

    /// The types file's JSON text (pretty-printed, file order kept).
    pub fn to_json_string(&self) -> String {
        let mut entities = Map::new();
        for t in &self.entities {
            let mut spec = serde_json::json!({"short": t.short, "verbose": t.verbose});
            if t.retired {
                spec["retired"] = true.into();
            }
            entities.insert(t.name.clone(), spec);
        }
        let mut relations = Map::new();
        for t in &self.relations {
            let mut spec = serde_json::json!({"short": t.short, "verbose": t.verbose, "symmetric": t.symmetric});
            for (key, allowed) in [("head", &t.heads), ("tail", &t.tails)] {
                if !allowed.is_empty() {
                    spec[key] = allowed.clone().into();
                }
            }
            if t.retired {
                spec["retired"] = true.into();
            }
            relations.insert(t.name.clone(), spec);
        }
        let mut top = Map::new();
        top.insert("entities".into(), Value::Object(entities));
        top.insert("relations".into(), Value::Object(relations));
        let mut text = serde_json::to_string_pretty(&Value::Object(top)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the types file atomically.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        write_atomic(path, self.to_json_string().as_bytes())
    }

    /// Position of an entity type by name (the classifier's index minus the `none` class).
    pub fn entity_index(&self, name: &str) -> Option<usize> {
        self.entities.iter().position(|t| t.name == name)
    }

    /// Position of a relation type by name.
    pub fn relation_index(&self, name: &str) -> Option<usize> {
        self.relations.iter().position(|t| t.name == name)
    }

    /// Whether a relation of type `relation` may go from an entity of type `head` to one of
    /// type `tail`; a relation type this file lacks has no rule.
    pub fn allows(&self, relation: &str, head: &str, tail: &str) -> bool {
        self.relations.iter().find(|t| t.name == relation).is_none_or(|t| t.allows(head, tail))
    }

    /// The relation types offered from an entity of type `head` to one of type `tail`: not
    /// retired and allowed by their rules, in file order.
    pub fn offered_relations(&self, head: &str, tail: &str) -> Vec<&RelationType> {
        self.relations.iter().filter(|t| !t.retired && t.allows(head, tail)).collect()
    }

    /// The entity types offered for new annotations: those not retired, in file order.
    pub fn offered_entities(&self) -> Vec<&EntityType> {
        self.entities.iter().filter(|t| !t.retired).collect()
    }

    /// The relations of `sentence` that break a rule (a relation with a dangling end is
    /// validation's business and is skipped here).
    pub fn violations(&self, sentence: &Sentence) -> Vec<RuleViolation> {
        let mut found = Vec::new();
        for (i, r) in sentence.relations.iter().enumerate() {
            let (Some(head), Some(tail)) =
                (sentence.entities.get(r.head), sentence.entities.get(r.tail))
            else {
                continue;
            };
            if !self.allows(&r.relation_type, &head.entity_type, &tail.entity_type) {
                found.push(RuleViolation {
                    relation: i,
                    reason: self.rule_reason(
                        &r.relation_type,
                        &head.entity_type,
                        &tail.entity_type,
                    ),
                });
            }
        }
        found
    }

    /// Why `relation` may not go from `head` to `tail`, quoting its rule.
    pub fn rule_reason(&self, relation: &str, head: &str, tail: &str) -> String {
        let any = |allowed: &[String]| {
            if allowed.is_empty() {
                "any".to_string()
            } else {
                allowed.join("|")
            }
        };
        let (heads, tails) = self
            .relations
            .iter()
            .find(|t| t.name == relation)
            .map_or((String::new(), String::new()), |t| (any(&t.heads), any(&t.tails)));
        format!("{relation} from {head} to {tail} breaks its rule ({heads} -> {tails})")
    }

    /// Removes the relations of `sentence` that break a rule (the decoder's
    /// `--constrain-relations`); how many were removed.
    pub fn drop_violations(&self, sentence: &mut Sentence) -> usize {
        let broken: Vec<usize> = self.violations(sentence).iter().map(|v| v.relation).collect();
        let mut index = 0;
        sentence.relations.retain(|_| {
            index += 1;
            !broken.contains(&(index - 1))
        });
        broken.len()
    }

    /// Leaves in `sentence` only what this file's types cover: entities of its entity types,
    /// and relations of its relation types between entities that stay (indices renumbered).
    /// Scores a grown model on its old types, or on its new ones, alone.
    pub fn restrict(&self, sentence: &mut Sentence) {
        let mut kept = Vec::with_capacity(sentence.entities.len());
        let mut new_index = vec![None; sentence.entities.len()];
        for (i, e) in std::mem::take(&mut sentence.entities).into_iter().enumerate() {
            if self.entity_index(&e.entity_type).is_some() {
                new_index[i] = Some(kept.len());
                kept.push(e);
            }
        }
        sentence.entities = kept;
        let relations = std::mem::take(&mut sentence.relations);
        sentence.relations = relations
            .into_iter()
            .filter(|r| self.relation_index(&r.relation_type).is_some())
            .filter_map(|mut r| {
                r.head = (*new_index.get(r.head)?)?;
                r.tail = (*new_index.get(r.tail)?)?;
                Some(r)
            })
            .collect();
    }

    /// Sets every relation type's rule to the head and tail entity types its relations in
    /// `sentences` have (a type never seen gets no rule): rules the data obeys.
    pub fn learn_rules(&mut self, sentences: &[Sentence]) {
        let mut seen: Vec<(Vec<String>, Vec<String>)> =
            vec![Default::default(); self.relations.len()];
        for s in sentences {
            for r in &s.relations {
                let (Some(index), Some(head), Some(tail)) = (
                    self.relation_index(&r.relation_type),
                    s.entities.get(r.head),
                    s.entities.get(r.tail),
                ) else {
                    continue;
                };
                let (heads, tails) = &mut seen[index];
                for (list, t) in [(heads, &head.entity_type), (tails, &tail.entity_type)] {
                    if !list.contains(t) {
                        list.push(t.clone());
                    }
                }
            }
        }
        let order = |list: &mut Vec<String>, types: &Types| {
            list.sort_by_key(|t| types.entity_index(t).unwrap_or(usize::MAX));
        };
        for (index, (mut heads, mut tails)) in seen.into_iter().enumerate() {
            order(&mut heads, self);
            order(&mut tails, self);
            let relation = &mut self.relations[index];
            relation.heads = heads;
            relation.tails = tails;
        }
    }

    /// Adds an entity type (short and verbose label equal to the name).
    pub fn add_entity(&mut self, name: &str) -> Result<(), String> {
        self.check_new_name(name, self.entity_index(name).is_some(), "entity")?;
        self.entities.push(EntityType {
            name: name.into(),
            short: name.into(),
            verbose: name.into(),
            retired: false,
        });
        Ok(())
    }

    /// Adds a relation type (labels equal to the name, not symmetric, no rule).
    pub fn add_relation(&mut self, name: &str) -> Result<(), String> {
        self.check_new_name(name, self.relation_index(name).is_some(), "relation")?;
        self.relations.push(RelationType {
            name: name.into(),
            short: name.into(),
            verbose: name.into(),
            ..RelationType::default()
        });
        Ok(())
    }

    fn check_new_name(&self, name: &str, taken: bool, kind: &str) -> Result<(), String> {
        if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
            return Err(format!(
                "a {kind} type name must be non-empty and without spaces: {name:?}"
            ));
        }
        if taken {
            return Err(format!("there is already a {kind} type {name}"));
        }
        Ok(())
    }

    /// Renames an entity type (its labels too, where they were the name) and every rule
    /// naming it; `sentences`' annotations follow with [`Types::rename_in`].
    pub fn rename_entity(&mut self, from: &str, to: &str) -> Result<(), String> {
        let index = self.entity_index(from).ok_or_else(|| format!("no entity type {from}"))?;
        self.check_new_name(to, self.entity_index(to).is_some(), "entity")?;
        let t = &mut self.entities[index];
        rename_labels(&mut t.name, &mut t.short, &mut t.verbose, to);
        for r in &mut self.relations {
            for name in r.heads.iter_mut().chain(r.tails.iter_mut()) {
                if name == from {
                    *name = to.into();
                }
            }
        }
        Ok(())
    }

    /// Renames a relation type (its labels too, where they were the name).
    pub fn rename_relation(&mut self, from: &str, to: &str) -> Result<(), String> {
        let index = self.relation_index(from).ok_or_else(|| format!("no relation type {from}"))?;
        self.check_new_name(to, self.relation_index(to).is_some(), "relation")?;
        let t = &mut self.relations[index];
        rename_labels(&mut t.name, &mut t.short, &mut t.verbose, to);
        Ok(())
    }

    /// Marks an entity or relation type retired (`entity` says which); true when it was not.
    pub fn retire(&mut self, name: &str, entity: bool) -> Result<bool, String> {
        let flag = if entity {
            self.entities.iter_mut().find(|t| t.name == name).map(|t| &mut t.retired)
        } else {
            self.relations.iter_mut().find(|t| t.name == name).map(|t| &mut t.retired)
        };
        let kind = if entity { "entity" } else { "relation" };
        let flag = flag.ok_or_else(|| format!("no {kind} type {name}"))?;
        Ok(!std::mem::replace(flag, true))
    }

    /// Renames a type in a sentence's annotations (`entity` says which kind); the count of
    /// annotations changed.
    pub fn rename_in(sentence: &mut Sentence, from: &str, to: &str, entity: bool) -> usize {
        let mut changed = 0;
        let mut rename = |t: &mut String| {
            if t == from {
                *t = to.into();
                changed += 1;
            }
        };
        if entity {
            sentence.entities.iter_mut().for_each(|e| rename(&mut e.entity_type));
        } else {
            sentence.relations.iter_mut().for_each(|r| rename(&mut r.relation_type));
        }
        changed
    }

    /// The types used in `sentences`, in first-seen order, labels equal to the names and
    /// `symmetric` false: for datasets that come without a types file.
    pub fn infer<'a>(sentences: impl IntoIterator<Item = &'a Sentence>) -> Types {
        let mut types = Types::default();
        for sentence in sentences {
            for e in &sentence.entities {
                if types.entity_index(&e.entity_type).is_none() {
                    let name = e.entity_type.clone();
                    types.entities.push(EntityType {
                        short: name.clone(),
                        verbose: name.clone(),
                        name,
                        retired: false,
                    });
                }
            }
            for r in &sentence.relations {
                if types.relation_index(&r.relation_type).is_none() {
                    let name = r.relation_type.clone();
                    types.relations.push(RelationType {
                        short: name.clone(),
                        verbose: name.clone(),
                        name,
                        ..RelationType::default()
                    });
                }
            }
        }
        types
    }
}

/// Gives a type the name `to`, and its labels too where they were its old name.
fn rename_labels(name: &mut String, short: &mut String, verbose: &mut String, to: &str) {
    for label in [&mut *short, &mut *verbose] {
        if label == name {
            *label = to.into();
        }
    }
    *name = to.into();
}

/// The optional boolean `key` of a type spec (false when absent).
fn flag(
    what: &str,
    spec: &Value,
    key: &str,
    problems: &mut Vec<DataError>,
    problem: &dyn Fn(String) -> DataError,
) -> bool {
    match spec.get(key) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(problem(format!(
                "{what}: `{key}` must be a boolean, found {}",
                kind_of(other)
            )));
            false
        }
    }
}

/// `short` and `verbose` of a type spec, reporting what is missing or not a string.
fn string_fields(
    what: &str,
    spec: &Value,
    problems: &mut Vec<DataError>,
    problem: &dyn Fn(String) -> DataError,
) -> [String; 2] {
    let Value::Object(map) = spec else {
        problems.push(problem(format!("{what} must be an object, found {}", kind_of(spec))));
        return [String::new(), String::new()];
    };
    ["short", "verbose"].map(|key| match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            problems.push(problem(format!(
                "{what}: `{key}` must be a string, found {}",
                kind_of(other)
            )));
            String::new()
        }
        None => {
            problems.push(problem(format!("{what}: missing `{key}`")));
            String::new()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::document::{Entity, Relation};

    const CONLL: &str = r#"{"entities": {"Loc": {"short": "Loc", "verbose": "Location"}, "Org": {"short": "Org", "verbose": "Organization"}},
        "relations": {"Work_For": {"short": "Work", "verbose": "Work for", "symmetric": false}, "Near": {"short": "N", "verbose": "Near", "symmetric": true}}}"#;

    fn problems(text: &str) -> Vec<String> {
        match Types::parse(text, Path::new("T.json")) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn reads_in_file_order() {
        let t = Types::from_json_str(CONLL).unwrap();
        let names: Vec<_> = t.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Loc", "Org"]);
        assert_eq!(t.entities[1].verbose, "Organization");
        assert_eq!(
            t.relations[1],
            RelationType {
                name: "Near".into(),
                short: "N".into(),
                verbose: "Near".into(),
                symmetric: true,
                ..RelationType::default()
            }
        );
        assert_eq!(t.entity_index("Org"), Some(1));
        assert_eq!(t.relation_index("Work_For"), Some(0));
        assert_eq!(t.relation_index("Kill"), None);
    }

    #[test]
    fn round_trips_through_text_and_file() {
        let t = Types::from_json_str(CONLL).unwrap();
        assert_eq!(Types::from_json_str(&t.to_json_string()).unwrap(), t);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.json");
        t.write(&path).unwrap();
        assert_eq!(Types::read(&path).unwrap(), t);
    }

    #[test]
    fn infers_types_in_first_seen_order() {
        let mut s = Sentence::from_tokens(vec!["a".into(), "b".into()]);
        s.entities =
            vec![Entity::new("Org", 0, 1), Entity::new("Loc", 1, 2), Entity::new("Org", 0, 2)];
        s.relations = vec![Relation::new("In", 0, 1)];
        let t = Types::infer(&[s]);
        let names: Vec<_> = t.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Org", "Loc"]);
        assert_eq!(t.relations.len(), 1);
        assert!(!t.relations[0].symmetric);
    }

    #[test]
    fn types_file_shape_problems() {
        assert_eq!(problems("[]"), ["T.json: the types file must be an object with `entities` and `relations` objects, found an array"]);
        assert_eq!(
            problems(r#"{"entities": {}}"#),
            ["T.json: the types file must be an object with `entities` and `relations` objects; `relations` is missing"]
        );
        assert_eq!(
            problems(r#"{"entities": [], "relations": {}}"#),
            ["T.json: the types file must be an object with `entities` and `relations` objects; `entities` is an array"]
        );
        assert!(problems("{")
            .first()
            .is_some_and(|m| m.starts_with("T.json: line 1, column 1: invalid JSON: ")));
    }

    #[test]
    fn types_file_not_utf8_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.json");
        std::fs::write(&path, b"{\"entities\": {\"L\xe9\": {}}}").unwrap();
        let err = Types::read(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: byte 16: invalid UTF-8", path.display()));
        let err = Types::read(&dir.path().join("none.json")).unwrap_err();
        assert!(err.to_string().contains(": could not read: "), "{err}");
    }

    #[test]
    fn type_spec_problems() {
        let text = r#"{"entities": {"A": "x", "B": {"short": 1, "verbose": "b"}, "C": {"short": "c"}},
            "relations": {"R": {"short": "r", "verbose": "r", "symmetric": "no"}, "S": {"short": "s", "verbose": "s"}}}"#;
        assert_eq!(
            problems(text),
            [
                "T.json: entity type \"A\" must be an object, found string \"x\"",
                "T.json: entity type \"B\": `short` must be a string, found number 1",
                "T.json: entity type \"C\": missing `verbose`",
                "T.json: relation type \"R\": `symmetric` must be a boolean, found string \"no\"",
                "T.json: relation type \"S\": missing `symmetric`",
            ]
        );
    }

    const RULED: &str = r#"{"entities": {"Peop": {"short": "P", "verbose": "People"}, "Org": {"short": "O", "verbose": "Org"}, "Loc": {"short": "L", "verbose": "Loc", "retired": true}},
        "relations": {"Work_For": {"short": "W", "verbose": "Work for", "symmetric": false, "head": ["Peop"], "tail": ["Org"]},
                      "Near": {"short": "N", "verbose": "Near", "symmetric": true, "head": ["Peop"], "tail": ["Loc", "Org"]},
                      "Any": {"short": "A", "verbose": "Any", "symmetric": false}}}"#;

    #[test]
    fn rules_allow_and_offer() {
        let t = Types::from_json_str(RULED).unwrap();
        assert!(t.allows("Work_For", "Peop", "Org"));
        assert!(!t.allows("Work_For", "Org", "Peop"), "a flip breaks the rule");
        assert!(!t.allows("Work_For", "Peop", "Loc"));
        assert!(t.allows("Near", "Org", "Peop"), "symmetric: either direction");
        assert!(t.allows("Any", "Loc", "Loc"));
        assert!(t.allows("Unknown", "Loc", "Loc"));
        let offered = |h, tl| -> Vec<String> {
            t.offered_relations(h, tl).iter().map(|r| r.name.clone()).collect()
        };
        assert_eq!(offered("Peop", "Org"), ["Work_For", "Near", "Any"]);
        assert_eq!(offered("Org", "Org"), ["Any"]);
        let entities: Vec<_> = t.offered_entities().iter().map(|e| e.name.clone()).collect();
        assert_eq!(entities, ["Peop", "Org"], "a retired type is not offered");
        assert_eq!(Types::from_json_str(&t.to_json_string()).unwrap(), t, "rules round-trip");
    }

    #[test]
    fn violations_name_the_relation_and_the_rule() {
        let t = Types::from_json_str(RULED).unwrap();
        let mut s = Sentence::from_tokens(vec!["Ann".into(), "at".into(), "ACME".into()]);
        s.entities = vec![Entity::new("Peop", 0, 1), Entity::new("Org", 2, 3)];
        s.relations = vec![Relation::new("Work_For", 0, 1), Relation::new("Work_For", 1, 0)];
        let v = t.violations(&s);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].relation, 1);
        assert_eq!(v[0].reason, "Work_For from Org to Peop breaks its rule (Peop -> Org)");
    }

    #[test]
    fn rule_problems() {
        let text = r#"{"entities": {"A": {"short": "a", "verbose": "a"}},
            "relations": {"R": {"short": "r", "verbose": "r", "symmetric": false, "head": ["B"], "tail": "A", "retired": 1}}}"#;
        assert_eq!(
            problems(text),
            [
                "T.json: relation type \"R\": `retired` must be a boolean, found number 1",
                "T.json: relation type \"R\": `head` names string \"B\", not an entity type of this file",
                "T.json: relation type \"R\": `tail` must be an array of entity types, found string \"A\"",
            ]
        );
    }

    #[test]
    fn brat_annotation_conf_gives_the_types_without_a_types_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join(ANNOTATION_CONF);
        std::fs::write(
            &conf,
            "[entities]\nPerson\n!Abstract\n\tGPE\n[relations]\n<OVERLAP> Arg1:<ENTITY>\n\
             Located Arg1:Person, Arg2:GPE\nKnows Arg1:<ENTITY>, Arg2:Person\n\
             Alias Arg1:Person, Arg2:Person, <REL-TYPE>:symmetric-transitive\n\
             ENTITY-NESTING Arg1:Person, Arg2:Person\n[events]\nDie Person-Arg:Person\n",
        )
        .unwrap();
        let types = Types::from_annotation_conf(&conf).unwrap();
        let names = |v: Vec<String>| v.join(" ");
        let entities = types.entities.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names(entities), "Person GPE");
        let relations = types.relations.iter().map(|r| r.name.clone()).collect();
        assert_eq!(names(relations), "Located Knows Alias");
        assert_eq!(
            (types.relations[0].heads.clone(), types.relations[0].tails.clone()),
            (vec!["Person".to_string()], vec!["GPE".to_string()])
        );
        assert!(types.relations[1].heads.is_empty(), "<ENTITY> is any type");
        assert!(types.relations[2].symmetric && !types.relations[0].symmetric);
    }

    #[test]
    fn brat_annotation_conf_gives_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let types = dir.path().join("types.json");
        Types::from_json_str(CONLL).unwrap().write(&types).unwrap();
        std::fs::write(
            dir.path().join(ANNOTATION_CONF),
            "[entities]\nLoc\nOrg\n[relations]\n# comment\nWork_For\tArg1:Loc|Org, Arg2:Org\n\
             Other Arg1:Loc, Arg2:Loc\n<OVERLAP> Arg1:Loc, Arg2:Loc, <OVL-TYPE>:contain\n\
             ENTITY-NESTING Arg1:Loc, Arg2:Org\n[events]\nNear Arg1:Org\n",
        )
        .unwrap();
        let t = Types::read(&types).unwrap();
        assert_eq!(t.relations[0].heads, ["Loc", "Org"]);
        assert_eq!(t.relations[0].tails, ["Org"]);
        assert!(!t.relations[1].has_rule(), "[events] lines are not relations");
    }

    #[test]
    fn add_rename_retire() {
        let mut t = Types::from_json_str(RULED).unwrap();
        t.add_entity("Gene").unwrap();
        assert_eq!(t.add_entity("Gene").unwrap_err(), "there is already a entity type Gene");
        assert!(t.add_relation("two words").is_err());
        t.add_relation("Binds").unwrap();
        assert_eq!(t.relations.last().unwrap().name, "Binds");
        t.rename_entity("Peop", "Person").unwrap();
        assert_eq!(t.entities[0].verbose, "People", "a label that was not the name stays");
        assert_eq!(t.entities[0].short, "P");
        assert_eq!(t.relations[0].heads, ["Person"]);
        assert!(t.rename_entity("Nobody", "X").is_err());
        t.rename_relation("Any", "Related").unwrap();
        assert_eq!(t.relations[2].short, "A");
        assert_eq!(t.retire("Gene", true), Ok(true));
        assert_eq!(t.retire("Gene", true), Ok(false));
        assert!(t.retire("Gene", false).is_err());
        let mut s = Sentence::from_tokens(vec!["a".into()]);
        s.entities = vec![Entity::new("Peop", 0, 1)];
        assert_eq!(Types::rename_in(&mut s, "Peop", "Person", true), 1);
        assert_eq!(s.entities[0].entity_type, "Person");
    }

    #[test]
    fn learnt_rules_are_obeyed_and_constrain() {
        let mut t = Types::from_json_str(RULED).unwrap();
        let mut s = Sentence::from_tokens(vec!["Ann".into(), "at".into(), "ACME".into()]);
        s.entities = vec![Entity::new("Org", 0, 1), Entity::new("Peop", 2, 3)];
        s.relations = vec![Relation::new("Work_For", 1, 0), Relation::new("Any", 0, 1)];
        t.learn_rules(std::slice::from_ref(&s));
        assert_eq!(
            (t.relations[0].heads.clone(), t.relations[0].tails.clone()),
            (vec!["Peop".to_string()], vec!["Org".to_string()])
        );
        assert!(!t.relations[1].has_rule(), "never seen: no rule");
        assert!(t.violations(&s).is_empty());
        s.relations.insert(0, Relation::new("Any", 1, 0));
        s.relations.push(Relation::new("Work_For", 0, 1));
        assert_eq!(t.drop_violations(&mut s), 2);
        assert_eq!(s.relations, vec![Relation::new("Work_For", 1, 0), Relation::new("Any", 0, 1)]);
    }

    #[test]
    fn restrict_keeps_this_files_types_and_renumbers_relations() {
        let t = Types::from_json_str(CONLL).unwrap();
        let mut s = Sentence::from_tokens(vec!["x".into(); 4]);
        s.entities = vec![
            Entity::new("Gene", 0, 1),
            Entity::new("Org", 1, 2),
            Entity::new("Chemical", 2, 3),
            Entity::new("Loc", 3, 4),
        ];
        s.relations = vec![
            Relation::new("Work_For", 1, 3),
            Relation::new("Work_For", 0, 3),
            Relation::new("Binds", 1, 3),
            Relation::new("Near", 3, 1),
            Relation::new("Near", 2, 0),
        ];
        t.restrict(&mut s);
        assert_eq!(s.entities, vec![Entity::new("Org", 1, 2), Entity::new("Loc", 3, 4)]);
        assert_eq!(s.relations, vec![Relation::new("Work_For", 0, 1), Relation::new("Near", 1, 0)]);
    }
}
