//! Reconstruction throughput in voxel updates (views × voxels) per second.
//!
//! `cargo bench -p ctscreen --bench recon` (all cases), or a filter such as
//! `cargo bench -p ctscreen --bench recon -- fdk/128`. Set `RAYON_NUM_THREADS=1` for
//! per-core figures.

use std::f64::consts::PI;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ctscreen::geometry::{ConeBeamGeometry, Geometry, ParallelBeamGeometry};
use ctscreen::recon::{fbp, fdk, sirt, FdkOptions, Filter, IterativeOptions};
use ctscreen::{NoProgress, Projections};
use ndarray::{Array2, Array3};

fn angles(n: usize, range: f64) -> Vec<f64> {
    (0..n).map(|i| range * i as f64 / n as f64).collect()
}

/// Smooth non-zero data: speed does not depend on the values, but keep them realistic.
fn bump(r: usize, c: usize, rows: usize, cols: usize) -> f32 {
    let u = (c as f32 / cols as f32 - 0.5) * 2.0;
    let v = (r as f32 / rows.max(2) as f32 - 0.5) * 2.0;
    (1.0 - u * u).max(0.0) * (1.0 - 0.5 * v * v) * 4.0
}

fn bench_fbp(c: &mut Criterion) {
    let views = 360;
    let cols = 384;
    let g: Geometry = ParallelBeamGeometry::new(angles(views, PI), cols, 1.0, 1)
        .unwrap()
        .into();
    let sino = Array2::from_shape_fn((views, cols), |(_, c)| bump(0, c, 1, cols));
    let mut group = c.benchmark_group("fbp");
    group.throughput(Throughput::Elements((views * 256 * 256) as u64));
    group.bench_function("256x256_from_360_views", |b| {
        b.iter(|| {
            fbp(
                black_box(sino.view()),
                &g,
                (256, 256),
                (1.0, 1.0),
                Filter::RamLak,
            )
            .unwrap()
        })
    });
    group.finish();
}

fn bench_fdk(c: &mut Criterion) {
    let views = 360;
    let det = 384;
    let g: Geometry = ConeBeamGeometry::new(
        angles(views, 2.0 * PI),
        500.0,
        1000.0,
        (det, det),
        (1.0, 1.0),
        (0.0, 0.0),
    )
    .unwrap()
    .into();
    let proj = Projections::new(Array3::from_shape_fn((views, det, det), |(_, r, c)| {
        bump(r, c, det, det)
    }))
    .unwrap();
    let mut group = c.benchmark_group("fdk");
    group.sample_size(10);
    for n in [128usize, 256] {
        // The volume spans the field of view (≈ 180 mm across).
        let spacing = 180.0 / n as f64;
        group.throughput(Throughput::Elements((views * n * n * n) as u64));
        group.bench_function(format!("{n}^3_from_360_views_of_384^2"), |b| {
            b.iter(|| {
                fdk(
                    black_box(&proj),
                    &g,
                    [n, n, n],
                    [spacing; 3],
                    &FdkOptions::default(),
                    &NoProgress,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

/// SIRT with one iteration on 128³ from 180 cone-beam views of 192²: the row and
/// column sums (a forward and a back projection of ones), the iteration (one of each
/// again) and the final residual (a forward projection); throughput counts the five
/// projections.
fn bench_sirt(c: &mut Criterion) {
    let (views, det, n) = (180, 192, 128);
    let g: Geometry = ConeBeamGeometry::new(
        angles(views, 2.0 * PI),
        500.0,
        1000.0,
        (det, det),
        (2.0, 2.0),
        (0.0, 0.0),
    )
    .unwrap()
    .into();
    let proj = Projections::new(Array3::from_shape_fn((views, det, det), |(_, r, c)| {
        bump(r, c, det, det)
    }))
    .unwrap();
    let options = IterativeOptions {
        iterations: 1,
        ..Default::default()
    };
    let mut group = c.benchmark_group("sirt");
    group.sample_size(10);
    group.throughput(Throughput::Elements((5 * views * n * n * n) as u64));
    group.bench_function("1_iteration_128^3_from_180_views_of_192^2", |b| {
        b.iter(|| {
            sirt(
                black_box(&proj),
                &g,
                [n, n, n],
                [1.4; 3],
                &options,
                &NoProgress,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_fbp, bench_fdk, bench_sirt);
criterion_main!(benches);
