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
