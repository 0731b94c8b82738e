//! The model variant flags shared by `spanscope init` and `spanscope train`: ASpERT, the SpERT
//! baseline, and the paper's ablations.

use spanscope::data::types::Types;
use spanscope::model::aspert::ModelConfig;
use spanscope::model::config::BertConfig;
use spanscope::model::contribution::Fusion;

/// Which model to build around the encoder.
#[derive(Debug, clap::Args)]
pub struct VariantArgs {
    /// aspert (f_a and MLP span classifier) or spert (neither).
    #[arg(long, default_value = "aspert", value_parser = ["aspert", "spert"])]
    variant: String,

    /// Leave the attention contribution out of the span representation (-AC).
    #[arg(long)]
    no_attention_contribution: bool,

    /// A linear span classifier instead of the MLP (-MLP).
    #[arg(long)]
    linear_span_classifier: bool,

    /// How f_a fuses the kept attention: mean, max or sum.
    #[arg(long, default_value = "mean")]
    fusion: Fusion,

    /// Contribution threshold θ: attention at or below it counts as zero.
    #[arg(long, default_value_t = 0.5, value_parser = threshold)]
    threshold: f32,
}

/// θ compares with attention weights, which lie in [0, 1]: at 1 or above nothing would be kept.
fn threshold(text: &str) -> Result<f32, String> {
    let theta: f32 = text.parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
    if (0.0..1.0).contains(&theta) {
        Ok(theta)
    } else {
        Err(format!("{text} is not in [0, 1): attention weights lie in [0, 1]"))
    }
}

impl VariantArgs {
    /// The model configuration these flags ask for, around `encoder`, predicting `types`.
    pub fn model_config(&self, encoder: BertConfig, types: &Types) -> ModelConfig {
        let mut config = match self.variant.as_str() {
            "spert" => ModelConfig::spert(encoder, types),
            _ => ModelConfig::aspert(encoder, types),
        };
        if self.no_attention_contribution {
            config = config.without_attention_contribution();
        }
        if self.linear_span_classifier {
            config = config.with_linear_classifier();
        }
        config.fusion = self.fusion;
        config.theta = self.threshold;
        config
    }
}
