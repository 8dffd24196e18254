//! Ramp-family reconstruction filters, applied along detector rows with a real FFT.
//!
//! The filter is built the standard way (Kak & Slaney, *Principles of Computerized
//! Tomographic Imaging*, ch. 3): the band-limited ramp's spatial kernel on the sample
//! grid,
//!
//! ```text
//! h(0) = 1/4,   h(n) = 0 for even n ≠ 0,   h(n) = −1/(π n)² for odd n,
//! ```
//!
//! (in units of 1/τ², τ the sample pitch) is laid out circularly on a zero-padded grid of
//! `N` samples ([`padded_len`]: the next power of two ≥ 2 · cols, at least 64) and
//! Fourier transformed. Sampling the kernel in space, rather than the ramp `|f|` in
//! frequency, keeps the right DC value (the discrete ramp has a small positive DC term
//! that a sampled `|f|` sets to zero, which leaves a negative offset in reconstructions).
//! The transform is then multiplied by the window `W(f)` of the chosen [`Filter`], with
//! `f` the frequency in cycles per sample (`0 … 0.5`):
//!
//! | filter | `W(f)` | at Nyquist |
//! | --- | --- | --- |
//! | [`Filter::RamLak`] | `1` | 1 |
//! | [`Filter::SheppLogan`] | `sin(π f) / (π f)` | 0.64 |
//! | [`Filter::Cosine`] | `cos(π f)` | 0 |
//! | [`Filter::Hamming`] | `0.54 + 0.46 cos(2π f)` | 0.08 |
//! | [`Filter::Hann`] | `0.5 + 0.5 cos(2π f)` | 0 |
//!
//! Filtering a row `p` of pitch τ gives `q = τ · (h ∗ p)`, the discrete version of the
//! convolution with the continuous ramp kernel, so that summing `q` over views times the
//! angular step reconstructs μ in mm⁻¹.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use ndarray::{ArrayViewMut3, Axis};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::{Error, Result};

/// A ramp-family reconstruction filter: the ramp times an apodisation window that
/// trades resolution for noise (see the module docs for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Filter {
    /// The plain band-limited ramp (Ram–Lak): sharpest, noisiest.
    #[default]
    RamLak,
    /// Ramp times `sinc`: the Shepp–Logan filter.
    SheppLogan,
    /// Ramp times a cosine (half period over the band).
    Cosine,
    /// Ramp times a Hamming window.
    Hamming,
    /// Ramp times a Hann window: smoothest.
    Hann,
}

impl Filter {
    /// Every filter, in order of decreasing sharpness (roughly).
    pub const ALL: [Filter; 5] = [
        Filter::RamLak,
        Filter::SheppLogan,
        Filter::Cosine,
        Filter::Hamming,
        Filter::Hann,
    ];

