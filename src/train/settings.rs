//! Fine-tuning settings from the workbench's config file: the `[finetune]` table of
//! `~/.config/spanscope/config.toml`, keyed by the names of `spanscope train`'s flags.
//!
//! ```toml
//! [finetune]
//! epochs = 5
//! held-out = 0.2
//! min-held-out = 5
//! replay-size = 200
//! keep-versions = 5
//! ```
//!
//! Flags given on the command line win over the file, the file over the defaults.

use super::finetune::FinetuneConfig;

/// The keys of the `[finetune]` table.
pub const KEYS: [&str; 13] = [
    "epochs",
    "lr",
    "batch-size",
    "seed",
    "replay-size",
    "replay-per-reviewed",
    "held-out",
    "min-held-out",
    "folds",
    "forgetting",
    "max-forgetting",
    "propose-after",
    "keep-versions",
];

/// `config` with the `[finetune]` table of a config file's text applied (a text without the
/// table changes nothing); an unknown key or a value of the wrong kind is an error naming the
/// key. The workbench's config reader ([`crate::workbench::config::parse`]) calls it.
pub fn apply_config_text(mut config: FinetuneConfig, text: &str) -> Result<FinetuneConfig, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    let Some(section) = table.get("finetune") else { return Ok(config) };
    let toml::Value::Table(section) = section else {
        return Err("`finetune` must be a table ([finetune])".into());
    };
    for (key, value) in section {
        let count = || -> Result<usize, String> {
            value.as_integer().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
                format!("[finetune] {key} must be a whole number >= 0, found {value}")
            })
        };
        let number = || -> Result<f64, String> {
            value
                .as_float()
                .or_else(|| value.as_integer().map(|n| n as f64))
                .ok_or_else(|| format!("[finetune] {key} must be a number, found {value}"))
        };
        match key.as_str() {
            "epochs" => config.epochs = count()?,
            "lr" => config.lr = number()?,
            "batch-size" => config.batch_size = count()?,
            "seed" => config.seed = count()? as u64,
            "replay-size" => config.replay = count()?,
            "replay-per-reviewed" => config.replay_per_reviewed = number()?,
            "held-out" => config.held_out = number()?,
            "min-held-out" => config.min_held_out = count()?,
            "folds" => config.folds = count()?,
            "forgetting" => config.forgetting = count()?,
            "max-forgetting" => config.max_forgetting = number()?,
            "propose-after" => config.propose_after = count()?,
            "keep-versions" => config.keep_versions = count()?,
            other => {
                return Err(format!("[finetune] has no key `{other}` (keys: {})", KEYS.join(", ")))
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_overrides_the_defaults_by_train_flag_names() {
        let text = "theme = \"dark\"\n[finetune]\nepochs = 3\nheld-out = 0.3\nmin-held-out = 8\nreplay-size = 50\nlr = 1e-5\nreplay-per-reviewed = 1\n";
        let c = apply_config_text(FinetuneConfig::default(), text).unwrap();
        assert_eq!((c.epochs, c.held_out, c.min_held_out, c.replay), (3, 0.3, 8, 50));
        assert_eq!(c.replay_per_reviewed, 1.0);
        assert_eq!(c.lr, 1e-5);
        assert_eq!(c.folds, FinetuneConfig::default().folds);
        let c =
            apply_config_text(FinetuneConfig::default(), "[finetune]\nkeep-versions = 3").unwrap();
        assert_eq!(c.keep_versions, 3);
        assert_eq!(
            apply_config_text(FinetuneConfig::default(), "theme = \"x\"").unwrap(),
            FinetuneConfig::default()
        );
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let bad = |text: &str| apply_config_text(FinetuneConfig::default(), text).unwrap_err();
        assert_eq!(
            bad("[finetune]\nepochs = -1"),
            "[finetune] epochs must be a whole number >= 0, found -1"
        );
        assert_eq!(
            bad("[finetune]\nheld-out = \"a\""),
            "[finetune] held-out must be a number, found \"a\""
        );
        assert!(bad("[finetune]\nheld_out = 0.1").starts_with("[finetune] has no key `held_out`"));
        assert_eq!(bad("finetune = 1"), "`finetune` must be a table ([finetune])");
    }
}
