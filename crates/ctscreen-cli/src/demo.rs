//! `ctscreen demo`: the main job end to end on a generated parcel, no input needed.
//!
//! generate a parcel (a hidden pistol and loose ammunition among benign metal) →
//! simulate a noisy polychromatic cone-beam scan → reconstruct → detect → write the
//! report, the volume, the projections with their geometry, and pictures.
//!
//! Outputs are written into a hidden staging folder inside `--out` and moved into
//! place only when everything succeeded: Ctrl-C or an error leaves no partial files.
use std::path::{Path, PathBuf};
use std::time::Instant;

use ctscreen::detect::{detect_with_progress, DetectOptions, Kind, Report};
use ctscreen::phantom::{parcel, ParcelOptions, ThreatKind, Threats};
use ctscreen::render::{image_2d, mip_with_overlays, orthogonal_slices, Overlay, Window};
use ctscreen::scanner::{scan, ScanOptions};
use ctscreen::{io, Error, Volume};
use ndarray::Axis;

use crate::progress::Bars;
use crate::CliResult;

/// Arguments of `ctscreen demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed of the parcel and of the scan noise.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Side of the reconstructed volume in voxels (16–1024).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Output folder (created if missing).
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Number of views over 360° (default: 1.5 × size, at least 90).
    #[arg(long)]
    pub views: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Largest outer dimension of the demo parcel, mm; the field of view adds a margin.
const PARCEL_MM: f64 = 300.0;

