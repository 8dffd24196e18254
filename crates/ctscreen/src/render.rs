//! Pictures of volumes for people: slices, maximum-intensity projections (MIP), detection
//! boxes with labels, sinograms, written as 8-bit RGB PNG.
//!
//! Orientation: an image of a plane normal to z (axial) has rows along y and columns
//! along x; images normal to y (coronal) or x (sagittal) have rows along z with +z at
//! the top. Pixels are square in millimetres: anisotropic voxels are stretched by
//! nearest-neighbour sampling to the smallest spacing of the two in-plane axes.
//! Grey levels come from a [`Window`] in μ (mm⁻¹), which can be given in HU.

use std::path::Path;

use ndarray::{ArrayView2, Axis};

use crate::volume::hu_to_mu;
use crate::{Error, Result, Volume};

/// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl RgbImage {
    /// A black image.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0; width * height * 3],
        }
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// The pixel bytes, `height × width × 3`, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
    /// The colour at `(x, y)`, or `None` outside the image.
    pub fn get(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        (x < self.width && y < self.height).then(|| {
            let i = (y * self.width + x) * 3;
            [self.data[i], self.data[i + 1], self.data[i + 2]]
        })
    }
    /// Sets the pixel at `(x, y)`; ignored outside the image.
    pub fn put(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Draws the outline of the rectangle with corners `(x0, y0)` and `(x1, y1)`
    /// (inclusive), `thickness` pixels wide, clipped to the image.
    pub fn draw_rect(
        &mut self,
        x0: i64,
        y0: i64,
        x1: i64,
        y1: i64,
        color: [u8; 3],
        thickness: i64,
    ) {
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        for t in 0..thickness.max(1) {
            for x in x0 - t..=x1 + t {
                self.put(x, y0 - t, color);
                self.put(x, y1 + t, color);
            }
            for y in y0 - t..=y1 + t {
                self.put(x0 - t, y, color);
                self.put(x1 + t, y, color);
            }
        }
    }

    /// Writes `text` with the built-in 5×7 font, top-left at `(x, y)`, each font pixel
    /// drawn as `scale × scale`, on a dark backing box so it reads over any image.
    /// Letters are shown in upper case; characters without a glyph show as `?`.
    pub fn draw_text(&mut self, x: i64, y: i64, text: &str, color: [u8; 3], scale: i64) {
        let scale = scale.max(1);
        let n = text.chars().count() as i64;
        let (w, h) = (n * 6 * scale + scale, 9 * scale);
        for yy in y - scale..y - scale + h {
            for xx in x - scale..x - scale + w {
                self.put(xx, yy, [0, 0, 0]);
            }
        }
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.put(
                                    x + (k as i64 * 6 + c) * scale + dx,
                                    y + r as i64 * scale + dy,
                                    color,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Draws a one-pixel line from `a` to `b` (pixel coordinates), clipped to the image.
    pub fn draw_line(&mut self, a: (i64, i64), b: (i64, i64), color: [u8; 3]) {
        let n = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
        for i in 0..=n {
            self.put(a.0 + (b.0 - a.0) * i / n, a.1 + (b.1 - a.1) * i / n, color);
        }
    }

    /// Places `other` to the right of `self`, separated by `gap` black pixels; the
    /// taller of the two sets the height.
    pub fn hstack(&self, other: &RgbImage, gap: usize) -> RgbImage {
        let mut out = RgbImage::new(
            self.width + gap + other.width,
            self.height.max(other.height),
        );
        out.blit(self, 0, 0);
        out.blit(other, self.width + gap, 0);
        out
    }

    fn blit(&mut self, src: &RgbImage, x0: usize, y0: usize) {
        for y in 0..src.height {
            let d = ((y0 + y) * self.width + x0) * 3;
            let s = y * src.width * 3;
            self.data[d..d + src.width * 3].copy_from_slice(&src.data[s..s + src.width * 3]);
        }
    }

    /// Encodes the image as PNG into `path`, atomically: the bytes go to a temporary
    /// file in the same directory that is renamed over `path` only when complete.
    ///
    /// **Errors** with [`Error::Io`] if the directory is missing or not writable.
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc
                .write_header()
                .map_err(|e| Error::format(path, e.to_string()))?;
            w.write_image_data(&self.data)
                .map_err(|e| Error::format(path, e.to_string()))?;
        }
        crate::io::write_bytes_atomic(path, &bytes)
    }
}

/// A grey-level window: μ values at or below `low` show black, at or above `high` white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// μ (mm⁻¹) shown black.
    pub low: f32,
    /// μ (mm⁻¹) shown white.
    pub high: f32,
}

