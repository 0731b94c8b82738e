//! `spanscope types add|rename|retire|rule|learn-rules TYPES ...`: edits a types file in
//! place (written atomically); `rename` also renames the type in the documents given.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use spanscope::data::io::{read_sentences, write_sentences, Format};
use spanscope::data::types::Types;

/// Arguments of `spanscope types`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

/// Entity or relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Entity,
    Relation,
}

/// What to change.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add an entity or relation type (labels equal to its name). Fine-tuning grows the
    /// model by it once reviewed sentences use it.
    Add {
        /// The types file to change.
        types: PathBuf,
        kind: Kind,
        name: String,
        /// For a relation: head → tail implies tail → head.
        #[arg(long)]
        symmetric: bool,
    },
    /// Rename a type, in the types file and in every document given (each written
    /// atomically).
    Rename {
        /// The types file to change.
        types: PathBuf,
        kind: Kind,
        from: String,
        to: String,
        /// Documents (SpERT .json or .jsonl) whose annotations to rename too.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        documents: Vec<PathBuf>,
    },
    /// Retire a type: no longer offered for new annotations; existing ones still read.
    Retire {
        /// The types file to change.
        types: PathBuf,
        kind: Kind,
        name: String,
    },
    /// Set the entity types a relation allows as its head and its tail (none given: any).
    Rule {
        /// The types file to change.
        types: PathBuf,
        relation: String,
        /// Entity types allowed as the head.
        #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',')]
        head: Vec<String>,
        /// Entity types allowed as the tail.
        #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',')]
        tail: Vec<String>,
    },
    /// Set every relation's rule to the head and tail types its relations in DATASET have.
    LearnRules {
        /// The types file to change.
        types: PathBuf,
        /// SpERT data whose relations the rules must allow.
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        dataset: Vec<PathBuf>,
    },
}

/// Reads the types file, changes it, writes it back atomically.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = match &args.action {
        Action::Add { types, .. }
        | Action::Rename { types, .. }
        | Action::Retire { types, .. }
        | Action::Rule { types, .. }
        | Action::LearnRules { types, .. } => types.clone(),
    };
    let mut types = Types::read(&path)?;
    let context = || format!("{}", path.display());
    match args.action {
        Action::Add { kind, name, symmetric, .. } => {
            match kind {
                Kind::Entity => types.add_entity(&name),
                Kind::Relation => types.add_relation(&name),
            }
            .map_err(anyhow::Error::msg)
            .with_context(context)?;
            if symmetric {
                if kind == Kind::Entity {
                    bail!("--symmetric is for relation types");
                }
                if let Some(r) = types.relations.last_mut() {
                    r.symmetric = true;
                }
            }
        }
        Action::Rename { kind, from, to, documents, .. } => {
            let entity = kind == Kind::Entity;
            if entity {
                types.rename_entity(&from, &to)
            } else {
                types.rename_relation(&from, &to)
            }
            .map_err(anyhow::Error::msg)
            .with_context(context)?;
            // Every document is read and renamed before any is written, so unreadable records
            // in one leave them all (and the types file) as they were.
            let mut renamed = Vec::new();
            for doc in &documents {
                let loaded = read_sentences(doc)?;
                if let Some(first) = loaded.problems.first() {
                    bail!(
                        "{}: {} unreadable record(s) (first: {first}); nothing renamed",
                        doc.display(),
                        loaded.problems.len()
                    );
                }
                let mut sentences = loaded.sentences;
                let changed: usize =
                    sentences.iter_mut().map(|s| Types::rename_in(s, &from, &to, entity)).sum();
                renamed.push((doc, sentences, changed));
            }
            for (doc, sentences, changed) in renamed {
                let format = Format::from_path(doc).unwrap_or(Format::Json);
                write_sentences(doc, &sentences, format)?;
                eprintln!("{}: {changed} annotation(s) renamed", doc.display());
            }
        }
        Action::Retire { kind, name, .. } => {
            let changed = types
                .retire(&name, kind == Kind::Entity)
                .map_err(anyhow::Error::msg)
                .with_context(context)?;
            if !changed {
                eprintln!("{name} was already retired");
            }
        }
        Action::Rule { relation, head, tail, .. } => {
            for t in head.iter().chain(&tail) {
                if types.entity_index(t).is_none() {
                    bail!("{}: no entity type {t}", path.display());
                }
            }
            let index = types
                .relation_index(&relation)
                .with_context(|| format!("{}: no relation type {relation}", path.display()))?;
            types.relations[index].heads = head;
            types.relations[index].tails = tail;
        }
        Action::LearnRules { dataset, .. } => {
            let mut sentences = Vec::new();
            for file in &dataset {
                sentences.extend(read_sentences(file)?.sentences);
            }
            types.learn_rules(&sentences);
            for r in &types.relations {
                eprintln!("{}: {} -> {}", r.name, r.heads.join("|"), r.tails.join("|"));
            }
        }
    }
    types.write(&path)?;
    eprintln!("{} written", path.display());
    Ok(ExitCode::SUCCESS)
}
