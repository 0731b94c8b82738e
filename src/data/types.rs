//! The SpERT types file: entity and relation type names with their short and verbose labels,
//! in file order (the order fixes the classifier's output indices).
//!
//! ```json
//! {"entities": {"Peop": {"short": "Peop", "verbose": "People"}},
//!  "relations": {"Kill": {"short": "Kill", "verbose": "Kill", "symmetric": false}}}
//! ```

use std::path::Path;

use serde_json::{Map, Value};

use super::document::Sentence;
use super::io::{kind_of, utf8_text, write_atomic, DataError, ErrorKind, Place};

/// An entity type of the types file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityType {
    /// The name used in datasets (`"type"` of an entity).
    pub name: String,
    /// Short label for compact display.
    pub short: String,
    /// Long label for help texts.
    pub verbose: String,
}

/// A relation type of the types file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationType {
    /// The name used in datasets (`"type"` of a relation).
    pub name: String,
    /// Short label for compact display.
    pub short: String,
    /// Long label for help texts.
    pub verbose: String,
    /// Whether `head → tail` implies `tail → head`.
    pub symmetric: bool,
}

/// Entity and relation types, in the order of the types file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Types {
    /// Entity types in file order.
    pub entities: Vec<EntityType>,
    /// Relation types in file order.
    pub relations: Vec<RelationType>,
}

/// The file name used in errors for types parsed from a string.
const STRING_SOURCE: &str = "<types>";

impl Types {
    /// Reads and checks a types file; the first problem found is the error.
    pub fn read(path: &Path) -> Result<Types, DataError> {
        Self::read_all_problems(path).map_err(|mut problems| problems.swap_remove(0))
    }

    /// Reads a types file, reporting every problem found (never an empty list on `Err`).
    pub fn read_all_problems(path: &Path) -> Result<Types, Vec<DataError>> {
        let bytes = super::io::read_file(path).map_err(|e| vec![e])?;
        let text = utf8_text(path, &bytes).map_err(|e| vec![e])?;
        Self::parse(text, path)
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
            types.entities.push(EntityType { name: name.clone(), short, verbose });
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
            types.relations.push(RelationType { name: name.clone(), short, verbose, symmetric });
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
            let spec = serde_json::json!({"short": t.short, "verbose": t.verbose});
            entities.insert(t.name.clone(), spec);
        }
        let mut relations = Map::new();
        for t in &self.relations {
            let spec = serde_json::json!({"short": t.short, "verbose": t.verbose, "symmetric": t.symmetric});
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

    /// The types used in `sentences`, in first-seen order, labels equal to the names and
    /// `symmetric` false: for datasets that come without a types file.
    pub fn infer(sentences: &[Sentence]) -> Types {
        let mut types = Types::default();
        for sentence in sentences {
            for e in &sentence.entities {
                if types.entity_index(&e.entity_type).is_none() {
                    let name = e.entity_type.clone();
                    types.entities.push(EntityType {
                        short: name.clone(),
                        verbose: name.clone(),
                        name,
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
                        symmetric: false,
                    });
                }
            }
        }
        types
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
                symmetric: true
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
}
