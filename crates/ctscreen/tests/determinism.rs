//! Every parallel public operation gives bit-identical results on 1, 2 and 3 rayon
//! threads (3 makes uneven splits of the slabs and rows).

use ctscreen::geometry::{
    Beam, ConeBeamGeometry, FanBeamGeometry, Geometry, ParallelBeamGeometry, VectorGeometry,
};
use ctscreen::phantom::{analytic_projections, parcel, ParcelOptions, ThreatKind, Threats};
use ctscreen::physics::{simulate, DetectorResponse, SimulateOptions};
use ctscreen::project::{backproject, forward_project, LinearOperator, Projector};
use ctscreen::recon::{cgls, fbp, fdk, sart, sirt, FdkOptions, Filter, IterativeOptions};
use ctscreen::{NoProgress, Projections, Volume};
use ndarray::{Array2, Array3};

const THREADS: [usize; 3] = [1, 2, 3];

/// Runs `f` in a pool of each size of [`THREADS`] and asserts the results' bits agree.
fn same_on_any_thread_count<T: Bits + Send>(what: &str, f: impl Fn() -> T + Sync) -> T {
    let mut first: Option<(Vec<u64>, T)> = None;
    for n in THREADS {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        let out = pool.install(&f);
        let bits = out.bits();
        assert!(!bits.is_empty(), "{what}: empty output");
        match &first {
            None => first = Some((bits, out)),
            Some((b, _)) => {
                let diff = b.iter().zip(&bits).filter(|(a, c)| a != c).count();
                assert!(
                    diff == 0 && b.len() == bits.len(),
                    "{what}: {diff} of {} values differ between 1 and {n} threads",
                    b.len()
                );
            }
        }
    }
    first.unwrap().1
}

/// The exact bits of an output.
trait Bits {
    fn bits(&self) -> Vec<u64>;
}

impl Bits for Array3<f32> {
    fn bits(&self) -> Vec<u64> {
        self.iter().map(|v| u64::from(v.to_bits())).collect()
    }
}
impl Bits for Array2<f32> {
    fn bits(&self) -> Vec<u64> {
        self.iter().map(|v| u64::from(v.to_bits())).collect()
    }
}
impl Bits for Array3<u32> {
    fn bits(&self) -> Vec<u64> {
        self.iter().map(|&v| u64::from(v)).collect()
    }
}
impl Bits for Volume {
    fn bits(&self) -> Vec<u64> {
        let mut b = self.data().bits();
        b.extend(
            self.spacing()
                .iter()
                .chain(&self.origin())
                .map(|v| v.to_bits()),
        );
        b
    }
}
impl Bits for Projections {
    fn bits(&self) -> Vec<u64> {
        self.data().bits()
    }
}
impl Bits for (Array3<f32>, Vec<f64>) {
    fn bits(&self) -> Vec<u64> {
        let mut b = self.0.bits();
        b.extend(self.1.iter().map(|v| v.to_bits()));
        b
    }
}

fn angles(n: usize, range: f64) -> Vec<f64> {
    (0..n).map(|i| i as f64 * range / n as f64).collect()
}

fn cone(views: usize, range: f64) -> Geometry {
    ConeBeamGeometry::new(
        angles(views, range),
        400.0,
        800.0,
        (12, 20),
        (25.0, 25.0),
        (10.0, -15.0),
    )
    .unwrap()
    .into()
}

/// A small parcel and its voxelisation: the shared input of the other tests.
fn scene() -> (ctscreen::Parcel, Volume) {
    let opts = ParcelOptions {
        threats: Threats::Kinds(vec![ThreatKind::PistolPolymer]),
        max_extent_mm: Some(240.0),
        clutter: 0.5,
        ..Default::default()
    };
    let p = parcel(11, &opts).unwrap();
    let vol = p
        .voxelize([14, 16, 18], [16.0, 16.0, 16.0], 70.0, 2)
        .unwrap();
    (p, vol)
}

#[test]
fn phantom_voxelize_and_labels() {
    let (p, _) = scene();
    let v = same_on_any_thread_count("Parcel::voxelize", || {
        p.voxelize([14, 16, 18], [16.0, 16.0, 16.0], 70.0, 2)
            .unwrap()
    });
    assert!(
        v.data().iter().any(|&x| x > 0.0),
        "an empty scene tests little"
    );
    same_on_any_thread_count("Parcel::truth_labels", || {
        p.truth_labels([14, 16, 18], [16.0, 16.0, 16.0]).unwrap()
    });
    let g = cone(16, std::f64::consts::TAU);
    same_on_any_thread_count("analytic_projections", || {
        analytic_projections(&p.phantom, &g, 70.0).unwrap()
    });
}

#[test]
fn forward_and_back_projection() {
    let (_, vol) = scene();
    for g in [
        cone(16, std::f64::consts::TAU),
        ParallelBeamGeometry::new(angles(9, 3.0), 25, 12.0, 3)
            .unwrap()
            .into(),
    ] {
        let p = same_on_any_thread_count("forward_project", || forward_project(&vol, &g).unwrap());
        assert!(p.data().iter().any(|&x| x > 0.0));
        same_on_any_thread_count("backproject", || {
            backproject(&p, &g, [10, 12, 14], [18.0, 18.0, 18.0]).unwrap()
        });
    }
}

