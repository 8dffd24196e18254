//! Scores the threat detector on seeded generated parcels and prints recall per class,
//! false alarms per benign parcel, the confusion matrix and the ROC.
//!
//! ```text
//! cargo run --release -p ctscreen --example evaluate -- \
//!     [--parcels 200] [--seed 20260501] [--voxel 2.0] [--max-extent 300] \
//!     [--mode recon|truth] [--photons 1e5] [--views 0] [--threshold 0.5] [--out DIR]
//! ```
//!
//! `--mode recon` (default) simulates a 120 kVp polychromatic noisy cone-beam scan of
//! each parcel and reconstructs it with FDK; `--mode truth` uses the voxelised parcel
//! at 100 keV with Gaussian noise (quick). With `--out`, writes `scores.json`,
//! `roc.csv` and `roc.png` there.
use std::path::PathBuf;

use ctscreen::detect::evaluate::{evaluate_batch, BatchOptions, ScanMode};
use ctscreen::progress::Progress;

/// Prints one line per finished parcel to stderr.
struct Dots {
    total: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
}

impl Progress for Dots {
    fn start(&self, _stage: &str, total: u64) {
        self.total.store(total, std::sync::atomic::Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        let d = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        eprint!("\rparcel {d}/{}", self.total.load(std::sync::atomic::Ordering::Relaxed));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut parcels = 200usize;
    let mut seed = 20260501u64;
    let mut opts = BatchOptions::default();
    let mut mode = "recon".to_string();
    let mut photons = 1e5;
    let mut views = 0usize;
    let mut out: Option<PathBuf> = None;
    let mut verbose = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = || -> Result<&String, String> {
            args.get(i + 1).ok_or_else(|| format!("{} needs a value", args[i]))
        };
        match args[i].as_str() {
            "--parcels" => parcels = val()?.parse()?,
            "--seed" => seed = val()?.parse()?,
            "--voxel" => opts.voxel_mm = val()?.parse()?,
            "--max-extent" => opts.max_extent_mm = val()?.parse()?,
            "--mode" => mode = val()?.clone(),
            "--photons" => photons = val()?.parse()?,
            "--views" => views = val()?.parse()?,
            "--threshold" => opts.detect.threshold = val()?.parse()?,
            "--out" => out = Some(val()?.into()),
            "--verbose" => {
                verbose = true;
                i += 1;
                continue;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 2;
    }
    opts.mode = match mode.as_str() {
        "recon" => ScanMode::Reconstruction { photons, views },
        "truth" => ScanMode::Truth {
            energy_kev: 100.0,
            noise_mu: 0.01,
        },
        m => return Err(format!("--mode {m}: expected recon or truth").into()),
    };
    let dots = Dots {
        total: 0.into(),
        done: 0.into(),
    };
    let t = std::time::Instant::now();
    let s = evaluate_batch(parcels, seed, &opts, &dots)?;
    eprintln!();
    println!(
        "{} parcels ({} benign), seed {seed}, mode {mode}, voxel {} mm, threshold {}, {:.0} s",
        s.parcels,
        s.benign_parcels,
        opts.voxel_mm,
        s.threshold,
        t.elapsed().as_secs_f64()
    );
    println!("\nclass          objects  detected  recall  classified");
    for (k, c) in &s.per_class {
        println!(
            "{k:14} {:7}  {:8}  {:6.3}  {:10}",
            c.total,
            c.detected,
            s.recall(k),
            c.classified
        );
    }
    println!(
        "\nfalse alarms per benign parcel: {:.3} ({} false alarms in all parcels)",
        s.false_alarms_per_benign_parcel, s.false_alarms
    );
    if let Some(p) = s.roc.iter().find(|p| (p.threshold - s.threshold).abs() < 1e-9) {
        println!(
            "benign parcels alarmed: {:.3}, threat parcels alarmed: {:.3}",
            p.benign_parcels_alarmed, p.threat_parcels_alarmed
        );
    }
    println!("\nper kind       objects  detected  classified");
    for (k, c) in &s.per_kind {
        println!("{k:18} {:3}  {:8}  {:10}", c.total, c.detected, c.classified);
    }
    println!("\nconfusion (truth → best alarmed finding)");
    for (row, cols) in &s.confusion {
        let cells: Vec<String> = cols.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        println!("  {row:13} {}", cells.join(", "));
    }
    println!("\nROC (threshold, recall, false alarms / benign parcel)");
    for p in s.roc.iter().step_by(5) {
        println!(
            "  {:.2}  {:.3}  {:.3}",
            p.threshold, p.recall, p.false_alarms_per_benign_parcel
        );
    }
    if verbose {
        for p in &s.per_parcel {
            if !p.missed.is_empty() || !p.false_alarms.is_empty() {
                println!(
                    "seed {} {:?}: missed {:?}; false alarms {:?}",
                    p.seed, p.threats, p.missed, p.false_alarms
                );
            }
        }
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("scores.json"), serde_json::to_string_pretty(&s)?)?;
        std::fs::write(dir.join("roc.csv"), s.roc_csv())?;
        s.roc_image().write_png(dir.join("roc.png"))?;
        println!("\nwrote {}", dir.display());
    }
    Ok(())
}
