//! `ctscreen detect VOLUME`: run the threat detector on a volume file and write the
//! report and pictures (and, with `--tdr`, a DICOS Threat Detection Report).
use std::path::{Path, PathBuf};

use ctscreen::detect::{detect_with_progress, DetectOptions};
use ctscreen::io::dicos::{self, DicosLoadOptions};
use ctscreen::{io, Error};

use crate::demo::{print_findings, write_pictures, Staging};
use crate::progress::Bars;
use crate::CliResult;

/// Arguments of `ctscreen detect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Volume of μ in mm⁻¹: NIfTI, MetaImage, a DICOM file or series directory, a DICOS
    /// CT (any name; read as μ).
    pub volume: PathBuf,
    /// Effective energy of the scan (keV), for HU equivalents [default: 70, or the
    /// options file's].
    #[arg(long)]
    pub energy_kev: Option<f64>,
    /// Energy (keV) at which metals read in the volume, for the material guess and the
    /// density cues. Default 100: a polychromatic scan's beam through steel is hardened.
    /// For a monochromatic volume (a phantom voxelised at one energy) give that energy.
    #[arg(long)]
    pub metal_energy_kev: Option<f64>,
    /// Decision threshold on the finding score (0–1).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// JSON object of detection options by name (`DetectOptions` fields, e.g.
    /// `{"opaque_line_integral": 12}`); those left out keep their defaults. The flags
    /// above override it.
    #[arg(long, value_name = "PATH")]
    pub options: Option<PathBuf>,
    /// Output folder: report.json, slices.png, mip.png.
    #[arg(long, default_value = "detect-out")]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a DICOS Threat Detection Report (e.g. out.dcs). It
    /// refers to the input scan (UIDs, frame of reference, voxel regions) when that is
    /// a DICOS CT; otherwise it has no scan reference, which the DICOS reference
    /// toolkit refuses (save the volume as .dcs first).
    #[arg(long, value_name = "PATH")]
    pub tdr: Option<PathBuf>,
}

/// Detection options from a JSON file (`--options`), or the defaults without one.
pub fn read_options(path: Option<&Path>) -> Result<DetectOptions, Error> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            DetectOptions::from_json(&text)
        }
        None => Ok(DetectOptions::default()),
    }
}

/// Runs the command.
pub fn run(args: &Args) -> CliResult {
    // A DICOS CT is read with its UIDs and grid, for the TDR to refer to it.
    let (volume, scan) = if args.tdr.is_some() && dicos::is_dicos_ct(&args.volume) {
        let ct = dicos::load_dicos_with(&args.volume, &DicosLoadOptions::default())?;
        (ct.volume, Some(ct.scan))
    } else {
        (io::load(&args.volume)?, None)
    };
    let mut options = read_options(args.options.as_deref())?;
    if let Some(e) = args.energy_kev {
        options.energy_kev = e;
    }
    if let Some(e) = args.metal_energy_kev {
        options.metal_energy_kev = e;
    }
    if let Some(t) = args.threshold {
        if !(0.0..=1.0).contains(&t) {
            return Err(Error::invalid("--threshold", t, "a score in 0–1").into());
        }
        options.threshold = t;
    }
    options.validate()?;
    let staging = Staging::new(&args.out)?;
    let bars = Bars::new(args.quiet || args.json);
    let report = detect_with_progress(&volume, &options, &bars)?;
    bars.finish();
    io::write_text_atomic(staging.path("report.json"), &report.to_json_pretty()?)?;
    write_pictures(&staging, &volume, &report, options.water_mu_per_mm()?)?;
    staging.commit()?;
    if let Some(tdr) = &args.tdr {
        // Atomic: a temporary file next to the target, renamed when complete.
        dicos::save_tdr(tdr, &report, scan.as_ref())?;
    }
    if args.json {
        println!("{}", report.to_json_pretty()?);
    } else if !args.quiet {
        print_findings(&report);
        println!(
            "wrote {}: report.json, slices.png, mip.png",
            args.out.display()
        );
        if let Some(tdr) = &args.tdr {
            let about = match &scan {
                Some(s) => format!("about DICOS CT {}", s.sop_instance_uid),
                None => "with no scan reference (the input is not a DICOS CT)".into(),
            };
            println!(
                "wrote {}: DICOS threat detection report {about}",
                tdr.display()
            );
        }
    }
    Ok(())
}