    /// The filter's name as the API spells it (`"ram-lak"`, `"shepp-logan"`, `"cosine"`,
    /// `"hamming"`, `"hann"`); [`Filter::from_str`] accepts these.
    pub fn name(self) -> &'static str {
        match self {
            Filter::RamLak => "ram-lak",
            Filter::SheppLogan => "shepp-logan",
            Filter::Cosine => "cosine",
            Filter::Hamming => "hamming",
            Filter::Hann => "hann",
        }
    }

    /// The window `W(f)` at frequency `f` in cycles per sample (`|f| ≤ 0.5`).
    pub fn window(self, f: f64) -> f64 {
        let f = f.abs();
        match self {
            Filter::RamLak => 1.0,
            Filter::SheppLogan => {
                let x = std::f64::consts::PI * f;
                if x == 0.0 {
                    1.0
                } else {
                    x.sin() / x
                }
            }
            Filter::Cosine => (std::f64::consts::PI * f).cos(),
            Filter::Hamming => 0.54 + 0.46 * (2.0 * std::f64::consts::PI * f).cos(),
            Filter::Hann => 0.5 + 0.5 * (2.0 * std::f64::consts::PI * f).cos(),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Filter {
    type Err = Error;

    /// Parses a filter name, case-insensitively: `ram-lak` (also `ramlak`, `ramp`),
    /// `shepp-logan`, `cosine`, `hamming`, `hann` (also `hanning`); `_` may replace `-`.
    ///
    /// **Errors** with [`Error::InvalidParameter`] for any other name.
    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        Ok(match key.as_str() {
            "ram-lak" | "ramlak" | "ramp" => Filter::RamLak,
            "shepp-logan" | "shepplogan" => Filter::SheppLogan,
            "cosine" => Filter::Cosine,
            "hamming" => Filter::Hamming,
            "hann" | "hanning" => Filter::Hann,
            _ => {
                return Err(Error::invalid(
                    "filter",
                    format!("{s:?}"),
                    "one of \"ram-lak\", \"shepp-logan\", \"cosine\", \"hamming\", \"hann\"",
                ))
            }
        })
    }
}

/// The zero-padded FFT length used for rows of `cols` samples: the smallest even
/// number ≥ 2 · cols (and ≥ 64) whose only prime factors are 2, 3 and 5 (a size the
/// FFT handles fast), so the circular convolution never wraps a row onto itself.
pub fn padded_len(cols: usize) -> usize {
    let target = cols.saturating_mul(2).max(64);
    let mut n = target + (target & 1);
    loop {
        let mut m = n;
        for p in [2, 3, 5] {
            while m.is_multiple_of(p) {
                m /= p;
            }
        }
        if m == 1 {
            return n;
        }
        n += 2;
    }
}

/// The discrete ramp response (before windowing) at every bin `k = 0 ..= n/2` of an
/// `n`-point FFT, in units of 1/τ (τ = sample pitch): the DFT of the spatial kernel
/// `h(0) = 1/4, h(±m) = −1/(π m)²` for odd `m < n/2`, 0 otherwise.
fn ramp_response(n: usize, planner: &mut RealFftPlanner<f64>) -> Vec<f64> {
    let mut kernel = vec![0.0f64; n];
    kernel[0] = 0.25;
    for m in (1..n / 2).step_by(2) {
        let h = -1.0 / (std::f64::consts::PI * m as f64).powi(2);
        kernel[m] = h;
        kernel[n - m] = h;
    }
    let r2c = planner.plan_fft_forward(n);
    let mut spectrum = r2c.make_output_vec();
    r2c.process(&mut kernel, &mut spectrum)
        .expect("buffer lengths come from the plan");
    // The kernel is real and even, so its transform is real.
    spectrum.iter().map(|c| c.re).collect()
}

/// Scratch buffers for [`RampFilter::filter_line`]; one per worker thread.
pub struct FilterScratch {
    real: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
}

/// A ready-to-use row filter: one shared FFT plan and the windowed, scaled response.
///
/// Cheap to share between threads (`&RampFilter` is `Sync`); each worker needs its own
/// [`FilterScratch`] from [`RampFilter::scratch`].
pub struct RampFilter {
    filter: Filter,
    cols: usize,
    n: usize,
    /// Physical response per bin, mm⁻¹ (ramp × window / τ).
    response: Vec<f64>,
    /// `response / n` in f32: folds the unnormalised inverse FFT in.
    scaled: Vec<f32>,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
}

impl fmt::Debug for RampFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RampFilter")
            .field("filter", &self.filter)
            .field("cols", &self.cols)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl RampFilter {
    /// Plans the filter for rows of `cols` samples spaced `sample_spacing_mm` apart.
    ///
    /// **Errors** if `cols` is zero or the spacing is not finite and positive.
    ///
    /// # Example
    /// ```
    /// use ctscreen::recon::filter::{Filter, RampFilter};
    /// let f = RampFilter::new(Filter::RamLak, 100, 0.5).unwrap();
    /// assert_eq!(f.fft_len(), 200);
    /// // Near Nyquist the ramp is ≈ f / τ = 0.5 cycles/sample / 0.5 mm = 1 mm⁻¹.
    /// assert!((f.response()[100] - 1.0).abs() < 0.01);
    /// ```
    pub fn new(filter: Filter, cols: usize, sample_spacing_mm: f64) -> Result<Self> {
        if cols == 0 {
            return Err(Error::invalid("detector cols", 0, "at least 1"));
        }
        if !sample_spacing_mm.is_finite() || sample_spacing_mm <= 0.0 {
            return Err(Error::invalid(
                "filter sample spacing (mm)",
                sample_spacing_mm,
                "a finite spacing > 0",
            ));
        }
        let n = padded_len(cols);
        let ramp = ramp_response(n, &mut RealFftPlanner::<f64>::new());
        let response: Vec<f64> = ramp
            .iter()
            .enumerate()
            .map(|(k, r)| r * filter.window(k as f64 / n as f64) / sample_spacing_mm)
            .collect();
        let scaled = response.iter().map(|r| (r / n as f64) as f32).collect();
        let mut planner = RealFftPlanner::<f32>::new();
        Ok(Self {
            filter,
            cols,
            n,
            response,
            scaled,
            r2c: planner.plan_fft_forward(n),
            c2r: planner.plan_fft_inverse(n),
        })
    }

    /// The filter kind.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// Samples per row this filter was planned for.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The zero-padded FFT length ([`padded_len`] of the row length).
    pub fn fft_len(&self) -> usize {
        self.n
    }

    /// The frequency response at bins `k = 0 ..= N/2` (frequency `k / (N τ)` in cycles
    /// per mm), in mm⁻¹: ramp × window / τ.
    pub fn response(&self) -> &[f64] {
        &self.response
    }

    /// Fresh scratch buffers for one worker.
    pub fn scratch(&self) -> FilterScratch {
        FilterScratch {
            real: vec![0.0; self.n],
            spectrum: self.r2c.make_output_vec(),
            fft_scratch: vec![
                Complex::default();
                self.r2c.get_scratch_len().max(self.c2r.get_scratch_len())
            ],
        }
    }

    /// Filters one row in place: `line ← τ · (h ∗ line)`, zero padded.
    ///
    /// **Panics** if `line.len()` differs from [`RampFilter::cols`] (an internal
    /// invariant: callers size rows from the same geometry).
    pub fn filter_line(&self, line: &mut [f32], scratch: &mut FilterScratch) {
        assert_eq!(
            line.len(),
            self.cols,
            "row length must match the planned filter"
        );
        let real = &mut scratch.real;
        real[..self.cols].copy_from_slice(line);
        real[self.cols..].fill(0.0);
        self.r2c
            .process_with_scratch(real, &mut scratch.spectrum, &mut scratch.fft_scratch)
            .expect("buffer lengths come from the plan");
        for (c, &h) in scratch.spectrum.iter_mut().zip(&self.scaled) {
            *c *= h;
        }
        // The DC and Nyquist bins of a real signal's spectrum are real; make that exact
        // so the inverse transform does not flag rounding noise.
        scratch.spectrum[0].im = 0.0;
        if let Some(last) = scratch.spectrum.last_mut() {
            last.im = 0.0;
        }
        self.c2r
            .process_with_scratch(&mut scratch.spectrum, real, &mut scratch.fft_scratch)
            .expect("buffer lengths come from the plan");
        line.copy_from_slice(&real[..self.cols]);
    }
}

/// Ramp-filters every detector row of `projections` (`(views, rows, cols)`, rows along
/// z, filtering along cols) in place, with column pitch `col_spacing_mm` (mm). This is
/// the parallel-beam filter step; FBP and FDK apply their own pre-weights first.
///
/// Runs in parallel over views; the result does not depend on the thread count.
///
/// **Errors** if the projections are empty, hold NaN or ±inf ([`Error::NonFinite`]), or
/// the spacing is not finite and positive.
///
/// # Example
/// ```
/// use ctscreen::recon::filter::{filter_projections, Filter};
/// let mut p = ndarray::Array3::<f32>::zeros((2, 1, 32));
/// p[[0, 0, 16]] = 1.0;
/// filter_projections(p.view_mut(), Filter::RamLak, 1.0).unwrap();
/// // An impulse becomes the ramp kernel: 1/4 at the centre, −1/π² next to it.
/// assert!((p[[0, 0, 16]] - 0.25).abs() < 1e-5);
/// assert!((p[[0, 0, 17]] + 1.0 / std::f32::consts::PI.powi(2)).abs() < 1e-5);
/// ```
pub fn filter_projections(
    mut projections: ArrayViewMut3<'_, f32>,
    filter: Filter,
    col_spacing_mm: f64,
) -> Result<()> {
    let (views, rows, cols) = projections.dim();
    if views == 0 || rows == 0 || cols == 0 {
        return Err(Error::invalid(
            "projections shape",
            format!("{:?}", (views, rows, cols)),
            "(views, rows, cols) all ≥ 1",
        ));
    }
    crate::volume::ensure_finite("projections", projections.iter())?;
    let plan = RampFilter::new(filter, cols, col_spacing_mm)?;
    projections
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each_init(
            || (plan.scratch(), vec![0.0f32; cols]),
            |(scratch, line), mut view| {
                for mut row in view.rows_mut() {
                    for (l, v) in line.iter_mut().zip(row.iter()) {
                        *l = *v;
                    }
                    plan.filter_line(line, scratch);
                    for (v, l) in row.iter_mut().zip(line.iter()) {
                        *v = *l;
                    }
                }
            },
        );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Closed form of the DFT of the truncated spatial ramp kernel at bin k.
    fn closed_form(n: usize, k: usize) -> f64 {
        let mut s = 0.25;
        for m in (1..n / 2).step_by(2) {
            s -= 2.0 / (PI * m as f64).powi(2) * (2.0 * PI * (k * m) as f64 / n as f64).cos();
        }
        s
    }

    #[test]
    fn response_matches_closed_form_and_ramp() {
        for filter in Filter::ALL {
            let tau = 0.7;
            let f = RampFilter::new(filter, 50, tau).unwrap();
            let n = f.fft_len();
            assert_eq!(n, 100);
            for (k, &r) in f.response().iter().enumerate() {
                let freq = k as f64 / n as f64;
                let want = closed_form(n, k) * filter.window(freq) / tau;
                assert!((r - want).abs() < 1e-9, "{filter} k={k}: {r} vs {want}");
                // The truncated kernel approximates the ideal ramp |f| / τ to O(1/n).
                let ideal = freq * filter.window(freq) / tau;
                assert!((r - ideal).abs() < 3.0 / (PI * PI * n as f64) / tau);
            }
            // The DC term is small and positive (not the naive zero).
            let dc = f.response()[0];
            assert!(dc > 0.0 && dc < 0.01 / tau, "{filter}: dc {dc}");
        }
        // Windows at Nyquist.
        assert!((Filter::SheppLogan.window(0.5) - 2.0 / PI).abs() < 1e-12);
        assert!(Filter::Hann.window(0.5).abs() < 1e-12);
        assert!(Filter::Cosine.window(0.5).abs() < 1e-12);
        assert!((Filter::Hamming.window(0.5) - 0.08).abs() < 1e-12);
    }

    #[test]
    fn filtering_is_convolution_with_the_kernel() {
        // Direct convolution with the spatial kernel (zero padded) as the reference.
        let cols = 37;
        let tau = 1.3;
        let f = RampFilter::new(Filter::RamLak, cols, tau).unwrap();
        let p: Vec<f32> = (0..cols).map(|i| ((i * 7 % 11) as f32) - 3.0).collect();
        let mut q = p.clone();
        f.filter_line(&mut q, &mut f.scratch());
        for i in 0..cols {
            let mut want = 0.0f64;
            for (j, &pj) in p.iter().enumerate() {
                let m = i.abs_diff(j);
                let h = if m == 0 {
                    0.25
                } else if m % 2 == 1 {
                    -1.0 / (PI * m as f64).powi(2)
                } else {
                    0.0
                };
                want += h * pj as f64;
            }
            want /= tau;
            assert!((q[i] as f64 - want).abs() < 1e-4, "{i}: {} vs {want}", q[i]);
        }
    }

    #[test]
    fn padded_lengths_are_fast_and_long_enough() {
        assert_eq!(padded_len(1), 64);
        assert_eq!(padded_len(384), 768);
        assert_eq!(padded_len(512), 1024);
        assert_eq!(padded_len(37), 80);
        for cols in 1..600 {
            let n = padded_len(cols);
            assert!(n >= 2 * cols && n.is_multiple_of(2));
        }
    }

    #[test]
    fn names_round_trip() {
        for filter in Filter::ALL {
            assert_eq!(filter.name().parse::<Filter>().unwrap(), filter);
        }
        assert_eq!("Hanning".parse::<Filter>().unwrap(), Filter::Hann);
        assert_eq!("ramp".parse::<Filter>().unwrap(), Filter::RamLak);
        let e = "gauss".parse::<Filter>().unwrap_err().to_string();
        assert!(e.contains("gauss") && e.contains("ram-lak"), "{e}");
        assert!(RampFilter::new(Filter::RamLak, 0, 1.0).is_err());
        assert!(RampFilter::new(Filter::RamLak, 4, f64::NAN).is_err());
    }

    #[test]
    fn filter_projections_rejects_empty() {
        let mut p = ndarray::Array3::<f32>::zeros((0, 1, 4));
        assert!(filter_projections(p.view_mut(), Filter::RamLak, 1.0).is_err());
    }
}
