//! `spanscope heads --text "..." --span FIRST-LAST [--model DIR] [--json]`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::DType;
use spanscope::data::text::words;
use spanscope::data::wordpiece::WordPieces;
use spanscope::model::contribution::{Contribution, Fusion};
use spanscope::model::device::DeviceSpec;
use spanscope::model::{checkpoint, decode, source};

use super::model_arg::{checkpoint_dir, is_checkpoint};

/// Arguments of `spanscope heads`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sentence, as plain text (split into words like a .txt document).
    #[arg(long)]
    text: String,

    /// The span: words FIRST-LAST, from 1, LAST included (`4-5`; `4` for one word). The older
    /// START:END, from 0 with END excluded (`3:5`, SpERT's offsets), is still read.
    #[arg(long, value_name = "FIRST-LAST")]
    span: String,

    /// A spanscope checkpoint, or any BERT encoder (directory, Hugging Face cache, hub id):
    /// f_a depends on the encoder's attention alone. Default: the bundled model.
    #[arg(long, value_name = "DIR|HUB_ID")]
    model: Option<String>,

    /// Print `{"layers": L, "heads": H, "contribution": [[..] x L]}` instead of a heatmap.
    #[arg(long)]
    json: bool,

    /// Contribution threshold θ: attention at or below it counts as zero (default: the
    /// checkpoint's, else 0.5).
    #[arg(long, value_name = "θ")]
    theta: Option<f32>,

    /// How the kept attention is fused over both token dimensions (default: the
    /// checkpoint's, else mean).
    #[arg(long, value_name = "mean|max|sum")]
    fusion: Option<Fusion>,

    /// How many of the strongest heads to list under the heatmap.
    #[arg(long, default_value_t = 5, value_name = "K")]
    top: usize,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Computes and prints the span's contribution matrix.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let words = words(&args.text);
    if words.is_empty() {
        bail!("--text has no words");
    }
    let (start, end) = parse_span("--span", &args.span, words.len())?;
    let device = device.open()?;

    let (contribution, theta, fusion) = match args.model.as_deref() {
        Some(spec) if !is_checkpoint(std::path::Path::new(spec)) => {
            let (encoder, files) = source::load_encoder(spec, DType::F32, &device)?;
            let pieces = WordPieces::from_dir(&files.dir)?;
            let theta = args.theta.unwrap_or(0.5);
            let fusion = args.fusion.unwrap_or(Fusion::Mean);
            let c = decode::explain_span_with_encoder(
                &encoder, &pieces, &words, start, end, theta, fusion,
            )?;
            (c, theta, fusion)
        }
        spec => {
            let dir = checkpoint_dir(spec.map(PathBuf::from).as_deref())?;
            let (model, config, pieces, _types) = checkpoint::load(&dir, &device, DType::F32)
                .with_context(|| format!("loading model {}", dir.display()))?;
            let theta = args.theta.unwrap_or(config.theta);
            let fusion = args.fusion.unwrap_or(config.fusion);
            let c = decode::explain_span_with_encoder(
                model.encoder(),
                &pieces,
                &words,
                start,
                end,
                theta,
                fusion,
            )?;
            (c, theta, fusion)
        }
    };

    if args.json {
        println!("{}", serde_json::to_string(&contribution)?);
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let heatmap = Heatmap {
            contribution: &contribution,
            words: &words,
            span: (start, end),
            theta,
            fusion,
            top: args.top,
            colour,
        };
        print!("{}", heatmap.render());
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses a span given as `flag` and checks it against the sentence length. Words are
/// numbered as the workbench numbers them, from 1 with the last one included (`4-5`, or `4`
/// for one word); the older `START:END`, from 0 with END excluded as SpERT's offsets are
/// (`3:5`, the same two words), is still read. Returns SpERT's offsets.
pub(super) fn parse_span(flag: &str, span: &str, words: usize) -> anyhow::Result<(usize, usize)> {
    let number = |text: &str, what: &str| -> anyhow::Result<usize> {
        text.trim().parse().with_context(|| format!("{flag} {span:?}: bad {what}"))
    };
    let (start, end) = if let Some((a, b)) = span.split_once(':') {
        let (start, end) = (number(a, "START")?, number(b, "END")?);
        if start >= end {
            bail!("{flag} {span:?}: START must be less than END (END is exclusive)");
        }
        (start, end)
    } else {
        let (a, b) = span.split_once('-').unwrap_or((span, span));
        let (first, last) = (number(a, "FIRST word")?, number(b, "LAST word")?);
        if first == 0 {
            bail!("{flag} {span:?}: words are numbered from 1 (FIRST-LAST, e.g. 4-5)");
        }
        if first > last {
            bail!("{flag} {span:?}: FIRST must not come after LAST");
        }
        (first - 1, last)
    };
    if end > words {
        bail!("{flag} {span:?}: the text has {words} words (1-{words})");
    }
    Ok((start, end))
}

/// Words `[start, end)` as `--span` takes them: `word 5`, `words 4-5` (from 1, the last
/// included).
pub(super) fn words_label(start: usize, end: usize) -> String {
    if end == start + 1 {
        format!("word {end}")
    } else {
        format!("words {}-{end}", start + 1)
    }
}

/// Shades from weakest to strongest, for terminals without colour.
pub(super) const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// What the heatmap shows and how.
struct Heatmap<'a> {
    contribution: &'a Contribution,
    words: &'a [String],
    span: (usize, usize),
    theta: f32,
    fusion: Fusion,
    top: usize,
    colour: bool,
}

