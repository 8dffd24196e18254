//! NIfTI and MetaImage reading and writing of a 256³ float32 volume (64 MiB of voxels),
//! gzip-compressed and plain. Throughput is in bytes of voxel data.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array3;
use rand::{Rng, SeedableRng};

use ctscreen::{io, Volume};

fn bench(c: &mut Criterion) {
    let n = 256;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    // A smooth-ish field with noise, closer to a CT volume than white noise for gzip.
    let data = Array3::from_shape_fn((n, n, n), |(z, y, x)| {
        let r = ((z * z + y * y + x * x) as f32).sqrt() / n as f32;
        0.02 * (1.0 - r).max(0.0) + rng.random_range(0.0f32..0.002)
    });
    let volume = Volume::new(data, [0.8, 0.8, 0.8], [0.0; 3]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("io");
    g.throughput(Throughput::Bytes((n * n * n * 4) as u64));
    g.sample_size(10);
    for name in ["v.nii.gz", "v.nii", "v.mha"] {
        let path = dir.path().join(name);
        g.bench_function(format!("write_{name}_256^3"), |b| {
            b.iter(|| io::save(&path, &volume).unwrap())
        });
        g.bench_function(format!("read_{name}_256^3"), |b| {
            b.iter(|| io::load(&path).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
