//! # ctscreen
//!
//! X-ray CT of parcels and baggage: simulate and reconstruct scans, segment them, find
//! dense metallic objects and tell firearms, firearm parts, ammunition and blades from
//! the benign metal around them, with the evidence for each call.
//!
//! ## Conventions
//!
//! | thing | convention |
//! | --- | --- |
//! | volume | [`ndarray::Array3<f32>`], axes `(z, y, x)`, C order (x fastest) |
//! | spacing, origin | millimetres, `(dz, dy, dx)` and `(z, y, x)`; world = origin + index × spacing |
//! | values | linear attenuation μ in mm⁻¹ (HU helpers in [`volume`]) |
//! | projections | `(views, rows, cols)` line integrals −ln(I/I0); rows along the rotation axis |
//! | angles | radians |
//! | rotation axis | world z (volume axis 0) through the isocentre `(0, 0, 0)` |
//! | labels | `Array3<u32>`, 0 = background, 1..N dense |
//! | randomness | every random operation takes a `seed: u64`; results do not depend on the thread count |
//! | errors | [`Error`]; no panic on user input |
//!
//! The data flow: phantom → simulate → projections + geometry → reconstruct → volume →
//! segment → labels + regions → detect → report.
//!
//! ## Non-finite values
//!
//! NaN and ±inf never pass silently through a computation:
//!
//! * **Every public entry that computes from an array rejects non-finite values** with
//!   [`Error::NonFinite`], which names the input and counts the offending values:
//!   [`forward_project`], [`backproject`], [`Projector`]'s `apply`, `apply_adjoint` and
//!   `backproject_voxel_driven`, [`recon::fbp`], [`recon::fdk`], [`recon::sirt`],
//!   [`recon::sart`], [`recon::cgls`] and their `*_operator` forms,
//!   [`recon::filter_projections`], [`Volume::resample`], the thresholds and the
//!   intensity statistics of [`segment`], and [`detect()`]. The check runs before any
//!   work or allocation of the output.
//! * **Scalar and small vector parameters** (spacings, origins, angles, distances,
//!   detector pitches and offsets, energies, photon counts, noise levels, spectrum
//!   weights, phantom sizes, centres and μ) must be finite; otherwise the call fails
//!   with [`Error::InvalidParameter`] naming the parameter. Geometries and phantoms are
//!   checked on construction and again by every operation that uses them
//!   ([`geometry::Geometry::validate`], [`phantom::Phantom::validate`]).
//! * **File readers load values as stored**: a NaN or ±inf voxel in a NIfTI, MetaImage
//!   or DICOM file is kept (header fields that must be finite, such as spacings,
//!   origins and rescale factors, are [`Error::Format`] instead). Count them with
//!   [`Volume::count_non_finite`] and replace them before processing; the writers of
//!   [`io`] store them as they are, the DICOS writer (integers) refuses them with
//!   [`Error::NonFinite`].
//! * Pure data movement keeps them: [`Volume::new`], [`Volume::crop`],
//!   [`Projections::new`]. [`render`] draws non-finite values black and
//!   [`render::Window::auto`] ignores them; [`Volume::value_range`] ignores NaN.
//! * The element-wise helpers [`volume::mu_to_hu`] and [`volume::hu_to_mu`] follow IEEE
//!   arithmetic (NaN in, NaN out).
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod detect;
pub mod error;
pub mod geometry;
pub mod io;
pub mod io_dicos;
pub mod phantom;
pub mod physics;
pub mod progress;
pub mod project;
pub mod recon;
pub mod render;
pub mod scanner;
pub mod segment;
pub mod volume;

pub use detect::{detect, DetectOptions, Report};
pub use error::{Error, Result};
pub use geometry::Geometry;
pub use phantom::{parcel, Parcel, ParcelOptions, Phantom};
pub use physics::{simulate, Material, SimulateOptions};
pub use progress::{CancelFlag, NoProgress, Progress};
pub use project::{backproject, forward_project, LinearOperator, Projector};
pub use recon::{cgls, fbp, fdk, mar, sart, sirt};
pub use segment::{label, regionprops, RegionProps};
pub use volume::{Projections, Volume};