/// Runs the demo.
pub fn run(args: &Args) -> CliResult {
    if !(16..=1024).contains(&args.size) {
        return Err(Error::invalid("--size", args.size, "a volume side of 16–1024 voxels").into());
    }
    if args.views == Some(0) {
        return Err(Error::invalid("--views", 0, "at least 1 view").into());
    }
    let staging = Staging::new(&args.out)?;
    let bars = Bars::new(args.quiet || args.json);
    let mut timings: Vec<(&str, f64)> = Vec::new();

    let t = Instant::now();
    let options = ParcelOptions {
        threats: Threats::Kinds(vec![ThreatKind::PistolPolymer, ThreatKind::CartridgesLoose]),
        max_extent_mm: Some(PARCEL_MM),
        ..ParcelOptions::default()
    };
    let parcel = parcel(args.seed, &options)?;
    timings.push(("generate", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let mut scan_options = ScanOptions {
        shape: [args.size; 3],
        field_of_view_mm: PARCEL_MM * 1.1,
        ..ScanOptions::default()
    };
    scan_options.views = args.views.unwrap_or(0);
    scan_options.simulate.seed = args.seed;
    let scanned = scan(&parcel.phantom, &scan_options, &bars)?;
    timings.push(("scan + reconstruct", t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let detect_options = DetectOptions {
        energy_kev: scanned.effective_energy_kev,
        ..DetectOptions::default()
    };
    let report = detect_with_progress(&scanned.volume, &detect_options, &bars)?;
    timings.push(("detect", t.elapsed().as_secs_f64()));
    bars.finish();

    let t = Instant::now();
    write_outputs(&staging, &scanned, &report)?;
    io::write_text_atomic(
        staging.path("truth.json"),
        &serde_json::to_string_pretty(&parcel.objects)?,
    )?;
    if bars.cancelled() {
        return Err(Error::Cancelled.into());
    }
    staging.commit()?;
    timings.push(("write", t.elapsed().as_secs_f64()));

    if args.json {
        println!("{}", report.to_json_pretty()?);
    } else if !args.quiet {
        print_summary(&parcel, &report, &timings, &args.out);
    }
    Ok(())
}

fn write_outputs(
    staging: &Staging,
    scanned: &ctscreen::scanner::Scan,
    report: &Report,
) -> ctscreen::Result<()> {
    let vol = &scanned.volume;
    io::write_text_atomic(staging.path("report.json"), &report.to_json_pretty()?)?;
    io::save(staging.path("volume.nii.gz"), vol)?;
    let p = scanned.projections.data().clone();
    let pv = Volume::new(p, [1.0, 1.0, 1.0], [0.0; 3])?;
    io::save(staging.path("projections.mha"), &pv)?;
    io::write_text_atomic(staging.path("geometry.json"), &scanned.geometry.to_json())?;

    write_pictures(staging, vol, report, scanned.water_mu_per_mm)?;
    let rows = scanned.projections.shape()[1];
    let sino = scanned
        .projections
        .data()
        .index_axis(Axis(1), rows / 2)
        .to_owned();
    image_2d(sino.view(), Window::auto(sino.iter())).write_png(staging.path("sinogram.png"))?;
    Ok(())
}

/// Writes `slices.png` (three orthogonal slices) and `mip.png` (MIP along z with the
/// threat findings boxed and labelled) into the staging folder.
pub fn write_pictures(
    staging: &Staging,
    vol: &Volume,
    report: &Report,
    water: f64,
) -> ctscreen::Result<()> {
    let window = Window::from_hu(1000.0, 4000.0, water);
    orthogonal_slices(vol, window)?.write_png(staging.path("slices.png"))?;
    let overlays: Vec<Overlay> = report
        .findings
        .iter()
        .filter(|f| f.kind != Kind::MetalOther)
        .map(|f| Overlay {
            bbox_mm: f.bbox_mm,
            label: format!("{} {:.2}", f.kind.as_str(), f.score),
            color: kind_color(f.kind),
        })
        .collect();
    mip_with_overlays(vol, 0, Window::from_hu(0.0, 8000.0, water), &overlays)?
        .write_png(staging.path("mip.png"))?;
    Ok(())
}

fn kind_color(kind: Kind) -> [u8; 3] {
    match kind {
        Kind::Firearm => [255, 45, 45],
        Kind::FirearmPart => [255, 154, 31],
        Kind::Ammunition => [255, 224, 31],
        Kind::Blade => [45, 212, 255],
        Kind::MetalOther => [160, 160, 160],
    }
}

fn print_summary(parcel: &ctscreen::Parcel, report: &Report, timings: &[(&str, f64)], out: &Path) {
    let verdict = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    println!(
        "parcel seed {}: {} ({:.0}×{:.0}×{:.0} mm), {} objects, threats placed: {}",
        parcel.seed,
        parcel.container.name(),
        parcel.extent_mm[0],
        parcel.extent_mm[1],
        parcel.extent_mm[2],
        parcel.objects.len(),
        parcel
            .threats()
            .map(|o| o.kind.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = verdict;
    print_findings(report);
    let total: f64 = timings.iter().map(|t| t.1).sum();
    let parts: Vec<String> = timings
        .iter()
        .map(|(n, s)| format!("{n} {s:.2} s"))
        .collect();
    println!("timings: {} (total {total:.2} s)", parts.join(", "));
    println!("wrote {}: report.json, volume.nii.gz, projections.mha, geometry.json, truth.json, slices.png, mip.png, sinogram.png", out.display());
}

/// Prints the verdict and each threat finding with its evidence.
pub fn print_findings(report: &Report) {
    let verdict = serde_json::to_value(report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    println!(
        "verdict: {} (threshold {:.2})",
        verdict.to_uppercase(),
        report.threshold
    );
    for f in report.threats() {
        let b = f.bbox_mm;
        println!("  #{} {} score {:.2}, {} , {:.0} cm³, box z {:.0}..{:.0} y {:.0}..{:.0} x {:.0}..{:.0} mm",
            f.id, f.kind.as_str(), f.score, f.material, f.volume_mm3 / 1000.0, b[0], b[3], b[1], b[4], b[2], b[5]);
        for e in &f.evidence {
            println!("      - {e}");
        }
    }
    let other = report
        .findings
        .iter()
        .filter(|f| f.score < report.threshold)
        .count();
    println!("  ({other} other metal objects below the threshold)");
    for s in &report.shields {
        let b = s.bbox_mm;
        println!(
            "  shield: {:.0} cm³ the beam did not pass through, box z {:.0}..{:.0} y {:.0}..{:.0} x {:.0}..{:.0} mm",
            s.volume_mm3 / 1000.0, b[0], b[3], b[1], b[4], b[2], b[5]
        );
        for e in &s.evidence {
            println!("      - {e}");
        }
    }
}

/// A hidden folder inside the output folder; files move out of it only on success.
pub struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the output folder if needed and a fresh staging folder inside it.
    pub fn new(out: &Path) -> ctscreen::Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let dir = out.join(format!(".ctscreen-partial-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self {
            dir,
            out: out.to_path_buf(),
            committed: false,
        })
    }
    /// Where to write `name` while staging.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Moves every staged file into the output folder.
    pub fn commit(mut self) -> ctscreen::Result<()> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let to = self.out.join(entry.file_name());
            std::fs::rename(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
        self.committed = true;
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
