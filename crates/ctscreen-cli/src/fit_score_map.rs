//! `ctscreen fit-score-map`: fit the map from finding score to threat probability on
//! the findings of evaluation sets (`evaluation.json` files of `ctscreen evaluate` on
//! design seeds) and write it, for the library's `score_map.json` or a user's own.
use std::path::PathBuf;

use ctscreen::detect::evaluate::Evaluation;
use ctscreen::detect::probability::ScoreMap;
use ctscreen::{io, Error};

use crate::CliResult;

/// Arguments of `ctscreen fit-score-map`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `evaluation.json` files written by `ctscreen evaluate` on seeds below 10 000 (the
    /// design seeds; evaluation seeds are refused).
    #[arg(required = true, value_name = "EVALUATION")]
    pub evaluations: Vec<PathBuf>,
    /// Where to write the map (JSON).
    #[arg(long, default_value = "score_map.json")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> CliResult {
    let mut evaluations = Vec::with_capacity(args.evaluations.len());
    for path in &args.evaluations {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let e: Evaluation = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not an evaluation: {e}")))?;
        evaluations.push(e);
    }
    let map = ScoreMap::fit_evaluations(&evaluations)?;
    io::write_text_atomic(&args.out, &(map.to_json() + "\n"))?;
    if !args.quiet {
        println!(
            "{} findings, fitted on {}\nscore → threat probability:",
            map.findings, map.fitted_on
        );
        for (s, p) in map.scores.iter().zip(&map.probabilities) {
            println!("  {s:.3} → {p:.3}");
        }
        println!("written to {}", args.out.display());
    }
    Ok(())
}