impl Heatmap<'_> {
    /// The matrix as text: layers down, heads across, each cell shaded relative to the
    /// strongest head, then the strongest heads by value.
    fn render(&self) -> String {
        use std::fmt::Write;
        let c = self.contribution;
        let (start, end) = self.span;
        let max = c.values.iter().copied().fold(0.0f32, f32::max);
        let mut out = String::new();
        let words = self.words[start..end].join(" ");
        let _ = writeln!(out, "{} \"{words}\"", words_label(start, end));
        let _ = writeln!(
            out,
            "attention contribution f_a (θ = {}, fusion {}): {} layers x {} heads, max {max:.4}",
            self.theta, self.fusion, c.layers, c.heads
        );
        let _ = write!(out, "    ");
        for h in 0..c.heads {
            let _ = write!(out, "{:>6}", format!("H{} ", h + 1));
        }
        let _ = writeln!(out);
        for l in 0..c.layers {
            let _ = write!(out, "{:>4}", format!("L{}", l + 1));
            for h in 0..c.heads {
                let v = c.values[l * c.heads + h];
                let level = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
                let text = cell_text(v, max);
                if self.colour {
                    // 256-colour greyscale ramp 232..=255, dark to light.
                    let bg = 232 + (level * 23.0).round() as u8;
                    let fg = if level > 0.55 { 16 } else { 252 };
                    let _ = write!(out, " \x1b[48;5;{bg}m\x1b[38;5;{fg}m{text:>5}\x1b[0m");
                } else {
                    let shade = SHADES[(level * 4.0).round() as usize];
                    let _ = write!(out, "{text:>5}{shade}");
                }
            }
            let _ = writeln!(out);
        }
        let strongest = c.top_heads(self.top);
        if !strongest.is_empty() {
            let _ = writeln!(out, "top heads:");
            for (layer, head, value) in strongest {
                let name = format!("L{} H{}", layer + 1, head + 1);
                let _ = writeln!(out, "  {name:<8}{value:.4}");
            }
        }
        out
    }
}

/// A value in at most five characters: `.032` below 1, `12.34` above.
pub(super) fn cell_text(value: f32, max: f32) -> String {
    if max < 1.0 {
        let text = format!("{value:.3}");
        text.strip_prefix('0').map(str::to_string).unwrap_or(text)
    } else if max < 100.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_argument_is_checked() {
        assert_eq!(parse_span("--span", "2:4", 5).unwrap(), (2, 4));
        assert_eq!(parse_span("--span", "3-4", 5).unwrap(), (2, 4), "from 1, LAST included");
        assert_eq!(parse_span("--span", "5", 5).unwrap(), (4, 5), "one word");
        assert!(parse_span("--span", "0-2", 5).unwrap_err().to_string().contains("from 1"));
        assert!(parse_span("--span", "4-3", 5).is_err());
        assert!(parse_span("--span", "5-6", 5).unwrap_err().to_string().contains("5 words"));
        assert!(parse_span("--span", "4:2", 5).is_err());
        assert!(parse_span("--span", "3:3", 5).is_err());
        assert!(parse_span("--span", "0:6", 5).unwrap_err().to_string().contains("5 words"));
        assert!(parse_span("--span", "x:1", 5).is_err());
        assert!(parse_span("--span", "12", 5).is_err());
    }

    #[test]
    fn heatmap_has_a_row_per_layer_and_a_cell_per_head() {
        let contribution =
            Contribution { layers: 2, heads: 3, values: vec![0.0, 0.25, 0.5, 0.125, 0.0, 0.0] };
        let words: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let text = Heatmap {
            contribution: &contribution,
            words: &words,
            span: (1, 3),
            theta: 0.5,
            fusion: Fusion::Mean,
            top: 2,
            colour: false,
        }
        .render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "words 2-3 \"b c\"");
        assert_eq!(lines[2], "       H1    H2    H3 ");
        assert_eq!(lines[3], "  L1 .000  .250▒ .500█");
        assert_eq!(lines[4], "  L2 .125░ .000  .000 ");
        assert_eq!(&lines[5..], ["top heads:", "  L1 H3   0.5000", "  L1 H2   0.2500"]);
    }

    #[test]
    fn cells_stay_five_characters_wide() {
        assert_eq!(cell_text(0.0321, 0.5), ".032");
        assert_eq!(cell_text(1.0, 3.0), "1.00");
        assert_eq!(cell_text(12.345, 40.0), "12.35");
        assert_eq!(cell_text(250.0, 300.0), "250");
    }
}
