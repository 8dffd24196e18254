//! `ctscreen evaluate`: score the detector on a seeded set of generated parcels, each
//! scanned and reconstructed like the demo, and write `evaluation.json` and `roc.png`.
//!
//! Outputs are staged and moved into place only when everything succeeded (Ctrl-C or
//! an error leaves no partial files).
use std::path::PathBuf;

use ctscreen::detect::evaluate::{
    evaluate_set, Calibration, Evaluation, EvaluationOptions, ScanMode,
};
use ctscreen::io;

use crate::demo::Staging;
use crate::progress::Bars;
use crate::CliResult;

/// Arguments of `ctscreen evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of parcels (half of them with threats).
    #[arg(long, default_value_t = 200)]
    pub parcels: usize,
    /// Side of each reconstructed volume in voxels (16–1024) over a 330 mm field of view.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Seed of the first parcel (parcel i has seed + i). The detector's rules were
    /// designed on seeds below 10 000.
    #[arg(long, default_value_t = ctscreen::detect::evaluate::DEFAULT_EVALUATION_SEED)]
    pub seed: u64,
    /// Photons per detector pixel in the open beam: the scanner's dose. Fewer photons
    /// starve more of the rays through dense metal (see the shields of the report).
    #[arg(long, default_value_t = ctscreen::detect::evaluate::DEFAULT_PHOTONS)]
    pub photons: f64,
    /// Decision threshold on the finding score (0–1).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// JSON object of detection options by name, as for `ctscreen detect --options`;
    /// `--threshold` overrides it.
    #[arg(long, value_name = "PATH")]
    pub options: Option<PathBuf>,
    /// Output folder: evaluation.json, roc.png.
    #[arg(long, default_value = "evaluate-out")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Print the evaluation as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> CliResult {
    let mut options = EvaluationOptions {
        parcels: args.parcels,
        size: args.size,
        seed: args.seed,
        mode: ScanMode::Reconstruction {
            photons: args.photons,
            views: 0,
        },
        detect: crate::detect::read_options(args.options.as_deref())?,
        ..EvaluationOptions::default()
    };
    if let Some(t) = args.threshold {
        options.detect.threshold = t;
    }
    options.validate().map_err(flag_names)?;
    let staging = Staging::new(&args.out)?;
    let bars = Bars::new(args.quiet || args.json);
    let evaluation = evaluate_set(&options, &bars)?;
    bars.finish();
    let text = serde_json::to_string_pretty(&evaluation)?;
    io::write_text_atomic(staging.path("evaluation.json"), &text)?;
    evaluation.roc_image().write_png(staging.path("roc.png"))?;
    if bars.cancelled() {
        return Err(ctscreen::Error::Cancelled.into());
    }
    staging.commit()?;
    if args.json {
        println!("{text}");
    } else if !args.quiet {
        print_table(&evaluation, args);
    }
    Ok(())
}

/// Option errors name the command-line flags (`--parcels`, not `parcels`).
fn flag_names(e: ctscreen::Error) -> ctscreen::Error {
    match e {
        ctscreen::Error::InvalidParameter {
            name,
            value,
            expected,
        } if ["parcels", "size", "seed", "photons", "threshold"].contains(&name.as_str()) => {
            ctscreen::Error::invalid(format!("--{name}"), value, expected)
        }
        e => e,
    }
}

fn print_table(e: &Evaluation, args: &Args) {
    let scan = match &e.options.mode {
        ScanMode::Reconstruction { photons, .. } => format!("{photons:.0e} photons per pixel"),
        ScanMode::Truth { .. } => "voxelised truth".to_string(),
    };
    println!(
        "{} parcels ({} with threats, {} benign), seeds {}..{}, {}³ voxels of {:.2} mm, {scan}, threshold {:.2}, {:.0} s",
        e.parcels,
        e.threat_parcels,
        e.benign_parcels,
        e.seed_range[0],
        e.seed_range[1] - 1,
        e.options.size,
        e.voxel_mm,
        e.threshold,
        e.total_s
    );
    if e.overlaps_design_seeds() {
        println!(
            "note: seeds below {} were used to design the rules; these figures are not blind",
            ctscreen::detect::evaluate::DESIGN_SEEDS_END
        );
    }
    println!();
    println!(
        "class          objects  detected  recall  classified  as own class  missed in a shield"
    );
    for (k, c) in &e.per_class {
        println!(
            "{k:14} {:7}  {:8}  {:6.3}  {:10}  {:12.3}  {:18}",
            c.total, c.detected, c.recall, c.classified, c.classified_recall, c.shielded
        );
    }
    println!(
        "\nfalse alarms per benign parcel: {:.3} ({} in {} benign parcels; {} in all parcels)",
        e.false_alarms_per_benign_parcel, e.false_alarms_benign, e.benign_parcels, e.false_alarms
    );
    println!(
        "benign parcels with a shield (a region the beam did not pass through): {} of {}",
        e.benign_parcels_shielded, e.benign_parcels
    );
    if let Some(auc) = e.auc {
        println!("parcel-level ROC area: {auc:.3}");
    }
    println!("\nper kind             objects  detected  classified  missed in a shield");
    for (k, c) in &e.per_kind {
        println!(
            "{k:20} {:7}  {:8}  {:10}  {:18}",
            c.total, c.detected, c.classified, c.shielded
        );
    }
    print_calibration(&e.calibration, "scores", "score");
    print_calibration(
        &e.probability_calibration,
        "threat probabilities",
        "probability",
    );
    println!("\nconfusion (truth → kind of the best alarmed finding)");
    for (row, cols) in &e.confusion {
        let cells: Vec<String> = cols.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("  {row:13} {}", cells.join(", "));
    }
    let mut cmd = format!(
        "ctscreen evaluate --parcels {} --size {} --seed {}",
        args.parcels, args.size, args.seed
    );
    if let Some(t) = args.threshold {
        cmd += &format!(" --threshold {t}");
    }
    println!(
        "\nwrote {}: evaluation.json, roc.png\nreproduce: {cmd}",
        args.out.display()
    );
}

/// A reliability table: `what` names the values binned (plural), `one` a single one.
fn print_calibration(c: &Calibration, what: &str, one: &str) {
    println!(
        "\ncalibration of the {} findings' {what} (expected calibration error {:.3}; {:.3} at {what} ≥ 0.5)",
        c.findings, c.expected_calibration_error, c.expected_calibration_error_above_half
    );
    println!(
        "  {:<10}  findings  mean {one:<11}  share matching a threat",
        what.split(' ').next_back().unwrap_or(what)
    );
    for b in c.bins.iter().filter(|b| b.findings > 0) {
        println!(
            "  {:.1}–{:.1}     {:8}  {:16.3}  {:23.3}",
            b.score_range[0], b.score_range[1], b.findings, b.mean_score, b.threat_share
        );
    }
}
