//! `spanscope calibrate --model DIR --dev FILE [--diagram FILE.svg] [--json]`: fits the
//! temperatures of a model's entity and relation scores on dev and stores them in its
//! `spanscope.json` (train::calibration, model::calibration).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use spanscope::data::io::{read_sentences, write_atomic};
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::model::aspert::Aspert;
use spanscope::model::calibration::ReliabilityBin;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;
use spanscope::train::calibration::{fit, CalibrationReport, ScoreCalibration};

/// Arguments of `spanscope calibrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spanscope checkpoint to calibrate; its spanscope.json is rewritten (atomically)
    /// with the fitted temperatures, nothing else changes.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,

    /// Development sentences with gold annotations (SpERT .json or .jsonl), not used for
    /// training: the temperatures are fitted on the model's proposals for them.
    #[arg(long, value_name = "FILE")]
    dev: PathBuf,

    /// Also draw the reliability diagrams (before and after, entities and relations) as SVG.
    #[arg(long, value_name = "FILE")]
    diagram: Option<PathBuf>,

    /// Print the report (temperatures, errors, bins) as JSON instead of a summary.
    #[arg(long)]
    json: bool,

    /// Fit and report only; leave the checkpoint as it is.
    #[arg(long)]
    dry_run: bool,

    /// Sentences per forward pass.
    #[arg(long, default_value_t = 8, value_name = "N")]
    batch_size: usize,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Fits, reports, and stores the temperatures.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let dev = read_gold(&args.dev)?;
    let device = device.open()?;
    let (mut model, _, pieces, _) = checkpoint::load(&args.model, &device, DType::F32)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let report = calibrate(&args.model, &mut model, &pieces, &dev, &device, !args.dry_run)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    if let Some(path) = &args.diagram {
        write_atomic(path, reliability_svg(&report).as_bytes())?;
        eprintln!("reliability diagram written to {}", path.display());
    }
    if args.dry_run {
        eprintln!("--dry-run: {} left as it was", args.model.display());
    } else {
        eprintln!("temperatures stored in {}", args.model.join(checkpoint::CONFIG_FILE).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Fits the temperatures of the model loaded from `dir` on `dev` and, when `store`, writes
/// them into `dir` (also what `spanscope train` does at the end).
pub fn calibrate(
    dir: &Path,
    model: &mut Aspert,
    pieces: &WordPieces,
    dev: &[Sentence],
    device: &Device,
    store: bool,
) -> anyhow::Result<CalibrationReport> {
    let report = fit(model, pieces, dev, 8, device).context("predicting the dev sentences")?;
    if store {
        let mut config = model.config().clone();
        config.calibration = report.calibration;
        checkpoint::write_decoding(dir, &config)?;
    }
    Ok(report)
}

fn read_gold(path: &Path) -> anyhow::Result<Vec<Sentence>> {
    let loaded = read_sentences(path)?;
    for problem in &loaded.problems {
        eprintln!("spanscope: {problem}");
    }
    if !loaded.problems.is_empty() {
        bail!(
            "{}: {} unreadable record(s); a fit on part of the data would mislead, so nothing \
             was fitted",
            path.display(),
            loaded.problems.len()
        );
    }
    Ok(loaded.sentences)
}

/// The report as lines: per kind, the temperature and the calibration errors.
pub fn summary(report: &CalibrationReport) -> String {
    let line = |name: &str, s: &ScoreCalibration| {
        format!(
            "{name}: {} prediction(s), temperature {:.3}, ECE {:.4} before, {:.4} after ({:.4} \
             fitted on the other half of the sentences)\n",
            s.count, s.temperature, s.ece_before, s.ece_after, s.ece_after_held_out
        )
    };
    line("entities", &report.entities) + &line("relations", &report.relations)
}

/// Two reliability diagrams side by side (entities, relations): the accuracy of each
/// confidence bin against its mean confidence, before and after calibration, with the
/// diagonal of perfect calibration and each bin's share of the predictions as a bar.
pub fn reliability_svg(report: &CalibrationReport) -> String {
    const SIZE: f32 = 300.0;
    const MARGIN: f32 = 50.0;
    let panel_width = SIZE + 2.0 * MARGIN;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
         font-family=\"sans-serif\" font-size=\"12\">",
        2.0 * panel_width,
        SIZE + 2.0 * MARGIN + 20.0
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    for (k, (name, s)) in
        [("entities", &report.entities), ("relations", &report.relations)].into_iter().enumerate()
    {
        let x0 = k as f32 * panel_width + MARGIN;
        let y0 = MARGIN;
        let at = |conf: f32, acc: f32| (x0 + conf * SIZE, y0 + (1.0 - acc) * SIZE);
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{name} \
             (T = {:.2}; ECE {:.3} → {:.3})</text>",
            x0 + SIZE / 2.0,
            y0 - 20.0,
            s.temperature,
            s.ece_before,
            s.ece_after
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{SIZE}\" height=\"{SIZE}\" fill=\"none\" \
             stroke=\"black\"/>"
        );
        let total = s.before.iter().map(|b| b.count).sum::<usize>().max(1) as f32;
        for b in &s.after {
            let h = b.count as f32 / total * SIZE * 0.3;
            let _ = writeln!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"#dddddd\"/>",
                x0 + b.lower * SIZE + 1.0,
                y0 + SIZE - h,
                (b.upper - b.lower) * SIZE - 2.0
            );
        }
        let (a, b) = (at(0.0, 0.0), at(1.0, 1.0));
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888888\" \
             stroke-dasharray=\"4 3\"/>",
            a.0, a.1, b.0, b.1
        );
        for (bins, colour, label) in
            [(&s.before, "#d55e00", "before"), (&s.after, "#0072b2", "after")]
        {
            let points: Vec<String> = filled(bins)
                .map(|b| {
                    let (x, y) = at(b.confidence, b.accuracy);
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                points.join(" ")
            );
            for b in filled(bins) {
                let (x, y) = at(b.confidence, b.accuracy);
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>"
                );
            }
            let ly = y0 + 15.0 + if label == "before" { 0.0 } else { 16.0 };
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{ly}\" fill=\"{colour}\">{label}</text>",
                x0 + 8.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">score (bins of {}; grey: share of \
             predictions)</text>",
            x0 + SIZE / 2.0,
            y0 + SIZE + 30.0,
            s.before.len()
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">\
             share right</text>",
            x0 - 30.0,
            y0 + SIZE / 2.0,
            x0 - 30.0,
            y0 + SIZE / 2.0
        );
        for tick in [0.0, 0.5, 1.0] {
            let (x, y) = at(tick, tick);
            let _ = writeln!(
                svg,
                "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{tick}</text>",
                y0 + SIZE + 14.0
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{tick}</text>",
                x0 - 4.0,
                y + 4.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// The bins that hold any prediction.
fn filled(bins: &[ReliabilityBin]) -> impl Iterator<Item = &ReliabilityBin> {
    bins.iter().filter(|b| b.count > 0)
}
