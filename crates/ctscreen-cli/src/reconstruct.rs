//! `ctscreen reconstruct`: projections + geometry → volume.
use std::path::PathBuf;

use ctscreen::recon::{fdk, FdkOptions, Filter};
use ctscreen::{io, Error, Geometry, Projections};

use crate::progress::Bars;
use crate::CliResult;

/// Arguments of `ctscreen reconstruct`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Projections `(views, rows, cols)` stored as a volume `(z, y, x)` (.mha, .nii, .nii.gz).
    pub projections: PathBuf,
    /// Geometry JSON (as written by `ctscreen simulate` or `Geometry::to_json`).
    pub geometry: PathBuf,
    /// Side of the cubic output volume in voxels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Side of the cubic field of view in mm (voxel size = fov / size).
    #[arg(long)]
    pub fov: f64,
    /// Reconstruction method.
    #[arg(long, default_value = "fdk", value_parser = ["fdk"])]
    pub method: String,
    /// Ramp-family filter: ram-lak, shepp-logan, cosine, hamming, hann.
    #[arg(long, default_value = "ram-lak")]
    pub filter: String,
    /// Output volume (.nii, .nii.gz, .mha, .mhd).
    #[arg(long, short, default_value = "volume.nii.gz")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Reads a geometry JSON file.
pub fn read_geometry(path: &std::path::Path) -> ctscreen::Result<Geometry> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Geometry::from_json(&text)
}

/// Runs the command.
pub fn run(args: &Args) -> CliResult {
    if !(1..=2048).contains(&args.size) {
        return Err(Error::invalid("--size", args.size, "a volume side of 1–2048 voxels").into());
    }
    if !args.fov.is_finite() || args.fov <= 0.0 {
        return Err(Error::invalid("--fov", args.fov, "a field of view > 0 mm").into());
    }
    let filter: Filter = args.filter.parse()?;
    let geometry = read_geometry(&args.geometry)?;
    let projections = Projections::new(io::load(&args.projections)?.into_data())?;
    let voxel = args.fov / args.size as f64;
    let bars = Bars::new(args.quiet);
    let options = FdkOptions {
        filter,
        ..FdkOptions::default()
    };
    let volume = fdk(
        &projections,
        &geometry,
        [args.size; 3],
        [voxel; 3],
        &options,
        &bars,
    )?;
    bars.finish();
    io::save(&args.out, &volume)?;
    if !args.quiet {
        println!(
            "wrote {} ({}³ voxels of {voxel:.3} mm, {})",
            args.out.display(),
            args.size,
            args.method
        );
    }
    Ok(())
}
