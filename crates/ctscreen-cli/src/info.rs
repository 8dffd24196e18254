//! `ctscreen info FILE`: format, on-disk data type, shape, spacing, origin, direction and
//! value range of a volume file.
use std::path::PathBuf;

use crate::CliResult;

/// Arguments of `ctscreen info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Volume file (.nii, .nii.gz, .mha, .mhd, a DICOM or DICOS CT file) or a DICOM or
    /// DICOS series directory.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn fmt3(v: [f64; 3]) -> String {
    format!("({}, {}, {})", v[0], v[1], v[2])
}

/// Reads the header, then the voxels for the value range, and prints both.
pub fn run(args: &Args) -> CliResult {
    let info = ctscreen::io::read_info(&args.file)?;
    let vol = ctscreen::io::load(&args.file)?;
    let range = vol.value_range();
    let identity = info.direction == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    if args.json {
        let obj = serde_json::json!({
            "file": args.file.display().to_string(),
            "format": info.format.name(),
            "compressed": info.compressed,
            "data_type": info.data_type.name(),
            "shape": info.shape,
            "spacing_mm": info.spacing,
            "origin_mm": info.origin,
            "direction": info.direction,
            "min": range.map(|r| r.0),
            "max": range.map(|r| r.1),
        });
        println!("{obj}");
        return Ok(());
    }
    println!("file       {}", args.file.display());
    println!(
        "format     {}{}",
        info.format,
        if info.compressed { " (compressed)" } else { "" }
    );
    println!("data type  {} (on disk; loaded as float32)", info.data_type);
    let s = info.shape;
    println!("shape      (z, y, x) = ({}, {}, {})", s[0], s[1], s[2]);
    println!("spacing    (dz, dy, dx) = {} mm", fmt3(info.spacing));
    println!("origin     (z, y, x) = {} mm", fmt3(info.origin));
    if identity {
        println!("direction  identity");
    } else {
        let d = info.direction;
        println!(
            "direction  [{}, {}, {}]",
            fmt3(d[0]),
            fmt3(d[1]),
            fmt3(d[2])
        );
    }
    match range {
        Some((lo, hi)) => println!("values     {lo} .. {hi}"),
        None => println!("values     all NaN"),
    }
    Ok(())
}
