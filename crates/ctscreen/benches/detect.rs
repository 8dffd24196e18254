//! Threat detection on a generated parcel (a polymer pistol, loose cartridges and a
//! knife among hard benign metal) voxelised at 512³ (0.66 mm voxels over 340 mm) at
//! 100 keV, with no scan: the cost of `detect` alone on a full-resolution volume.
//! Throughput is in voxels.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use ctscreen::detect::{detect, DetectOptions};
use ctscreen::phantom::{parcel, ParcelOptions, ThreatKind, Threats};

fn bench(c: &mut Criterion) {
    let n = 512;
    let p = parcel(
        7,
        &ParcelOptions {
            threats: Threats::Kinds(vec![
                ThreatKind::PistolPolymer,
                ThreatKind::CartridgesLoose,
                ThreatKind::Knife,
            ]),
            max_extent_mm: Some(300.0),
            ..ParcelOptions::default()
        },
    )
    .expect("parcel");
    let voxel = 340.0 / n as f64;
    let vol = p.voxelize([n; 3], [voxel; 3], 100.0, 1).expect("voxelize");
    let options = DetectOptions {
        energy_kev: 100.0,
        ..DetectOptions::default()
    };
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements((n * n * n) as u64));
    g.sample_size(10);
    g.bench_function("detect_parcel_512^3", |b| {
        b.iter(|| detect(&vol, &options).expect("detect"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