#[test]
fn projector_apply_and_adjoint() {
    let (_, vol) = scene();
    let base = cone(12, std::f64::consts::TAU);
    let views = base.view_vectors();
    let vector: Geometry = VectorGeometry {
        beam: Beam::Cone,
        rows: 12,
        cols: 20,
        views,
    }
    .into();
    for g in [base, vector] {
        let a = Projector::for_volume(&vol, &g).unwrap();
        let y = same_on_any_thread_count("Projector::apply", || {
            a.apply_new(vol.data().view(), &NoProgress).unwrap()
        });
        same_on_any_thread_count("Projector::apply_adjoint", || {
            a.apply_adjoint_new(y.view(), &NoProgress).unwrap()
        });
        same_on_any_thread_count("Projector::backproject_voxel_driven", || {
            a.backproject_voxel_driven(y.view(), &NoProgress).unwrap()
        });
    }
}

#[test]
fn fbp_parallel_and_fan() {
    let (_, vol) = scene();
    let slice = vol.crop([7, 0, 0], [1, 16, 18]).unwrap();
    let par: Geometry = ParallelBeamGeometry::new(angles(30, std::f64::consts::PI), 31, 12.0, 1)
        .unwrap()
        .into();
    let fan: Geometry =
        FanBeamGeometry::new(angles(40, std::f64::consts::TAU), 400.0, 800.0, 41, 20.0)
            .unwrap()
            .into();
    for g in [par, fan] {
        let shifted = Volume::centered(slice.data().clone(), slice.spacing()).unwrap();
        let sino = forward_project(&shifted, &g).unwrap();
        let sino2 = sino.data().index_axis(ndarray::Axis(1), 0).to_owned();
        let img = same_on_any_thread_count("fbp", || {
            fbp(sino2.view(), &g, (20, 22), (14.0, 14.0), Filter::SheppLogan).unwrap()
        });
        assert!(img.iter().any(|&x| x != 0.0));
    }
}

#[test]
fn fdk_full_and_short_scan_with_view_blocks() {
    let (_, vol) = scene();
    let fan_angle = 2.0 * (265.0f64 / 800.0).atan();
    for g in [
        cone(24, std::f64::consts::TAU),
        cone(24, std::f64::consts::PI + fan_angle + 0.3),
    ] {
        let p = forward_project(&vol, &g).unwrap();
        for view_block in [0, 5] {
            let opts = FdkOptions {
                view_block,
                ..FdkOptions::default()
            };
            let v = same_on_any_thread_count("fdk", || {
                fdk(&p, &g, [9, 17, 19], [14.0, 14.0, 14.0], &opts, &NoProgress).unwrap()
            });
            assert!(v.data().iter().any(|&x| x != 0.0));
        }
    }
}

#[test]
fn simulate_with_noise_both_detectors() {
    let (p, _) = scene();
    let g = cone(10, std::f64::consts::TAU);
    for detector in [
        DetectorResponse::PhotonCounting,
        DetectorResponse::EnergyIntegrating,
    ] {
        let opts = SimulateOptions {
            seed: 99,
            photons: 2e3,
            electronic_noise: 3.0,
            detector,
            ..Default::default()
        };
        let proj = same_on_any_thread_count("simulate", || {
            simulate(&p.phantom, &g, &opts, &NoProgress).unwrap()
        });
        assert!(proj.data().iter().any(|&x| x > 0.0));
    }
}

#[test]
fn resample() {
    let (_, vol) = scene();
    same_on_any_thread_count("Volume::resample", || vol.resample([9, 23, 11]).unwrap());
}

#[test]
fn iterative_solvers() {
    let (_, vol) = scene();
    let small = vol.resample([6, 8, 8]).unwrap();
    let small = Volume::centered(small.into_data(), [30.0, 30.0, 30.0]).unwrap();
    let g = cone(10, std::f64::consts::TAU);
    let p = forward_project(&small, &g).unwrap();
    let opts = IterativeOptions {
        iterations: 3,
        subsets: 3,
        ..Default::default()
    };
    let shape = [6, 8, 8];
    let spacing = [30.0; 3];
    same_on_any_thread_count("sirt", || {
        let r = sirt(&p, &g, shape, spacing, &opts, &NoProgress).unwrap();
        (r.volume.into_data(), r.residuals)
    });
    same_on_any_thread_count("sart", || {
        let r = sart(&p, &g, shape, spacing, &opts, &NoProgress).unwrap();
        (r.volume.into_data(), r.residuals)
    });
    same_on_any_thread_count("cgls", || {
        let r = cgls(&p, &g, shape, spacing, &opts, &NoProgress).unwrap();
        (r.volume.into_data(), r.residuals)
    });
}
