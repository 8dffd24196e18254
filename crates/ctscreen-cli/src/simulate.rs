//! `ctscreen simulate`: a generated parcel scanned by the model scanner, written as
//! projections (`.mha`, `(views, rows, cols)` stored as `(z, y, x)`) and geometry JSON.
use std::path::PathBuf;

use ctscreen::phantom::{parcel, ParcelOptions, ThreatKind, Threats};
use ctscreen::physics::simulate;
use ctscreen::scanner::ScanOptions;
use ctscreen::{io, Error, Volume};

use crate::progress::Bars;
use crate::CliResult;

/// Arguments of `ctscreen simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed of the parcel and of the noise.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Side of the volume the scanner is set up for, in voxels (16–1024).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Threat kinds to place, comma separated (pistol_polymer, pistol_steel, revolver,
    /// barrel, slide, bolt, magazine, receiver, cartridges_loose, cartridges_boxed, knife);
    /// "none" for a benign parcel; random when omitted.
    #[arg(long)]
    pub threats: Option<String>,
    /// Largest outer dimension of the parcel, mm.
    #[arg(long, default_value_t = 300.0)]
    pub parcel_mm: f64,
    /// Views over 360° (default 1.5 × size, at least 90).
    #[arg(long)]
    pub views: Option<usize>,
    /// Photons per detector pixel in the open beam.
    #[arg(long, default_value_t = 1e5)]
    pub photons: f64,
    /// Tube voltage, kV.
    #[arg(long, default_value_t = 120.0)]
    pub kvp: f64,
    /// Output folder: projections.mha, geometry.json, truth.json.
    #[arg(long, default_value = "simulate-out")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses a comma-separated threat list.
pub fn parse_threats(text: Option<&str>) -> ctscreen::Result<Threats> {
    match text {
        None => Ok(Threats::Random),
        Some("none") | Some("") => Ok(Threats::Kinds(vec![])),
        Some(list) => Ok(Threats::Kinds(
            list.split(',')
                .map(|s| ThreatKind::from_name(s.trim()))
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// Runs the command.
pub fn run(args: &Args) -> CliResult {
    if !(16..=1024).contains(&args.size) {
        return Err(Error::invalid("--size", args.size, "a volume side of 16–1024 voxels").into());
    }
    let options = ParcelOptions {
        threats: parse_threats(args.threats.as_deref())?,
        max_extent_mm: Some(args.parcel_mm),
        ..ParcelOptions::default()
    };
    let parcel = parcel(args.seed, &options)?;
    let mut scan = ScanOptions {
        shape: [args.size; 3],
        field_of_view_mm: args.parcel_mm * 1.1,
        ..ScanOptions::default()
    };
    scan.views = args.views.unwrap_or(0);
    scan.simulate.seed = args.seed;
    scan.simulate.photons = args.photons;
    scan.simulate.kvp = args.kvp;
    let geometry = scan.geometry()?;
    let bars = Bars::new(args.quiet);
    let projections = simulate(&parcel.phantom, &geometry, &scan.simulate, &bars)?;
    bars.finish();
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let as_volume = Volume::new(projections.into_data(), [1.0; 3], [0.0; 3])?;
    io::save(args.out.join("projections.mha"), &as_volume)?;
    io::write_text_atomic(args.out.join("geometry.json"), &geometry.to_json())?;
    let truth = serde_json::to_string_pretty(&parcel.objects)?;
    io::write_text_atomic(args.out.join("truth.json"), &truth)?;
    if !args.quiet {
        println!(
            "wrote {}: projections.mha {:?}, geometry.json, truth.json ({} objects); reconstruct with: ctscreen reconstruct {}/projections.mha {}/geometry.json --size {} --fov {}",
            args.out.display(), as_volume.shape(), parcel.objects.len(), args.out.display(), args.out.display(), args.size, scan.field_of_view_mm
        );
    }
    Ok(())
}
