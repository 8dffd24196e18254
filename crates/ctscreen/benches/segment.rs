//! Connected components and region properties on a 256³ half-filled random volume
//! (the usual cc3d benchmark input). Throughput is in voxels.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array3;
use rand::{Rng, SeedableRng};

use ctscreen::segment::{label, regionprops, Connectivity};

fn random_volume(n: usize, seed: u64) -> Array3<u8> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    Array3::from_shape_simple_fn((n, n, n), || u8::from(rng.random_bool(0.5)))
}

fn bench(c: &mut Criterion) {
    let n = 256;
    let vol = random_volume(n, 1);
    let voxels = (n * n * n) as u64;
    let mut g = c.benchmark_group("segment");
    g.throughput(Throughput::Elements(voxels));
    g.sample_size(10);
    for conn in [Connectivity::Six, Connectivity::TwentySix] {
        g.bench_function(format!("label_{}_256^3_half", conn.number()), |b| {
            b.iter(|| label(vol.view(), conn).unwrap())
        });
    }
    let (labels, _) = label(vol.view(), Connectivity::Six).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
    let intensity = Array3::from_shape_simple_fn((n, n, n), || rng.random_range(0.0f32..1.0));
    g.bench_function("regionprops_6conn_labels_256^3", |b| {
        b.iter(|| regionprops(labels.view(), Some(intensity.view()), [1.0; 3], [0.0; 3]).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
