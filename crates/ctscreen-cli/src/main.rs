//! The `ctscreen` command: one subcommand per stage, each in its own module with an
//! `Args` struct (clap derive) and a `run` function. Errors print as one line,
//! `error: <message>`, on stderr with exit code 1.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod detect;
mod evaluate;
mod fit_score_map;
mod info;
mod progress;
mod reconstruct;
mod simulate;

/// Screen CT scans of parcels for firearms, firearm parts, ammunition and blades.
#[derive(Debug, Parser)]
#[command(name = "ctscreen", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a volume file (NIfTI, MetaImage, DICOM file or series directory).
    Info(info::Args),
    /// Run the whole job on a generated parcel: scan, reconstruct, detect, report, pictures.
    Demo(demo::Args),
    /// Detect threats in a volume file: report and pictures.
    Detect(detect::Args),
    /// Scan a generated parcel: projections + geometry (+ ground truth).
    Simulate(simulate::Args),
    /// Reconstruct a volume from projections and their geometry.
    Reconstruct(reconstruct::Args),
    /// Score the detector on a seeded set of generated, scanned parcels: recall, false alarms, ROC.
    Evaluate(evaluate::Args),
    /// Fit the map from finding score to threat probability on `evaluate` runs over design seeds.
    FitScoreMap(fit_score_map::Args),
}

/// What a subcommand returns: any error, shown to the user as one line.
pub type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    // A bug must not print a backtrace at the user: one line, like any other error.
    std::panic::set_hook(Box::new(|p| {
        let msg = p
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!("error: internal error: {}", msg.replace('\n', " "));
    }));
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info(args) => info::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Reconstruct(args) => reconstruct::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::FitScoreMap(args) => fit_score_map::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
