//! Projector throughput in voxel updates (views × voxels) per second.
//!
//! `cargo bench -p ctscreen --bench project`

use std::f64::consts::PI;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ctscreen::geometry::{ConeBeamGeometry, Geometry, ParallelBeamGeometry};
use ctscreen::project::{backproject, forward_project, LinearOperator, Projector};
use ctscreen::{NoProgress, Projections, Volume};
use ndarray::Array3;

fn ball(shape: [usize; 3]) -> Volume {
    let c: Vec<f64> = shape.iter().map(|&n| (n as f64 - 1.0) / 2.0).collect();
    let r = shape[1].min(shape[2]) as f64 * 0.4;
    let data = Array3::from_shape_fn(shape, |(k, j, i)| {
        let dz = if shape[0] > 1 { k as f64 - c[0] } else { 0.0 };
        let d2 = dz * dz + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2);
        if d2 < r * r {
            0.02
        } else {
            0.0
        }
    });
    Volume::centered(data, [1.0; 3]).unwrap()
}

fn angles(n: usize, range: f64) -> Vec<f64> {
    (0..n).map(|i| range * i as f64 / n as f64).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("project");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    // 2D parallel beam: 256² image, 360 views, 363 detector columns.
    let vol2 = ball([1, 256, 256]);
    let g2: Geometry = ParallelBeamGeometry::new(angles(360, PI), 363, 1.0, 1)
        .unwrap()
        .into();
    let updates2 = (360 * 256 * 256) as u64;
    group.throughput(Throughput::Elements(updates2));
    group.bench_function(
        BenchmarkId::new("forward_parallel_2d", "256x256x360"),
        |b| b.iter(|| forward_project(&vol2, &g2).unwrap()),
    );
    let a2 = Projector::for_volume(&vol2, &g2).unwrap();
    let sino = forward_project(&vol2, &g2).unwrap();
    group.bench_function(
        BenchmarkId::new("adjoint_parallel_2d", "256x256x360"),
        |b| {
            b.iter(|| {
                a2.apply_adjoint_new(sino.data().view(), &NoProgress)
                    .unwrap()
            })
        },
    );

    // Cone beam: 128³ volume, 128 views, 128 × 160 detector.
    let vol3 = ball([128, 128, 128]);
    let g3: Geometry = ConeBeamGeometry::new(
        angles(128, 2.0 * PI),
        300.0,
        600.0,
        (128, 160),
        (2.0, 2.0),
        (0.0, 0.0),
    )
    .unwrap()
    .into();
    let updates3 = (128u64 * 128 * 128) * 128;
    group.throughput(Throughput::Elements(updates3));
    group.bench_function(BenchmarkId::new("forward_cone", "128^3x128"), |b| {
        b.iter(|| forward_project(&vol3, &g3).unwrap())
    });
    let a3 = Projector::for_volume(&vol3, &g3).unwrap();
    let proj: Projections = forward_project(&vol3, &g3).unwrap();
    group.bench_function(BenchmarkId::new("adjoint_cone", "128^3x128"), |b| {
        b.iter(|| {
            a3.apply_adjoint_new(proj.data().view(), &NoProgress)
                .unwrap()
        })
    });
    group.bench_function(
        BenchmarkId::new("backproject_voxel_driven_cone", "128^3x128"),
        |b| b.iter(|| backproject(&proj, &g3, [128, 128, 128], [1.0; 3]).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