impl Window {
    /// A window given as centre and width in Hounsfield units, converted with
    /// `water_mu` (mm⁻¹, see [`crate::volume::water_mu_per_mm`]).
    ///
    /// # Example
    /// ```
    /// use ctscreen::render::Window;
    /// let w = Window::from_hu(1000.0, 4000.0, 0.02);
    /// assert!((w.low - 0.0).abs() < 1e-6 && (w.high - 0.08).abs() < 1e-6);
    /// ```
    pub fn from_hu(center_hu: f32, width_hu: f32, water_mu: f64) -> Self {
        Self {
            low: hu_to_mu(center_hu - width_hu / 2.0, water_mu),
            high: hu_to_mu(center_hu + width_hu / 2.0, water_mu),
        }
    }

    /// A window from the 1st to the 99.5th percentile of the finite values (a flat
    /// image gets a unit-wide window around its value).
    pub fn auto<'a>(values: impl IntoIterator<Item = &'a f32>) -> Self {
        let mut v: Vec<f32> = values
            .into_iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return Self {
                low: 0.0,
                high: 1.0,
            };
        }
        v.sort_unstable_by(f32::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        let (low, high) = (at(0.01), at(0.995));
        if high > low {
            Self { low, high }
        } else {
            Self {
                low: low - 0.5,
                high: low + 0.5,
            }
        }
    }

    fn grey(&self, mu: f32) -> u8 {
        if !mu.is_finite() {
            return 0;
        }
        let t = (mu - self.low) / (self.high - self.low);
        (t.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Renders a 2D array (rows × cols, e.g. a sinogram `(views, cols)`) in grey.
pub fn image_2d(values: ArrayView2<f32>, window: Window) -> RgbImage {
    let (h, w) = values.dim();
    let mut img = RgbImage::new(w, h);
    for ((y, x), &v) in values.indexed_iter() {
        let g = window.grey(v);
        img.put(x as i64, y as i64, [g, g, g]);
    }
    img
}

/// The in-plane axes `(row axis, col axis)` of an image normal to `axis`.
fn plane_axes(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

/// Renders a plane (rows along `row_axis` of the volume, columns along `col_axis`),
/// with square pixels in mm and +z up when rows run along z.
///
/// **Errors** with [`Error::TooLarge`] if very anisotropic voxels would make the picture
/// too large (its size grows with the ratio of the two spacings).
fn plane_image(
    plane: ArrayView2<f32>,
    volume: &Volume,
    axis: usize,
    window: Window,
) -> Result<RgbImage> {
    let (ra, ca) = plane_axes(axis);
    let sp = volume.spacing();
    let pix = sp[ra].min(sp[ca]);
    let (nr, nc) = plane.dim();
    let hf = (nr as f64 * sp[ra] / pix).round().max(1.0);
    let wf = (nc as f64 * sp[ca] / pix).round().max(1.0);
    // f64 → u128 saturates, so an absurd ratio is refused instead of wrapping.
    crate::volume::ensure_allocatable("picture (RGB pixels)", (hf * wf) as u128, 3)?;
    let (h, w) = (hf as usize, wf as usize);
    let flip = ra == 0;
    let mut img = RgbImage::new(w, h);
    for y in 0..h {
        let mut r = ((y as f64 + 0.5) * pix / sp[ra]) as usize;
        r = r.min(nr - 1);
        if flip {
            r = nr - 1 - r;
        }
        for x in 0..w {
            let c = (((x as f64 + 0.5) * pix / sp[ca]) as usize).min(nc - 1);
            let g = window.grey(plane[[r, c]]);
            img.put(x as i64, y as i64, [g, g, g]);
        }
    }
    Ok(img)
}

fn check_axis(axis: usize) -> Result<()> {
    if axis > 2 {
        return Err(Error::invalid("axis", axis, "0 (z), 1 (y) or 2 (x)"));
    }
    Ok(())
}

/// The slice `index` normal to `axis` (0 = z axial, 1 = y coronal, 2 = x sagittal).
///
/// **Errors** if `axis > 2` or `index` is outside the volume, or the picture would be
/// too large ([`Error::TooLarge`]: voxels thousands of times longer than wide).
pub fn slice(volume: &Volume, axis: usize, index: usize, window: Window) -> Result<RgbImage> {
    check_axis(axis)?;
    let n = volume.shape()[axis];
    if index >= n {
        return Err(Error::invalid(
            "slice index",
            index,
            format!("an index below {n} along axis {axis}"),
        ));
    }
    plane_image(
        volume.data().index_axis(Axis(axis), index),
        volume,
        axis,
        window,
    )
}

/// The three central slices (axial, coronal, sagittal) side by side, 4 px apart.
///
/// **Errors** never for a valid volume; kept fallible for symmetry with [`slice()`].
pub fn orthogonal_slices(volume: &Volume, window: Window) -> Result<RgbImage> {
    let s = volume.shape();
    let a = slice(volume, 0, s[0] / 2, window)?;
    let b = slice(volume, 1, s[1] / 2, window)?;
    let c = slice(volume, 2, s[2] / 2, window)?;
    Ok(a.hstack(&b, 4).hstack(&c, 4))
}

/// The maximum-intensity projection along `axis`.
///
/// **Errors** if `axis > 2`, or the picture would be too large ([`Error::TooLarge`]).
pub fn mip(volume: &Volume, axis: usize, window: Window) -> Result<RgbImage> {
    check_axis(axis)?;
    let m = volume.data().map_axis(Axis(axis), |lane| {
        lane.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    });
    plane_image(m.view(), volume, axis, window)
}

/// A labelled box to draw over a picture of a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// `(z0, y0, x0, z1, y1, x1)` world mm, min and max corners.
    pub bbox_mm: [f64; 6],
    /// Text drawn above the box.
    pub label: String,
    /// Box and text colour.
    pub color: [u8; 3],
}

/// [`mip`] along `axis` with each overlay's box (projected along `axis`) and label
/// drawn on top. Boxes use the volume's origin and spacing (identity direction).
///
/// **Errors** if `axis > 2`.
pub fn mip_with_overlays(
    volume: &Volume,
    axis: usize,
    window: Window,
    overlays: &[Overlay],
) -> Result<RgbImage> {
    let mut img = mip(volume, axis, window)?;
    let (ra, ca) = plane_axes(axis);
    let sp = volume.spacing();
    let o = volume.origin();
    let n = volume.shape();
    let pix = sp[ra].min(sp[ca]);
    let scale = if img.width().max(img.height()) >= 400 {
        2
    } else {
        1
    };
    for ov in overlays {
        // world → fractional index → image pixel (voxel edges at index ± 0.5)
        let to_px = |a: usize, w: f64, lo: bool| -> f64 {
            let idx = (w - o[a]) / sp[a] + if lo { -0.5 } else { 0.5 };
            let idx = if a == 0 && ra == 0 {
                n[0] as f64 - idx
            } else {
                idx
            };
            idx * sp[a] / pix
        };
        let (r0, r1) = (
            to_px(ra, ov.bbox_mm[ra], true),
            to_px(ra, ov.bbox_mm[ra + 3], false),
        );
        let (c0, c1) = (
            to_px(ca, ov.bbox_mm[ca], true),
            to_px(ca, ov.bbox_mm[ca + 3], false),
        );
        let (y0, y1) = (r0.min(r1).floor() as i64, r0.max(r1).ceil() as i64);
        let (x0, x1) = (c0.floor() as i64, c1.ceil() as i64);
        img.draw_rect(x0, y0, x1, y1, ov.color, scale);
        let ty = if y0 - 10 * scale >= 0 {
            y0 - 9 * scale
        } else {
            y1 + 3 * scale
        };
        img.draw_text(x0, ty, &ov.label, ov.color, scale);
    }
    Ok(img)
}

/// One polyline of a [`plot_curves`] chart, in data coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Points `(x, y)`, drawn joined in the given order.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub color: [u8; 3],
}

/// A line chart over the unit square `[0, 1] × [0, 1]` (rates, shares, recalls):
/// a 480 × 400 picture with a frame, grid lines every 0.25, tick labels, axis labels,
/// a title, each curve as a polyline (points outside the square are clipped) and an
/// optional marker (a small square) at a data point.
pub fn plot_curves(
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    marker: Option<((f64, f64), [u8; 3])>,
) -> RgbImage {
    let (w, h) = (480i64, 400i64);
    let (left, right, top, bottom) = (56i64, 20i64, 36i64, 48i64);
    let mut img = RgbImage::new(w as usize, h as usize);
    let white = [255, 255, 255];
    let grey = [90, 90, 90];
    let px = |x: f64| left + (x.clamp(0.0, 1.0) * (w - left - right) as f64).round() as i64;
    let py = |y: f64| h - bottom - (y.clamp(0.0, 1.0) * (h - top - bottom) as f64).round() as i64;
    for k in 1..4 {
        let t = k as f64 / 4.0;
        for x in (left..w - right).step_by(4) {
            img.put(x, py(t), grey);
        }
        for y in (top..h - bottom).step_by(4) {
            img.put(px(t), y, grey);
        }
    }
    img.draw_rect(px(0.0), py(1.0), px(1.0), py(0.0), [170, 170, 170], 1);
    for c in curves {
        for seg in c.points.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
                continue;
            }
            img.draw_line((px(a.0), py(a.1)), (px(b.0), py(b.1)), c.color);
        }
    }
    if let Some(((x, y), color)) = marker {
        if x.is_finite() && y.is_finite() {
            img.draw_rect(px(x) - 3, py(y) - 3, px(x) + 3, py(y) + 3, color, 2);
        }
    }
    for k in 0..=4 {
        let t = k as f64 / 4.0;
        let label = format!("{t:.2}");
        img.draw_text(px(t) - 12, h - bottom + 8, &label, white, 1);
        img.draw_text(8, py(t) - 3, &label, white, 1);
    }
    img.draw_text(left, 12, title, white, 1);
    img.draw_text(left + 60, h - 18, x_label, white, 1);
    img.draw_text(left + 4, top + 4, y_label, white, 1);
    img
}

fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ' ' => [0; 7],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn volume_with_block() -> Volume {
        let mut a = Array3::<f32>::zeros((10, 20, 30));
        for k in 2..5 {
            for j in 5..8 {
                for i in 10..20 {
                    a[[k, j, i]] = 1.0;
                }
            }
        }
        Volume::new(a, [2.0, 1.0, 1.0], [0.0; 3]).unwrap()
    }

    #[test]
    fn plot_draws_the_diagonal_through_the_frame_corners() {
        let red = [255, 0, 0];
        let img = plot_curves(
            "t",
            "x",
            "y",
            &[Curve {
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                color: red,
            }],
            None,
        );
        assert_eq!((img.width(), img.height()), (480, 400));
        // Frame corners: x 56..460, y 36..352 (y up); the diagonal joins them.
        assert_eq!(img.get(56, 352), Some(red));
        assert_eq!(img.get(460, 36), Some(red));
        assert_eq!(img.get(258, 194), Some(red));
        // Nothing red off the diagonal.
        assert_ne!(img.get(258, 300), Some(red));
    }

    #[test]
    fn mip_places_the_block_where_it_is() {
        let v = volume_with_block();
        let w = Window {
            low: 0.0,
            high: 1.0,
        };
        let img = mip(&v, 0, w).unwrap();
        assert_eq!((img.width(), img.height()), (30, 20));
        assert_eq!(img.get(15, 6), Some([255; 3]));
        assert_eq!(img.get(5, 6), Some([0; 3]));
        // coronal MIP: rows along z (2 mm → 2 px each, +z up), cols along x
        let img = mip(&v, 1, w).unwrap();
        assert_eq!((img.width(), img.height()), (30, 20));
        let z_row = |k: usize| (10 - 1 - k) * 2; // top pixel row of slice k
        assert_eq!(img.get(15, z_row(3)), Some([255; 3]));
        assert_eq!(img.get(15, z_row(8)), Some([0; 3]));
    }

    #[test]
    fn overlay_box_surrounds_the_object() {
        let v = volume_with_block();
        let w = Window {
            low: 0.0,
            high: 1.0,
        };
        let ov = Overlay {
            bbox_mm: [4.0, 5.0, 10.0, 8.0, 7.0, 19.0],
            label: "firearm 0.9".into(),
            color: [255, 0, 0],
        };
        let img = mip_with_overlays(&v, 0, w, std::slice::from_ref(&ov)).unwrap();
        // box edges just outside the voxel edges: x from 9.5 → px 9, to 19.5 → px 20
        assert_eq!(img.get(9, 6), Some([255, 0, 0]));
        assert_eq!(img.get(20, 6), Some([255, 0, 0]));
        assert_eq!(img.get(15, 6), Some([255; 3]), "inside stays the object");
    }

    #[test]
    fn text_and_png_round_trip() {
        let mut img = RgbImage::new(80, 20);
        img.draw_text(2, 2, "Firearm 0.97", [0, 255, 0], 1);
        assert!(img.as_bytes().chunks(3).any(|p| p == [0, 255, 0]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        img.write_png(&path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (80, 20));
        assert_eq!(&buf[..info.buffer_size()], img.as_bytes());
        // only the final file remains
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("t.png");
        assert!(matches!(
            RgbImage::new(2, 2).write_png(&path),
            Err(Error::Io { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn window_handles_flat_and_nan() {
        let w = Window::auto(&[0.5f32, 0.5, f32::NAN]);
        assert!(w.high > w.low);
        assert_eq!(w.grey(f32::NAN), 0);
        assert!(slice(&volume_with_block(), 3, 0, w).is_err());
        assert!(slice(&volume_with_block(), 0, 10, w).is_err());
    }
}
