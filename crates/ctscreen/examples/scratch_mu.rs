use ctscreen::detect::{detect, DetectOptions};
use ctscreen::phantom::{parcel, ParcelOptions, ThreatKind, Threats};
use ctscreen::scanner::{scan, ScanOptions};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1000);
    let n: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(160);
    let kinds: Vec<ThreatKind> = args
        .get(3)
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(|k| ThreatKind::from_name(k).unwrap())
                .collect()
        })
        .unwrap_or(vec![
            ThreatKind::PistolPolymer,
            ThreatKind::Knife,
            ThreatKind::CartridgesLoose,
        ]);
    let p = parcel(seed, &ParcelOptions { threats: Threats::Kinds(kinds), max_extent_mm: Some(300.0), ..Default::default() }).unwrap();
    let voxel = 2.0;
    let fov = p.extent_mm.iter().cloned().fold(0.0, f64::max) * 1.06 + 4.0 * voxel;
    let n = if n == 0 { (fov / voxel).ceil() as usize } else { n };
    let fov = n as f64 * voxel;
    let t = Instant::now();
    struct S { volume: ctscreen::Volume, effective_energy_kev: f64, water_mu_per_mm: f64 }
    let s = if std::env::var("TRUTH").is_ok() {
        let mut v = p.voxelize([n; 3], [voxel; 3], 100.0, 2).unwrap();
        use rand::SeedableRng; use rand_distr::Distribution;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let nd = rand_distr::Normal::new(0.0f32, 0.01).unwrap();
        for x in v.data_mut().iter_mut() { *x += nd.sample(&mut rng); }
        S { volume: v, effective_energy_kev: 100.0, water_mu_per_mm: 0.017 }
    } else {
        let so = ScanOptions { shape: [n; 3], field_of_view_mm: fov, ..Default::default() };
        let mut so = so; so.simulate.seed = seed;
        let s = scan(&p.phantom, &so, &ctscreen::NoProgress).unwrap();
        S { volume: s.volume, effective_energy_kev: s.effective_energy_kev, water_mu_per_mm: s.water_mu_per_mm }
    };
    eprintln!("scan {:.1}s E_eff {:.1} keV water {:.4}", t.elapsed().as_secs_f64(), s.effective_energy_kev, s.water_mu_per_mm);
    {
        let d = s.volume.data().as_slice().unwrap();
        let mut diffs: Vec<f32> = d
            .windows(2)
            .step_by(7)
            .filter(|w| w[0].abs() < 0.05 && w[1].abs() < 0.05)
            .map(|w| (w[1] - w[0]).abs())
            .collect();
        diffs.sort_by(f32::total_cmp);
        let mad = diffs[diffs.len() / 2];
        eprintln!(
            "noise sigma from neighbour differences: {:.4} (n={})",
            1.4826 * mad / 2f32.sqrt(),
            diffs.len()
        );
    }
    if let Ok(c) = std::env::var("DUMP") {
        let c: Vec<f64> = c.split(',').map(|x| x.parse().unwrap()).collect();
        let o = s.volume.origin();
        let sp = s.volume.spacing();
        let idx: Vec<isize> = (0..3)
            .map(|a| ((c[a] - o[a]) / sp[a]).round() as isize)
            .collect();
        for dz in [-4isize, 0, 4] {
            println!("slice z{:+}", dz);
            for j in -10..=10isize {
                let mut line = String::new();
                for i in -12..=12isize {
                    let v = s.volume.data()[[
                        (idx[0] + dz) as usize,
                        (idx[1] + j) as usize,
                        (idx[2] + i) as usize,
                    ]];
                    line += &format!("{:4.0}", v * 100.0);
                }
                println!("{line}");
            }
        }
        return;
    }
    let labels = p.truth_labels([n; 3], s.volume.spacing()).unwrap();
    let data = s.volume.data();
    for o in &p.objects {
        if o.class.name() == "clutter" || o.class.name() == "container" {
            continue;
        }
        let mut v: Vec<f32> = labels
            .iter()
            .zip(data.iter())
            .filter(|(l, _)| **l == o.label)
            .map(|(_, &x)| x)
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f32::total_cmp);
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        println!(
            "{:3} {:13} {:18} {:16} n={:6} p10 {:.3} p50 {:.3} p90 {:.3} max {:.3}",
            o.label,
            o.class.name(),
            o.kind,
            o.material.name(),
            v.len(),
            q(0.1),
            q(0.5),
            q(0.9),
            q(1.0)
        );
    }
    let t = Instant::now();
    let r = detect(
        &s.volume,
        &DetectOptions {
            energy_kev: s.effective_energy_kev,
            ..Default::default()
        },
    )
    .unwrap();
    eprintln!("detect {:.2}s", t.elapsed().as_secs_f64());
    for f in &r.findings {
        println!(
            "{} {:.2} m{} c=({:.0},{:.0},{:.0}) ext {:.0}x{:.0}x{:.0} | {}",
            f.kind,
            f.score,
            f.members,
            f.centroid_mm[0],
            f.centroid_mm[1],
            f.centroid_mm[2],
            f.extents_mm[0],
            f.extents_mm[1],
            f.extents_mm[2],
            f.evidence.join(" | ")
        );
        if f.extents_mm[0] < 40.0 || std::env::var("ALLF").is_ok() {
            println!(
                "   {:?}",
                f.features
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    if let Ok(minlen) = std::env::var("DESC") {
        let minlen: f64 = minlen.parse().unwrap();
        let o = DetectOptions { energy_kev: s.effective_energy_kev, ..Default::default() };
        let (cands, _) = ctscreen::detect::candidates::extract(&s.volume, &o, &ctscreen::NoProgress).unwrap();
        for c in &cands {
            let d = ctscreen::detect::features::describe(&s.volume, c, &o).unwrap();
            if d.shape.extents_mm[0] >= minlen {
                println!("DESC c {:?} ext {:?} core {:?} asym {:.2} peak {:.2} w {:.1} th {:.1} ends {:?} chan {:.2} fill {:.2}", d.shape.frame.centroid.map(|x| x.round()), d.shape.extents_mm.map(|x| x.round()), d.shape.core_extents_mm.map(|x| x.round()), d.shape.core_asymmetry, d.peak_mu, d.shape.width_mm, d.shape.thickness_mm, d.shape.end_width_ratio, d.shape.channel, d.shape.fill);
                if let Some(tp) = &d.two_part { println!("  TP angle {:.0} len {:?} wid {:?} junc {:?} gap {:?} gain {:.2}", tp.angle_deg, tp.lengths_mm.map(|x| x.round()), tp.widths_mm.map(|x| x.round()), tp.junction, tp.gap_mm.map(|x| x.round()), tp.fit_gain);
                    if let Some(parts) = &tp.parts { for pp in parts.iter() { println!("   PART ext {:?} chan {:.2} bores {:?}", pp.extents_mm.map(|x| x.round()), pp.channel, pp.bores.iter().map(|b| (b.inscribed_mm.round(), b.diameter_mm.round(), b.length_mm.round(), b.open_ends)).collect::<Vec<_>>()); } } }
                println!("  bores {:?} cross {:?} par {:?}", d.shape.bores.iter().map(|b| (b.inscribed_mm.round(), b.diameter_mm.round(), b.length_mm.round(), b.open_ends, (b.length_fraction * 100.0).round(), (b.wall_mm * 10.0).round(), (b.aspect * 10.0).round(), (b.rect_fill * 100.0).round())).collect::<Vec<_>>(), d.shape.cross_bore.map(|b| (b.diameter_mm.round(), b.length_mm.round())), d.shape.parallel_bores);
            }
        }
    }
    for o in p.threats() {
        println!(
            "TRUTH {} {} c=({:.0},{:.0},{:.0}) size {:?}",
            o.class.name(),
            o.kind,
            o.center_mm[0],
            o.center_mm[1],
            o.center_mm[2],
            o.size_mm.map(|x| x.round())
        );
    }
}
